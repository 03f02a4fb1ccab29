/**
 * `createTracer`: sampling decisions, plugins, error reporting, and the hand-
 * off from finished segments to the batcher and sender.
 *
 * @module
 */

import type {
  Batcher,
  Clock,
  ErrorHandler,
  ErrorSource,
  FlushOptions,
  FlushResult,
  IdGenerator,
  Plugin,
  Sampler,
  SamplingRequest,
  Sender,
  TracerStats,
} from "./types.ts";
import { randomIds, systemClock } from "./ids.ts";
import { timeOr } from "./_util.ts";
import { parseTraceHeader, type TraceHeader } from "./trace_header.ts";
import {
  type EntityContext,
  type Recorder,
  sanitizeName,
  Segment,
} from "./segment.ts";
import type { Entity } from "./segment.ts";
import { serialize } from "./document.ts";
import { toJsonSafe } from "./metadata.ts";
import type { EntityData } from "./document.ts";
import { type BatcherOptions, createBatcher } from "./batcher.ts";
import {
  checkContextMissing,
  type ContextMissing,
  tracerEnv,
} from "./config.ts";
import { detectRuntime } from "./runtime/detect.ts";
import { envVar } from "./runtime/env_var.ts";
import { toError, XRayError } from "./errors.ts";
import { daemonUrl, unsignedSender } from "./senders/_put_trace_segments.ts";
import { defaultSampler } from "./sampling/_default.ts";
import { VERSION } from "./version.ts";

/** Options for {@linkcode createTracer}. */
export interface TracerOptions {
  /** The default segment name; `AWS_XRAY_TRACING_NAME` when absent. Required one way or the other. */
  serviceName?: string;
  /** The service version, written as `service.version`. */
  serviceVersion?: string;
  /** Where documents go. @default daemonSender() (HTTP to 127.0.0.1:2000) */
  sender?: Sender;
  /** Decides which requests are traced. @default 1 request/second + 5 % */
  sampler?: Sampler;
  /** Environment data collectors (EC2, ECS, Workers, …). */
  plugins?: Plugin[];
  /** Receives recording and export problems. @default a `console.warn` line */
  onError?: ErrorHandler;
  /** The time source (epoch milliseconds). */
  clock?: Clock;
  /** The id source. */
  ids?: IdGenerator;
  /** Subsegments a segment holds before finished ones are sent on their own. @default 30 */
  streamingThreshold?: number;
  /** Stack frames kept per exception. @default 10 */
  maxStackFrames?: number;
  /** Turn tracing off: segments are unsampled, nothing is sent. @default true */
  enabled?: boolean;
  /**
   * Where the `AWS_XRAY_*` variables come from: a record (a Workers `env`
   * binding, `process.env`), or `false` to read none. Explicit options win
   * over them.
   * @default the runtime's environment, read when the tracer is created
   * (`process.env`; `Deno.env` where Deno grants it, never prompting)
   */
  env?: Record<string, string | undefined> | false;
  /** An ambient context (`createAsyncContext()` from `xray-edge/als`) for `wrap` and integrations. */
  context?: EntityContext;
  /** What `wrap` does without a parent. @default "LOG_ERROR" */
  contextMissing?: ContextMissing;
  /** Queue and batching limits passed to the batcher. */
  batch?: Omit<BatcherOptions, "sender" | "onError">;
  /**
   * Trace-context formats read and written besides `X-Amzn-Trace-Id`, which
   * is always read first and wins: `[w3c()]` from `xray-edge/w3c` adds W3C
   * Trace Context (`traceparent` / `tracestate`).
   * @default [] (X-Ray only)
   */
  propagation?: readonly Propagator[];
}

/**
 * Request headers as a propagator reads them: a `Headers` (anything with
 * `get`), or a function from a lower-case name to the value (several joined
 * by `, `), null or undefined.
 */
export type HeaderGetter =
  | { get(name: string): string | null | undefined }
  | ((name: string) => string | null | undefined);

/**
 * Reads a trace context besides `X-Amzn-Trace-Id`, such as W3C
 * `traceparent` (`w3c()` from `xray-edge/w3c`). Called for every segment
 * with the parsed X-Ray header (if any) and the request headers (when the
 * integration has them); returns the header the segment continues. A
 * propagator that throws is reported (source `config`) and skipped.
 */
export type Propagator = (
  header: TraceHeader | undefined,
  headers: HeaderGetter | undefined,
) => TraceHeader | undefined;

