// Batcher rules that need no server: drop reports and their throttle, the
// accounting of odd unprocessed answers, per-request abort signals, the
// shutdown deadline, and which documents a flush waits for. In-memory senders
// only, so this file runs on every runtime of the matrix, workerd included.
import assert from "node:assert/strict";
import { createBatcher } from "../mod.ts";
import type { Sender, SendResult } from "../mod.ts";
import { fixedClock } from "../src/testing.ts";
import { makeDocuments, recordingSleep } from "./_documents.ts";

const ok = (): Promise<SendResult> => Promise.resolve({ ok: true });

/** Lets pending microtasks and zero-delay timers run. */
function tick(ms = 0): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("batcher sums drops into one report per reportIntervalMs, timed by its clock", async () => {
  const clock = fixedClock();
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: { send: ok },
    onError: (e) => errors.push(e),
    maxQueueDocuments: 1,
    reportIntervalMs: 1000,
    clock,
  });
  const docs = makeDocuments(5);
  batcher.enqueue(docs[0]);
  batcher.enqueue(docs[1]);
  batcher.enqueue(docs[2]);
  await tick();
  assert.equal(errors.length, 0, "a young burst waits");
  clock.advance(999);
  batcher.enqueue(docs[3]);
  await tick();
  assert.equal(errors.length, 0);
  clock.advance(1);
  batcher.enqueue(docs[4]);
  assert.equal(errors.length, 0, "reported on a microtask, not inline");
  await tick();
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /^Dropped X-Ray documents: queueFull 4$/);
  const result = await batcher.shutdown();
  assert.deepEqual(result, { sent: 1, dropped: 0, remaining: 0 });
  assert.equal(errors.length, 1, "nothing left to report");
});

Deno.test("batcher with reportIntervalMs 0 reports each synchronous burst once", async () => {
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: { send: ok },
    onError: (e) => errors.push(e),
    maxQueueDocuments: 1,
    reportIntervalMs: 0,
  });
  const docs = makeDocuments(5);
  for (const d of docs.slice(0, 3)) batcher.enqueue(d);
  assert.equal(errors.length, 0);
  await tick();
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /^Dropped X-Ray documents: queueFull 2$/);
  batcher.enqueue(docs[3]);
  await tick();
  assert.equal(errors.length, 2);
  assert.match(errors[1].message, /^Dropped X-Ray documents: queueFull 1$/);
  await batcher.shutdown();
  assert.equal(errors.length, 2);
});

Deno.test("batcher reports drops by timer when nothing else happens", async () => {
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: { send: ok },
    onError: (e) => errors.push(e),
    maxQueueDocuments: 1,
    reportIntervalMs: 20,
  });
  for (const d of makeDocuments(3)) batcher.enqueue(d);
  await tick(60);
  assert.equal(errors.length, 1);
  assert.match(errors[0].message, /queueFull 2/);
  await batcher.shutdown();
  assert.equal(errors.length, 1);
});

Deno.test("batcher lists causes and error codes in a report", async () => {
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: { send: ok },
    onError: (e) => errors.push(e),
    reportIntervalMs: 60_000,
    maxDocumentBytes: 100,
  });
  batcher.enqueue(JSON.stringify({ pad: "x".repeat(200) }));
  batcher.enqueue(42 as unknown as string);
  await batcher.flush();
  assert.equal(errors.length, 1);
  assert.match(
    errors[0].message,
    /^Dropped X-Ray documents: tooLarge 1, rejected 1; last error: /,
  );
  assert.ok(errors[0].cause instanceof TypeError);
  const stats = batcher.stats();
  assert.equal(stats.dropped.tooLarge, 1);
  assert.equal(stats.dropped.rejected, 1);
  await batcher.shutdown();
});

