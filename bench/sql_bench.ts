// The cost of xray-edge/sql per query, against the same query untraced, on
// in-process SQLite (node:sqlite): `deno bench -A bench/sql_bench.ts`.
// One iteration is 50 queries under one segment (ending and sending the
// segment is outside the measured part): divide by 50 for µs per query;
// Deno prints each case's ratio to the untraced baseline. `deno task bench`
// runs it and puts its output in BENCHMARKS.md.
import { DatabaseSync } from "node:sqlite";
import { createTracer } from "../mod.ts";
import { traceSqlite } from "../src/sql/mod.ts";

const QUERIES = 50;
const group = `${QUERIES} SELECTs through node:sqlite`;
const OPTIONS = { n: 2_000, warmup: 200, group };

type Statement = { get(...args: unknown[]): unknown };

function bench(
  name: string,
  sampled: boolean | undefined,
  options: { collectQueries?: boolean; baseline?: boolean } = {},
): void {
  const tracer = createTracer({
    serviceName: "bench",
    env: false,
    // Accepts and discards: the recording and encoding are what is measured.
    sender: { send: () => Promise.resolve({ ok: true as const }) },
  });
  const raw = new DatabaseSync(":memory:");
  raw.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)");
  raw.prepare("INSERT INTO t VALUES (1, 'one')").run();
  const sql = "SELECT note FROM t WHERE id = ? AND note <> 'x'";
  Deno.bench(name, { ...OPTIONS, baseline: options.baseline }, async (b) => {
    const segment = tracer.startSegment("bench", { sampled: sampled ?? false });
    const statement: Statement = sampled === undefined
      ? raw.prepare(sql)
      : traceSqlite(raw, {
        parent: segment,
        collectQueries: options.collectQueries ?? false,
      }).prepare(sql);
    b.start();
    for (let i = 0; i < QUERIES; i++) statement.get(1);
    b.end();
    segment.end();
    await tracer.flush();
  });
}

bench("untraced", undefined, { baseline: true });
bench("traced, sampled", true);
bench("traced, sampled, sanitized query", true, { collectQueries: true });
bench("traced, unsampled parent", false);
