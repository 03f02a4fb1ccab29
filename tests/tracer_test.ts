import assert from "node:assert/strict";
import {
  createTracer,
  type Plugin,
  type Sampler,
  type SamplingRequest,
} from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import { memorySender } from "../src/testing.ts";
import { PARENT, ROOT, testTracer } from "./_helpers.ts";

function recordingSampler(
  sampled: boolean,
  ruleName?: string,
): Sampler & { seen: SamplingRequest[] } {
  const seen: SamplingRequest[] = [];
  return {
    seen,
    shouldSample(request) {
      seen.push(request);
      return { sampled, ruleName };
    },
  };
}

Deno.test("startSegment() continues an incoming trace and asks no sampler when Sampled=1/0", () => {
  const sampler = recordingSampler(false);
  const { tracer } = testTracer({ sampler });
  const s = tracer.startSegment("api", {
    traceHeader: `Root=${ROOT};Parent=${PARENT};Sampled=1`,
  });
  assert.equal(s.traceId, ROOT);
  assert.equal(s.isSampled, true);
  assert.equal(
    tracer.startSegment("api", { traceHeader: `Root=${ROOT};Sampled=0` })
      .isSampled,
    false,
  );
  assert.equal(sampler.seen.length, 0);
});

Deno.test("startSegment() asks the sampler for Sampled=? and for no header, and records the rule", async () => {
  const sampler = recordingSampler(true, "checkout-rule");
  const { tracer, flushed } = testTracer({ sampler });
  const s = tracer.startSegment("api", {
    traceHeader: `Root=${ROOT};Sampled=?`,
    sampling: { host: "shop.example", method: "GET", path: "/cart" },
  });
  s.end();
  tracer.startSegment(undefined, { traceHeader: null }).end();
  assert.deepEqual(sampler.seen[0], {
    serviceName: "api",
    host: "shop.example",
    method: "GET",
    path: "/cart",
  });
  assert.equal(sampler.seen[1].serviceName, "test-service");
  assert.equal(s.responseTraceHeader(), `Root=${ROOT};Sampled=1`);
  const docs = await flushed();
  assert.equal(docs[0].aws.xray.sampling_rule_name, "checkout-rule");
  assert.equal(docs[1].name, "test-service");
});

Deno.test("the sampler sees the sanitized segment name, whatever name the sampling input carries, and the input is never changed", () => {
  const sampler = recordingSampler(false);
  const { tracer } = testTracer({ sampler });
  const input = {
    serviceName: "a!b",
    host: "a!b.example",
    method: "GET",
    path: "/",
  };
  tracer.startSegment("a!b", { sampling: input }).end();
  tracer.startSegment("ab", { sampling: input }).end();
  tracer.startSegment("test-service", { sampling: input }).end();
  const named = { ...input, serviceName: "ab" };
  tracer.startSegment("ab", { sampling: named }).end();
  assert.deepEqual(sampler.seen.map((r) => r.serviceName), [
    "ab",
    "ab",
    "test-service",
    "ab",
  ]);
  assert.deepEqual(
    sampler.seen.map((r) => r.host),
    Array(4).fill("a!b.example"),
  );
  // Passed on as it is when it names the segment already, copied otherwise.
  assert.equal(sampler.seen[3], named);
  assert.deepEqual(input, {
    serviceName: "a!b",
    host: "a!b.example",
    method: "GET",
    path: "/",
  });
});

Deno.test("a sampler that throws is reported and the request is not sampled", () => {
  const { tracer, errors } = testTracer({
    sampler: {
      shouldSample() {
        throw new Error("broken sampler");
      },
    },
  });
  assert.equal(tracer.startSegment("x").isSampled, false);
  assert.equal(errors[0].source, "sampling");
});

Deno.test("the default sampler takes the first request each second", () => {
  const { tracer, clock } = testTracer({ sampler: undefined });
  assert.equal(tracer.startSegment("x").isSampled, true);
  clock.advance(1000);
  assert.equal(tracer.startSegment("x").isSampled, true);
});

Deno.test("a disabled tracer samples nothing, from options or AWS_XRAY_SDK_ENABLED", async () => {
  for (
    const options of [{ enabled: false }, {
      env: { AWS_XRAY_SDK_ENABLED: "false" },
    }]
  ) {
    const { tracer, sender } = testTracer(options);
    tracer.startSegment("x", { traceHeader: `Root=${ROOT};Sampled=1` }).end();
    await tracer.flush();
    assert.equal(tracer.enabled, false);
    assert.equal(sender.documents.length, 0);
  }
});

Deno.test("createTracer() reads the service name from env, explicit options win", () => {
  assert.equal(
    createTracer({
      env: { AWS_XRAY_TRACING_NAME: "from-env" },
      sender: memorySender(),
    })
      .serviceName,
    "from-env",
  );
  assert.equal(
    createTracer({
      serviceName: "explicit",
      env: { AWS_XRAY_TRACING_NAME: "from-env", AWS_XRAY_SDK_ENABLED: "yes" },
      enabled: false,
      sender: memorySender(),
    }).enabled,
    false,
  );
});

