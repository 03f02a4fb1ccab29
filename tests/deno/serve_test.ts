// Deno-only: real HTTP requests to Deno.serve on 127.0.0.1, through the Hono
// middleware and the fetch-handler wrapper (the shared incoming-request proof
// of tests/_incoming_case.ts, plus what only Deno.serve's info gives).
import assert from "node:assert/strict";
import { segmentOf, withXRay } from "../../src/handler.ts";
import { testTracer } from "../_helpers.ts";
import { Hono } from "hono";
import { xray } from "../../src/hono.ts";
import {
  honoOverRealHttp,
  type ServeFetch,
  withXRayOverRealHttp,
} from "../_incoming_case.ts";
import { abortedRequestsAreRecorded } from "../_abort_case.ts";

const denoServe: ServeFetch = (fetch) => {
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    onListen: () => {},
    // What Deno.serve answers a thrown error with, without the log line.
    onError: () => new Response("failed", { status: 500 }),
  }, fetch);
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  });
};

Deno.test("Hono on Deno.serve: success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream, dynamic naming and SSE over real HTTP", async () => {
  await honoOverRealHttp(denoServe);
});

Deno.test("withXRay on Deno.serve: success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream and dynamic naming over real HTTP", async () => {
  await withXRayOverRealHttp(denoServe);
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
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/ping?q=1`, {
      headers: {
        "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
      },
    });
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

Deno.test("Hono on Deno.serve: a sampled text or byte response goes out as the handler made it, its length taken from the body Deno holds", async () => {
  const t = testTracer();
  const app = new Hono();
  app.use(xray({ tracer: t.tracer }));
  const made: Response[] = [];
  app.get("/text", (c) => {
    made.push(c.text("héllo"));
    return made.at(-1)!;
  });
  app.get("/bytes", () => {
    made.push(new Response(new Uint8Array(7)));
    return made.at(-1)!;
  });
  const handed: Response[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (req, info) => {
      const res = await app.fetch(req, info);
      handed.push(res);
      return res;
    },
  );
  try {
    for (const path of ["/text", "/bytes"]) {
      const res = await fetch(`http://127.0.0.1:${server.addr.port}${path}`, {
        headers: {
          "X-Amzn-Trace-Id":
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        },
      });
      await res.arrayBuffer();
    }
  } finally {
    await server.shutdown();
  }
  // The same objects: not re-streamed, and their headers never read
  // (reading them takes a Response off Deno.serve's fast path).
  assert.equal(handed.length, 2);
  assert.ok(handed.every((res, i) => res === made[i]));
  const docs = await t.flushed();
  assert.deepEqual(
    docs.map((
      d,
    ) => [
      d.http.request.url.replace(/^.*\//, "/"),
      d.http.response.content_length,
    ]),
    [["/text", 6], ["/bytes", 7]],
  );
});

// Deno.serve takes a whole text or byte body at once and reports it sent
// even when the client left: only streams show the abort (by cancelling).
Deno.test("Hono middleware: clients that leave mid-body are recorded as client_aborted, and HEAD ends its segment", async () => {
  await abortedRequestsAreRecorded(denoServe, ["/stream"]);
});
