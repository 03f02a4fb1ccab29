// matrix: deno,node,bun,deno-npm — the daemon sink runs on node:http (tests/_delivery.ts, tests/_server.ts); workerd has no servers
// daemonSender against a real HTTP server playing the daemon / collector
// proxy, including a load test of 100,000 documents from concurrent traced
// requests through the tracer, the batcher and daemonSender.
import assert from "node:assert/strict";
import { createTracer, daemonSender } from "../mod.ts";
import { idOf, makeDocuments, startSink, totalDropped } from "./_delivery.ts";
import { freePort, serve } from "./_server.ts";
import { assertValidDocument } from "./_schema.ts";

Deno.test("daemonSender posts an unsigned PutTraceSegments body to /TraceSegments", async () => {
  const sink = await startSink();
  const docs = makeDocuments(3);
  const sender = daemonSender({
    env: {
      AWS_XRAY_DAEMON_ADDRESS: `tcp:127.0.0.1:${sink.port} udp:127.0.0.1:9`,
    },
  });
  const result = await sender.send(docs);
  await sink.close();
  assert.deepEqual(result, { ok: true });
  assert.deepEqual(sink.requests, [docs]);
  assert.equal(sink.headers[0].get("authorization"), null);
  assert.equal(sink.headers[0].get("content-type"), "application/json");
});

Deno.test("daemonSender accepts host:port, { host, port } and a URL", async () => {
  const sink = await startSink();
  const docs = makeDocuments(1);
  for (
    const address of [
      `127.0.0.1:${sink.port}`,
      { host: "127.0.0.1", port: sink.port },
      sink.url,
    ]
  ) {
    assert.deepEqual(await daemonSender({ address }).send(docs), { ok: true });
  }
  await sink.close();
  assert.equal(sink.requests.length, 3);
});

Deno.test("daemonSender defaults to 127.0.0.1:2000", async () => {
  const urls: string[] = [];
  const sender = daemonSender({
    fetch: (input) => {
      urls.push(String(input));
      return Promise.resolve(Response.json({}));
    },
  });
  await sender.send(makeDocuments(1));
  assert.deepEqual(urls, ["http://127.0.0.1:2000/TraceSegments"]);
});

Deno.test("daemonSender() rejects a malformed address at once", () => {
  assert.throws(() => daemonSender({ address: "localhost" }), RangeError);
  assert.throws(
    () => daemonSender({ address: "tcp:1.2.3.4:2000" }),
    RangeError,
  );
  assert.throws(
    () => daemonSender({ address: { host: "h", port: 70000 } }),
    /'address' must have a host and a port between 1 and 65535/,
  );
});

Deno.test("daemonSender returns a retryable result, never throws, when nothing listens", async () => {
  const port = await freePort();
  const result = await daemonSender({ address: `127.0.0.1:${port}` }).send(
    makeDocuments(1),
  );
  assert.equal(result.ok, false);
  assert.equal(!result.ok && result.retryable, true);
});

Deno.test("100,000 documents from concurrent traced requests all reach the daemon sink exactly once", async () => {
  const sink = await startSink();
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "load",
    sender: daemonSender({ address: sink.url }),
    sampler: { shouldSample: () => ({ sampled: true }) },
    onError: (e) => errors.push(e),
    batch: {
      concurrency: 6,
      maxQueueDocuments: 100_000,
      maxQueueBytes: 256 * 1024 * 1024,
    },
  });
  const requests = 1000;
  const perRequest = 100;
  await Promise.all(
    Array.from({ length: requests }, async (_, r) => {
      for (let i = 0; i < perRequest; i++) {
        const segment = tracer.startSegment("load");
        segment.annotate("request", r);
        segment.end();
        // Let the batcher and other requests run in between.
        if (i % 10 === 0) {
          await new Promise((resolve) => setTimeout(resolve, 0));
        }
      }
    }),
  );
  const result = await tracer.flush({ timeoutMs: 60_000 });
  await tracer.shutdown();
  await sink.close();
  const produced = requests * perRequest;
  const stats = tracer.stats();
  assert.equal(result.remaining, 0);
  assert.equal(stats.queued, 0);
  assert.equal(stats.sent + totalDropped(stats.dropped), produced);
  assert.deepEqual(stats.dropped, {
    queueFull: 0,
    tooLarge: 0,
    rejected: 0,
    retriesExhausted: 0,
    shutdown: 0,
    timeout: 0,
  });
  assert.equal(stats.sent, produced);
  assert.equal(sink.accepted.size, produced);
  for (const count of sink.accepted.values()) assert.equal(count, 1);
  let received = 0;
  for (const batch of sink.requests) {
    assert.ok(batch.length <= 50);
    for (const doc of batch) {
      assertValidDocument(doc);
      received++;
    }
  }
  assert.equal(received, produced);
  assert.deepEqual(errors, []);
  assert.equal(idOf(sink.requests[0][0]).length, 16);
});

Deno.test("the default sender posts batches to the daemon address from AWS_XRAY_DAEMON_ADDRESS", async () => {
  const received: string[][] = [];
  const server = await serve(async (req) => {
    assert.equal(new URL(req.url).pathname, "/TraceSegments");
    received.push((await req.json()).TraceSegmentDocuments);
    return Response.json({ UnprocessedTraceSegments: [] });
  });
  try {
    const tracer = createTracer({
      serviceName: "daemon-default",
      env: { AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${server.port}` },
    });
    tracer.startSegment(undefined, { sampled: true }).end();
    const result = await tracer.flush();
    assert.equal(result.sent, 1);
    assert.equal(received.length, 1);
    assert.equal(JSON.parse(received[0][0]).name, "daemon-default");
  } finally {
    await server.close();
  }
});
