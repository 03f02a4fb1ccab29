// matrix: deno,node,bun,deno-npm — fault injection against a node:http sink (tests/_delivery.ts); workerd has no servers
// Batcher behaviour, mostly through daemonSender against a real HTTP server on
// 127.0.0.1 that the test scripts: faults, exact delivery counts, bounds.
import assert from "node:assert/strict";
import { createBatcher, daemonSender } from "../mod.ts";
import type { Sender, SendResult } from "../mod.ts";
import {
  freePort,
  idOf,
  makeDocuments,
  recordingSleep,
  type Sink,
  startSink,
  totalDropped,
} from "./_delivery.ts";

function errorsInto(list: Error[]): (error: Error) => void {
  return (error) => list.push(error);
}

/** Every produced document accepted exactly once by the sink. */
function assertDeliveredOnce(sink: Sink, docs: string[]): void {
  assert.equal(sink.accepted.size, docs.length);
  for (const doc of docs) assert.equal(sink.accepted.get(idOf(doc)), 1);
}

Deno.test("batcher sends batches of at most 50 documents and delivers each once", async () => {
  const sink = await startSink();
  const docs = makeDocuments(120);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 120, dropped: 0, remaining: 0 });
  assert.deepEqual(sink.requests.map((r) => r.length).sort((a, b) => b - a), [
    50,
    50,
    20,
  ]);
  assertDeliveredOnce(sink, docs);
  const stats = batcher.stats();
  assert.equal(stats.sent, 120);
  assert.equal(stats.queued, 0);
  assert.equal(stats.queuedBytes, 0);
});

Deno.test("batcher sends a full batch without waiting for flush", async () => {
  let arrived!: () => void;
  const full = new Promise<void>((resolve) => arrived = resolve);
  const sink = await startSink((_, docs) => {
    if (docs.length === 50) arrived();
    return "accept";
  });
  const docs = makeDocuments(50);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
  });
  for (const d of docs) batcher.enqueue(d);
  await full;
  await batcher.shutdown();
  await sink.close();
  assertDeliveredOnce(sink, docs);
});

Deno.test("batcher retries HTTP 500 and delivers exactly once when the fault clears", async () => {
  const sink = await startSink((n) => n < 2 ? { status: 500 } : "accept");
  const docs = makeDocuments(30);
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 30, dropped: 0, remaining: 0 });
  assertDeliveredOnce(sink, docs);
  assert.equal(sink.requests.length, 3);
  assert.equal(batcher.stats().retried, 60);
  assert.deepEqual(errors, []);
});

Deno.test("batcher honours Retry-After on 429 and backs off with jitter without it", async () => {
  const sink = await startSink((n) => {
    if (n === 0) return { status: 429, headers: { "retry-after": "3" } };
    if (n === 1) return { status: 429, body: { __type: "ThrottledException" } };
    return "accept";
  });
  const docs = makeDocuments(10);
  const delays: number[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    sleep: recordingSleep(delays),
    backoffBaseMs: 100,
    random: () => 0.5,
  });
  for (const d of docs) batcher.enqueue(d);
  await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assertDeliveredOnce(sink, docs);
  // First retry waits what the server asked; the second is full jitter on
  // the second backoff step: 0.5 * min(cap, 100 * 2).
  assert.deepEqual(delays, [3000, 100]);
});

Deno.test("batcher treats ThrottlingException in a 400 as retryable", async () => {
  const sink = await startSink((n) =>
    n === 0
      ? {
        status: 400,
        body: { __type: "ThrottlingException", message: "Rate exceeded" },
      }
      : "accept"
  );
  const docs = makeDocuments(5);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assertDeliveredOnce(sink, docs);
  assert.equal(batcher.stats().retried, 5);
});

