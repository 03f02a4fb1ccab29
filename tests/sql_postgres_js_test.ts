// matrix: deno,deno-npm,node,bun — needs the PostgreSQL the test task starts (scripts/services.ts)
import assert from "node:assert/strict";
import postgres from "postgres";
import { createAsyncContext } from "../src/als.ts";
import { tracePostgres } from "../src/sql/mod.ts";
import { testTracer } from "./_helpers.ts";
import { passwordOf, reachable, serviceUrl, tableName } from "./_services.ts";
import { faultsAt, subsOf } from "./_sql.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

async function connected(): Promise<postgres.Sql> {
  const sql = postgres(serviceUrl("pg"), { max: 3, onnotice: () => {} });
  await reachable("pg", () => sql`SELECT 1`);
  return sql;
}

Deno.test("tracePostgres() traces tagged templates, unsafe, transactions, errors; fragments record nothing", async () => {
  const t = testTracer();
  const raw = await connected();
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const sql = tracePostgres(raw, { parent: segment, collectQueries: true });
    const name = tableName("pjs");
    await sql.unsafe(`CREATE TABLE ${name} (id int primary key, note text)`);
    await sql.begin(async (tx) => {
      await tx`INSERT INTO ${tx(name)} VALUES (${1}, ${"it's secret"})`;
      await tx`INSERT INTO ${tx(name)} VALUES (${2}, ${"two"})`;
    });
    const filter = sql`WHERE id > ${0}`; // A fragment: never run alone.
    const rows = await sql`SELECT id FROM ${sql(name)} ${filter} ORDER BY id`;
    assert.deepEqual(rows.map((r) => r.id), [1, 2]);
    const duplicate = await sql`INSERT INTO ${sql(name)} VALUES (${1}, 'x')`
      .catch((e: unknown) => e);
    assert.equal((duplicate as { code: string }).code, "23505");
    assert.ok(duplicate instanceof postgres.PostgresError);
    const syntax = await sql.unsafe("SELEC nope").catch((e: unknown) => e);
    assert.equal((syntax as { code: string }).code, "42601");
    // The original keeps working, untraced.
    await raw.unsafe(`DROP TABLE ${name}`);
    segment.end();
    const docs = await t.flushed();
    const subs = subsOf(docs);
    assert.equal(subs.length, 6);
    for (const sub of subs) {
      assert.equal(sub.name, "xray_test@127.0.0.1");
      assert.equal(sub.namespace, "remote");
      assert.equal(sub.sql.database_type, "PostgreSQL");
      assert.equal(sub.sql.driver_version, "postgres.js");
      assert.equal(sub.sql.user, "xray");
      assert.match(sub.sql.url, /^postgresql:\/\/127\.0\.0\.1:\d+\/xray_test$/);
      assert.match(sub.sql.database_version, /^PostgreSQL \d+/);
    }
    assert.deepEqual(subs.map((s) => s.sql.sanitized_query), [
      `CREATE TABLE ${name} (id int primary key, note text)`,
      "INSERT INTO $1 VALUES ($2, $3)",
      "INSERT INTO $1 VALUES ($2, $3)",
      "SELECT id FROM $1 $2 ORDER BY id",
      "INSERT INTO $1 VALUES ($2, ?)",
      "SELEC nope",
    ]);
    assert.deepEqual(faultsAt(subs), [4, 5]);
    assert.match(subs[4].cause.exceptions[0].message, /^23505: /);
    const text = JSON.stringify(docs);
    assert.ok(!text.includes("secret"));
    assert.ok(!text.includes(passwordOf(serviceUrl("pg"))));
  } finally {
    await raw.end();
  }
});

Deno.test("tracePostgres() records a cursor and a forEach as one subsegment each; concurrent queries, ambient and unsampled parents", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const raw = await connected();
  try {
    const sql = tracePostgres(raw, { parent: t.tracer });
    await sql`SELECT 0`; // No current segment: untraced.
    const unsampled = t.tracer.startSegment("api", { sampled: false });
    await context.run(unsampled, async () => await sql`SELECT 1`);
    unsampled.end();
    const segment = t.tracer.startSegment("api", { sampled: true });
    let batches = 0;
    let each = 0;
    await context.run(segment, async () => {
      for await (
        const rows of sql`SELECT g FROM generate_series(1, 10) g`.cursor(4)
      ) {
        batches++;
        assert.ok(rows.length <= 4);
      }
      await sql`SELECT g FROM generate_series(1, 5) g`.forEach(() => each++);
      const concurrent = await Promise.all(
        [1, 2, 3].map((i) => sql`SELECT ${i}::int AS n`),
      );
      assert.deepEqual(concurrent.map((r) => r[0].n), [1, 2, 3]);
      const reserved = await sql.reserve();
      try {
        await reserved`SELECT 2`;
      } finally {
        reserved.release();
      }
    });
    segment.end();
    assert.equal(batches, 3);
    assert.equal(each, 5);
    const docs = await t.flushed();
    assert.equal(docs.length, 1);
    const subs = subsOf(docs);
    assert.equal(subs.length, 6);
    assert.ok(subs.every((s) => s.end_time !== undefined));
  } finally {
    await raw.end();
  }
});
