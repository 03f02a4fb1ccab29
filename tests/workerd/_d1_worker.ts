// A Worker that queries its D1 binding through traceD1 and answers with the
// documents it recorded (memory sender). Bundled and run in workerd with
// Miniflare's D1 by d1_test.ts.
import { createTracer } from "../../mod.ts";
import { createAsyncContext } from "../../src/als.ts";
import { memorySender } from "../../src/testing.ts";
import { type D1DatabaseLike, traceD1 } from "../../src/sql/mod.ts";

interface Env {
  DB: D1DatabaseLike;
}

async function failure(run: () => Promise<unknown>): Promise<string> {
  try {
    await run();
    return "no error";
  } catch (error) {
    return String((error as Error).message);
  }
}

export default {
  async fetch(_request: Request, env: Env): Promise<Response> {
    const sender = memorySender();
    const context = createAsyncContext();
    const tracer = createTracer({ serviceName: "worker", sender, context });
    const segment = tracer.startSegment("worker", { sampled: true });
    const db = traceD1(env.DB, {
      parent: segment,
      binding: "DB",
      collectQueries: true,
    });
    const results: Record<string, unknown> = {};
    await db.exec!(
      "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, note TEXT UNIQUE)",
    );
    await db.prepare("INSERT INTO t VALUES (?, ?)").bind(1, "it's secret")
      .run();
    results.first = await db.prepare("SELECT note FROM t WHERE id = ?").bind(1)
      .first("note");
    results.all = (await db.prepare("SELECT id FROM t").all()).results;
    results.raw = await db.prepare("SELECT id FROM t WHERE id > 0").raw();
    results.batch = (await db.batch([
      db.prepare("INSERT INTO t VALUES (?, ?)").bind(2, "two"),
      db.prepare("SELECT count(*) AS n FROM t"),
    ])).length;
    results.constraint = await failure(() =>
      db.prepare("INSERT INTO t VALUES (?, ?)").bind(3, "two").run()
    );
    results.syntax = await failure(() => db.prepare("SELEC nope").all());
    // The binding itself stays untraced; unsampled parents record nothing.
    await env.DB.prepare("SELECT 1").all();
    const unsampled = tracer.startSegment("worker", { sampled: false });
    await traceD1(env.DB, { parent: unsampled }).prepare("SELECT 2").all();
    unsampled.end();
    // Ambient parent through the als context (nodejs_compat).
    await context.run(
      segment,
      () =>
        traceD1(env.DB, { parent: tracer, binding: "DB", collectQueries: true })
          .prepare("SELECT 3").first(),
    );
    segment.end();
    await tracer.flush();
    return Response.json({ results, raw: sender.raw });
  },
};
