// matrix: deno,deno-npm,node,bun — needs the MariaDB the test task starts (scripts/services.ts)
import assert from "node:assert/strict";
import mysql from "mysql2";
import mysqlPromise from "mysql2/promise";
import { createAsyncContext } from "../src/als.ts";
import { traceMysql } from "../src/sql/mod.ts";
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

function assertSql(sub: Doc): void {
  assert.equal(sub.name, "xray_test@127.0.0.1");
  assert.equal(sub.namespace, "remote");
  assert.match(sub.sql.url, /^mysql:\/\/127\.0\.0\.1:\d+\/xray_test$/);
  assert.equal(sub.sql.user, "xray");
  assert.equal(sub.sql.driver_version, "mysql2");
}

Deno.test("traceMysql() traces mysql2/promise connections: query, execute, transactions, errors", async () => {
  const t = testTracer();
  const raw = await reachable(
    "mysql",
    () => mysqlPromise.createConnection(serviceUrl("mysql")),
  );
  try {
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = traceMysql(raw, { parent: segment, collectQueries: true });
    const name = tableName("my_t");
    await db.query(`CREATE TABLE ${name} (id INT PRIMARY KEY, note TEXT)`);
    await db.beginTransaction();
    await db.execute(`INSERT INTO ${name} VALUES (?, ?)`, [1, "one"]);
    await db.commit();
    const [rows] = await db.query(
      `SELECT note FROM ${name} WHERE id = 1 AND note <> 'it\\'s secret'`,
    );
    assert.deepEqual(rows, [{ note: "one" }]);
    const duplicate = await db.execute(`INSERT INTO ${name} VALUES (?, ?)`, [
      1,
      "again",
    ]).catch((e: unknown) => e);
    assert.equal((duplicate as { code: string }).code, "ER_DUP_ENTRY");
    const syntax = await db.query("SELEC 1").catch((e: unknown) => e);
    assert.equal((syntax as { code: string }).code, "ER_PARSE_ERROR");
    const statement = await db.prepare(`SELECT note FROM ${name} WHERE id = ?`);
    const [prepared] = await statement.execute([1]);
    assert.deepEqual(prepared, [{ note: "one" }]);
    await statement.close();
    // The original connection keeps working, untraced.
    await raw.query(`DROP TABLE ${name}`);
    segment.end();
    const docs = await t.flushed();
    const subs = subsOf(docs);
    assert.equal(subs.length, 8);
    subs.forEach(assertSql);
    assert.deepEqual(subs.map((s) => s.sql.preparation), [
      "statement",
      "statement",
      "call",
      "statement",
      "statement",
      "call",
      "statement",
      "call",
    ]);
    assert.equal(
      subs[7].sql.sanitized_query,
      `SELECT note FROM ${name} WHERE id = ?`,
    );
    assert.equal(subs[1].sql.sanitized_query, "START TRANSACTION");
    assert.equal(
      subs[4].sql.sanitized_query,
      `SELECT note FROM ${name} WHERE id = ? AND note <> ?`,
    );
    // From the handshake: MariaDB behind the MySQL protocol.
    assert.equal(subs[0].sql.database_type, "MariaDB");
    assert.match(subs[0].sql.database_version, /MariaDB/);
    assert.ok(!subs[0].sql.database_version.startsWith("5.5.5-"));
    const failed = subs.filter((s) => s.fault);
    assert.equal(failed.length, 2);
    assert.match(failed[0].cause.exceptions[0].message, /^ER_DUP_ENTRY: /);
    assert.match(failed[1].cause.exceptions[0].message, /^ER_PARSE_ERROR: /);
    assertNoPassword("mysql", docs, t.errors);
  } finally {
    await raw.end();
  }
});

