// matrix: deno,deno-npm,node,bun — needs the PostgreSQL the test task starts (scripts/services.ts)
import assert from "node:assert/strict";
import pg from "pg";
import Cursor from "pg-cursor";
import QueryStream from "pg-query-stream";
import { createAsyncContext } from "../src/als.ts";
import { tracePg, tracePgPool } from "../src/sql/mod.ts";
import { testTracer } from "./_helpers.ts";
import {
  assertNoPassword,
  reachable,
  serviceUrl,
  tableName,
} from "./_services.ts";
import { faultsAt, subsOf } from "./_sql.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

async function connected(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: serviceUrl("pg") });
  await reachable("pg", () => client.connect());
  return client;
}

Deno.test("tracePg() records each query as a remote subsegment with the sql block", async () => {
  const t = testTracer();
  const raw = await connected();
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = tracePg(raw, { parent: segment });
    const name = tableName("pg_t");
    await db.query(`CREATE TABLE ${name} (id int primary key, note text)`);
    await db.query(`INSERT INTO ${name} VALUES ($1, $2)`, [1, "one"]);
    const { rows } = await db.query({
      text: `SELECT note FROM ${name} WHERE id = $1`,
      values: [1],
      name: "by-id",
    });
    assert.deepEqual(rows, [{ note: "one" }]);
    // The original client keeps working, untraced.
    await raw.query(`DROP TABLE ${name}`);
    segment.end();
    const docs = await t.flushed();
    const subs = subsOf(docs);
    assert.equal(subs.length, 3);
    for (const sub of subs) {
      assert.equal(sub.name, "xray_test@127.0.0.1");
      assert.equal(sub.namespace, "remote");
      assert.equal(sub.sql.database_type, "PostgreSQL");
      assert.equal(sub.sql.user, "xray");
      assert.equal(sub.sql.driver_version, "pg");
      assert.match(sub.sql.url, /^postgresql:\/\/127\.0\.0\.1:\d+\/xray_test$/);
      assert.equal(sub.sql.sanitized_query, undefined);
      assert.equal(sub.fault, undefined);
    }
    assert.deepEqual(subs.map((s) => s.sql.preparation), [
      "statement",
      "call",
      "call",
    ]);
    // Asked once, before the first query: known from then on.
    assert.match(subs[2].sql.database_version, /^PostgreSQL \d+/);
    assertNoPassword("pg", docs, t.errors);
  } finally {
    await raw.end();
  }
});

Deno.test("tracePg() records sanitized queries only when collectQueries is on", async () => {
  const t = testTracer();
  const raw = await connected();
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = tracePg(raw, { parent: segment, collectQueries: true });
    await db.query(
      "SELECT 'it''s secret' AS a, E'\\'still secret' AS b, $x$ secret $x$ AS c, 42 AS d -- secret",
    );
    segment.end();
    const [sub] = subsOf(await t.flushed());
    assert.equal(
      sub.sql.sanitized_query,
      "SELECT ? AS a, ? AS b, ? AS c, ? AS d",
    );
    assert.ok(!JSON.stringify(sub).includes("secret"));
  } finally {
    await raw.end();
  }
});

Deno.test("tracePg() records driver errors as faults with the SQLSTATE and rethrows the same error", async () => {
  const t = testTracer();
  const raw = await connected();
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = tracePg(raw, { parent: segment });
    let thrown: unknown;
    const syntax = await db.query("SELEC nope").catch((e: unknown) => e);
    assert.equal((syntax as { code: string }).code, "42601");
    const name = tableName("pg_t");
    await db.query(`CREATE TEMP TABLE ${name} (id int primary key)`);
    await db.query(`INSERT INTO ${name} VALUES (1)`);
    try {
      await db.query(`INSERT INTO ${name} VALUES (1)`);
    } catch (error) {
      thrown = error;
    }
    assert.equal((thrown as { code: string }).code, "23505");
    assert.ok(thrown instanceof pg.DatabaseError);
    // Callback form: the callback gets the driver's own error.
    const viaCallback = await new Promise((resolve) =>
      db.query(
        "SELECT * FROM missing_table_x",
        (error: unknown) => resolve(error),
      )
    );
    assert.equal((viaCallback as { code: string }).code, "42P01");
    segment.end();
    const subs = subsOf(await t.flushed());
    const failed = subs.filter((s) => s.fault);
    assert.equal(failed.length, 3);
    const messages = failed.map((s) => s.cause.exceptions[0].message);
    assert.match(messages[0], /^42601: syntax error/);
    assert.match(messages[1], /^23505: duplicate key/);
    assert.match(messages[2], /^42P01: relation "missing_table_x"/);
    assert.ok(failed.every((s) => s.cause.exceptions[0].remote === true));
  } finally {
    await raw.end();
  }
});

