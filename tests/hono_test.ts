import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { stream } from "hono/streaming";
import { createTracer, type Plugin, type Tracer } from "../mod.ts";
import { xray, type XRayVariables } from "../src/hono.ts";
import { createAsyncContext } from "../src/als.ts";
import {
  fixedClock,
  type MemorySender,
  memorySender,
  sequentialIds,
} from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT = "53995c3f42cd8ad8";
const SAMPLED = `Root=${ROOT};Parent=${PARENT};Sampled=1`;

function setup(extra: Partial<Parameters<typeof createTracer>[0]> = {}): {
  tracer: Tracer;
  sender: MemorySender;
  errors: Error[];
} {
  const sender = memorySender();
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "users-api",
    sender,
    clock: fixedClock(),
    ids: sequentialIds(),
    onError: (e) => errors.push(e),
    ...extra,
  });
  return { tracer, sender, errors };
}

function app(
  tracer: Tracer,
  options: Omit<Parameters<typeof xray>[0], "tracer"> = {},
): Hono<{ Variables: XRayVariables }> {
  const a = new Hono<{ Variables: XRayVariables }>();
  a.use(xray({ tracer, ...options }));
  // c.error is set before the error handler runs; this one just keeps the test output quiet.
  a.onError((err, c) =>
    err instanceof HTTPException ? err.getResponse() : c.text("oops", 500)
  );
  a.get("/users/:id", (c) => {
    c.var.xray.annotate("user", c.req.param("id"));
    return c.json({ id: c.req.param("id") });
  });
  a.get("/boom", () => {
    throw new TypeError("database on fire");
  });
  a.get("/slow-down", (c) => c.text("too many", 429));
  a.get("/forbidden", () => {
    throw new HTTPException(403, { message: "no" });
  });
  return a;
}

async function delivered(
  tracer: Tracer,
  sender: MemorySender,
  // deno-lint-ignore no-explicit-any
): Promise<any[]> {
  await tracer.flush();
  assertValidDocuments(sender.raw);
  return sender.documents;
}

Deno.test("xray() records a successful request with its route, continuing the incoming trace", async () => {
  const { tracer, sender, errors } = setup();
  const res = await app(tracer).request("http://api.test/users/42?x=1", {
    headers: {
      "X-Amzn-Trace-Id": SAMPLED,
      "User-Agent": "curl/8",
      "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
    },
  });
  assert.deepEqual(await res.json(), { id: "42" });
  assert.equal(res.headers.get("X-Amzn-Trace-Id"), null);
  const [doc, ...rest] = await delivered(tracer, sender);
  assert.equal(rest.length, 0);
  assert.equal(doc.name, "users-api");
  assert.equal(doc.trace_id, ROOT);
  assert.equal(doc.parent_id, PARENT);
  assert.deepEqual(doc.http.request, {
    method: "GET",
    url: "http://api.test/users/42?x=1",
    user_agent: "curl/8",
    client_ip: "203.0.113.9",
    x_forwarded_for: true,
  });
  assert.equal(doc.http.response.status, 200);
  assert.equal(doc.http.response.content_length, 11);
  assert.deepEqual(doc.annotations, { user: "42", http_route: "/users/:id" });
  assert.equal(doc.error, undefined);
  assert.equal(doc.fault, undefined);
  assert.deepEqual(errors, []);
});

Deno.test("xray() marks a 404 as an error with no route", async () => {
  const { tracer, sender } = setup();
  const res = await app(tracer).request("/nowhere", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  });
  assert.equal(res.status, 404);
  await res.text();
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.http.response.status, 404);
  assert.equal(doc.error, true);
  assert.equal(doc.fault, undefined);
  assert.equal(doc.annotations, undefined);
});

Deno.test("xray() records a thrown error from c.error as the cause, with fault", async () => {
  const { tracer, sender } = setup();
  const res = await app(tracer).request("/boom", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  });
  assert.equal(res.status, 500);
  await res.text();
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.fault, true);
  assert.equal(doc.http.response.status, 500);
  assert.equal(doc.annotations.http_route, "/boom");
  const [exception] = doc.cause.exceptions;
  assert.equal(exception.type, "TypeError");
  assert.equal(exception.message, "database on fire");
  assert.ok(exception.stack.length > 0);
});

