// Deno-only: real HTTP requests to Deno.serve on 127.0.0.1, through the Hono
// middleware and the fetch-handler wrapper.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { xray, type XRayVariables } from "../../src/hono.ts";
import { segmentOf, withXRay } from "../../src/handler.ts";
import { PARENT, ROOT, testTracer } from "../_helpers.ts";

const SAMPLED = `Root=${ROOT};Parent=${PARENT};Sampled=1`;

async function get(
  port: number,
  path: string,
  traceHeader = SAMPLED,
): Promise<Response> {
  return await fetch(`http://127.0.0.1:${port}${path}`, {
    headers: { "X-Amzn-Trace-Id": traceHeader, "User-Agent": "deno-test" },
  });
}

Deno.test("Hono on Deno.serve: success, 404, thrown error, 429, Sampled=? and an SSE stream over real HTTP", async () => {
  const t = testTracer({
    sampler: { shouldSample: () => ({ sampled: true, ruleName: "r" }) },
  });
  const app = new Hono<{ Variables: XRayVariables }>();
  app.use(xray({ tracer: t.tracer }));
  app.onError((_err, c) => c.text("failed", 500));
  app.get("/items/:id", (c) => c.json({ id: c.req.param("id") }));
  app.get("/boom", () => {
    throw new Error("kaput");
  });
  app.get("/busy", (c) => c.text("slow down", 429));
  app.get("/sse", (c) =>
    streamSSE(c, async (s) => {
      for (let i = 0; i < 3; i++) await s.writeSSE({ data: `n${i}` });
    }));
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    app.fetch,
  );
  try {
    const port = server.addr.port;
    const ok = await get(port, "/items/9");
    assert.deepEqual(await ok.json(), { id: "9" });
    await (await get(port, "/missing")).text();
    const boom = await get(port, "/boom");
    assert.equal(boom.status, 500);
    await boom.text();
    await (await get(port, "/busy")).text();
    const asked = await get(port, "/items/1", `Root=${ROOT};Sampled=?`);
    assert.equal(
      asked.headers.get("x-amzn-trace-id"),
      `Root=${ROOT};Sampled=1`,
    );
    await asked.text();
    const sse = await get(port, "/sse");
    const text = await sse.text();
    assert.equal(text.match(/data: n\d/g)?.length, 3);
  } finally {
    await server.shutdown();
  }
  const docs = await t.flushed();
  assert.equal(docs.length, 6);
  const [ok, missing, boom, busy, asked, sse] = docs;
  assert.equal(ok.trace_id, ROOT);
  assert.equal(ok.parent_id, PARENT);
  assert.equal(ok.http.request.client_ip, "127.0.0.1");
  assert.equal(ok.http.request.user_agent, "deno-test");
  assert.equal(ok.annotations.http_route, "/items/:id");
  assert.equal(ok.http.response.status, 200);
  assert.equal(missing.error, true);
  assert.equal(boom.fault, true);
  assert.equal(boom.cause.exceptions[0].message, "kaput");
  assert.equal(busy.throttle, true);
  assert.equal(asked.parent_id, undefined);
  assert.equal(asked.aws.xray.sampling_rule_name, "r");
  assert.equal(sse.annotations.http_route, "/sse");
  assert.ok(sse.http.response.content_length > 0);
});

Deno.test("withXRay on Deno.serve records the connection address from the serve info", async () => {
  const t = testTracer();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    withXRay((req: Request, _info: Deno.ServeHandlerInfo) => {
      segmentOf(req)?.annotate("seen", true);
      return new Response("pong");
    }, { tracer: t.tracer, flush: true }),
  );
  try {
    const res = await get(server.addr.port, "/ping?q=1");
    assert.equal(await res.text(), "pong");
  } finally {
    await server.shutdown();
  }
  const [doc] = await t.flushed();
  assert.equal(doc.http.request.client_ip, "127.0.0.1");
  assert.equal(doc.http.request.x_forwarded_for, undefined);
  assert.match(doc.http.request.url, /^http:\/\/127\.0\.0\.1:\d+\/ping\?q=1$/);
  assert.equal(doc.http.response.content_length, 4);
  assert.deepEqual(doc.annotations, { seen: true });
});
