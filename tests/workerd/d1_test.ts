// matrix: deno — drives a real workerd (Miniflare) with Miniflare's D1 binding from the host
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { assertValidDocuments } from "../_schema.ts";
import { bundleWorker } from "./_bundle.ts";
import { faultsAt } from "../_sql.ts";

Deno.test("traceD1() traces prepare/bind/first/run/all/raw, batch and exec on D1 in workerd", async () => {
  const mf = new Miniflare({
    modules: true,
    script: await bundleWorker(new URL("./_d1_worker.ts", import.meta.url)),
    compatibilityDate: "2026-07-01",
    compatibilityFlags: ["nodejs_compat"],
    cf: false,
    d1Databases: ["DB"],
  });
  try {
    const response = await mf.dispatchFetch("http://worker.local/");
    const text = await response.text();
    assert.equal(response.status, 200, text);
    const { results, raw } = JSON.parse(text) as {
      results: Record<string, unknown>;
      raw: string[];
    };
    assert.equal(results.first, "it's secret");
    assert.deepEqual(results.all, [{ id: 1 }]);
    assert.deepEqual(results.raw, [[1]]);
    assert.equal(results.batch, 2);
    assert.match(String(results.constraint), /UNIQUE/);
    assert.match(String(results.syntax), /syntax error/);
    assertValidDocuments(raw);
    assert.equal(raw.length, 1, "the unsampled segment sent nothing");
    // deno-lint-ignore no-explicit-any
    const subs: any[] = JSON.parse(raw[0]).subsegments;
    assert.equal(subs.length, 9);
    for (const sub of subs) {
      assert.equal(sub.name, "DB");
      assert.equal(sub.namespace, "remote");
      assert.equal(sub.sql.url, "d1://DB");
      assert.equal(sub.sql.database_type, "Cloudflare D1");
    }
    assert.deepEqual(subs.map((s) => s.sql.sanitized_query), [
      "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, note TEXT UNIQUE)",
      "INSERT INTO t VALUES (?, ?)",
      "SELECT note FROM t WHERE id = ?",
      "SELECT id FROM t",
      "SELECT id FROM t WHERE id > ?",
      "INSERT INTO t VALUES (?, ?);\nSELECT count(*) AS n FROM t",
      "INSERT INTO t VALUES (?, ?)",
      "SELEC nope",
      "SELECT ?",
    ]);
    assert.deepEqual(subs.map((s) => s.sql.preparation), [
      "statement",
      "call",
      "call",
      "statement",
      "statement",
      "call",
      "call",
      "statement",
      "statement",
    ]);
    assert.deepEqual(faultsAt(subs), [6, 7]);
    // D1 refuses sqlite_version(): no version, and no query spent asking.
    assert.ok(subs.every((s) => s.sql.database_version === undefined));
    assert.ok(!raw[0].includes("secret"));
  } finally {
    await mf.dispose();
  }
});
