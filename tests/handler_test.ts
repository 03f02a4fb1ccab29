import assert from "node:assert/strict";
import { createTracer, type Tracer } from "../mod.ts";
import { segmentOf, withXRay } from "../src/handler.ts";
import { memorySender } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { PARENT, ROOT, testTracer } from "./_helpers.ts";

const SAMPLED = `Root=${ROOT};Parent=${PARENT};Sampled=1`;

function request(path: string, init: RequestInit = {}): Request {
  const headers = new Headers(init.headers);
  if (!headers.has("X-Amzn-Trace-Id")) headers.set("X-Amzn-Trace-Id", SAMPLED);
  return new Request(`https://shop.example${path}`, { ...init, headers });
}

Deno.test("withXRay() records a plain handler's request and response", async () => {
  const t = testTracer();
  const handler = withXRay((req: Request) => {
    segmentOf(req)?.annotate("path", new URL(req.url).pathname);
    return new Response("hello", { status: 201 });
  }, { tracer: t.tracer });
  const res = await handler(request("/cart", {
    method: "POST",
    headers: { "User-Agent": "test/1" },
  }));
  assert.equal(res.status, 201);
  assert.equal(await res.text(), "hello");
  const [doc] = await t.flushed();
  assert.equal(doc.name, "test-service");
  assert.equal(doc.trace_id, ROOT);
  assert.equal(doc.parent_id, PARENT);
  assert.deepEqual(doc.http, {
    request: {
      method: "POST",
      url: "https://shop.example/cart",
      user_agent: "test/1",
    },
    response: { status: 201, content_length: 5 },
  });
  assert.deepEqual(doc.annotations, { path: "/cart" });
  assert.deepEqual(t.errors, []);
});

Deno.test("withXRay() records a thrown error with status 500 and rethrows it", async () => {
  const t = testTracer();
  const boom = new RangeError("out of stock");
  const handler = withXRay(() => {
    throw boom;
  }, { tracer: t.tracer });
  await assert.rejects(handler(request("/")), (e) => e === boom);
  const [doc] = await t.flushed();
  assert.equal(doc.fault, true);
  assert.equal(doc.http.response.status, 500);
  assert.equal(doc.cause.exceptions[0].type, "RangeError");
});

Deno.test("withXRay() sets error for 404 and throttle for 429", async () => {
  const t = testTracer();
  const handler = withXRay(
    (req: Request) =>
      new Response(null, { status: req.url.endsWith("/busy") ? 429 : 404 }),
    { tracer: t.tracer },
  );
  await (await handler(request("/missing"))).body?.cancel();
  await (await handler(request("/busy"))).body?.cancel();
  const [notFound, busy] = await t.flushed();
  assert.equal(notFound.error, true);
  assert.equal(notFound.throttle, undefined);
  assert.equal(busy.error, true);
  assert.equal(busy.throttle, true);
});

Deno.test("withXRay() wraps a Workers module, building the tracer once from env and flushing through ctx.waitUntil", async () => {
  const sender = memorySender();
  let built = 0;
  let tracer: Tracer | undefined;
  type Env = { SERVICE: string };
  const worker = withXRay({
    fetch(_req: Request, env: Env, _ctx: unknown): Response {
      return new Response(`hi from ${env.SERVICE}`);
    },
    scheduled(): string {
      return "kept";
    },
  }, (env: Env) => {
    built++;
    tracer = createTracer({ serviceName: env.SERVICE, sender });
    return { tracer };
  });
  assert.equal(worker.scheduled(), "kept");
  const waits: Promise<unknown>[] = [];
  const ctx = { waitUntil: (p: Promise<unknown>) => waits.push(p) };
  for (let i = 0; i < 2; i++) {
    const res = await worker.fetch(request("/"), { SERVICE: "edge-svc" }, ctx);
    assert.equal(await res.text(), "hi from edge-svc");
  }
  assert.equal(built, 1);
  assert.equal(waits.length, 2);
  await Promise.all(waits);
  assert.equal(assertValidDocuments(sender.raw), 2);
  assert.equal(sender.documents[0].name, "edge-svc");
});

Deno.test("withXRay() keeps the handler's this for module objects", async () => {
  const t = testTracer();
  const worker = withXRay({
    greeting: "hey",
    fetch(this: { greeting: string }): Response {
      return new Response(this.greeting);
    },
  }, { tracer: t.tracer });
  assert.equal(await (await worker.fetch(request("/"))).text(), "hey");
});

Deno.test("withXRay() takes the client address from X-Forwarded-For before the clientIp option", async () => {
  const t = testTracer();
  const handler = withXRay(() => new Response("ok"), {
    tracer: t.tracer,
    clientIp: () => "192.0.2.1",
  });
  await (await handler(request("/a", {
    headers: { "X-Forwarded-For": " 203.0.113.5 ,10.1.1.1" },
  }))).text();
  await (await handler(request("/b"))).text();
  const [forwarded, direct] = await t.flushed();
  assert.equal(forwarded.http.request.client_ip, "203.0.113.5");
  assert.equal(forwarded.http.request.x_forwarded_for, true);
  assert.equal(direct.http.request.client_ip, "192.0.2.1");
  assert.equal(direct.http.request.x_forwarded_for, undefined);
});

Deno.test("withXRay() ends the segment when the client cancels a streamed body", async () => {
  const t = testTracer();
  let cancelled: unknown;
  const handler = withXRay(() =>
    new Response(
      new ReadableStream({
        pull(c) {
          c.enqueue(new TextEncoder().encode("tick\n"));
        },
        cancel(reason) {
          cancelled = reason;
        },
      }),
    ), { tracer: t.tracer });
  const res = await handler(request("/ticks"));
  const reader = res.body!.getReader();
  await reader.read();
  assert.equal((await t.flushed()).length, 0);
  await reader.cancel("gone");
  assert.equal(cancelled, "gone");
  const [doc] = await t.flushed();
  assert.equal(doc.http.response.status, 200);
  assert.equal(doc.http.response.content_length, 5);
});

Deno.test("withXRay() records an error raised while the body streams", async () => {
  const t = testTracer();
  const handler = withXRay(() =>
    new Response(
      new ReadableStream({
        start(c) {
          c.enqueue(new TextEncoder().encode("partial"));
        },
        pull(c) {
          c.error(new Error("stream broke"));
        },
      }),
    ), { tracer: t.tracer });
  const res = await handler(request("/"));
  await assert.rejects(res.text());
  const [doc] = await t.flushed();
  assert.equal(doc.fault, true);
  assert.equal(doc.cause.exceptions[0].message, "stream broke");
});

Deno.test("withXRay() leaves unsampled responses untouched and sends nothing", async () => {
  const t = testTracer();
  const original = new Response("same");
  const handler = withXRay(() => original, { tracer: t.tracer });
  const res = await handler(
    request("/", { headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=0` } }),
  );
  assert.equal(res, original);
  await res.text();
  assert.equal((await t.flushed()).length, 0);
});

Deno.test("withXRay() rejects a non-handler and options without a tracer", () => {
  const t = testTracer();
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => withXRay(42 as any, { tracer: t.tracer }),
    { name: "TypeError" },
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => withXRay({ notFetch: 1 } as any, { tracer: t.tracer }),
    { message: "Cannot wrap handler as the object has no 'fetch' function" },
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => withXRay(() => new Response(), { tracer: null } as any),
    {
      message:
        "Cannot create handler wrapper as 'tracer' must be a tracer from createTracer(): current value is null",
    },
  );
});
