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
import { failure, toError, XRayError } from "./errors.ts";
import { unrefTimer } from "./runtime/unref_timer.ts";
import { beforeExit } from "./runtime/before_exit.ts";
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

/** The longest delay `setTimeout` takes. */
const MAX_MS = 2 ** 31 - 1;
/** Number.MAX_SAFE_INTEGER */
const MAX = 2 ** 53 - 1;

/**
 * `[name, default, min, max]` of every integer option, in the order
 * createBatcher reads them.
 */
const LIMITS = [
  ["maxQueueDocuments", 10_000, 1, MAX],
  ["maxQueueBytes", 2 ** 24, 1, MAX], // 16 MiB
  ["maxBatchDocuments", MAX_BATCH_DOCUMENTS, 1, MAX_BATCH_DOCUMENTS],
  ["maxBatchBytes", 2 ** 20, 1, MAX], // 1 MiB
  ["maxDocumentBytes", MAX_DOCUMENT_BYTES, 1, MAX],
  ["flushIntervalMs", 0, 0, MAX_MS],
  ["concurrency", 2, 1, MAX_CONCURRENCY],
  ["maxRetries", 4, 0, 100],
  ["backoffBaseMs", 100, 0, MAX_MS],
  ["maxBackoffMs", 20_000, 0, MAX_MS],
  ["requestTimeoutMs", 5_000, 1, MAX_MS],
  ["reportIntervalMs", 1_000, 0, MAX_MS],
] as const;

/** A queued document; `seq` is its place in arrival order. */
interface Entry {
  doc: string;
  bytes: number;
  seq: number;
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
  const [
    maxQueueDocuments,
    maxQueueBytes,
    maxBatchDocuments,
    maxBatchBytes,
    maxDocumentBytes,
    flushIntervalMs,
    concurrency,
    maxRetries,
    backoffBaseMs,
    maxBackoffMs,
    requestTimeoutMs,
    reportIntervalMs,
  ] = LIMITS.map(([name, fallback, min, max]): number => {
    const value = options[name];
    if (value === undefined) return fallback;
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    throw new RangeError(
      `Cannot create batcher as '${name}' must be an integer between ${min} and ${max}: current value is ${value}`,
    );
  });
  const {
    sender,
    onError,
    clock = Date,
    random = Math.random,
    sleep,
  } = options;

  // The queue, oldest first. Batches leave from the front, so every document
  // in flight is older than every queued one.
  const queue: Entry[] = [];
  let queueBytes = 0;
  // Documents queued or in flight (and their bytes) are stats.queued and
  // stats.queuedBytes.
  let nextSeq = 0;
  // Documents with seq <= drainThrough go out in partial batches.
  let drainThrough = -1;
  let pumpScheduled = false;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  let offExit: (() => void) | undefined;
  let closed = false;
  // Past the shutdown deadline: requests and backoffs still running are
  // ended through `stoppers`. Plain functions, not an AbortController: the
  // batcher outlives requests, and Workers throw when an I/O object made
  // during one request (an AbortSignal is one) is touched while handling
  // another. Each request and each backoff gets its own AbortController.
  let stopped = false;
  const stoppers = new Set<() => void>();
  // The batches in flight; a batch shrinks in place to the documents it
  // sends again.
  const tasks = new Set<Entry[]>();
  // Resolved (and replaced) whenever a batch settles documents, so flush()
  // can look again at what it waits for.
  let notify: ((value: true) => void) | undefined;
  let changed!: Promise<true>;
  const stats = emptyStats();
  let droppedTotal = 0;

  // Drop reports: summed per burst. A burst is reported when it is
  // reportIntervalMs old (by an unref'd timer, or by the next drop where
  // timers do not run), and at the end of every flush() and shutdown().
  // A burst whose report is due on a microtask has burstStart Infinity.
  let pending: Partial<Record<DropReason, number>> = {};
  const codes = new Set<string>();
  let lastCause: Error | undefined;
  let burstStart: number | undefined;
  let burstTimer: ReturnType<typeof setTimeout> | undefined;

  function progress(): void {
    notify?.(true);
    changed = new Promise((resolve) => notify = resolve);
  }
  progress();

  function tell(error: Error): void {
    try {
      onError?.(error, "export");
    } catch {
      // A throwing error handler must not break delivery.
    }
  }