Deno.test("traceMysql() traces the callback API: query, execute, streamed query", async () => {
  const t = testTracer();
  const raw = mysql.createConnection(serviceUrl("mysql"));
  try {
    await reachable(
      "mysql",
      () =>
        new Promise<void>((resolve, reject) =>
          raw.connect((e: unknown) => e ? reject(e) : resolve())
        ),
    );
    const segment = t.tracer.startSegment("api", { sampled: true });
    const db = traceMysql(raw, { parent: segment });
    const viaQuery = await new Promise<unknown>((resolve, reject) =>
      db.query(
        "SELECT 1 + ? AS n",
        [1],
        (error, rows) => error ? reject(error) : resolve(rows),
      )
    );
    assert.deepEqual(viaQuery, [{ n: 2 }]);
    const viaExecute = await new Promise<unknown>((resolve, reject) =>
      db.execute(
        "SELECT ? AS s",
        ["x"],
        (error, rows) => error ? reject(error) : resolve(rows),
      )
    );
    assert.deepEqual(viaExecute, [{ s: "x" }]);
    const failed = await new Promise<unknown>((resolve) =>
      db.query("SELECT * FROM missing_table_y", (error) => resolve(error))
    );
    assert.equal((failed as { code: string }).code, "ER_NO_SUCH_TABLE");
    // Streamed: the rows arrive as events; one subsegment until 'end'.
    const streamed: unknown[] = [];
    await new Promise<void>((resolve, reject) => {
      db.query("SELECT 1 AS a UNION ALL SELECT 2")
        .on("result", (row: unknown) => streamed.push(row))
        .on("error", reject)
        .on("end", () => resolve());
    });
    assert.equal(streamed.length, 2);
    const streamedError = await new Promise<unknown>((resolve) => {
      db.query("SELEC broken").on("error", resolve);
    });
    assert.equal((streamedError as { code: string }).code, "ER_PARSE_ERROR");
    // The promise view of a traced connection is traced as well.
    const [rows] = await db.promise().query("SELECT 3 AS three");
    assert.deepEqual(rows, [{ three: 3 }]);
    const viaPrepared = await new Promise<unknown>((resolve, reject) =>
      db.prepare("SELECT ? AS q", (error, statement) => {
        if (error) return reject(error);
        statement.execute([4], (e: unknown, r: unknown) => {
          statement.close();
          return e ? reject(e) : resolve(r);
        });
      })
    );
    assert.deepEqual(viaPrepared, [{ q: 4 }]);
    segment.end();
    const subs = subsOf(await t.flushed());
    assert.equal(subs.length, 7);
    subs.forEach(assertSql);
    assert.deepEqual(faultsAt(subs), [2, 4]);
    assert.equal(subs[6].sql.preparation, "call");
    assert.equal(subs[1].sql.preparation, "call");
  } finally {
    await new Promise((resolve) => raw.end(resolve));
  }
});

Deno.test("traceMysql() traces pools: concurrent queries, pool connections, ambient parent", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const rawPool = mysqlPromise.createPool({
    uri: serviceUrl("mysql"),
    connectionLimit: 3,
  });
  try {
    await reachable("mysql", () => rawPool.query("SELECT 1"));
    const pool = traceMysql(rawPool, { parent: t.tracer });
    await pool.query("SELECT 0"); // No current segment: untraced.
    const segment = t.tracer.startSegment("api", { sampled: true });
    await context.run(segment, async () => {
      const results = await Promise.all(
        [1, 2, 3, 4, 5].map((i) => pool.execute("SELECT ? AS i", [i])),
      );
      assert.deepEqual(
        results.map(([rows]) => rows),
        [1, 2, 3, 4, 5].map((i) => [{ i }]),
      );
      const connection = await pool.getConnection();
      try {
        await connection.beginTransaction();
        await connection.query("SELECT 1");
        await connection.rollback();
      } finally {
        connection.release();
      }
    });
    segment.end();
    const unsampled = t.tracer.startSegment("api", { sampled: false });
    await context.run(unsampled, () => pool.query("SELECT 9"));
    unsampled.end();
    const docs = await t.flushed();
    assert.equal(docs.length, 1);
    const subs = subsOf(docs);
    assert.equal(subs.length, 5 + 3);
    subs.forEach(assertSql);
    assert.ok(subs.every((s) => s.parent_id === undefined));
    // Asked once for the pool (SELECT VERSION()): known by the last query.
    assert.match(subs.at(-1).sql.database_version, /MariaDB/);
    assert.equal(subs.at(-1).sql.database_type, "MariaDB");
    assertNoPassword("mysql", docs, t.errors);
  } finally {
    await rawPool.end();
  }
});

Deno.test("traceMysql() refuses what is not a connection", () => {
  assert.throws(
    () => traceMysql({} as mysql.Connection),
    /Cannot trace mysql2 connection/,
  );
});