Deno.test("batcher re-sends after connection refused once the sink comes up", async () => {
  const port = await freePort();
  let sink: Sink | undefined;
  const delays: number[] = [];
  const sleep = recordingSleep(delays);
  const docs = makeDocuments(20);
  const batcher = createBatcher({
    sender: daemonSender({ address: { host: "127.0.0.1", port } }),
    sleep: (ms, signal) => {
      // The sink starts during the second backoff: two attempts are refused.
      if (delays.length === 1) {
        return startSink(() => "accept", port).then((started) => {
          sink = started;
          return sleep(ms, signal);
        });
      }
      return sleep(ms, signal);
    },
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  assert.ok(sink);
  await sink.close();
  assert.deepEqual(result, { sent: 20, dropped: 0, remaining: 0 });
  assertDeliveredOnce(sink, docs);
  assert.equal(delays.length, 2);
  assert.equal(sink.requests.length, 1);
});

Deno.test("batcher retries a connection cut mid-response and delivers once", async () => {
  const sink = await startSink((n) => n === 0 ? "reset" : "accept");
  const docs = makeDocuments(25);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 25, dropped: 0, remaining: 0 });
  assert.equal(sink.requests.length, 2);
  assertDeliveredOnce(sink, docs);
});

Deno.test("batcher aborts a request slower than requestTimeoutMs and retries it", async () => {
  const sink = await startSink((n) => n === 0 ? "stall" : "accept");
  const docs = makeDocuments(15);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    requestTimeoutMs: 100,
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 15, dropped: 0, remaining: 0 });
  assert.equal(sink.requests.length, 2);
  assertDeliveredOnce(sink, docs);
});

Deno.test("batcher re-sends only transient UnprocessedTraceSegments and drops permanent ones", async () => {
  const docs = makeDocuments(10);
  const throttled = new Set([idOf(docs[1]), idOf(docs[4])]);
  const invalid = new Set([idOf(docs[7])]);
  const sink = await startSink((n) =>
    n === 0
      ? {
        unprocessed: (batch) =>
          batch.map(idOf).filter((id) => throttled.has(id) || invalid.has(id))
            .map((id) => ({
              Id: id,
              ErrorCode: throttled.has(id)
                ? "ThrottledException"
                : "InvalidTraceId",
            })),
      }
      : "accept"
  );
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 9, dropped: 1, remaining: 0 });
  assert.equal(sink.requests.length, 2);
  assert.deepEqual(sink.requests[1].map(idOf).sort(), [...throttled].sort());
  // Delivered exactly once, except the permanently rejected one.
  assert.equal(sink.accepted.size, 9);
  for (const d of docs) {
    assert.equal(
      sink.accepted.get(idOf(d)),
      invalid.has(idOf(d)) ? undefined : 1,
    );
  }
  const stats = batcher.stats();
  assert.equal(stats.dropped.rejected, 1);
  assert.equal(stats.retried, 2);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /Dropped X-Ray documents: rejected 1/);
  assert.match(errors[0].message, /InvalidTraceId/);
});

Deno.test("batcher drops and counts a batch when the sink stays down past the retry budget", async () => {
  const sink = await startSink(() => ({ status: 503 }));
  const docs = makeDocuments(120);
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
    maxRetries: 2,
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 0, dropped: 120, remaining: 0 });
  // 3 batches, each tried 1 + 2 times.
  assert.equal(sink.requests.length, 9);
  assert.equal(sink.accepted.size, 0);
  const stats = batcher.stats();
  assert.equal(stats.dropped.retriesExhausted, 120);
  assert.equal(stats.sent + totalDropped(stats.dropped), docs.length);
  // One report for the whole burst, not one per document or batch.
  assert.equal(errors.length, 1);
  assert.match(
    errors[0].message,
    /Dropped X-Ray documents: retriesExhausted 120/,
  );
  assert.match(String((errors[0].cause as Error).message), /HTTP 503/);
});

Deno.test("batcher delivers everything when an outage ends inside the budget, and accounts for all otherwise", async () => {
  // Down for the first 4 requests; batches that get 3 tries survive or not
  // depending on scheduling, yet every document is delivered once or dropped.
  const sink = await startSink((n) => n < 4 ? { status: 500 } : "accept");
  const docs = makeDocuments(200);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    maxRetries: 1,
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  const stats = batcher.stats();
  let delivered = 0;
  for (const count of sink.accepted.values()) {
    assert.equal(count, 1);
    delivered++;
  }
  assert.equal(delivered, stats.sent);
  assert.equal(delivered + totalDropped(stats.dropped), docs.length);
  assert.equal(stats.dropped.retriesExhausted, totalDropped(stats.dropped));
});

