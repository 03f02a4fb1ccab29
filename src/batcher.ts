/**
 * The queue between `end()` and a sender: bounded, batched, never blocking.
 *
 * (Minimal version: batches of at most 50 on flush; the delivery work adds
 * retries, byte caps, timers and concurrency.)
 *
 * @module
 */

import type {
  Batcher,
  DropReason,
  ErrorHandler,
  FlushOptions,
  FlushResult,
  Sender,
  TracerStats,
} from "./types.ts";
import { toError } from "./errors.ts";

/** The most documents one PutTraceSegments call takes. */
export const MAX_BATCH_DOCUMENTS = 50;

/** Options for {@linkcode createBatcher}. */
export interface BatcherOptions {
  /** Where batches go. */
  sender: Sender;
  /** Where export problems are reported. */
  onError?: ErrorHandler;
  /**
   * The most documents held at once; more are dropped and counted.
   * @default 10000
   */
  maxQueueDocuments?: number;
}

/** Counters a batcher starts from. */
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

/**
 * Creates a batcher in front of a sender.
 *
 * @param options The sender and limits.
 * @returns The batcher.
 */
export function createBatcher(options: BatcherOptions): Batcher {
  const { sender } = options;
  const onError = options.onError ?? (() => {});
  const maxQueue = options.maxQueueDocuments ?? 10000;
  const queue: string[] = [];
  const stats = emptyStats();
  let queuedBytes = 0;

  async function flush(_options?: FlushOptions): Promise<FlushResult> {
    let sent = 0;
    let dropped = 0;
    while (queue.length > 0) {
      const batch = queue.splice(0, MAX_BATCH_DOCUMENTS);
      for (const d of batch) queuedBytes -= d.length;
      let result;
      try {
        result = await sender.send(batch);
      } catch (e) {
        result = { ok: false as const, retryable: false, error: toError(e) };
      }
      if (result.ok) {
        const rejected = result.unprocessed?.length ?? 0;
        sent += batch.length - rejected;
        dropped += rejected;
        stats.dropped.rejected += rejected;
      } else {
        dropped += batch.length;
        stats.dropped.retriesExhausted += batch.length;
        onError(result.error, "export");
      }
    }
    stats.sent += sent;
    return { sent, dropped, remaining: queue.length };
  }

  return {
    enqueue(document: string): void {
      if (queue.length >= maxQueue) {
        stats.dropped.queueFull++;
        return;
      }
      queue.push(document);
      queuedBytes += document.length;
    },
    flush,
    async shutdown(options?: FlushOptions): Promise<FlushResult> {
      const result = await flush(options);
      try {
        await sender.close?.();
      } catch (e) {
        onError(toError(e), "export");
      }
      return result;
    },
    stats(): TracerStats {
      return {
        ...stats,
        queued: queue.length,
        queuedBytes,
        dropped: { ...stats.dropped },
      };
    },
  };
}