  function report(): void {
    clearTimeout(burstTimer);
    burstStart = undefined;
    // By the stats key: "queueFull 3".
    const parts = Object.entries(pending).map(([reason, count]) =>
      `${reason} ${count}`
    );
    if (!parts.length) return;
    pending = {};
    const cause = lastCause;
    const error = new XRayError(
      `Dropped X-Ray documents: ${parts.join(", ")}${
        codes.size ? ` (error codes: ${[...codes].slice(0, 5).join(", ")})` : ""
      }${cause ? `; last error: ${cause.message.slice(0, 500)}` : ""}`,
      cause && { cause },
    );
    codes.clear();
    lastCause = undefined;
    tell(error);
  }

  function drop(
    reason: DropReason,
    count: number,
    cause?: Error,
  ): void {
    if (!count) return;
    stats.dropped[reason] += count;
    droppedTotal += count;
    pending[reason] = (pending[reason] ?? 0) + count;
    lastCause = cause ?? lastCause;
    const now = clock.now();
    if (burstStart === undefined) {
      burstStart = now;
      burstTimer = unrefTimer(setTimeout(report, reportIntervalMs));
    }
    if (now - burstStart >= reportIntervalMs) {
      // A microtask, so a synchronous burst still ends up in one report.
      burstStart = Infinity;
      queueMicrotask(report);
    }
  }

  /** Settles entries: `count` of them dropped for `reason`, the rest sent. */
  function finish(
    entries: Entry[],
    reason: DropReason,
    cause?: Error,
    count = entries.length,
  ): void {
    for (const entry of entries) stats.queuedBytes -= entry.bytes;
    stats.queued -= entries.length;
    stats.sent += entries.length - count;
    drop(reason, count, cause);
  }

  /** Stops waiting to send a partial batch. */
  function disarm(): void {
    clearTimeout(lingerTimer);
    offExit?.();
    lingerTimer = offExit = undefined;
  }

  const isFull = (): boolean =>
    queue.length >= maxBatchDocuments || queueBytes >= maxBatchBytes;

  function pump(): void {
    pumpScheduled = false;
    while (
      tasks.size < concurrency && queue.length &&
      (isFull() || queue[0].seq <= drainThrough)
    ) {
      let count = 0;
      let bytes = 0;
      for (const entry of queue) {
        if (
          count === maxBatchDocuments ||
          (count && bytes + entry.bytes > maxBatchBytes)
        ) break;
        count++;
        bytes += entry.bytes;
      }
      queueBytes -= bytes;
      const batch = queue.splice(0, count);
      tasks.add(batch);
      runTask(batch).finally(() => {
        tasks.delete(batch);
        progress();
        pump();
      });
    }
    // Nothing left to linger for.
    if (!queue.length) disarm();
  }