Deno.test("batcher accounts for every document when unprocessed indices repeat or are unknown", async () => {
  const errors: Error[] = [];
  const batches: string[][] = [];
  const batcher = createBatcher({
    sender: {
      send(docs): Promise<SendResult> {
        batches.push(docs);
        if (batches.length > 1) return ok();
        return Promise.resolve({
          ok: true,
          unprocessed: [
            { index: 0, errorCode: "ThrottledException", retryable: true },
            { index: 0, errorCode: "Repeated", retryable: true },
            { index: 99, errorCode: "Unknown", retryable: true },
            { index: 1, errorCode: "InvalidTraceId", retryable: false },
          ],
        });
      },
    },
    onError: (e) => errors.push(e),
    reportIntervalMs: 60_000,
    sleep: recordingSleep([]),
  });
  const docs = makeDocuments(5);
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush();
  // Index 0 is sent again; three answers name no document that can be sent
  // again, so three of the other four count as rejected. The codes listed are
  // those of answers for documents not sent again.
  assert.deepEqual(result, { sent: 2, dropped: 3, remaining: 0 });
  assert.deepEqual(batches[1], [docs[0]]);
  const stats = batcher.stats();
  assert.equal(stats.dropped.rejected, 3);
  assert.equal(stats.retried, 1);
  assert.equal(errors.length, 1);
  assert.match(
    errors[0].message,
    /^Dropped X-Ray documents: rejected 3 \(error codes: Unknown, InvalidTraceId\); last error: /,
  );
  await batcher.shutdown();
});

Deno.test("batcher caps Retry-After at maxBackoffMs", async () => {
  const delays: number[] = [];
  let calls = 0;
  const batcher = createBatcher({
    sender: {
      send(): Promise<SendResult> {
        return ++calls === 1
          ? Promise.resolve({
            ok: false,
            retryable: true,
            error: new Error("slow down"),
            retryAfterMs: 50_000,
          })
          : ok();
      },
    },
    sleep: recordingSleep(delays),
    maxBackoffMs: 1000,
  });
  for (const d of makeDocuments(2)) batcher.enqueue(d);
  assert.deepEqual(await batcher.flush(), {
    sent: 2,
    dropped: 0,
    remaining: 0,
  });
  assert.deepEqual(delays, [1000]);
  await batcher.shutdown();
});

Deno.test("batcher backs off with real timers when no sleep is given, 0 ms included", async () => {
  let calls = 0;
  const batcher = createBatcher({
    sender: {
      send(): Promise<SendResult> {
        return ++calls < 3
          ? Promise.resolve({
            ok: false,
            retryable: true,
            error: new Error("x"),
          })
          : ok();
      },
    },
    backoffBaseMs: 0,
  });
  for (const d of makeDocuments(2)) batcher.enqueue(d);
  assert.deepEqual(await batcher.flush(), {
    sent: 2,
    dropped: 0,
    remaining: 0,
  });
  assert.equal(calls, 3);
  assert.equal(batcher.stats().retried, 4);
  await batcher.shutdown();
});

Deno.test("batcher sends a document larger than maxBatchBytes alone", async () => {
  const sizes: number[] = [];
  const batcher = createBatcher({
    sender: {
      send(docs): Promise<SendResult> {
        sizes.push(docs.length);
        return ok();
      },
    },
    maxBatchBytes: 10,
  });
  for (const d of makeDocuments(3)) batcher.enqueue(d);
  assert.deepEqual(await batcher.flush(), {
    sent: 3,
    dropped: 0,
    remaining: 0,
  });
  assert.deepEqual(sizes, [1, 1, 1]);
  await batcher.shutdown();
});

Deno.test("batcher gives each request its own AbortSignal and aborts it on timeout", async () => {
  const signals: AbortSignal[] = [];
  const sender: Sender = {
    send(_, options): Promise<SendResult> {
      signals.push(options!.signal!);
      // The first request hangs until its signal aborts.
      return signals.length === 1
        ? new Promise((resolve) =>
          options!.signal!.addEventListener(
            "abort",
            () => resolve({ ok: true }),
          )
        )
        : ok();
    },
  };
  const batcher = createBatcher({
    sender,
    requestTimeoutMs: 20,
    sleep: recordingSleep([]),
  });
  for (const d of makeDocuments(3)) batcher.enqueue(d);
  const result = await batcher.flush();
  assert.deepEqual(result, { sent: 3, dropped: 0, remaining: 0 });
  assert.equal(signals.length, 2);
  assert.notEqual(signals[0], signals[1]);
  assert.equal(signals[0].aborted, true);
  assert.equal(signals[1].aborted, false);
  assert.equal(batcher.stats().retried, 3);
  await batcher.shutdown();
});

Deno.test("shutdown() abandons a request in flight at its deadline and aborts its signal", async () => {
  const signals: AbortSignal[] = [];
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: {
      send(_, options): Promise<SendResult> {
        signals.push(options!.signal!);
        return new Promise(() => {}); // ignores its signal
      },
    },
    onError: (e) => errors.push(e),
    requestTimeoutMs: 60_000,
  });
  for (const d of makeDocuments(3)) batcher.enqueue(d);
  const result = await batcher.shutdown({ timeoutMs: 20 });
  assert.deepEqual(result, { sent: 0, dropped: 3, remaining: 0 });
  assert.equal(signals.length, 1);
  assert.equal(signals[0].aborted, true);
  assert.equal(batcher.stats().dropped.timeout, 3);
  assert.equal(errors.length, 1);
  assert.match(
    errors[0].message,
    /^Dropped X-Ray documents: timeout 3$/,
  );
});

