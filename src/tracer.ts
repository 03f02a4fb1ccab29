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
  PluginData,
  Sampler,
  SamplingRequest,
  Sender,
  TracerStats,
} from "./types.ts";
import { randomIds, systemClock } from "./ids.ts";
import { parseTraceHeader } from "./trace_header.ts";
import {
  type EntityContext,
  type Recorder,
  sanitizeName,
  Segment,
} from "./segment.ts";
import type { Entity } from "./segment.ts";
import { serialize } from "./document.ts";
import type { EntityData } from "./document.ts";
import { type BatcherOptions, createBatcher } from "./batcher.ts";
import { configFromEnv, type ContextMissing } from "./config.ts";
import { detectRuntime } from "./runtime/detect.ts";
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
  /** Environment variables (`AWS_XRAY_*`); explicit options win over them. */
  env?: Record<string, string | undefined>;
  /** An ambient context (`createAsyncContext()` from `xray-edge/als`) for `wrap` and integrations. */
  context?: EntityContext;
  /** What `wrap` does without a parent. @default "LOG_ERROR" */
  contextMissing?: ContextMissing;
  /** Queue and batching limits passed to the batcher. */
  batch?: Omit<BatcherOptions, "sender" | "onError">;
}

/** Options for `tracer.startSegment`. */
export interface StartSegmentOptions {
  /** The raw incoming `X-Amzn-Trace-Id` value (or null): continue that trace. */
  traceHeader?: string | null;
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

function checkInteger(
  name: string,
  value: number | undefined,
  min: number,
  max: number,
): void {
  if (value === undefined) return;
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < min ||
    value > max
  ) {
    throw new RangeError(
      `Cannot create tracer as '${name}' must be an integer from ${min} to ${max}: current value is ${
        String(value)
      }`,
    );
  }
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
  const env = options.env ? configFromEnv(options.env) : {};
  const rawName = options.serviceName ?? env.serviceName;
  if (typeof rawName !== "string" || sanitizeName(rawName).length === 0) {
    throw new TypeError(
      `Cannot create tracer as 'serviceName' must be a non-empty name (or set AWS_XRAY_TRACING_NAME): current value is ${
        JSON.stringify(rawName) ?? "undefined"
      }`,
    );
  }
  const serviceName = sanitizeName(rawName);
  checkInteger("streamingThreshold", options.streamingThreshold, 0, 10000);
  checkInteger("maxStackFrames", options.maxStackFrames, 0, 1000);
  const contextMissing = options.contextMissing ?? env.contextMissing ??
    "LOG_ERROR";
  if (
    !["RUNTIME_ERROR", "LOG_ERROR", "IGNORE_ERROR"].includes(contextMissing)
  ) {
    throw new RangeError(
      `Cannot create tracer as 'contextMissing' must be RUNTIME_ERROR, LOG_ERROR or IGNORE_ERROR: current value is '${contextMissing}'`,
    );
  }
  const plugins = options.plugins ?? [];
  for (const p of plugins) {
    if (typeof p !== "object" || p === null || typeof p.name !== "string") {
      throw new TypeError(
        `Cannot create tracer as every plugin must be an object with a name`,
      );
    }
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

  const batcher: Batcher = createBatcher({
    ...options.batch,
    sender,
    onError: reportError,
  });

  const runtime = detectRuntime();
  const service: Record<string, unknown> = { runtime: runtime.runtime };
  if (runtime.runtimeVersion) service.runtime_version = runtime.runtimeVersion;
  if (options.serviceVersion) service.version = options.serviceVersion;
  const sdk = { sdk: "xray-edge", sdk_version: VERSION };
  let pluginAws: Record<string, unknown> = {};
  let origin: string | undefined;
  let baseAws: Record<string, unknown> = { xray: sdk };
  let pluginsStarted: Promise<void> | undefined;

  function applyPluginData(data: PluginData | undefined): void {
    if (!data) return;
    if (data.origin) origin = data.origin;
    if (data.aws) pluginAws = { ...pluginAws, ...data.aws };
    baseAws = { ...pluginAws, xray: sdk };
  }

  function startPlugins(): Promise<void> {
    return pluginsStarted ??= Promise.all(plugins.map(async (p) => {
      if (!p.collect) return;
      try {
        applyPluginData(await p.collect());
      } catch (e) {
        reportError(
          new XRayError(`Plugin '${p.name}' failed: ${toError(e).message}`, {
            cause: e,
          }),
          "plugin",
        );
      }
    })).then(() => {});
  }

  const recorder: Recorder = {
    clock,
    ids,
    maxStackFrames: options.maxStackFrames ?? 10,
    streamingThreshold: options.streamingThreshold ?? 30,
    report: reportError,
    emit(data: EntityData, independent: boolean): void {
      try {
        const out = serialize(data, independent);
        if (out.truncated > 0) {
          truncated += out.truncated;
          reportError(
            new XRayError(
              `Cut fields of ${out.truncated} entit${
                out.truncated === 1 ? "y" : "ies"
              } in '${data.name}' to keep documents within 64 KB`,
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

  function decide(
    name: string,
    sampled: boolean | "requested" | undefined,
    opts: StartSegmentOptions | undefined,
  ): { sampled: boolean; ruleName?: string } {
    if (!enabled) return { sampled: false };
    if (typeof opts?.sampled === "boolean") return { sampled: opts.sampled };
    if (sampled === true || sampled === false) return { sampled };
    try {
      const request: SamplingRequest = { serviceName: name, ...opts?.sampling };
      if (origin && request.serviceType === undefined) {
        request.serviceType = origin;
      }
      const d = sampler.shouldSample(request);
      return { sampled: d.sampled === true, ruleName: d.ruleName };
    } catch (e) {
      reportError(e, "sampling");
      return { sampled: false };
    }
  }

  const tracer: Tracer = {
    serviceName,
    enabled,
    context,
    sampler,
    clock,
    collectSqlQueries: env.collectSqlQueries ?? false,
    plugins,
    startSegment(name?: string, opts?: StartSegmentOptions): Segment {
      if (plugins.length > 0 && !pluginsStarted) void startPlugins();
      let clean = name === undefined ? serviceName : sanitizeName(name);
      if (clean.length === 0) clean = serviceName;
      const incoming = opts?.traceHeader
        ? parseTraceHeader(opts.traceHeader)
        : undefined;
      const start = opts?.startTime;
      const now = typeof start === "number" && start >= 0 && start < 1e14
        ? start
        : clock.now();
      const decision = decide(clean, incoming?.sampled, opts);
      let aws = baseAws;
      if (decision.sampled && decision.ruleName) {
        aws = {
          ...baseAws,
          xray: { ...sdk, sampling_rule_name: decision.ruleName },
        };
      }
      const facade = opts?.facade === true;
      return new Segment({
        recorder,
        name: clean,
        traceId: incoming?.root ?? ids.traceId(now),
        id: facade && incoming?.parent ? incoming.parent : ids.segmentId(),
        parentId: facade ? undefined : incoming?.parent,
        sampled: decision.sampled,
        incoming,
        startMs: now,
        facade,
        ruleName: decision.ruleName,
        aws,
        service,
        origin,
      });
    },
    current(): Entity | undefined {
      const entity = context?.current();
      if (entity) return entity;
      const message = context
        ? "Cannot find a current segment or subsegment in the ambient context"
        : "Cannot find a current segment as the tracer has no ambient context";
      if (contextMissing === "RUNTIME_ERROR") throw new XRayError(message);
      if (contextMissing === "LOG_ERROR") {
        reportError(new XRayError(message), "context");
      }
      return undefined;
    },
    wrap<A extends unknown[], R>(
      name: string,
      fn: (...args: A) => R,
    ): (...args: A) => R {
      if (typeof fn !== "function") {
        throw new TypeError(`Cannot wrap '${name}' as it is not a function`);
      }
      return function traced(this: unknown, ...args: A): R {
        const first = args[0];
        let parent: Entity | undefined = context?.current();
        if (!parent && first instanceof Object && isEntity(first)) {
          parent = first;
        }
        if (!parent) parent = tracer.current();
        if (!parent) return fn.apply(this, args);
        return parent.capture(
          name,
          (sub) =>
            context
              ? context.run(sub, () => fn.apply(this, args))
              : fn.apply(this, args),
        );
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
      return polling
        ? Promise.all([delivered, polling.catch(() => {})]).then(([r]) => r)
        : delivered;
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
    ready(): Promise<void> {
      return plugins.length > 0 ? startPlugins() : Promise.resolve();
    },
    reportError,
  };
  return tracer;
}

function isEntity(value: object): value is Entity {
  return value instanceof Segment ||
    (typeof (value as Entity).capture === "function" &&
      typeof (value as Entity).traceHeaderFor === "function");
}
