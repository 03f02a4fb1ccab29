// matrix: deno,deno-npm,node,bun — @libsql/client loads its native addon from node_modules (no Workers build for local files)
import assert from "node:assert/strict";
import { type LibsqlTraceOptions, traceLibsql } from "../src/sql/mod.ts";
import { testTracer } from "./_helpers.ts";
import { subsOf } from "./_sql.ts";

// Loaded at run time from node_modules (not bundled by the matrix): the
// native addon is found next to the package's own files.
const LIBSQL = "@libsql/client";
const { createClient } = await import(LIBSQL) as {
  // deno-lint-ignore no-explicit-any
  createClient(config: { url: string }): any;
};

// deno-lint-ignore no-explicit-any
type Doc = any;

/**
 * Runs `use` with a `:memory:` client traced under a sampled segment (and the
 * client itself, untraced); returns the flushed documents.
 */
async function tracedRun(
  options: Omit<LibsqlTraceOptions, "parent">,
  use: (db: Doc, raw: Doc) => Promise<void>,
): Promise<Doc[]> {
  const t = testTracer();
  const raw = createClient({ url: ":memory:" });
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    await use(traceLibsql(raw, { parent: segment, ...options }), raw);
    segment.end();
    return await t.flushed();
  } finally {
    raw.close();
  }
}

Deno.test("traceLibsql() traces execute, batch, transactions and errors on a local database", async () => {
  const docs = await tracedRun(
    { url: ":memory:", collectQueries: true },
    async (db, raw) => {
      await db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)");
      await db.execute({
        sql: "INSERT INTO t VALUES (?, ?)",
        args: [1, "one"],
      });
      await db.batch([
        { sql: "INSERT INTO t VALUES (?, ?)", args: [2, "two"] },
        "INSERT INTO t VALUES (3, 'secret three')",
      ], "write");
      const tx = await db.transaction("write");
      await tx.execute("DELETE FROM t WHERE id = 3");
      await tx.commit();
      const result = await db.execute("SELECT count(*) AS n FROM t");
      assert.equal(Number(result.rows[0].n), 2);
      const error = await db.execute("SELEC nope").catch((e: unknown) => e);
      assert.equal((error as { code: string }).code, "SQLITE_ERROR");
      // The original client keeps working, untraced.
      await raw.execute("SELECT 1");
    },
  );
  const subs = subsOf(docs);
  assert.equal(subs.length, 7);
  for (const sub of subs) {
    assert.equal(sub.name, ":memory:");
    assert.equal(sub.namespace, "remote");
    assert.equal(sub.sql.database_type, "SQLite");
    assert.equal(sub.sql.driver_version, "@libsql/client");
  }
  assert.equal(
    subs[2].sql.sanitized_query,
    "INSERT INTO t VALUES (?, ?);\nINSERT INTO t VALUES (?, ?)",
  );
  assert.deepEqual(subs.map((s) => s.sql.preparation), [
    "statement",
    "call",
    "call",
    "statement",
    "statement",
    "statement",
    "statement",
  ]);
  assert.match(subs[6].cause.exceptions[0].message, /^SQLITE_ERROR: /);
  assert.equal(subs[6].fault, true);
  assert.match(subs[6].sql.database_version, /^3\./);
  assert.ok(!JSON.stringify(docs).includes("secret"));
});

Deno.test("traceLibsql() records a remote URL by host, without its auth token", async () => {
  const docs = await tracedRun(
    { url: "libsql://shop-db.example.turso.io?authToken=tok-hunter2" },
    async (db) => {
      await db.execute("SELECT 1");
    },
  );
  const [sub] = subsOf(docs);
  assert.equal(sub.name, "shop-db.example.turso.io");
  assert.equal(sub.sql.url, "libsql://shop-db.example.turso.io");
  assert.equal(sub.sql.sanitized_query, undefined);
});
