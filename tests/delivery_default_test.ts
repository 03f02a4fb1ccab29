// matrix: deno,node,bun,deno-npm — long-running servers' defaults: Workers have no linger timer and take env as a binding
// What a server gets without configuring delivery: finished segments leave
// within about a second (an unref'd linger timer), and the AWS_XRAY_*
// variables come from the runtime's environment.
import assert from "node:assert/strict";
import { createTracer, daemonSender, type Tracer } from "../mod.ts";
import { type Sink, startSink } from "./_delivery.ts";

const env = (globalThis as unknown as {
  process: { env: Record<string, string | undefined> };
}).process.env;

async function accepted(sink: Sink, count: number): Promise<number> {
  const deadline = Date.now() + 10_000;
  while (sink.accepted.size < count && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return sink.accepted.size;
}

async function withEnv(
  vars: Record<string, string>,
  fn: () => Promise<void>,
): Promise<void> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, env[k]]));
  Object.assign(env, vars);
  try {
    await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
  }
}

Deno.test("createTracer() sends a finished segment within about a second without a flush", async () => {
  const sink = await startSink();
  let tracer: Tracer | undefined;
  try {
    tracer = createTracer({
      serviceName: "linger",
      sender: daemonSender({ address: `127.0.0.1:${sink.port}` }),
    });
    tracer.startSegment("linger", { sampled: true }).end();
    tracer.startSegment("linger", { sampled: true }).end();
    // No flush: the linger timer sends the partial batch.
    assert.equal(await accepted(sink, 2), 2);
    assert.equal(sink.requests.length, 1);
    await tracer.flush();
    assert.equal(tracer.stats().sent, 2);
  } finally {
    await tracer?.shutdown();
    await sink.close();
  }
});

Deno.test("createTracer() reads AWS_XRAY_DAEMON_ADDRESS and AWS_XRAY_TRACING_NAME from the runtime's environment", async () => {
  const sink = await startSink();
  try {
    await withEnv({
      AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${sink.port}`,
      AWS_XRAY_TRACING_NAME: "from-env",
    }, async () => {
      const tracer = createTracer();
      assert.equal(tracer.serviceName, "from-env");
      tracer.startSegment(undefined, { sampled: true }).end();
      await tracer.shutdown();
      assert.equal(sink.accepted.size, 1);
      assert.equal(JSON.parse(sink.requests[0][0]).name, "from-env");
      // Explicit options win over the environment.
      assert.equal(createTracer({ serviceName: "mine" }).serviceName, "mine");
    });
  } finally {
    await sink.close();
  }
});

Deno.test("createTracer({ env: false }) reads no environment variable", async () => {
  await withEnv({ AWS_XRAY_TRACING_NAME: "from-env" }, () => {
    assert.throws(
      () => createTracer({ env: false }),
      /'serviceName' must be a non-empty name/,
    );
    assert.equal(
      createTracer({ env: { AWS_XRAY_TRACING_NAME: "given" } }).serviceName,
      "given",
    );
    return Promise.resolve();
  });
});

Deno.test("createTracer() reports a daemon that is not there: the address, connection refused, and what to start", async () => {
  // A port nothing listens on: a sink, closed.
  const sink = await startSink();
  await sink.close();
  const errors: string[] = [];
  const tracer = createTracer({
    serviceName: "nowhere",
    sender: daemonSender({ address: `127.0.0.1:${sink.port}` }),
    batch: { maxRetries: 0 },
    onError: (e) => errors.push(e.message),
  });
  tracer.startSegment("nowhere", { sampled: true }).end();
  await tracer.shutdown();
  assert.equal(errors.length, 1);
  assert.match(errors[0], new RegExp(`failed at 127\\.0\\.0\\.1:${sink.port}`));
  assert.match(errors[0], /connection refused/i);
  assert.match(errors[0], /X-Ray daemon or the local collector/);
});