Deno.test("tracePg() traces callback queries (argument or config callback) and a pg-cursor as one subsegment", async () => {
  const t = testTracer();
  const raw = await connected();
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = tracePg(raw, { parent: segment, collectQueries: true });
    const viaCallback = await new Promise<unknown>((resolve, reject) =>
      db.query(
        "SELECT $1::int AS n",
        [7],
        (error: Error | null, result: { rows: unknown[] }) =>
          error ? reject(error) : resolve(result.rows),
      )
    );
    assert.deepEqual(viaCallback, [{ n: 7 }]);
    const viaConfigCallback = await new Promise<unknown>((resolve, reject) =>
      db.query({
        text: "SELECT 8 AS n",
        callback: (error: Error | null, result: { rows: unknown[] }) =>
          error ? reject(error) : resolve(result.rows),
      } as unknown as string)
    );
    assert.deepEqual(viaConfigCallback, [{ n: 8 }]);
    const cursor = db.query(
      new Cursor("SELECT g FROM generate_series(1, 10) g"),
    );
    const first = await cursor.read(4);
    const second = await cursor.read(100);
    assert.equal(first.length + second.length, 10);
    await cursor.close();
    segment.end();
    const subs = subsOf(await t.flushed());
    assert.equal(subs.length, 3);
    assert.equal(subs[1].sql.sanitized_query, "SELECT ? AS n");
    assert.equal(
      subs[2].sql.sanitized_query,
      "SELECT g FROM generate_series(?, ?) g",
    );
    assert.ok(subs.every((s) => s.end_time !== undefined && !s.in_progress));
  } finally {
    await raw.end();
  }
});

Deno.test("tracePg() records a pg-query-stream as one subsegment, also when it fails", async () => {
  const t = testTracer();
  const raw = await connected();
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = tracePg(raw, { parent: segment });
    let count = 0;
    for await (
      const _row of db.query(
        new QueryStream("SELECT g FROM generate_series(1, 25) g", [], {
          batchSize: 10,
        }),
      )
    ) count++;
    assert.equal(count, 25);
    const failing = db.query(new QueryStream("SELEC broken"));
    const error = await (async () => {
      try {
        for await (const _row of failing) count++;
      } catch (e) {
        return e;
      }
    })();
    assert.equal((error as { code: string }).code, "42601");
    // The client is still usable afterwards.
    await db.query("SELECT 1");
    segment.end();
    const subs = subsOf(await t.flushed());
    assert.equal(subs.length, 3);
    assert.deepEqual(faultsAt(subs), [1]);
    assert.match(subs[1].cause.exceptions[0].message, /^42601: /);
    assert.ok(subs.every((s) => s.end_time !== undefined));
  } finally {
    await raw.end();
  }
});

Deno.test("tracePgPool() traces pool queries, pool clients in a transaction, concurrent queries", async () => {
  const t = testTracer();
  const rawPool = new pg.Pool({ connectionString: serviceUrl("pg"), max: 3 });
  try {
    await reachable("pg", () => rawPool.query("SELECT 1"));
    const segment = t.tracer.startSegment("api", { sampled: true });
    const pool = tracePgPool(rawPool, { parent: segment });
    const name = tableName("pg_t");
    await pool.query(`CREATE TABLE ${name} (id int)`);
    const client = await pool.connect();
    try {
      await client.query("BEGIN");
      await client.query(`INSERT INTO ${name} VALUES (1), (2)`);
      await client.query("COMMIT");
    } finally {
      client.release();
    }
    const counts = await Promise.all(
      [1, 2, 3, 4, 5].map((i) =>
        pool.query(`SELECT count(*)::int + $1 AS n FROM ${name}`, [i])
      ),
    );
    assert.deepEqual(counts.map((r) => r.rows[0].n), [3, 4, 5, 6, 7]);
    const viaCallback = await new Promise<unknown>((resolve, reject) =>
      pool.connect((error, c, done) => {
        if (error || !c) return reject(error);
        c.query(
          "SELECT 1 AS one",
          (e: Error | null, r: { rows: unknown[] }) => {
            done();
            return e ? reject(e) : resolve(r.rows);
          },
        );
      })
    );
    assert.deepEqual(viaCallback, [{ one: 1 }]);
    await pool.query(`DROP TABLE ${name}`);
    segment.end();
    const docs = await t.flushed();
    const subs = subsOf(docs);
    assert.equal(subs.length, 1 + 3 + 5 + 1 + 1);
    assert.ok(subs.every((s) => s.name === "xray_test@127.0.0.1"));
    assert.ok(
      subs.every((s) =>
        s.parent_id === undefined || s.parent_id === segment.id
      ),
    );
    assert.ok(subs.every((s) => s.sql.user === "xray"));
    assertNoPassword("pg", docs, t.errors);
  } finally {
    await rawPool.end();
  }
});

Deno.test("tracePg() finds the parent per query in an ambient context; unsampled parents record nothing", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const raw = await connected();
  try {
    const db = tracePg(raw, { parent: t.tracer });
    await db.query("SELECT 1"); // No current segment: untraced.
    const unsampled = t.tracer.startSegment("api", { sampled: false });
    await context.run(unsampled, () => db.query("SELECT 2"));
    unsampled.end();
    const segment = t.tracer.startSegment("api", { sampled: true });
    await context.run(segment, () => db.query("SELECT 3"));
    segment.end();
    const docs = await t.flushed();
    assert.equal(docs.length, 1);
    assert.equal(subsOf(docs).length, 1);
  } finally {
    await raw.end();
  }
});

Deno.test("tracePg() refuses what is not a client and bad options", () => {
  assert.throws(() => tracePg({} as pg.Client), /Cannot trace pg client/);
  assert.throws(
    () =>
      tracePg(new pg.Client(), {
        collectQueries: "yes" as unknown as boolean,
      }),
    /'collectQueries' must be a boolean/,
  );
  assert.throws(() => tracePgPool({} as pg.Pool), /Cannot trace pg pool/);
});
