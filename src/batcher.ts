/**
 * The queue between `end()` and a sender: bounded in documents and bytes,
 * batched (≤ 50 documents, ≤ `maxBatchBytes`), sent with a concurrency limit,
 * retried with exponential backoff and full jitter, and counted: every
 * document ends up sent or dropped for a named reason.
 *
 * `enqueue()` never throws and never waits: it appends to an array and, when a
 * batch is full, schedules a send on a microtask. `flush()` and `shutdown()`
 * are deadline-aware and never reject.
 *
 * @module
 */

import type {
  Batcher,
  Clock,
  DropReason,
  ErrorHandler,
  FlushOptions,
  FlushResult,
  Sender,
  SendResult,
  TracerStats,
} from "./types.ts";
import { toError, XRayError } from "./errors.ts";
import { unrefTimer } from "./runtime/unref_timer.ts";
import { MAX_DOCUMENT_BYTES } from "./document.ts";
import { utf8Length } from "./_util.ts";

/** The most documents one PutTraceSegments call takes. */
export const MAX_BATCH_DOCUMENTS = 50;

/** The most requests a batcher keeps in flight (the Workers connection limit). */
export const MAX_CONCURRENCY = 6;

/** Options for {@linkcode createBatcher}. */
export interface BatcherOptions {
  /** Where batches go. */
  sender: Sender;
  /** Where drops are reported, once per burst. */
  onError?: ErrorHandler;
  /**
   * The most documents held at once (queued and in flight); more are dropped
   * as `queueFull`.
   * @default 10000
   */
  maxQueueDocuments?: number;
  /**
   * The most bytes held at once (queued and in flight); more are dropped as
   * `queueFull`.
   * @default 16777216 (16 MiB)
   */
  maxQueueBytes?: number;
  /**
   * The most documents in one batch, between 1 and 50.
   * @default 50
   */
  maxBatchDocuments?: number;
  /**
   * The most document bytes in one batch (a single larger document still goes
   * alone).
   * @default 1048576 (1 MiB)
   */
  maxBatchBytes?: number;
  /**
   * Documents larger than this are dropped as `tooLarge`.
   * @default 65536
   */
  maxDocumentBytes?: number;
  /**
   * Send a partial batch this long after its first document was queued.
   * `0` turns the timer off: partial batches then wait for `flush()`. The
   * timer is unref'd and only armed while documents wait.
   * @default 0
   */
  flushIntervalMs?: number;
  /**
   * The most requests in flight at once, between 1 and 6.
   * @default 2
   */
  concurrency?: number;
  /**
   * How often a batch (or its unprocessed documents) is sent again after a
   * retryable failure before it is dropped as `retriesExhausted`.
   * @default 4
   */
  maxRetries?: number;
  /**
   * The backoff base: attempt `n` waits a random time in
   * `[0, min(maxBackoffMs, backoffBaseMs * 2 ** (n - 1)))`.
   * @default 100
   */
  backoffBaseMs?: number;
  /**
   * The longest wait between attempts, also the cap on `Retry-After`.
   * @default 20000
   */
  maxBackoffMs?: number;
  /**
   * A request slower than this is aborted and counts as a retryable failure.
   * @default 5000
   */
  requestTimeoutMs?: number;
  /**
   * At most one drop report per this many milliseconds; drops in between are
   * summed into the next report.
   * @default 1000
   */
  reportIntervalMs?: number;
  /** The time source for report throttling. @default Date */
  clock?: Clock;
  /** Random numbers in [0, 1) for jitter. @default Math.random */
  random?: () => number;
  /**
   * Waits between attempts; resolves early when `signal` aborts. Replaceable
   * so tests can observe backoff without waiting.
   * @default a setTimeout-based sleep
   */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/**
 * Counters a batcher starts from.
 *
 * @returns Zeroed stats.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { emptyStats } from "./batcher.ts";
 * assert.equal(emptyStats().dropped.queueFull, 0);
 * ```
 */
export function emptyStats(): TracerStats {
  const dropped: Record<DropReason, number> = {
    queueFull: 0,
    tooLarge: 0,
    rejected: 0,
    retriesExhausted: 0,
    shutdown: 0,
    timeout: 0,
  };
  return {
    queued: 0,
    queuedBytes: 0,
    sent: 0,
    retried: 0,
    dropped,
    truncated: 0,
    rejectedRecordings: 0,
  };
}

const REASON_TEXT: Record<DropReason, string> = {
  queueFull: "queue full",
  tooLarge: "too large",
  rejected: "rejected",
  retriesExhausted: "retries exhausted",
  shutdown: "shutdown",
  timeout: "in flight at the shutdown deadline",
};

interface Entry {
  doc: string;
  bytes: number;
  seq: number;
}

interface Task {
  entries: Entry[];
  minSeq: number;
}

function integerOption(
  name: string,
  value: number | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(
      `Cannot create batcher as '${name}' must be an integer between ${min} and ${max}: current value is ${value}`,
    );
  }
  return value;
}

