// matrix: deno,node,bun,deno-npm — a downstream/upstream server on node:http (tests/_server.ts); workerd has no servers (tests/workerd/ drives a Worker instead)
// The cases of hono_test.ts and handler_test.ts that need a real server on
// 127.0.0.1 beside the app (the rest of those files runs on workerd too).
import assert from "node:assert/strict";
import { Hono } from "hono";
import { segmentOf, withXRay } from "../src/handler.ts";
import { xray, type XRayVariables } from "../src/hono.ts";
import { PARENT, ROOT, testTracer } from "./_helpers.ts";
import { serve } from "./_server.ts";

const SAMPLED = `Root=${ROOT};Parent=${PARENT};Sampled=1`;

Deno.test("xray() forwards Root, its own id as Parent and Lineage to a downstream 127.0.0.1 server", async () => {
  const received: (string | null)[] = [];
  const server = await serve((req) => {
    received.push(req.headers.get("X-Amzn-Trace-Id"));
    return new Response("downstream");
  });
  try {
    const t = testTracer();
    const a = new Hono<{ Variables: XRayVariables }>();
    a.use(xray({ tracer: t.tracer }));
    a.get("/", async (c) => {
      const segment = c.var.xray;
      const body = await segment.capture("downstream", async (sub) => {
        const r = await fetch(`${server.url}/`, {
          headers: { "X-Amzn-Trace-Id": sub.traceHeaderFor() },
        });
        sub.setHttpResponse({ status: r.status });
        return await r.text();
      }, { namespace: "remote" });
      return c.text(body);
    });
    const res = await a.request("/", {
      headers: {
        "X-Amzn-Trace-Id": `${SAMPLED};Lineage=a87bd80c:1|68fd508a:5`,
      },
    });
    assert.equal(await res.text(), "downstream");
    const [doc] = await t.flushed();
    const sub = doc.subsegments[0];
    assert.equal(
      received[0],
      `Root=${ROOT};Parent=${sub.id};Sampled=1;Lineage=a87bd80c:1|68fd508a:5`,
    );
    assert.equal(doc.parent_id, PARENT);
  } finally {
    await server.close();
  }
});

Deno.test("withXRay() adds the Sampled answer to a response with immutable headers", async () => {
  const server = await serve(() => new Response("upstream body"));
  try {
    const t = testTracer({
      sampler: { shouldSample: () => ({ sampled: true }) },
    });
    // A proxy: returns the fetch() response (whose headers are immutable) as it is.
    const handler = withXRay(
      (req: Request) => {
        segmentOf(req)?.annotate("proxied", true);
        return fetch(`${server.url}/`);
      },
      { tracer: t.tracer },
    );
    const res = await handler(
      new Request("https://shop.example/", {
        headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
      }),
    );
    assert.equal(res.headers.get("X-Amzn-Trace-Id"), `Root=${ROOT};Sampled=1`);
    assert.equal(await res.text(), "upstream body");
    const [doc] = await t.flushed();
    assert.equal(doc.http.response.content_length, 13);
    assert.deepEqual(doc.annotations, { proxied: true });
  } finally {
    await server.close();
  }
});