  /**
   * Runs `run` with a fresh AbortSignal until it settles, `ms` pass (when
   * given) or shutdown stops it (both resolve `undefined`); never rejects.
   */
  async function guarded(
    run: (signal: AbortSignal) => Promise<SendResult | void>,
    ms = -1,
  ): Promise<SendResult | void> {
    const controller = new AbortController();
    let stop!: () => void;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        new Promise<SendResult | void>((resolve) => {
          stop = (): void => {
            // Settle first: aborting may throw in Workers (see `stoppers`).
            resolve();
            controller.abort();
          };
          stoppers.add(stop);
          if (ms >= 0) timer = setTimeout(stop, ms);
        }),
        run(controller.signal),
      ]);
    } catch (e) {
      return failure(e);
    } finally {
      clearTimeout(timer);
      stoppers.delete(stop);
    }
  }

  async function runTask(entries: Entry[]): Promise<void> {
    for (let retries = 0;; retries++) {
      const result = await guarded(
        (signal) => sender.send(entries.map((e) => e.doc), { signal }),
        requestTimeoutMs,
      ) ??
        failure(`X-Ray request timed out after ${requestTimeoutMs} ms`);
      if (stopped) break;
      // A failed request counts as every document unprocessed.
      const unprocessed: {
        index: number;
        retryable: boolean;
        errorCode?: string;
      }[] = result.ok
        ? result.unprocessed ?? []
        : entries.map((_, index) => ({ index, retryable: result.retryable }));
      // The entries to send again.
      const again = new Set<Entry>();
      for (const { index, retryable } of unprocessed) {
        if (retryable && entries[index]) again.add(entries[index]);
      }
      const error = result.ok
        ? unprocessed.length
          ? new XRayError(
            `X-Ray left documents unprocessed: ${unprocessed.length} of ${entries.length}`,
          )
          : undefined
        : result.error;
      finish(
        entries.filter((entry) => !again.has(entry)),
        "rejected",
        error,
        Math.min(unprocessed.length, entries.length) - again.size,
      );
      // The error codes of rejected documents go into the next report.
      for (const { index, errorCode } of unprocessed) {
        if (errorCode && !again.has(entries[index])) codes.add(errorCode);
      }
      if (!again.size) return;
      entries.splice(
        0,
        Infinity,
        ...entries.filter((entry) => again.has(entry)),
      );
      progress();
      if (retries >= maxRetries) {
        return finish(entries, "retriesExhausted", error);
      }
      const delay = Math.min(
        maxBackoffMs,
        Math.max(
          result.ok ? 0 : result.retryAfterMs ?? 0,
          Math.floor(
            random() * Math.min(maxBackoffMs, backoffBaseMs * 2 ** retries),
          ),
        ),
      );
      // Without a sleep option, guarded()'s own timer is the backoff.
      await guarded(
        (signal) => sleep?.(delay, signal) ?? new Promise(() => {}),
        sleep ? -1 : delay,
      );
      if (stopped) break;
      stats.retried += entries.length;
    }
    // Stopped at the shutdown deadline.
    finish(entries, "timeout");
  }

  function enqueue(document: string): void {
    try {
      let bytes;
      if (closed) {
        drop("shutdown", 1);
      } else if (typeof document !== "string") {
        drop("rejected", 1, new TypeError("A document must be a string"));
      } else if ((bytes = utf8Length(document)) > maxDocumentBytes) {
        drop(
          "tooLarge",
          1,
          new XRayError(
            `A document of ${bytes} bytes is over the ${maxDocumentBytes} byte limit`,
          ),
        );
      } else if (
        stats.queued >= maxQueueDocuments ||
        stats.queuedBytes + bytes > maxQueueBytes
      ) {
        drop("queueFull", 1);
      } else {
        queue.push({ doc: document, bytes, seq: nextSeq++ });
        stats.queued++;
        stats.queuedBytes += bytes;
        queueBytes += bytes;
        if (isFull()) {
          if (!pumpScheduled) queueMicrotask(pump);
          pumpScheduled = true;
        } else if (flushIntervalMs && !lingerTimer) {
          // Sent when the timer fires, or before the process exits.
          const sendQueued = (): void => {
            disarm();
            drainThrough = nextSeq - 1;
            pump();
          };
          offExit = beforeExit(sendQueued);
          lingerTimer = unrefTimer(setTimeout(sendQueued, flushIntervalMs));
        }
      }
    } catch {
      // enqueue never throws into the request path.
    }
  }

  /** Sends everything queued now and waits for it until `timeoutMs`. */
  async function drain(
    timeoutMs?: number,
    sentBefore = stats.sent,
    droppedBefore = droppedTotal,
  ): Promise<FlushResult> {
    const seq = drainThrough = nextSeq - 1;
    pump();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = setTimeout(resolve, timeoutMs);
    });
    while (
      [queue, ...tasks].some((entries) => entries[0]?.seq <= seq) &&
      await Promise.race([changed, deadline])
    );
    clearTimeout(timer);
    report();
    return {
      sent: stats.sent - sentBefore,
      dropped: droppedTotal - droppedBefore,
      remaining: stats.queued,
    };
  }

  return {
    enqueue,
    flush: (flushOptions?: FlushOptions): Promise<FlushResult> =>
      drain(flushOptions?.timeoutMs),
    async shutdown(flushOptions?: FlushOptions): Promise<FlushResult> {
      const sentBefore = stats.sent;
      const droppedBefore = droppedTotal;
      closed = true;
      disarm();
      await drain(flushOptions?.timeoutMs);
      // Past the deadline: abandon what is in flight and what still waits.
      stopped = true;
      for (const stop of stoppers) {
        try {
          stop();
        } catch {
          // Touching another request's I/O (Workers) must not stop the rest.
        }
      }
      queueBytes = 0;
      finish(queue.splice(0), "shutdown");
      const result = await drain(undefined, sentBefore, droppedBefore);
      try {
        await sender.close?.();
      } catch (e) {
        tell(toError(e));
      }
      return result;
    },
    stats: (): TracerStats => ({
      ...stats,
      dropped: { ...stats.dropped },
    }),
  };
}
