/**
 * Shared contracts between the pipeline stages: clock, ids, sampler, sender,
 * batcher and plugins. Everything here is a type; nothing runs at import.
 *
 * @module
 */

/** A source of time in epoch milliseconds (fractions allowed). */
export interface Clock {
  /** The current time in epoch milliseconds. */
  now(): number;
}

/** Generates X-Ray ids. */
export interface IdGenerator {
  /** A trace id `1-<8 hex epoch seconds>-<24 hex>` for a trace starting at `nowMs`. */
  traceId(nowMs: number): string;
  /** A 16-hex-digit segment id. */
  segmentId(): string;
}

/** What a sampler may look at to decide on one request. */
export interface SamplingRequest {
  /** The request's host (`Host` header or URL host). */
  host?: string;
  /** The HTTP method. */
  method?: string;
  /** The URL path. */
  path?: string;
  /** The service (segment) name. */
  serviceName?: string;
  /** The service type, the plugin origin such as `AWS::EC2::Instance`. */
  serviceType?: string;
  /** Extra attributes matched by centralized rules. */
  attributes?: Record<string, string>;
}

/** A sampling decision. */
export interface SamplingDecision {
  /** Whether the request is traced. */
  sampled: boolean;
  /** The name of the rule that decided, recorded as `aws.xray.sampling_rule_name`. */
  ruleName?: string;
}

/** Decides which requests are traced. Synchronous and never throws. */
export interface Sampler {
  /** Decides on one request. */
  shouldSample(request: SamplingRequest): SamplingDecision;
  /**
   * Background work the sampler started (centralized polling), settling when
   * done and never rejecting. Hand it to a platform's `waitUntil` after a
   * decision; samplers without background work may leave it out.
   */
  pending?(): Promise<void>;
}

/** A document the service (or a proxy) did not accept. */
export interface UnprocessedDocument {
  /** The index of the document in the batch that was sent. */
  index: number;
  /** The service's error code, such as `InvalidTraceId` or `ThrottledException`. */
  errorCode: string;
  /** The service's message, if any. */
  message?: string;
  /** Whether sending this document again may succeed. */
  retryable: boolean;
}

/** The outcome of one `Sender.send` call. Senders return results, never throw. */
export type SendResult =
  | {
    /** The request succeeded. */
    ok: true;
    /** Documents the service answered as unprocessed. */
    unprocessed?: UnprocessedDocument[];
  }
  | {
    /** The request failed as a whole. */
    ok: false;
    /** Whether the whole batch may be sent again. */
    retryable: boolean;
    /** What went wrong, with no credentials in its message. */
    error: Error;
    /** How long the server asked us to wait (`Retry-After`), in milliseconds. */
    retryAfterMs?: number;
  };

/** Per-call options the batcher passes to `Sender.send`. */
export interface SendOptions {
  /** Aborted when the request timed out or the batcher shuts down. */
  signal?: AbortSignal;
}

/** A transport for serialized X-Ray documents. */
export interface Sender {
  /** Sends up to 50 documents (JSON strings) in one call. */
  send(documents: string[], options?: SendOptions): Promise<SendResult>;
  /** Releases sockets or timers the sender holds. */
  close?(): Promise<void>;
}

/** Why documents were dropped. */
export type DropReason =
  | "queueFull"
  | "tooLarge"
  | "rejected"
  | "retriesExhausted"
  | "shutdown"
  | "timeout";

/** Counters kept by the tracer and its batcher. */
export interface TracerStats {
  /** Documents waiting in the queue now. */
  queued: number;
  /** Bytes waiting in the queue now. */
  queuedBytes: number;
  /** Documents delivered. */
  sent: number;
  /** Documents sent again after a retryable failure. */
  retried: number;
  /** Documents dropped, by reason. */
  dropped: Record<DropReason, number>;
  /** Documents whose metadata was cut to fit the 64 KB document limit. */
  truncated: number;
  /** Recording calls dropped (bad annotation, recording after end, …). */
  rejectedRecordings: number;
}

/** The outcome of a flush. */
export interface FlushResult {
  /** Documents delivered during this flush. */
  sent: number;
  /** Documents dropped during this flush. */
  dropped: number;
  /** Documents still queued when the flush returned (deadline hit). */
  remaining: number;
}

/** Options for `tracer.flush()`. */
export interface FlushOptions {
  /** Give up after this many milliseconds, counting what is left as dropped only on shutdown. */
  timeoutMs?: number;
}

/** The queue between `end()` and a sender. */
export interface Batcher {
  /** Queues one serialized document. Never throws, never blocks. */
  enqueue(document: string): void;
  /** Delivers what is queued. Never rejects. */
  flush(options?: FlushOptions): Promise<FlushResult>;
  /** Flushes, stops timers and closes the sender. Never rejects. */
  shutdown(options?: FlushOptions): Promise<FlushResult>;
  /** A snapshot of the counters. */
  stats(): TracerStats;
}

/** Data a plugin adds to every segment. */
export interface PluginData {
  /** The segment `origin`, such as `AWS::EC2::Instance`. */
  origin?: string;
  /** Keys merged into the segment's `aws` block, such as `ec2: { instance_id }`. */
  aws?: Record<string, unknown>;
}

/** Collects environment data once (EC2, ECS, …) or per request (Workers). */
export interface Plugin {
  /** A short name used in error reports. */
  name: string;
  /** Runs once, lazily; failures are reported through `onError` and ignored. */
  collect?(): Promise<PluginData | undefined> | PluginData | undefined;
  /** Runs for each request a middleware traces. */
  forRequest?(request: Request): PluginData | undefined;
}

/** Where a report to `onError` came from. */
export type ErrorSource =
  | "recording"
  | "export"
  | "config"
  | "plugin"
  | "sampling"
  | "context";

/** The error hook's signature. */
export type ErrorHandler = (error: Error, source: ErrorSource) => void;
