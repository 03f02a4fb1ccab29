// How the Hono middleware and withXRay end a request's segment, whatever
// happens to the response body: HEAD, a body cancelled half-way, an
// unsampled response (left untouched), a declared length.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createTracer, type Tracer } from "../mod.ts";
import { xray } from "../src/hono.ts";
import { withXRay } from "../src/handler.ts";
import { fixedClock, memorySender, sequentialIds } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const SAMPLED = { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=1` };
const UNSAMPLED = { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=0` };

function setup(): {
  tracer: Tracer;
  // deno-lint-ignore no-explicit-any
  delivered: () => Promise<any[]>;
  errors: Error[];
} {
  const sender = memorySender();
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "body",
    sender,
    clock: fixedClock(),
    ids: sequentialIds(),
    onError: (e) => errors.push(e),
  });
  return {
    tracer,
    errors,
    delivered: async () => {
      await tracer.flush();
      assertValidDocuments(sender.raw);
      return sender.documents;
    },
  };
}

Deno.test("xray() ends the segment of a HEAD request, whose body Hono drops unread", async () => {
  const { tracer, delivered, errors } = setup();
  const app = new Hono();
  app.use(xray({ tracer }));
  app.get("/", (c) => c.text("hi"));
  const res = await app.request("/", { method: "HEAD", headers: SAMPLED });
  assert.equal(res.status, 200);
  await res.text();
  const docs = await delivered();
  assert.equal(docs.length, 1);
  assert.equal(docs[0].http.request.method, "HEAD");
  assert.equal(docs[0].http.response.status, 200);
  assert.deepEqual(errors, []);
});

Deno.test("xray() ends a HEAD segment even when nobody looks at the response", async () => {
  const { tracer, delivered } = setup();
  const app = new Hono();
  app.use(xray({ tracer }));
  app.get("/", (c) => c.body(new ReadableStream({ pull() {} })));
  for (let i = 0; i < 20; i++) {
    await app.request("/", { method: "HEAD", headers: SAMPLED });
  }
  assert.equal((await delivered()).length, 20);
});

Deno.test("withXRay() ends the segment of a HEAD request at once", async () => {
  const { tracer, delivered } = setup();
  const handler = withXRay(
    () => new Response("body", { headers: { "x-a": "1" } }),
    { tracer },
  );
  const res = await handler(
    new Request("http://h.example/", { method: "HEAD", headers: SAMPLED }),
  );
  assert.equal(res.status, 200);
  const docs = await delivered();
  assert.equal(docs.length, 1);
  assert.equal(docs[0].http.request.method, "HEAD");
});

Deno.test("xray() leaves an unsampled response as the handler made it", async () => {
  const { tracer, delivered } = setup();
  const made: Response[] = [];
  const seen: Response[] = [];
  const app = new Hono();
  app.use(async (c, next) => {
    await next();
    seen.push(c.res);
  });
  app.use(xray({ tracer }));
  app.get("/", () => {
    const r = new Response("plain");
    made.push(r);
    return r;
  });
  const res = await app.request("/", { headers: UNSAMPLED });
  assert.equal(await res.text(), "plain");
  assert.equal(seen[0], made[0]);
  assert.equal((await delivered()).length, 0);
});

Deno.test("withXRay() returns an unsampled response as the handler made it", async () => {
  const { tracer } = setup();
  const made = new Response("plain");
  const handler = withXRay(() => made, { tracer });
  const res = await handler(
    new Request("http://h.example/", { headers: UNSAMPLED }),
  );
  assert.equal(res, made);
});

Deno.test("xray() records a body cancelled half-way as client_aborted with the bytes that went out", async () => {
  const { tracer, delivered } = setup();
  const app = new Hono();
  app.use(xray({ tracer }));
  const chunk = new Uint8Array(100);
  app.get("/stream", (c) =>
    c.body(
      new ReadableStream({
        pull(controller) {
          controller.enqueue(chunk);
        },
      }),
    ));
  const res = await app.request("/stream", { headers: SAMPLED });
  const reader = res.body!.getReader();
  await reader.read();
  await reader.read();
  await reader.cancel("went away");
  const [doc] = await delivered();
  assert.equal(doc.annotations.client_aborted, true);
  assert.equal(doc.http.response.status, 200);
  assert.equal(doc.http.response.content_length, 200);
});

Deno.test("xray() records the full length of a body read to the end, without client_aborted", async () => {
  const { tracer, delivered } = setup();
  const app = new Hono();
  app.use(xray({ tracer }));
  app.get("/", (c) => c.text("x".repeat(1000)));
  const res = await app.request("/", { headers: SAMPLED });
  assert.equal((await res.text()).length, 1000);
  const [doc] = await delivered();
  assert.equal(doc.annotations.client_aborted, undefined);
  assert.deepEqual(doc.http.response, { status: 200, content_length: 1000 });
});

Deno.test("withXRay() ends a small declared body when the handler returns, untouched", async () => {
  const { tracer, delivered } = setup();
  const made = new Response("four", {
    headers: { "content-length": "4" },
  });
  const handler = withXRay(() => made, { tracer });
  const res = await handler(
    new Request("http://h.example/", { headers: SAMPLED }),
  );
  assert.equal(res, made);
  // Not read: the segment ended anyway.
  const [doc] = await delivered();
  assert.deepEqual(doc.http.response, { status: 200, content_length: 4 });
  await res.body?.cancel();
});