Deno.test("xray() treats an HTTPException answered with 403 as a client error without a cause", async () => {
  const { tracer, sender } = setup();
  const res = await app(tracer).request("/forbidden", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  });
  assert.equal(res.status, 403);
  await res.text();
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.error, true);
  assert.equal(doc.fault, undefined);
  assert.equal(doc.cause, undefined);
});

Deno.test("xray() sets throttle and error on 429", async () => {
  const { tracer, sender } = setup();
  const res = await app(tracer).request("/slow-down", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  });
  await res.text();
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.http.response.status, 429);
  assert.equal(doc.throttle, true);
  assert.equal(doc.error, true);
});

Deno.test("xray() answers Sampled=? with the decision in the response header", async () => {
  const { tracer, sender } = setup({
    sampler: { shouldSample: () => ({ sampled: true, ruleName: "all" }) },
  });
  const res = await app(tracer).request("/users/7", {
    headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
  });
  assert.equal(res.headers.get("X-Amzn-Trace-Id"), `Root=${ROOT};Sampled=1`);
  await res.text();
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.trace_id, ROOT);
  assert.equal(doc.aws.xray.sampling_rule_name, "all");

  const off = setup({ sampler: { shouldSample: () => ({ sampled: false }) } });
  const res2 = await app(off.tracer).request("/users/7", {
    headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
  });
  assert.equal(res2.headers.get("X-Amzn-Trace-Id"), `Root=${ROOT};Sampled=0`);
  await res2.text();
  assert.equal((await delivered(off.tracer, off.sender)).length, 0);
});

Deno.test("xray() gives the sampler host, method, path and service name", async () => {
  const seen: unknown[] = [];
  const { tracer } = setup({
    sampler: {
      shouldSample: (r) => {
        seen.push(r);
        return { sampled: false };
      },
    },
  });
  await (await app(tracer).request("http://api.test:8080/users/1", {
    method: "GET",
  })).text();
  assert.deepEqual(seen, [{
    serviceName: "users-api",
    host: "api.test:8080",
    method: "GET",
    path: "/users/1",
  }]);
});

Deno.test("xray() names segments after a host matching dynamicNaming, else the service name", async () => {
  const { tracer, sender } = setup();
  const a = app(tracer, { dynamicNaming: "*.example.com" });
  for (
    const url of [
      "https://eu.example.com/users/1",
      "https://other.test/users/1",
    ]
  ) {
    await (await a.request(url, { headers: { "X-Amzn-Trace-Id": SAMPLED } }))
      .text();
  }
  const docs = await delivered(tracer, sender);
  assert.deepEqual(docs.map((d) => d.name), ["eu.example.com", "users-api"]);
});

Deno.test("xray() ends the segment when a streamed body finishes, counting its bytes", async () => {
  const { tracer, sender } = setup();
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const a = new Hono<{ Variables: XRayVariables }>();
  a.use(xray({ tracer }));
  a.get("/events", (c) =>
    stream(c, async (s) => {
      await s.write("data: one\n\n");
      await gate;
      await s.write("data: two\n\n");
    }));
  const res = await a.request("/events", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  const first = await reader.read();
  assert.equal(new TextDecoder().decode(first.value), "data: one\n\n");
  await tracer.flush();
  assert.equal(sender.documents.length, 0, "segment must stay open mid-stream");
  release();
  while (!(await reader.read()).done) { /* drain */ }
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.http.response.content_length, 22);
  assert.equal(doc.in_progress, undefined);
});

Deno.test("xray() flushes through c.executionCtx.waitUntil when there is one", async () => {
  const { tracer, sender } = setup();
  const waits: Promise<unknown>[] = [];
  const ctx = {
    waitUntil: (p: Promise<unknown>) => waits.push(p),
    passThroughOnException: () => {},
    props: {},
  };
  const res = await app(tracer).request(
    "/users/1",
    { headers: { "X-Amzn-Trace-Id": SAMPLED } },
    {},
    ctx,
  );
  await res.text();
  assert.equal(waits.length, 1);
  await Promise.all(waits);
  // Delivered by the waitUntil flush, without a flush of our own.
  assert.equal(sender.documents.length, 1);
  assertValidDocuments(sender.raw);
});