Deno.test("createTracer() rejects bad configuration at once with clear messages", () => {
  assert.throws(() => createTracer({}), {
    name: "TypeError",
    message: /Cannot create tracer as 'serviceName' must be a non-empty name/,
  });
  assert.throws(() => createTracer({ serviceName: "{}" }), TypeError);
  assert.throws(
    () => createTracer({ serviceName: "x", streamingThreshold: -1 }),
    {
      name: "RangeError",
      message:
        "Cannot create tracer as 'streamingThreshold' must be an integer from 0 to 10000: current value is -1",
    },
  );
  assert.throws(
    () => createTracer({ serviceName: "x", maxStackFrames: 1.5 }),
    RangeError,
  );
  assert.throws(
    () =>
      createTracer({
        serviceName: "x",
        env: { AWS_XRAY_DAEMON_ADDRESS: "nope" },
      }),
    RangeError,
  );
  assert.throws(
    () =>
      createTracer({
        serviceName: "x",
        env: { AWS_XRAY_CONTEXT_MISSING: "SOMETIMES" },
      }),
    RangeError,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => createTracer({ serviceName: "x", plugins: [{} as any] }),
    TypeError,
  );
});

Deno.test("createTracer() rejects a plugin factory not called, and null limits", () => {
  const factory = () => ({ name: "late" });
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => createTracer({ serviceName: "x", plugins: [factory as any] }),
    {
      name: "TypeError",
      message:
        "Cannot create tracer as every plugin must be an object with a name",
    },
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => createTracer({ serviceName: "x", maxStackFrames: null as any }),
    {
      name: "RangeError",
      message:
        "Cannot create tracer as 'maxStackFrames' must be an integer from 0 to 1000: current value is null",
    },
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => createTracer({ serviceName: "x", contextMissing: "LOUD" as any }),
    {
      name: "RangeError",
      message:
        "Cannot create tracer as 'contextMissing' must be RUNTIME_ERROR, LOG_ERROR or IGNORE_ERROR: current value is 'LOUD'",
    },
  );
});

Deno.test("ready() resolves at once without plugins, and a disabled tracer asks no sampler", async () => {
  const sampler = recordingSampler(true, "r");
  const { tracer } = testTracer({ sampler, enabled: false });
  await tracer.ready();
  assert.equal(tracer.startSegment("x").isSampled, false);
  assert.equal(
    tracer.startSegment("x", { traceHeader: `Root=${ROOT};Sampled=1` })
      .isSampled,
    false,
  );
  assert.equal(sampler.seen.length, 0);
});

Deno.test("two tracers live side by side without sharing anything", async () => {
  const a = testTracer({ serviceName: "a" });
  const b = testTracer({ serviceName: "b" });
  a.tracer.startSegment(undefined, { sampled: true }).end();
  b.tracer.startSegment(undefined, { sampled: true }).end();
  b.tracer.startSegment(undefined, { sampled: true }).end();
  assert.equal((await a.flushed()).length, 1);
  assert.equal((await b.flushed()).length, 2);
});

Deno.test("an onError hook that throws never reaches the caller", () => {
  const tracer = createTracer({
    serviceName: "x",
    sender: memorySender(),
    onError() {
      throw new Error("hook exploded");
    },
  });
  const s = tracer.startSegment("x", { sampled: true });
  s.annotate("bad key", 1);
  s.end();
  s.end();
});

Deno.test("wrap() takes the parent from its first argument without ambient context", async () => {
  const { tracer, flushed } = testTracer();
  const price = tracer.wrap("price", (_parent: unknown, n: number) => n * 2);
  const s = tracer.startSegment("s", { sampled: true });
  assert.equal(price(s, 21), 42);
  s.end();
  const [doc] = await flushed();
  assert.equal(doc.subsegments[0].name, "price");
});

Deno.test("wrap() nests through the ambient context", async () => {
  const context = createAsyncContext();
  const { tracer, flushed } = testTracer({ context });
  const inner = tracer.wrap("inner", async (x: number) => {
    await new Promise((r) => setTimeout(r, 1));
    return x + 1;
  });
  const outer = tracer.wrap(
    "outer",
    async (x: number) => (await inner(x)) * 10,
  );
  const s = tracer.startSegment("s", { sampled: true });
  assert.equal(await context.run(s, () => outer(1)), 20);
  s.end();
  const [doc] = await flushed();
  assert.equal(doc.subsegments[0].name, "outer");
  assert.equal(doc.subsegments[0].subsegments[0].name, "inner");
});