/** A stop signal in plain JavaScript (see `hardStop` in createBatcher). */
interface StopFlag {
  readonly aborted: boolean;
  abort(): void;
  listen(fn: () => void): void;
  unlisten(fn: () => void): void;
}

function stopFlag(): StopFlag {
  const listeners = new Set<() => void>();
  let aborted = false;
  return {
    get aborted(): boolean {
      return aborted;
    },
    abort(): void {
      if (aborted) return;
      aborted = true;
      for (const fn of [...listeners]) {
        try {
          fn();
        } catch {
          // A listener touching another request's I/O (Workers) must not stop the rest.
        }
      }
      listeners.clear();
    },
    listen(fn: () => void): void {
      listeners.add(fn);
    },
    unlisten(fn: () => void): void {
      listeners.delete(fn);
    },
  };
}

function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/**
 * Creates a batcher in front of a sender.
 *
 * @param options The sender, limits and retry policy.
 * @returns The batcher.
 * @throws {RangeError} When a limit is out of range (for example a
 * `concurrency` above 6 or a `maxBatchDocuments` above 50).
 *
 * @example Queue documents and flush them in one batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { createBatcher } from "./batcher.ts";
 * const batches: string[][] = [];
 * const batcher = createBatcher({
 *   sender: { send: (docs) => { batches.push(docs); return Promise.resolve({ ok: true }); } },
 * });
 * batcher.enqueue('{"name":"a"}');
 * batcher.enqueue('{"name":"b"}');
 * const result = await batcher.flush({ timeoutMs: 1000 });
 * assert.deepEqual(result, { sent: 2, dropped: 0, remaining: 0 });
 * assert.equal(batches.length, 1);
 * await batcher.shutdown();
 * ```
 */