Deno.test("batcher drops a permanent 400 without retrying", async () => {
  const sink = await startSink(() => ({
    status: 400,
    body: { __type: "InvalidRequestException", message: "bad" },
  }));
  const docs = makeDocuments(5);
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 0, dropped: 5, remaining: 0 });
  assert.equal(sink.requests.length, 1);
  assert.equal(batcher.stats().dropped.rejected, 5);
  assert.equal(errors.length, 1);
  assert.match(
    String((errors[0].cause as Error).message),
    /InvalidRequestException/,
  );
});

Deno.test("batcher bounds the queue and reports a burst of drops once", async () => {
  const sink = await startSink();
  const docs = makeDocuments(250);
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
    maxQueueDocuments: 100,
    maxBatchDocuments: 50,
  });
  // Synchronous burst: nothing can be sent in between.
  for (const d of docs) batcher.enqueue(d);
  const during = batcher.stats();
  assert.equal(during.queued, 100);
  assert.equal(during.dropped.queueFull, 150);
  await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  const stats = batcher.stats();
  assert.equal(stats.sent, 100);
  assert.equal(stats.sent + totalDropped(stats.dropped), docs.length);
  assert.equal(sink.accepted.size, 100);
  assert.equal(errors.length, 1);
  assert.match(
    errors[0].message,
    /Dropped X-Ray documents: queueFull 150/,
  );
});

Deno.test("batcher bounds queued bytes", async () => {
  const docs = makeDocuments(10);
  const batcher = createBatcher({
    sender: { send: () => Promise.resolve({ ok: true }) },
    maxQueueBytes: docs[0].length + docs[1].length + docs[2].length,
  });
  for (const d of docs) batcher.enqueue(d);
  const stats = batcher.stats();
  assert.equal(stats.queued, 3);
  assert.equal(
    stats.queuedBytes,
    docs[0].length + docs[1].length + docs[2].length,
  );
  assert.equal(stats.dropped.queueFull, 7);
  await batcher.shutdown();
});

Deno.test("batcher drops documents over 64 KB as tooLarge", async () => {
  const sent: string[] = [];
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: {
      send: (d) => {
        sent.push(...d);
        return Promise.resolve({ ok: true });
      },
    },
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
  });
  const [small] = makeDocuments(1);
  // Multi-byte characters count in UTF-8 bytes, not string length.
  batcher.enqueue(JSON.stringify({ name: "x", pad: "é".repeat(33_000) }));
  batcher.enqueue(small);
  await batcher.shutdown();
  assert.deepEqual(sent, [small]);
  assert.equal(batcher.stats().dropped.tooLarge, 1);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /tooLarge 1/);
});

Deno.test("batcher splits batches by maxBatchBytes", async () => {
  const sizes: number[] = [];
  const docs = makeDocuments(10);
  const batcher = createBatcher({
    sender: {
      send: (d) => {
        sizes.push(d.length);
        return Promise.resolve({ ok: true });
      },
    },
    maxBatchBytes: docs[0].length * 4,
  });
  for (const d of docs) batcher.enqueue(d);
  await batcher.flush();
  await batcher.shutdown();
  assert.equal(sizes.reduce((a, b) => a + b, 0), 10);
  assert.ok(sizes.every((n) => n <= 4));
});

Deno.test("batcher keeps at most `concurrency` requests in flight", async () => {
  let inFlight = 0;
  let most = 0;
  const sender: Sender = {
    async send(): Promise<SendResult> {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return { ok: true };
    },
  };
  for (const concurrency of [1, 2, 6]) {
    most = 0;
    const batcher = createBatcher({ sender, concurrency });
    for (const d of makeDocuments(1000)) batcher.enqueue(d);
    const result = await batcher.flush();
    await batcher.shutdown();
    assert.equal(result.sent, 1000);
    assert.equal(most, concurrency);
  }
});