Deno.test("shutdown() wakes a batch waiting in backoff and drops it", async () => {
  let calls = 0;
  const batcher = createBatcher({
    sender: {
      send(): Promise<SendResult> {
        calls++;
        return Promise.resolve({
          ok: false,
          retryable: true,
          error: new Error("down"),
        });
      },
    },
    backoffBaseMs: 60_000,
    maxBackoffMs: 60_000,
    random: () => 0.99,
  });
  for (const d of makeDocuments(4)) batcher.enqueue(d);
  const started = Date.now();
  const result = await batcher.shutdown({ timeoutMs: 20 });
  assert.ok(Date.now() - started < 10_000);
  assert.deepEqual(result, { sent: 0, dropped: 4, remaining: 0 });
  assert.equal(calls, 1);
  const stats = batcher.stats();
  assert.equal(stats.dropped.timeout, 4);
  assert.equal(stats.retried, 0);
});

Deno.test("flush() waits for the documents queued before it, not for later ones", async () => {
  // concurrency 1, batches of 2. [d0 d1] is in flight when flush() starts,
  // d2 is queued; d3 arrives after flush() and fills [d2 d3]. X-Ray leaves d3
  // unprocessed: flush() returns once d2 is settled, while d3 waits in a
  // backoff that only shutdown ends.
  let release!: () => void;
  const first = new Promise<SendResult>((resolve) =>
    release = () => resolve({ ok: true })
  );
  let calls = 0;
  const batcher = createBatcher({
    sender: {
      send(): Promise<SendResult> {
        calls++;
        if (calls === 1) return first;
        return Promise.resolve({
          ok: true,
          unprocessed: [{
            index: 1,
            errorCode: "ThrottledException",
            retryable: true,
          }],
        });
      },
    },
    concurrency: 1,
    maxBatchDocuments: 2,
    sleep: (_, signal) =>
      new Promise((resolve) =>
        signal.addEventListener("abort", () => resolve())
      ),
  });
  const docs = makeDocuments(4);
  batcher.enqueue(docs[0]);
  batcher.enqueue(docs[1]);
  await tick();
  assert.equal(calls, 1);
  batcher.enqueue(docs[2]);
  const flushed = batcher.flush();
  batcher.enqueue(docs[3]);
  release();
  assert.deepEqual(await flushed, { sent: 3, dropped: 0, remaining: 1 });
  assert.equal(calls, 2);
  const result = await batcher.shutdown({ timeoutMs: 0 });
  assert.deepEqual(result, { sent: 0, dropped: 1, remaining: 0 });
  assert.equal(batcher.stats().dropped.timeout, 1);
});

Deno.test("flush() leaves documents queued after it for a later flush", async () => {
  let release!: () => void;
  const first = new Promise<SendResult>((resolve) =>
    release = () => resolve({ ok: true })
  );
  const sizes: number[] = [];
  const batcher = createBatcher({
    sender: {
      send(docs): Promise<SendResult> {
        sizes.push(docs.length);
        return sizes.length === 1 ? first : ok();
      },
    },
  });
  const docs = makeDocuments(2);
  batcher.enqueue(docs[0]);
  const flushed = batcher.flush();
  batcher.enqueue(docs[1]);
  release();
  assert.deepEqual(await flushed, { sent: 1, dropped: 0, remaining: 1 });
  assert.deepEqual(sizes, [1]);
  assert.deepEqual(await batcher.flush(), {
    sent: 1,
    dropped: 0,
    remaining: 0,
  });
  await batcher.shutdown();
});

Deno.test("a close() that fails is reported and shutdown() still resolves", async () => {
  const errors: Error[] = [];
  const batcher = createBatcher({
    sender: {
      send: ok,
      close: () => Promise.reject(new Error("socket stuck")),
    },
    onError: (e) => errors.push(e),
  });
  batcher.enqueue(makeDocuments(1)[0]);
  const result = await batcher.shutdown();
  assert.deepEqual(result, { sent: 1, dropped: 0, remaining: 0 });
  assert.equal(errors.length, 1);
  assert.equal(errors[0].message, "socket stuck");
});