/** Options for `tracer.startSegment`. */
export interface StartSegmentOptions {
  /** The raw incoming `X-Amzn-Trace-Id` value (or null): continue that trace. */
  traceHeader?: string | null;
  /** The request headers, for the tracer's `propagation` (W3C `traceparent`). */
  headers?: HeaderGetter;
  /** What the sampler sees (host, method, path, …). */
  sampling?: SamplingRequest;
  /** Force the decision (tests, or an upstream decision known otherwise). */
  sampled?: boolean;
  /** Start time, epoch milliseconds. */
  startTime?: number;
  /** Never send the segment itself; stream every subsegment (Lambda). */
  facade?: boolean;
}

/** A tracer: creates segments and owns their delivery. */
export interface Tracer {
  /** The default segment name. */
  readonly serviceName: string;
  /** Whether tracing is on. */
  readonly enabled: boolean;
  /** The ambient context, when one was given. */
  readonly context: EntityContext | undefined;
  /** The sampler in use. */
  readonly sampler: Sampler;
  /** The clock in use. */
  readonly clock: Clock;
  /** `AWS_XRAY_COLLECT_SQL_QUERIES` or the explicit setting. */
  readonly collectSqlQueries: boolean;
  /** The plugins given. */
  readonly plugins: readonly Plugin[];
  /**
   * Starts a segment for one request.
   *
   * @param name The segment name (default: the service name).
   * @param options Incoming header, sampling input, start time.
   * @returns The segment; call `end()` when the response is done.
   */
  startSegment(name?: string, options?: StartSegmentOptions): Segment;
  /**
   * Returns a traced version of `fn` (the Python `@capture` decorator). The
   * parent is the ambient context's current entity, or else `fn`'s first
   * argument when that is a segment or subsegment.
   */
  wrap<A extends unknown[], R>(
    name: string,
    fn: (...args: A) => R,
  ): (...args: A) => R;
  /** The current entity of the ambient context (and the context-missing policy when none). */
  current(): Entity | undefined;
  /** Delivers what is queued, and waits for the sampler's pending polls. Never rejects. */
  flush(options?: FlushOptions): Promise<FlushResult>;
  /** Flushes and releases the sender. Never rejects. */
  shutdown(options?: FlushOptions): Promise<FlushResult>;
  /** Counters: queued, sent, retried, dropped by reason, truncated, rejected recordings. */
  stats(): TracerStats;
  /** Resolves when every plugin has collected its data. Never rejects. */
  ready(): Promise<void>;
  /** Reports a problem through `onError` (integrations use it). Never throws. */
  reportError(error: unknown, source: ErrorSource): void;
}

function defaultOnError(error: Error, source: ErrorSource): void {
  console.warn(`xray-edge (${source}): ${error.message}`);
}

// A count option, checked, or its default.
function count(
  options: TracerOptions,
  name: "streamingThreshold" | "maxStackFrames",
  fallback: number,
  max: number,
): number {
  const value = options[name];
  if (value === undefined) return fallback;
  if (!(Number.isInteger(value) && value >= 0 && value <= max)) {
    throw new RangeError(
      `Cannot create tracer as '${name}' must be an integer from 0 to ${max}: current value is ${
        String(value)
      }`,
    );
  }
  return value;
}

/**
 * Creates a tracer. Nothing global is touched; any number can live side by
 * side.
 *
 * @param options Service name, sender, sampler, plugins, hooks.
 * @returns The tracer.
 * @throws {TypeError} When no service name is given or found in `env`.
 * @throws {RangeError} For out-of-range limits or malformed `AWS_XRAY_*` values.
 *
 * @example A traced request
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "./tracer.ts";
 * import { memorySender } from "./testing.ts";
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "checkout", sender });
 * const segment = tracer.startSegment("checkout", {
 *   traceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
 * });
 * segment.annotate("customer", "c-42");
 * segment.setHttpResponse({ status: 200 });
 * segment.end();
 * await tracer.flush();
 * assert.equal(sender.documents[0].trace_id, "1-5759e988-bd862e3fe1be46a994272793");
 * assert.deepEqual(sender.documents[0].annotations, { customer: "c-42" });
 * ```
 */