Deno.test("xray() builds its options once from c.env", async () => {
  const sender = memorySender();
  let calls = 0;
  const a = new Hono<{ Bindings: { SERVICE: string } }>();
  let tracer: Tracer | undefined;
  a.use(xray((env: { SERVICE: string }) => {
    calls++;
    tracer = createTracer({ serviceName: env.SERVICE, sender });
    return { tracer, flush: true };
  }));
  a.get("/", (c) => c.text("ok"));
  for (let i = 0; i < 2; i++) {
    const res = await a.request("/", {
      headers: { "X-Amzn-Trace-Id": SAMPLED },
    }, { SERVICE: "from-env" });
    await res.text();
  }
  assert.equal(calls, 1);
  const docs = await delivered(tracer!, sender);
  assert.deepEqual(docs.map((d) => d.name), ["from-env", "from-env"]);
});

Deno.test("xray() runs handlers inside the tracer's ambient context", async () => {
  const context = createAsyncContext();
  const { tracer, sender } = setup({ context });
  const a = new Hono<{ Variables: XRayVariables }>();
  a.use(xray({ tracer }));
  const priced = tracer.wrap("price", () => 42);
  a.get("/", (c) => {
    assert.equal(context.current(), c.var.xray);
    return c.text(String(priced()));
  });
  const res = await a.request("/", { headers: { "X-Amzn-Trace-Id": SAMPLED } });
  assert.equal(await res.text(), "42");
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.subsegments[0].name, "price");
});

Deno.test("xray() applies per-request plugin data to that request only", async () => {
  const plugin: Plugin = {
    name: "colo",
    forRequest: (req) => {
      const colo = req.headers.get("x-colo");
      return colo ? { aws: { cloudflare: { colo } } } : undefined;
    },
  };
  const broken: Plugin = {
    name: "broken",
    forRequest: () => {
      throw new Error("nope");
    },
  };
  const { tracer, sender, errors } = setup({ plugins: [plugin, broken] });
  const a = app(tracer);
  await (await a.request("/users/1", {
    headers: { "X-Amzn-Trace-Id": SAMPLED, "x-colo": "AMS" },
  })).text();
  await (await a.request("/users/2", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  })).text();
  const docs = await delivered(tracer, sender);
  assert.deepEqual(docs[0].aws.cloudflare, { colo: "AMS" });
  assert.equal(docs[1].aws.cloudflare, undefined);
  assert.equal(errors.length, 2);
  assert.match(errors[0].message, /Plugin 'broken' failed/);
});

Deno.test("xray() records the client address from the clientIp option", async () => {
  const { tracer, sender } = setup();
  const a = app(tracer, { clientIp: () => "198.51.100.7" });
  await (await a.request("/users/1", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  })).text();
  const [doc] = await delivered(tracer, sender);
  assert.equal(doc.http.request.client_ip, "198.51.100.7");
  assert.equal(doc.http.request.x_forwarded_for, undefined);
});

Deno.test("xray() records the route under a chosen annotation, or not at all", async () => {
  const { tracer, sender } = setup();
  await (await app(tracer, { routeAnnotation: "route" }).request("/users/1", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  })).text();
  await (await app(tracer, { routeAnnotation: false }).request("/users/1", {
    headers: { "X-Amzn-Trace-Id": SAMPLED },
  })).text();
  const docs = await delivered(tracer, sender);
  assert.deepEqual(docs[0].annotations, { user: "1", route: "/users/:id" });
  assert.deepEqual(docs[1].annotations, { user: "1" });
});

Deno.test("xray() rejects options without a tracer or with a bad setting", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => xray({} as any),
    {
      name: "TypeError",
      message:
        "Cannot create Hono middleware as 'tracer' must be a tracer from createTracer(): current value is undefined",
    },
  );
  const { tracer } = setup();
  assert.throws(() => xray({ tracer, routeAnnotation: "http.route" }), {
    name: "TypeError",
  });
  assert.throws(() => xray({ tracer, dynamicNaming: "" }), {
    name: "TypeError",
  });
});