Deno.test("wrap() without a parent follows AWS_XRAY_CONTEXT_MISSING", () => {
  const logged = testTracer();
  assert.equal(logged.tracer.wrap("w", (x: number) => x)(5), 5);
  assert.equal(logged.errors[0].source, "context");

  const ignored = testTracer({ contextMissing: "IGNORE_ERROR" });
  assert.equal(ignored.tracer.wrap("w", (x: number) => x)(5), 5);
  assert.equal(ignored.errors.length, 0);

  const strict = testTracer({
    env: { AWS_XRAY_CONTEXT_MISSING: "RUNTIME_ERROR" },
  });
  assert.throws(() => strict.tracer.wrap("w", (x: number) => x)(5), {
    name: "XRayError",
    message: /Cannot find a current segment/,
  });
});

Deno.test("plugins run once, lazily, and their data lands on later segments", async () => {
  let runs = 0;
  const ec2: Plugin = {
    name: "fake-ec2",
    collect() {
      runs++;
      return {
        origin: "AWS::EC2::Instance",
        aws: { ec2: { instance_id: "i-123" } },
      };
    },
  };
  const broken: Plugin = {
    name: "broken",
    collect: () => Promise.reject(new Error("no metadata service")),
  };
  const sampler = recordingSampler(true);
  const { tracer, errors, flushed } = testTracer({
    plugins: [ec2, broken],
    sampler,
  });
  tracer.startSegment("a");
  await tracer.ready();
  await tracer.ready();
  tracer.startSegment("b").end();
  const [doc] = await flushed();
  assert.equal(runs, 1);
  assert.equal(doc.origin, "AWS::EC2::Instance");
  assert.deepEqual(doc.aws.ec2, { instance_id: "i-123" });
  assert.equal(doc.aws.xray.sdk, "xray-edge");
  assert.equal(sampler.seen[1].serviceType, "AWS::EC2::Instance");
  assert.equal(errors.length, 1);
  assert.equal(errors[0].source, "plugin");
  assert.match(
    errors[0].error.message,
    /Plugin 'broken' failed: no metadata service/,
  );
});

Deno.test("flush() and shutdown() never reject, even when the sender throws", async () => {
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "x",
    sender: {
      send() {
        throw new Error("sender exploded");
      },
    },
    onError: (e) => errors.push(e),
  });
  tracer.startSegment("x", { sampled: true }).end();
  const result = await tracer.shutdown();
  assert.equal(result.sent, 0);
  assert.equal(result.dropped, 1);
  assert.ok(errors.some((e) => /sender exploded/.test(e.message)));
  const stats = tracer.stats();
  assert.equal(
    stats.sent + Object.values(stats.dropped).reduce((a, b) => a + b, 0),
    1,
  );
});

Deno.test("a facade segment is never sent; its subsegments go out on their own", async () => {
  const { tracer, flushed } = testTracer();
  const facade = tracer.startSegment("fn", {
    traceHeader: `Root=${ROOT};Parent=${PARENT};Sampled=1`,
    facade: true,
  });
  assert.equal(facade.id, PARENT);
  facade.capture("work", () => 1);
  facade.end();
  const docs = await flushed();
  assert.equal(docs.length, 1);
  assert.equal(docs[0].type, "subsegment");
  assert.equal(docs[0].parent_id, PARENT);
  assert.equal(docs[0].trace_id, ROOT);
});

Deno.test("flush() also waits for the sampler's pending polls", async () => {
  let settled = false;
  const { tracer } = testTracer({
    sampler: {
      shouldSample: () => ({ sampled: true }),
      pending: () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            settled = true;
            resolve();
          }, 5)
        ),
    },
  });
  tracer.startSegment("x").end();
  const result = await tracer.flush();
  assert.equal(settled, true);
  assert.equal(result.sent, 1);
});

Deno.test("startSegment() with options whose getters throw reports it and goes on with defaults", async () => {
  const t = testTracer({
    sampler: { shouldSample: () => ({ sampled: true }) },
  });
  const boom = new Error("boom");
  const hostile = [
    new Proxy({}, {
      get() {
        throw boom;
      },
    }),
    {
      get traceHeader(): string {
        throw boom;
      },
    },
    Object.create({
      get facade(): boolean {
        throw boom;
      },
    }),
  ];
  for (const options of hostile) {
    const segment = t.tracer.startSegment("hostile", options);
    assert.equal(segment.isSampled, true);
    segment.end();
  }
  // A getter on the prototype is read like any other.
  const inherited = t.tracer.startSegment(
    "inherited",
    Object.create({ sampled: false }),
  );
  assert.equal(inherited.isSampled, false);
  assert.deepEqual(
    t.errors,
    hostile.map(() => ({ error: boom, source: "recording" })),
  );
  assert.equal(t.tracer.stats().rejectedRecordings, 3);
  assert.equal((await t.flushed()).length, 3);
});