export function createTracer(options: TracerOptions = {}): Tracer {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`Cannot create tracer as options must be an object`);
  }
  const env = tracerEnv(
    options.env === undefined ? envVar : options.env || undefined,
  );
  const rawName = options.serviceName ?? env.serviceName;
  const serviceName = typeof rawName === "string" ? sanitizeName(rawName) : "";
  if (!serviceName) {
    throw new TypeError(
      `Cannot create tracer as 'serviceName' must be a non-empty name (or set AWS_XRAY_TRACING_NAME): current value is ${
        JSON.stringify(rawName)
      }`,
    );
  }
  const streamingThreshold = count(options, "streamingThreshold", 30, 10000);
  const maxStackFrames = count(options, "maxStackFrames", 10, 1000);
  const contextMissing = checkContextMissing(
    options.contextMissing ?? env.contextMissing ?? "LOG_ERROR",
    "create tracer",
    "contextMissing",
  );
  const plugins = options.plugins ?? [];
  if (
    plugins.some((p) => typeof p !== "object" || typeof p?.name !== "string")
  ) {
    throw new TypeError(
      `Cannot create tracer as every plugin must be an object with a name`,
    );
  }
  const enabled = options.enabled ?? env.enabled ?? true;
  const clock = options.clock ?? systemClock;
  const ids = options.ids ?? randomIds;
  const userOnError = options.onError ?? defaultOnError;
  // daemonSender({ address: env.daemonAddress?.tcp }), without pulling in the
  // parsing of every address form daemonSender accepts.
  const sender = options.sender ??
    unsignedSender(daemonUrl(env.daemonAddress?.tcp));
  const sampler = options.sampler ?? defaultSampler(clock);
  const context = options.context;
  let rejectedRecordings = 0;
  let truncated = 0;

  function reportError(error: unknown, source: ErrorSource): void {
    if (source === "recording") rejectedRecordings++;
    try {
      userOnError(toError(error), source);
    } catch {
      // A throwing hook must not reach the request path.
    }
  }

  const { runtime, runtimeVersion } = detectRuntime();
  const batcher: Batcher = createBatcher({
    // Long-running servers send a partial batch within a second (an unref'd
    // timer); Workers flush through waitUntil, Lambda through its wrapper.
    flushIntervalMs: runtime === "workerd" ? 0 : 1000,
    ...options.batch,
    sender,
    onError: reportError,
  });

  const service: Record<string, unknown> = { runtime };
  if (runtimeVersion) service.runtime_version = runtimeVersion;
  if (options.serviceVersion) service.version = options.serviceVersion;
  const sdk = { sdk: "xray-edge", sdk_version: VERSION };
  let pluginAws: Record<string, unknown> = {};
  let origin: string | undefined;
  let baseAws: Record<string, unknown> = { xray: sdk };
  // The aws block of sampled segments, by sampling rule (made once per rule,
  // again when plugin data arrives; documents never change it in place).
  let ruleAws = new Map<string, Record<string, unknown>>();
  let pluginsStarted: Promise<void> | undefined;

  const startPlugins = (): Promise<void> =>
    pluginsStarted ??= Promise.all(plugins.map(async (p) => {
      try {
        const data = await p.collect?.();
        if (data) {
          origin = data.origin || origin;
          pluginAws = { ...pluginAws, ...toJsonSafe(data.aws) as object };
          baseAws = { ...pluginAws, xray: sdk };
          ruleAws = new Map();
        }
      } catch (e) {
        reportError(
          new XRayError(`Plugin '${p.name}' failed: ${toError(e).message}`, {
            cause: e,
          }),
          "plugin",
        );
      }
    })).then(() => {});

  const recorder: Recorder = {
    clock,
    ids,
    maxStackFrames,
    streamingThreshold,
    report: reportError,
    emit(data: EntityData, independent: boolean): void {
      try {
        const out = serialize(data, independent);
        const cut = out.truncated;
        if (cut > 0) {
          truncated += cut;
          reportError(
            new XRayError(
              `Truncated ${cut} of the entities in '${data.name}' to keep documents within 64 KB`,
            ),
            "export",
          );
        }
        for (const doc of out.documents) batcher.enqueue(doc);
      } catch (e) {
        reportError(e, "export");
      }
    },
  };

  const tracer: Tracer = {
    serviceName,
    enabled,
    context,
    sampler,
    clock,
    collectSqlQueries: env.collectSqlQueries ?? false,
    plugins,
    startSegment(name?: string, opts?: StartSegmentOptions): Segment {
      startPlugins();
      let traceHeader, sampling, forced, startTime, facade, headers;
      try {
        // Read once: getters (or a proxy) that throw leave the rest default.
        ({
          traceHeader,
          sampling,
          sampled: forced,
          startTime,
          facade,
          headers,
        } = opts ?? {});
      } catch (e) {
        reportError(e, "recording");
      }
      // (The service name is sanitized already.)
      const clean = name === undefined || name === serviceName
        ? serviceName
        : sanitizeName(name) || serviceName;
      let incoming = parseTraceHeader(traceHeader);
      for (const p of options.propagation ?? []) {
        try {
          incoming = p(incoming, headers);
        } catch (e) {
          reportError(e, "config");
        }
      }
      // An explicit decision, else the upstream one (Sampled=1/0), else the
      // sampler's (no header, or Sampled=?).
      let sampled: unknown = !enabled
        ? false
        : typeof forced === "boolean"
        ? forced
        : incoming?.sampled;
      let ruleName: string | undefined;
      if (typeof sampled !== "boolean") {
        try {
          // The sampler sees the segment's (sanitized) name: the caller's
          // object when it names it already, else a copy that does.
          const request: SamplingRequest =
            sampling?.serviceName === clean && !origin
              ? sampling
              : { ...sampling, serviceName: clean };
          if (origin) request.serviceType ??= origin;
          const d = sampler.shouldSample(request);
          sampled = d.sampled === true;
          ruleName = d.ruleName;
        } catch (e) {
          reportError(e, "sampling");
          sampled = false;
        }
      }
      facade = facade === true;
      // The clock is read for sampled segments only (an unsampled one needs
      // a time only if asked for a new trace id).
      const now = sampled ? timeOr(clock, startTime) : startTime;
      return new Segment({
        recorder,
        name: clean,
        // Unsampled segments make their ids only when asked for.
        traceId: incoming?.root ?? (sampled ? ids.traceId(now!) : undefined),
        id: (facade && incoming?.parent) ||
          (sampled ? ids.segmentId() : undefined),
        parentId: facade ? undefined : incoming?.parent,
        sampled: sampled as boolean,
        incoming,
        startMs: now,
        facade,
        ruleName,
        aws: sampled && ruleName
          ? ruleAws.get(ruleName) ??
            ruleAws.set(ruleName, {
              ...baseAws,
              xray: { ...sdk, sampling_rule_name: ruleName },
            }).get(ruleName)
          : baseAws,
        service,
        origin,
      });
    },
    current(): Entity | undefined {
      const entity = context?.current();
      if (!entity && contextMissing !== "IGNORE_ERROR") {
        const error = new XRayError(
          "Cannot find a current segment" +
            (context
              ? " in the ambient context"
              : " as the tracer has no ambient context"),
        );
        if (contextMissing === "RUNTIME_ERROR") throw error;
        reportError(error, "context");
      }
      return entity;
    },
    wrap<A extends unknown[], R>(
      name: string,
      fn: (...args: A) => R,
    ): (...args: A) => R {
      if (typeof fn !== "function") {
        throw new TypeError(`Cannot wrap '${name}' as it is not a function`);
      }
      return function traced(this: unknown, ...args: A): R {
        const call = (): R => fn.apply(this, args);
        // The ambient context's entity, else a segment or subsegment passed
        // first, else what the context-missing policy gives.
        const first = args[0] as Entity;
        const parent = context?.current() ??
          (first instanceof Object && typeof first.capture === "function" &&
              typeof first.traceHeaderFor === "function"
            ? first
            : tracer.current());
        return parent
          ? parent.capture(
            name,
            (sub) => context ? context.run(sub, call) : call(),
          )
          : call();
      };
    },
    flush(opts?: FlushOptions): Promise<FlushResult> {
      // Sampling polls started by requests (centralized rules/targets) settle
      // too, so one `ctx.waitUntil(tracer.flush())` covers all of a request's I/O.
      let polling: Promise<void> | undefined;
      try {
        polling = sampler.pending?.();
      } catch (e) {
        reportError(e, "sampling");
      }
      const delivered = batcher.flush(opts);
      const done = () => delivered;
      return polling ? polling.then(done, done) : delivered;
    },
    shutdown(opts?: FlushOptions): Promise<FlushResult> {
      return batcher.shutdown(opts);
    },
    stats(): TracerStats {
      const s = batcher.stats();
      s.truncated += truncated;
      s.rejectedRecordings += rejectedRecordings;
      return s;
    },
    ready: startPlugins,
    reportError,
  };
  return tracer;
}