Deno.test("createBatcher() rejects out-of-range limits with a clear message", () => {
  const sender: Sender = { send: () => Promise.resolve({ ok: true }) };
  assert.throws(
    () => createBatcher({ sender, concurrency: 7 }),
    new RangeError(
      "Cannot create batcher as 'concurrency' must be an integer between 1 and 6: current value is 7",
    ),
  );
  assert.throws(
    () => createBatcher({ sender, maxBatchDocuments: 80 }),
    RangeError,
  );
  assert.throws(
    () => createBatcher({ sender, maxQueueDocuments: 0 }),
    RangeError,
  );
  assert.throws(
    () => createBatcher({ sender, requestTimeoutMs: -1 }),
    RangeError,
  );
});

Deno.test("flush() returns at its deadline with what remains, shutdown() accounts for it", async () => {
  const sink = await startSink(() => "stall");
  const docs = makeDocuments(60);
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
    concurrency: 1,
    requestTimeoutMs: 60_000,
  });
  for (const d of docs) batcher.enqueue(d);
  const flushed = await batcher.flush({ timeoutMs: 50 });
  assert.deepEqual(flushed, { sent: 0, dropped: 0, remaining: 60 });
  const result = await batcher.shutdown({ timeoutMs: 50 });
  await sink.close();
  assert.deepEqual(result, { sent: 0, dropped: 60, remaining: 0 });
  const stats = batcher.stats();
  assert.equal(stats.dropped.timeout, 50); // the batch in flight
  assert.equal(stats.dropped.shutdown, 10); // the batch never started
  assert.equal(stats.queued, 0);
  assert.equal(errors.length, 1);
});

Deno.test("the flush interval sends partial batches and stops at shutdown", async () => {
  let arrived!: () => void;
  const got = new Promise<void>((resolve) => arrived = resolve);
  const sink = await startSink((_, docs) => {
    if (docs.length > 0) arrived();
    return "accept";
  });
  const docs = makeDocuments(3);
  const batcher = createBatcher({
    sender: daemonSender({ address: sink.url }),
    flushIntervalMs: 20,
  });
  for (const d of docs) batcher.enqueue(d);
  await got; // no flush() call: the timer sent them
  await batcher.shutdown();
  await sink.close();
  assertDeliveredOnce(sink, docs);
});

Deno.test("enqueue() after shutdown counts a shutdown drop and never throws", async () => {
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: { send: () => Promise.resolve({ ok: true }) },
    onError: errorsInto(errors),
    reportIntervalMs: 60_000,
  });
  await batcher.shutdown();
  batcher.enqueue(makeDocuments(1)[0]);
  batcher.enqueue(42 as unknown as string);
  await batcher.flush();
  assert.equal(batcher.stats().dropped.shutdown, 2);
  assert.equal(errors.length, 1);
});

Deno.test("a sender that throws is treated as a retryable failure", async () => {
  let calls = 0;
  const batcher = createBatcher({
    sender: {
      send(): Promise<SendResult> {
        calls++;
        if (calls === 1) throw new Error("boom");
        return Promise.resolve({ ok: true });
      },
    },
    sleep: recordingSleep([]),
  });
  for (const d of makeDocuments(3)) batcher.enqueue(d);
  const result = await batcher.flush();
  await batcher.shutdown();
  assert.deepEqual(result, { sent: 3, dropped: 0, remaining: 0 });
  assert.equal(calls, 2);
});

Deno.test("an onError that throws does not break delivery", async () => {
  const batcher = createBatcher({
    sender: { send: () => Promise.resolve({ ok: true }) },
    onError: () => {
      throw new Error("handler bug");
    },
    maxQueueDocuments: 1,
  });
  const docs = makeDocuments(3);
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush();
  await batcher.shutdown();
  assert.equal(result.sent, 1);
  assert.equal(batcher.stats().dropped.queueFull, 2);
});