export function createBatcher(options: BatcherOptions): Batcher {
  const { sender } = options;
  const onError = options.onError ?? (() => {});
  const maxQueueDocuments = integerOption(
    "maxQueueDocuments",
    options.maxQueueDocuments,
    10_000,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const maxQueueBytes = integerOption(
    "maxQueueBytes",
    options.maxQueueBytes,
    16 * 1024 * 1024,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const maxBatchDocuments = integerOption(
    "maxBatchDocuments",
    options.maxBatchDocuments,
    MAX_BATCH_DOCUMENTS,
    1,
    MAX_BATCH_DOCUMENTS,
  );
  const maxBatchBytes = integerOption(
    "maxBatchBytes",
    options.maxBatchBytes,
    1024 * 1024,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const maxDocumentBytes = integerOption(
    "maxDocumentBytes",
    options.maxDocumentBytes,
    MAX_DOCUMENT_BYTES,
    1,
    Number.MAX_SAFE_INTEGER,
  );
  const flushIntervalMs = integerOption(
    "flushIntervalMs",
    options.flushIntervalMs,
    0,
    0,
    2_147_483_647,
  );
  const concurrency = integerOption(
    "concurrency",
    options.concurrency,
    2,
    1,
    MAX_CONCURRENCY,
  );
  const maxRetries = integerOption(
    "maxRetries",
    options.maxRetries,
    4,
    0,
    100,
  );
  const backoffBaseMs = integerOption(
    "backoffBaseMs",
    options.backoffBaseMs,
    100,
    0,
    2_147_483_647,
  );
  const maxBackoffMs = integerOption(
    "maxBackoffMs",
    options.maxBackoffMs,
    20_000,
    0,
    2_147_483_647,
  );
  const requestTimeoutMs = integerOption(
    "requestTimeoutMs",
    options.requestTimeoutMs,
    5_000,
    1,
    2_147_483_647,
  );
  const reportIntervalMs = integerOption(
    "reportIntervalMs",
    options.reportIntervalMs,
    1_000,
    0,
    2_147_483_647,
  );
  const clock: Clock = options.clock ?? Date;
  const random = options.random ?? Math.random;
  const sleep = options.sleep ?? defaultSleep;

  // The queue is an array with a moving head, so taking a batch is O(batch).
  let queue: Entry[] = [];
  let head = 0;
  let queueBytes = 0;
  let inFlightDocuments = 0;
  let inFlightBytes = 0;
  let nextSeq = 0;
  // Entries with seq <= drainThrough go out in partial batches.
  let drainThrough = -1;
  let pumpScheduled = false;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  let closed = false;
  // Plain JavaScript, not an AbortController: the batcher outlives requests,
  // and Workers throw when an I/O object made during one request (an
  // AbortSignal is one) is touched while handling another.
  const hardStop = stopFlag();
  const tasks = new Set<Task>();
  const running = new Set<Promise<void>>();
  const waiters = new Set<{ seq: number; resolve: () => void }>();
  const stats = emptyStats();

  // Drop reports: summed per burst. A burst is reported when it is
  // reportIntervalMs old (by an unref'd timer, or by the next drop where
  // timers do not run), and at the end of every flush() and shutdown().
  const pending: Record<DropReason, number> = emptyStats().dropped;
  let pendingTotal = 0;
  const pendingCodes = new Set<string>();
  let pendingCause: Error | undefined;
  let burstStartedAt: number | undefined;
  let reportTimer: ReturnType<typeof setTimeout> | undefined;
  let reportScheduled = false;

  function queued(): number {
    return queue.length - head;
  }

  function report(): void {
    clearTimeout(reportTimer);
    reportTimer = undefined;
    burstStartedAt = undefined;
    if (pendingTotal === 0) return;
    const parts: string[] = [];
    for (const reason of Object.keys(pending) as DropReason[]) {
      if (pending[reason] > 0) {
        parts.push(`${pending[reason]} ${REASON_TEXT[reason]}`);
        pending[reason] = 0;
      }
    }
    const codes = pendingCodes.size > 0
      ? ` (error codes: ${[...pendingCodes].slice(0, 5).join(", ")})`
      : "";
    const total = pendingTotal;
    const cause = pendingCause;
    pendingTotal = 0;
    pendingCodes.clear();
    pendingCause = undefined;
    const error = new XRayError(
      `Dropped ${total} X-Ray document${total === 1 ? "" : "s"}: ${
        parts.join(", ")
      }${codes}${cause ? `; last error: ${cause.message.slice(0, 500)}` : ""}`,
      cause ? { cause } : undefined,
    );
    try {
      onError(error, "export");
    } catch {
      // A throwing error handler must not break delivery.
    }
  }

  function scheduleReport(): void {
    if (reportScheduled) return;
    // A microtask, so a synchronous burst still ends up in one report.
    reportScheduled = true;
    queueMicrotask(() => {
      reportScheduled = false;
      report();
    });
  }

  function drop(
    reason: DropReason,
    count: number,
    cause?: Error,
    codes?: Iterable<string>,
  ): void {
    if (count <= 0) return;
    stats.dropped[reason] += count;
    pending[reason] += count;
    pendingTotal += count;
    if (cause) pendingCause = cause;
    if (codes) { for (const code of codes) pendingCodes.add(code); }
    if (reportIntervalMs === 0) {
      scheduleReport();
    } else if (burstStartedAt === undefined) {
      burstStartedAt = clock.now();
      reportTimer = setTimeout(report, reportIntervalMs);
      unrefTimer(reportTimer);
    } else if (clock.now() - burstStartedAt >= reportIntervalMs) {
      scheduleReport();
    }
  }

  /** Resolves flush waiters whose documents have all settled. */
  function checkWaiters(): void {
    if (waiters.size === 0) return;
    let oldest = head < queue.length ? queue[head].seq : Infinity;
    for (const task of tasks) oldest = Math.min(oldest, task.minSeq);
    for (const waiter of waiters) {
      if (oldest > waiter.seq) {
        waiters.delete(waiter);
        waiter.resolve();
      }
    }
  }

  function schedulePump(): void {
    if (pumpScheduled) return;
    pumpScheduled = true;
    queueMicrotask(() => {
      pumpScheduled = false;
      pump();
    });
  }

  function takeBatch(): Entry[] {
    const batch: Entry[] = [];
    let bytes = 0;
    while (head < queue.length && batch.length < maxBatchDocuments) {
      const entry = queue[head];
      if (batch.length > 0 && bytes + entry.bytes > maxBatchBytes) break;
      batch.push(entry);
      bytes += entry.bytes;
      head++;
    }
    queueBytes -= bytes;
    inFlightDocuments += batch.length;
    inFlightBytes += bytes;
    if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head);
      head = 0;
    }
    return batch;
  }

  function pump(): void {
    while (tasks.size < concurrency && head < queue.length) {
      const isFull = queued() >= maxBatchDocuments ||
        queueBytes >= maxBatchBytes;
      const isDraining = queue[head].seq <= drainThrough;
      if (!isFull && !isDraining) break;
      const batch = takeBatch();
      const task: Task = { entries: batch, minSeq: batch[0].seq };
      tasks.add(task);
      const run = runTask(task).finally(() => {
        running.delete(run);
        tasks.delete(task);
        checkWaiters();
        schedulePump();
      });
      running.add(run);
    }
    if (head >= queue.length && queue.length > 0) {
      queue = [];
      head = 0;
    }
  }

  /** Removes settled entries from a task's in-flight accounting. */
  function settle(entries: readonly Entry[]): void {
    let bytes = 0;
    for (const entry of entries) bytes += entry.bytes;
    inFlightDocuments -= entries.length;
    inFlightBytes -= bytes;
  }

  async function attempt(docs: string[]): Promise<SendResult> {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onStop: (() => void) | undefined;
    const stop = new Promise<SendResult>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({
          ok: false,
          retryable: true,
          error: new XRayError(
            `X-Ray request timed out after ${requestTimeoutMs} ms`,
          ),
        });
      }, requestTimeoutMs);
      onStop = (): void => {
        resolve({
          ok: false,
          retryable: false,
          error: new XRayError("X-Ray request abandoned at shutdown"),
        });
        controller.abort();
      };
      hardStop.listen(onStop);
    });
    const send = (async (): Promise<SendResult> => {
      try {
        return await sender.send(docs, { signal: controller.signal });
      } catch (e) {
        return { ok: false, retryable: true, error: toError(e) };
      }
    })();
    try {
      return await Promise.race([send, stop]);
    } finally {
      clearTimeout(timer);
      hardStop.unlisten(onStop!);
    }
  }

  async function runTask(task: Task): Promise<void> {
    let entries = task.entries;
    let retries = 0;
    for (;;) {
      if (hardStop.aborted) {
        settle(entries);
        drop("timeout", entries.length);
        return;
      }
      const result = await attempt(entries.map((e) => e.doc));
      if (hardStop.aborted) {
        settle(entries);
        drop("timeout", entries.length, result.ok ? undefined : result.error);
        return;
      }
      let retryAfterMs = 0;
      let lastError: Error;
      if (result.ok) {
        const unprocessed = result.unprocessed ?? [];
        if (unprocessed.length === 0) {
          settle(entries);
          stats.sent += entries.length;
          return;
        }
        const again = new Set<number>();
        const rejectedCodes = new Set<string>();
        let rejected = 0;
        for (const item of unprocessed) {
          const known = Number.isInteger(item.index) && item.index >= 0 &&
            item.index < entries.length && !again.has(item.index);
          if (known && item.retryable) {
            again.add(item.index);
          } else {
            rejected++;
            rejectedCodes.add(item.errorCode);
          }
        }
        rejected = Math.min(rejected, entries.length - again.size);
        const retry = entries.filter((_, i) => again.has(i));
        const done = entries.filter((_, i) => !again.has(i));
        settle(done);
        stats.sent += done.length - rejected;
        drop(
          "rejected",
          rejected,
          rejected > 0
            ? new XRayError(
              `X-Ray did not accept ${rejected} document${
                rejected === 1 ? "" : "s"
              }`,
            )
            : undefined,
          rejectedCodes,
        );
        if (retry.length === 0) return;
        entries = retry;
        task.entries = retry;
        task.minSeq = retry[0].seq;
        checkWaiters();
        lastError = new XRayError(
          `X-Ray left ${retry.length} document${
            retry.length === 1 ? "" : "s"
          } unprocessed with a transient error`,
        );
      } else if (!result.retryable) {
        settle(entries);
        drop("rejected", entries.length, result.error);
        return;
      } else {
        lastError = result.error;
        retryAfterMs = result.retryAfterMs ?? 0;
      }
      if (retries >= maxRetries) {
        settle(entries);
        drop("retriesExhausted", entries.length, lastError);
        return;
      }
      retries++;
      const ceiling = Math.min(
        maxBackoffMs,
        backoffBaseMs * 2 ** (retries - 1),
      );
      const delay = Math.min(
        maxBackoffMs,
        Math.max(retryAfterMs, Math.floor(random() * ceiling)),
      );
      const wake = new AbortController();
      const stopSleep = (): void => {
        try {
          wake.abort();
        } catch {
          // Made during another request (Workers): let the sleep run out.
        }
      };
      hardStop.listen(stopSleep);
      try {
        await sleep(delay, wake.signal);
      } finally {
        hardStop.unlisten(stopSleep);
      }
      if (!hardStop.aborted) stats.retried += entries.length;
    }
  }

  function armLinger(): void {
    if (flushIntervalMs === 0 || lingerTimer !== undefined || closed) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined;
      drainThrough = nextSeq - 1;
      schedulePump();
    }, flushIntervalMs);
    unrefTimer(lingerTimer);
  }

  function enqueue(document: string): void {
    try {
      if (closed) {
        drop("shutdown", 1);
        return;
      }
      if (typeof document !== "string") {
        drop("rejected", 1, new TypeError("A document must be a string"));
        return;
      }
      const bytes = utf8Length(document);
      if (bytes > maxDocumentBytes) {
        drop(
          "tooLarge",
          1,
          new XRayError(
            `A document of ${bytes} bytes is over the ${maxDocumentBytes} byte limit`,
          ),
        );
        return;
      }
      if (
        queued() + inFlightDocuments >= maxQueueDocuments ||
        queueBytes + inFlightBytes + bytes > maxQueueBytes
      ) {
        drop("queueFull", 1);
        return;
      }
      queue.push({ doc: document, bytes, seq: nextSeq++ });
      queueBytes += bytes;
      if (queued() >= maxBatchDocuments || queueBytes >= maxBatchBytes) {
        schedulePump();
      } else {
        armLinger();
      }
    } catch {
      // enqueue never throws into the request path.
    }
  }

  function counters(): { sent: number; dropped: number } {
    let dropped = 0;
    for (const n of Object.values(stats.dropped)) dropped += n;
    return { sent: stats.sent, dropped };
  }

  async function flush(flushOptions?: FlushOptions): Promise<FlushResult> {
    const before = counters();
    const seq = nextSeq - 1;
    drainThrough = Math.max(drainThrough, seq);
    let waiter: { seq: number; resolve: () => void } | undefined;
    const settled = new Promise<void>((resolve) => {
      waiter = { seq, resolve };
      waiters.add(waiter);
    });
    pump();
    checkWaiters();
    const timeoutMs = flushOptions?.timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      if (timeoutMs === undefined || !Number.isFinite(timeoutMs)) {
        await settled;
      } else {
        await Promise.race([
          settled,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, Math.max(0, timeoutMs));
          }),
        ]);
      }
    } finally {
      clearTimeout(timer);
      // A flush that hit its deadline stops waiting.
      waiters.delete(waiter!);
    }
    report();
    const after = counters();
    return {
      sent: after.sent - before.sent,
      dropped: after.dropped - before.dropped,
      remaining: queued() + inFlightDocuments,
    };
  }

  async function shutdown(flushOptions?: FlushOptions): Promise<FlushResult> {
    const before = counters();
    closed = true;
    clearTimeout(lingerTimer);
    lingerTimer = undefined;
    await flush(flushOptions);
    // Past the deadline: abandon what is in flight and what still waits.
    hardStop.abort();
    const left = queued();
    queue = [];
    head = 0;
    queueBytes = 0;
    drop("shutdown", left);
    await Promise.all([...running]);
    checkWaiters();
    try {
      await sender.close?.();
    } catch (e) {
      try {
        onError(toError(e), "export");
      } catch {
        // ignore a throwing handler
      }
    }
    report();
    const after = counters();
    return {
      sent: after.sent - before.sent,
      dropped: after.dropped - before.dropped,
      remaining: queued() + inFlightDocuments,
    };
  }

  return {
    enqueue,
    flush,
    shutdown,
    stats(): TracerStats {
      return {
        ...stats,
        queued: queued() + inFlightDocuments,
        queuedBytes: queueBytes + inFlightBytes,
        dropped: { ...stats.dropped },
      };
    },
  };
}
