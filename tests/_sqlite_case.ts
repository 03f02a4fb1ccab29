// One set of assertions for every synchronous SQLite driver (node:sqlite,
// bun:sqlite, better-sqlite3): the driver's test file gives a factory.
import assert from "node:assert/strict";
import { createAsyncContext } from "../src/als.ts";
import { configFromEnv } from "../mod.ts";
import { traceSqlite } from "../src/sql/mod.ts";
import { testTracer } from "./_helpers.ts";
import { faultsAt, subsOf } from "./_sql.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;
// deno-lint-ignore no-explicit-any
type AnyDatabase = any;

/** Opens a database (`:memory:` or a file path) with the driver under test. */
export type OpenDatabase = (file: string) => AnyDatabase;

/** Statements, errors, sync results, sanitizing, iterate, unsampled. */
export async function sqliteCase(
  driver: string,
  open: OpenDatabase,
  options: { exec?: "exec" | "run"; close?: (db: AnyDatabase) => void } = {},
): Promise<void> {
  const exec = options.exec ?? "exec";
  const t = testTracer();
  const raw = open(":memory:");
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = traceSqlite(raw, {
      parent: segment,
      collectQueries: configFromEnv({ AWS_XRAY_COLLECT_SQL_QUERIES: "yes" })
        .collectSqlQueries,
    });
    const made = db[exec](
      "CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT UNIQUE)",
    );
    assert.ok(!(made instanceof Promise), "exec stays synchronous");
    const insert = db.prepare("INSERT INTO t (id, note) VALUES (?, ?)");
    const info = insert.run(1, "it's secret");
    assert.ok(!(info instanceof Promise));
    insert.run(2, "two");
    const rows = db.prepare("SELECT note FROM t WHERE id = ? OR note = 'x'")
      .all(2);
    assert.deepEqual(rows.map((r: { note: string }) => r.note), ["two"]);
    const one = db.prepare("SELECT count(*) AS n FROM t").get();
    assert.equal(Number(one.n), 2);
    const seen: unknown[] = [];
    for (const row of db.prepare("SELECT id FROM t ORDER BY id").iterate()) {
      seen.push(Number((row as { id: number }).id));
    }
    assert.deepEqual(seen, [1, 2]);
    let syntax: unknown;
    try {
      db[exec]("SELEC nope");
    } catch (error) {
      syntax = error;
    }
    assert.ok(syntax instanceof Error, "the driver's error is rethrown");
    let constraint: unknown;
    try {
      insert.run(3, "two");
    } catch (error) {
      constraint = error;
    }
    assert.ok(constraint instanceof Error);
    // The original database keeps working, untraced.
    raw.prepare("SELECT 1").get();
    segment.end();
    const docs = await t.flushed();
    const subs = subsOf(docs);
    assert.equal(subs.length, 8, driver);
    for (const sub of subs) {
      assert.equal(sub.name, ":memory:");
      assert.equal(sub.namespace, "remote");
      assert.equal(sub.sql.database_type, "SQLite");
      assert.equal(sub.sql.url, ":memory:");
      assert.ok(
        sub.sql.driver_version.startsWith(driver),
        sub.sql.driver_version,
      );
      assert.match(sub.sql.database_version, /^3\.\d+/);
    }
    assert.equal(
      subs[3].sql.sanitized_query,
      "SELECT note FROM t WHERE id = ? OR note = ?",
    );
    assert.deepEqual(subs.map((s) => s.sql.preparation), [
      "statement",
      "call",
      "call",
      "call",
      "call",
      "call",
      "statement",
      "call",
    ]);
    assert.deepEqual(faultsAt(subs), [6, 7]);
    assert.ok(!JSON.stringify(docs).includes("secret"));
    assert.ok(subs[7].cause.exceptions[0].message.includes("UNIQUE"));
  } finally {
    options.close ? options.close(raw) : raw.close();
  }
}

/** A file database is named by its file name; unsampled and ambient parents. */
export async function sqliteFileCase(
  open: OpenDatabase,
  file: string,
  options: { close?: (db: AnyDatabase) => void } = {},
): Promise<void> {
  const context = createAsyncContext();
  // The tracer follows AWS_XRAY_COLLECT_SQL_QUERIES; a tracer parent passes it on.
  const t = testTracer({
    context,
    env: { AWS_XRAY_COLLECT_SQL_QUERIES: "true" },
  });
  const raw = open(file);
  try {
    const db = traceSqlite(raw, { parent: t.tracer, filename: file });
    db.prepare("SELECT 1 AS one").get(); // No current segment.
    const unsampled = t.tracer.startSegment("api", { sampled: false });
    context.run(unsampled, () => db.prepare("SELECT 2").get());
    unsampled.end();
    const segment = t.tracer.startSegment("api", { sampled: true });
    const value = context.run(
      segment,
      () => db.prepare("SELECT 3 AS three").get(),
    );
    assert.equal(Number(value.three), 3);
    segment.end();
    const docs = await t.flushed();
    assert.equal(docs.length, 1);
    const subs = subsOf(docs);
    assert.equal(subs.length, 1);
    assert.equal(subs[0].name, file.split("/").at(-1));
    assert.equal(subs[0].sql.url, file);
    assert.equal(subs[0].sql.sanitized_query, "SELECT ? AS three");
  } finally {
    options.close ? options.close(raw) : raw.close();
  }
}
