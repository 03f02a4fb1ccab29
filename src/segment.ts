/**
 * Segment and Subsegment: mutable builders over a plain data tree. `end()`
 * hands finished data to the tracer, which turns it into documents.
 *
 * @module
 */

import { setKey } from "./_util.ts";
import type { Clock, ErrorSource, IdGenerator } from "./types.ts";
import {
  type EntityData,
  type ExceptionData,
  FLAG_ERROR,
  FLAG_FAULT,
  FLAG_THROTTLE,
  type HttpRequestData,
  type HttpResponseData,
  type SqlData,
  toWire,
} from "./document.ts";
import {
  formatTraceHeader,
  responseTraceHeader,
  type TraceHeader,
} from "./trace_header.ts";
import { parseStack } from "./stack.ts";
import { XRayError } from "./errors.ts";

/** The most annotations one document may hold. */
export const MAX_ANNOTATIONS = 50;
/** The longest annotation string value the schema accepts. */
export const MAX_ANNOTATION_VALUE_LENGTH = 1000;
/** The longest name kept. */
export const MAX_NAME_LENGTH = 200;
const MAX_FIELD_LENGTH = 250;
const MAX_MESSAGE_LENGTH = 4096;

/** Annotation values X-Ray indexes. */
export type AnnotationValue = string | number | boolean;

/** An ambient context that carries the current entity (see `xray-edge/als`). */
export interface EntityContext {
  /** Runs `fn` with `entity` as the current entity. */
  run<T>(entity: Entity, fn: () => T): T;
  /** The current entity, if any. */
  current(): Entity | undefined;
}

/**
 * What entities need from their tracer. Built by `createTracer`; not meant
 * to be implemented by users.
 */
export interface Recorder {
  /** Time source. */
  readonly clock: Clock;
  /** Id source. */
  readonly ids: IdGenerator;
  /** Frames kept per exception. */
  readonly maxStackFrames: number;
  /** Subsegments held before finished ones are streamed. */
  readonly streamingThreshold: number;
  /** Reports (and counts) a recording problem. */
  report(error: Error, source: ErrorSource): void;
  /** Serializes and queues an entity (and its remaining children). */
  emit(data: EntityData, independent: boolean): void;
}

/** Options for `startSubsegment` and `capture`. */
export interface SubsegmentOptions {
  /** `remote` for calls to other services, `aws` for AWS SDK calls. */
  namespace?: "remote" | "aws" | "local";
  /** Start time in epoch milliseconds. */
  startTime?: number;
}

/** The HTTP request fields of an entity (one shape for input and storage). */
export type HttpRequestInfo = HttpRequestData;

/** The HTTP response fields of an entity (one shape for input and storage). */
export type HttpResponseInfo = HttpResponseData;

/** Options for `addError`. */
export interface AddErrorOptions {
  /** The error came from a downstream service. */
  remote?: boolean;
}

// Letters and digits as the schema's (Unicode 8) name pattern knows them: the
// \p{…} classes minus characters assigned later (which the schema rejects),
// and nothing outside the Basic Multilingual Plane.
const NAME_STRIP =
  /[^\p{L}\p{N}\p{Z}_.:/%&#=+\-@]|[\u{10000}-\u{10FFFF}]|[\u0560\u0588\u05ef\u0860-\u086a\u0870-\u0887\u0889-\u088f\u08b5-\u08c9\u09fc\u0c5c\u0c5d\u0c80\u0cdc\u0cdd\u0d04\u0d54-\u0d56\u0d58-\u0d5e\u0d76-\u0d78\u0e86\u0e89\u0e8c\u0e8e-\u0e93\u0e98\u0ea0\u0ea8\u0ea9\u0eac\u170d\u171f\u1878\u1b4c\u1c80-\u1c8a\u1c90-\u1cba\u1cbd-\u1cbf\u1cf2\u1cf3\u1cfa\u2c2f\u2c5f\u312e\u312f\u31bb-\u31bf\u4db6-\u4dbf\u9fd6-\u9fff\ua7ae\ua7af\ua7b8-\ua7dc\ua7f1-\ua7f6\ua8fe\uab66-\uab69]/gu;
const NAME_SAFE = /^[A-Za-z0-9 _.:/%&#=+\-@]*$/;

/**
 * Keeps only the characters X-Ray's schema allows in a name (Unicode letters
 * and digits, spaces, `_ . : / % & # = + - @`) and cuts it to 200 characters.
 *
 * @param name The raw name.
 * @returns The clean name (possibly empty).
 */
export function sanitizeName(name: string): string {
  const s = typeof name === "string" ? name : safeString(name);
  const clean = NAME_SAFE.test(s) ? s : s.replace(NAME_STRIP, "");
  return clean.length > MAX_NAME_LENGTH
    ? clean.slice(0, MAX_NAME_LENGTH)
    : clean;
}

/** `String(value)` that never throws (null-prototype objects, throwing toString). */
function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return "";
  }
}

function cut(value: string, max: number): string {
  return value.length > max ? value.slice(0, max) : value;
}

/**
 * Removes `user:password@` from a URL (and, with `dropQuery`, the query and
 * fragment); leaves unparsable text as it is.
 *
 * @param url The URL.
 * @param dropQuery Also drop `?query` and `#fragment`.
 * @returns The clean URL.
 */
export function cleanUrl(url: string, dropQuery = false): string {
  let out = url;
  if (out.includes("@")) {
    try {
      const u = new URL(out);
      if (u.username || u.password) {
        u.username = "";
        u.password = "";
        out = u.href;
      }
    } catch {
      // Not a URL: keep as given.
    }
  }
  if (dropQuery) {
    const q = out.search(/[?#]/);
    if (q !== -1) out = out.slice(0, q);
  }
  return out;
}

const SQL_KEYS = [
  "connectionString",
  "url",
  "sanitizedQuery",
  "databaseType",
  "databaseVersion",
  "driverVersion",
  "user",
  "preparation",
] as const;

/** A time in epoch milliseconds that X-Ray can hold (0 to year 5138). */
function isTime(value: unknown): value is number {
  return typeof value === "number" && value >= 0 && value < 1e14;
}

/** Reads an option without letting a hostile options object throw. */
function option(options: unknown, key: string): unknown {
  if (options === null || typeof options !== "object") return undefined;
  try {
    return (options as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  if (
    value === null || (typeof value !== "object" && typeof value !== "function")
  ) return false;
  try {
    return typeof (value as { then?: unknown }).then === "function";
  } catch {
    return false;
  }
}

function isAnnotationKey(key: string): boolean {
  if (typeof key !== "string" || key.length === 0 || key.length > 500) {
    return false;
  }
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (
      !((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) ||
        c === 95)
    ) return false;
  }
  return true;
}

function describe(value: unknown): string {
  if (typeof value === "string") return `'${cut(value, 60)}'`;
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return "a function";
  if (value === null) return "null";
  if (typeof value === "object") {
    return Array.isArray(value) ? "an array" : "an object";
  }
  return safeString(value);
}

/** State shared by every entity of one trace. */
class Trace {
  readonly recorder: Recorder;
  readonly traceId: string;
  readonly data: Record<string, string>;
  readonly facade: boolean;
  /** Subsegments attached to the tree and not yet sent. */
  held = 0;
  rootEmitted = false;
  #errorIds: WeakMap<object, string> | undefined;

  constructor(
    recorder: Recorder,
    traceId: string,
    data: Record<string, string>,
    facade: boolean,
  ) {
    this.recorder = recorder;
    this.traceId = traceId;
    this.data = data;
    this.facade = facade;
  }

  exceptionId(error: unknown): string | undefined {
    return typeof error === "object" && error !== null
      ? this.#errorIds?.get(error)
      : undefined;
  }

  rememberException(error: unknown, id: string): void {
    if (typeof error === "object" && error !== null) {
      (this.#errorIds ??= new WeakMap()).set(error, id);
    }
  }

  subsegmentEnded(data: EntityData, parent: EntityData): void {
    const threshold = this.recorder.streamingThreshold;
    if (this.rootEmitted) {
      // The segment went out already: send this subtree on its own.
      detach(parent, data);
      this.held -= countTree(data);
      this.recorder.emit(data, true);
    } else if (this.held > threshold || this.facade) {
      this.held -= this.#streamFinished(this.root!);
    }
  }

  root: EntityData | undefined;

  #streamFinished(node: EntityData): number {
    const children = node.children;
    if (!children || children.length === 0) return 0;
    let streamed = 0;
    const keep: EntityData[] = [];
    for (const child of children) {
      if (child.endMs !== undefined && !hasOpen(child)) {
        this.recorder.emit(child, true);
        streamed += countTree(child);
      } else {
        keep.push(child);
        streamed += this.#streamFinished(child);
      }
    }
    node.children = keep;
    return streamed;
  }
}

function detach(parent: EntityData, child: EntityData): void {
  const list = parent.children;
  if (!list) return;
  const i = list.indexOf(child);
  if (i !== -1) list.splice(i, 1);
}

function countTree(data: EntityData): number {
  let n = 1;
  if (data.children) { for (const c of data.children) n += countTree(c); }
  return n;
}

function hasOpen(data: EntityData): boolean {
  if (!data.children) return false;
  for (const c of data.children) {
    if (c.endMs === undefined || hasOpen(c)) return true;
  }
  return false;
}

function newData(
  kind: "segment" | "subsegment",
  name: string,
  id: string,
  traceId: string,
  startMs: number,
  parentId: string | undefined,
): EntityData {
  return {
    kind,
    name,
    id,
    traceId,
    parentId,
    startMs,
    endMs: undefined,
    flags: 0,
    annotations: undefined,
    annotationCount: 0,
    metadata: undefined,
    children: undefined,
  };
}

/**
 * What segments and subsegments share: the recording API. Every method
 * returns the entity, never throws, and drops a bad recording whole
 * (reported through the tracer's `onError`). On unsampled entities every
 * recording call is a no-op.
 */
export abstract class Entity {
  /** The 16-hex-digit id. */
  readonly id: string;
  /** The sanitized name. */
  readonly name: string;
  #trace: Trace;
  #data: EntityData | undefined;
  #ended = false;
  #header: string | undefined;

  /** @internal */
  constructor(
    trace: Trace,
    id: string,
    name: string,
    data: EntityData | undefined,
  ) {
    this.#trace = trace;
    this.id = id;
    this.name = name;
    this.#data = data;
  }

  /** Whether this trace is sampled (recorded and sent). */
  get isSampled(): boolean {
    return this.#data !== undefined;
  }

  /** The trace id. */
  get traceId(): string {
    return this.#trace.traceId;
  }

  /** Whether `end()` was called. */
  get isEnded(): boolean {
    return this.#ended;
  }

  /** @internal The trace this entity belongs to. */
  protected get trace(): Trace {
    return this.#trace;
  }

  /** @internal The data, when sampled and not ended; reports recording after end. */
  protected writable(what: string): EntityData | undefined {
    const data = this.#data;
    if (data === undefined) return undefined;
    if (this.#ended) {
      this.#trace.recorder.report(
        new XRayError(`Cannot ${what} on '${this.name}' as it has ended`),
        "recording",
      );
      return undefined;
    }
    return data;
  }

  /** @internal Runs a recording step on user-supplied objects; reports what throws. */
  protected guarded(what: string, step: (data: EntityData) => void): this {
    const d = this.writable(what);
    if (!d) return this;
    try {
      step(d);
    } catch (e) {
      this.#trace.recorder.report(
        new XRayError(
          `Cannot ${what} on '${this.name}': ${
            safeString((e as Error)?.message)
          }`,
        ),
        "recording",
      );
    }
    return this;
  }

  /** @internal The raw data (undefined when unsampled). */
  protected get data(): EntityData | undefined {
    return this.#data;
  }

  /**
   * Adds an indexed annotation. Keys are `[A-Za-z0-9_]{1,500}`; values are
   * strings (≤ 1000 characters), finite numbers or booleans; at most 50.
   *
   * @param key The key.
   * @param value The value.
   * @returns This entity.
   */
  annotate(key: string, value: AnnotationValue): this {
    const data = this.#data;
    if (data === undefined) return this;
    const d = this.writable("annotate");
    if (!d) return this;
    let problem: string | undefined;
    if (!isAnnotationKey(key)) {
      problem = `Cannot annotate '${this.name}' as key ${
        describe(key)
      } is not 1 to 500 of A-Z, a-z, 0-9 and _`;
    } else if (
      !(typeof value === "boolean" ||
        (typeof value === "number" && Number.isFinite(value)) ||
        (typeof value === "string" &&
          value.length <= MAX_ANNOTATION_VALUE_LENGTH))
    ) {
      problem =
        `Cannot annotate '${this.name}' with '${key}' as the value must be a string of at most 1000 characters, a finite number or a boolean: current value is ${
          describe(value)
        }`;
    } else if (
      d.annotationCount >= MAX_ANNOTATIONS &&
      !(d.annotations && Object.hasOwn(d.annotations, key))
    ) {
      problem =
        `Cannot annotate '${this.name}' with '${key}' as it already holds ${MAX_ANNOTATIONS} annotations`;
    }
    if (problem) {
      this.#trace.recorder.report(new XRayError(problem), "recording");
      return this;
    }
    // A plain object: JSON.stringify writes null-prototype (dictionary-mode)
    // objects about twice as slowly in V8. Keys Object.prototype has (such as
    // "__proto__", a valid key) are defined, never assigned.
    const annotations = d.annotations ??= {};
    if (!Object.hasOwn(annotations, key)) d.annotationCount++;
    setKey(annotations, key, value);
    return this;
  }

  /**
   * Adds metadata (any value, stored JSON-safely when the document is written).
   *
   * @param key The key.
   * @param value Anything.
   * @param namespace The namespace; names starting with `AWS.` are reserved.
   * @returns This entity.
   */
  addMetadata(key: string, value: unknown, namespace = "default"): this {
    if (this.#data === undefined) return this;
    const d = this.writable("add metadata");
    if (!d) return this;
    if (
      typeof namespace !== "string" || namespace.startsWith("AWS.") ||
      typeof key !== "string"
    ) {
      this.#trace.recorder.report(
        new XRayError(
          `Cannot add metadata to '${this.name}' as namespace ${
            describe(namespace)
          } or key ${describe(key)} is not allowed`,
        ),
        "recording",
      );
      return this;
    }
    // Plain objects read with Object.keys (never for-in) when the document is
    // written: V8 enumerates null-prototype (dictionary) objects far slower.
    const metadata = d.metadata ??= {};
    let ns = Object.hasOwn(metadata, namespace)
      ? metadata[namespace]
      : undefined;
    if (ns === undefined) {
      ns = {};
      setKey(metadata, namespace, ns);
    }
    setKey(ns, key, value);
    return this;
  }

  /**
   * Records the HTTP request.
   *
   * @param request The request fields.
   * @returns This entity.
   */
  setHttpRequest(request: HttpRequestInfo): this {
    if (this.#data === undefined) return this;
    return this.guarded("set the HTTP request", (d) => {
      if (typeof request !== "object" || request === null) return;
      const { method, url, userAgent, clientIp, xForwardedFor, traced } =
        request;
      const r: HttpRequestData = { ...d.httpRequest };
      if (typeof method === "string") r.method = cut(method, MAX_FIELD_LENGTH);
      if (typeof url === "string") r.url = cut(cleanUrl(url), MAX_FIELD_LENGTH);
      if (typeof userAgent === "string") {
        r.userAgent = cut(userAgent, MAX_FIELD_LENGTH);
      }
      if (typeof clientIp === "string") {
        r.clientIp = cut(clientIp, MAX_FIELD_LENGTH);
      }
      if (xForwardedFor === true) r.xForwardedFor = true;
      if (typeof traced === "boolean") r.traced = traced;
      d.httpRequest = r;
    });
  }

  /**
   * Records the HTTP response and sets the flags its status implies.
   *
   * @param response The response fields.
   * @returns This entity.
   */
  setHttpResponse(response: HttpResponseInfo): this {
    if (this.#data === undefined) return this;
    return this.guarded("set the HTTP response", (d) => {
      if (typeof response !== "object" || response === null) return;
      const { status, contentLength } = response;
      const r: HttpResponseData = { ...d.httpResponse };
      if (
        typeof status === "number" && Number.isInteger(status) && status >= 0
      ) {
        r.status = status;
        if (status >= 500) d.flags |= FLAG_FAULT;
        else if (status === 429) d.flags |= FLAG_THROTTLE | FLAG_ERROR;
        else if (status >= 400) d.flags |= FLAG_ERROR;
      }
      if (
        typeof contentLength === "number" && Number.isFinite(contentLength) &&
        contentLength >= 0
      ) r.contentLength = contentLength;
      d.httpResponse = r;
    });
  }

  /**
   * Records an error as the entity's cause and sets `fault`. An error
   * already recorded elsewhere in the same trace is referenced by id.
   *
   * @param error Anything thrown.
   * @param options `remote` for errors from downstream services.
   * @returns This entity.
   */
  addError(error: unknown, options?: AddErrorOptions): this {
    if (this.#data === undefined) return this;
    const d = this.writable("add an error");
    if (!d) return this;
    d.flags |= FLAG_FAULT;
    const trace = this.#trace;
    const known = trace.exceptionId(error);
    if (known !== undefined) {
      if (!d.exceptions) d.causeId = known;
      return this;
    }
    const recorder = trace.recorder;
    const id = recorder.ids.segmentId();
    let message: string;
    let type: string;
    let stackText: string | undefined;
    try {
      if (
        error instanceof Error || (typeof error === "object" && error !== null)
      ) {
        const e = error as {
          message?: unknown;
          name?: unknown;
          stack?: unknown;
        };
        message = typeof e.message === "string"
          ? e.message
          : String(e.message ?? "");
        type = typeof e.name === "string" && e.name ? e.name : "Error";
        stackText = typeof e.stack === "string" ? e.stack : undefined;
      } else {
        message = safeString(error);
        type = typeof error;
      }
    } catch {
      message = "[unreadable error]";
      type = "Error";
    }
    const max = recorder.maxStackFrames;
    const all = stackText ? parseStack(stackText, max + 1000) : [];
    const exception: ExceptionData = {
      id,
      message: cut(message, MAX_MESSAGE_LENGTH),
      type: cut(type, MAX_FIELD_LENGTH),
      remote: option(options, "remote") === true,
      stack: all.length > max ? all.slice(0, max) : all,
    };
    if (all.length > max) exception.truncated = all.length - max;
    (d.exceptions ??= []).push(exception);
    d.causeId = undefined;
    trace.rememberException(error, id);
    return this;
  }

  /**
   * Records SQL query details (`sql` block).
   *
   * @param sql The fields.
   * @returns This entity.
   */
  setSql(sql: SqlData): this {
    if (this.#data === undefined) return this;
    return this.guarded("set SQL", (d) => {
      if (typeof sql !== "object" || sql === null) return;
      const out: SqlData = { ...d.sql };
      for (const k of SQL_KEYS) {
        const v = sql[k];
        if (typeof v === "string") {
          (out as Record<string, string>)[k] = k === "user"
            ? cut(v, MAX_FIELD_LENGTH)
            : v;
        }
      }
      if (out.url) out.url = cleanUrl(out.url);
      if (out.connectionString) {
        out.connectionString = cleanUrl(out.connectionString);
      }
      d.sql = out;
    });
  }

  /**
   * Merges fields into the `aws` block (operation, region, request id, …).
   *
   * @param aws The fields, snake_case as X-Ray shows them.
   * @returns This entity.
   */
  setAws(aws: Record<string, unknown>): this {
    if (this.#data === undefined) return this;
    return this.guarded("set AWS data", (d) => {
      if (typeof aws !== "object" || aws === null) return;
      // Spread copies own keys as data (a "__proto__" key stays a key).
      d.aws = { ...d.aws, ...aws };
    });
  }

  /** Sets the `error` flag (a client error, 4xx). @returns This entity. */
  addErrorFlag(): this {
    const d = this.#data && this.writable("set the error flag");
    if (d) d.flags |= FLAG_ERROR;
    return this;
  }

  /** Sets the `fault` flag (a server error, 5xx). @returns This entity. */
  addFaultFlag(): this {
    const d = this.#data && this.writable("set the fault flag");
    if (d) d.flags |= FLAG_FAULT;
    return this;
  }

  /** Sets the `throttle` flag (429). @returns This entity. */
  addThrottleFlag(): this {
    const d = this.#data && this.writable("set the throttle flag");
    if (d) d.flags |= FLAG_THROTTLE;
    return this;
  }

  /**
   * Starts a subsegment of this entity.
   *
   * @param name The name (sanitized like segment names).
   * @param options Namespace and start time.
   * @returns The subsegment; end it with `end()`.
   */
  startSubsegment(name: string, options?: SubsegmentOptions): Subsegment {
    const trace = this.#trace;
    const recorder = trace.recorder;
    const id = recorder.ids.segmentId();
    const parent = this.#data;
    if (parent === undefined) {
      return new Subsegment(trace, id, name, undefined, this);
    }
    let clean = sanitizeName(name);
    if (clean.length === 0) {
      recorder.report(
        new XRayError(
          `Cannot name a subsegment ${describe(name)}: using 'unnamed'`,
        ),
        "recording",
      );
      clean = "unnamed";
    }
    const startTime = option(options, "startTime");
    const data = newData(
      "subsegment",
      clean,
      id,
      trace.traceId,
      isTime(startTime) ? startTime : recorder.clock.now(),
      this.id,
    );
    const namespace = option(options, "namespace");
    if (
      namespace === "remote" || namespace === "aws" || namespace === "local"
    ) {
      data.namespace = namespace;
    }
    (parent.children ??= []).push(data);
    trace.held++;
    return new Subsegment(trace, id, clean, data, this);
  }

  /**
   * Runs `fn` inside a new subsegment, ends it when `fn` returns or its
   * promise settles, records a thrown error and rethrows it unchanged.
   *
   * @param name The subsegment name.
   * @param fn The work, given the subsegment.
   * @param options Namespace and start time.
   * @returns Whatever `fn` returns.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { createTracer } from "../mod.ts";
   * import { memorySender } from "./testing.ts";
   * const sender = memorySender();
   * const tracer = createTracer({ serviceName: "shop", sender });
   * const segment = tracer.startSegment("shop", { sampled: true });
   * const total = await segment.capture("price", async (sub) => {
   *   sub.annotate("items", 3);
   *   return 42;
   * });
   * segment.end();
   * await tracer.flush();
   * assert.equal(total, 42);
   * assert.equal(sender.documents[0].subsegments[0].name, "price");
   * ```
   */
  capture<T>(
    name: string,
    fn: (subsegment: Subsegment) => T,
    options?: SubsegmentOptions,
  ): T {
    const sub = this.startSubsegment(name, options);
    let result: T;
    try {
      result = fn(sub);
    } catch (error) {
      sub.addError(error);
      sub.end();
      throw error;
    }
    if (isThenable(result)) {
      return (result as unknown as Promise<unknown>).then(
        (value) => {
          sub.end();
          return value;
        },
        (error) => {
          sub.addError(error);
          sub.end();
          throw error;
        },
      ) as T;
    }
    sub.end();
    return result;
  }

  /**
   * Ends the entity. A second call is reported and ignored.
   *
   * @param endTime The end in epoch milliseconds (default: now).
   */
  end(endTime?: number): void {
    if (this.#ended) {
      if (this.#data) {
        this.#trace.recorder.report(
          new XRayError(`Cannot end '${this.name}' as it has ended`),
          "recording",
        );
      }
      return;
    }
    this.#ended = true;
    const d = this.#data;
    if (d === undefined) return;
    d.endMs = isTime(endTime) ? endTime : this.#trace.recorder.clock.now();
    this.ended(d);
  }

  /** @internal What happens to the data after `end()`. */
  protected abstract ended(data: EntityData): void;

  /**
   * The `X-Amzn-Trace-Id` value a downstream call made from this entity
   * should carry: Root, this entity as Parent, Sampled, and the incoming
   * extra data (such as `Lineage`).
   *
   * @returns The header value.
   */
  traceHeaderFor(): string {
    return this.#header ??= formatTraceHeader({
      root: this.#trace.traceId,
      parent: this.id,
      sampled: this.#data !== undefined,
      data: this.#trace.data,
    });
  }

  /**
   * The entity as an X-Ray document object (a snapshot; open entities carry
   * `in_progress: true`).
   *
   * @returns The document object, or `undefined` when unsampled.
   */
  toDocument(): Record<string, unknown> | undefined {
    const d = this.#data;
    return d === undefined
      ? undefined
      : toWire(d, { independent: d.kind === "subsegment" });
  }
}

/** Options the tracer passes when it creates a segment. */
export interface SegmentInit {
  /** The recorder (tracer internals). */
  recorder: Recorder;
  /** The clean name. */
  name: string;
  /** Trace id. */
  traceId: string;
  /** This segment's id. */
  id: string;
  /** The upstream parent id. */
  parentId?: string;
  /** Whether sampled. */
  sampled: boolean;
  /** The parsed incoming header. */
  incoming?: TraceHeader;
  /** Start, epoch ms. */
  startMs: number;
  /** Never send the segment itself (Lambda). */
  facade?: boolean;
  /** The rule that sampled it. */
  ruleName?: string;
  /** `aws` block to start with (SDK info, plugins). */
  aws?: Record<string, unknown>;
  /** `service` block. */
  service?: Record<string, unknown>;
  /** Segment origin. */
  origin?: string;
}

/** A segment: the work one service does for one request. */
export class Segment extends Entity {
  /** The parsed incoming trace header, if the request had one. */
  readonly incoming: TraceHeader | undefined;
  /** The sampling rule that decided, if any. */
  readonly ruleName: string | undefined;
  /** Whether this is a facade (never sent itself, as on Lambda). */
  readonly isFacade: boolean;

  /** @internal Use `tracer.startSegment()`. */
  constructor(init: SegmentInit) {
    const data = init.sampled
      ? newData(
        "segment",
        init.name,
        init.id,
        init.traceId,
        init.startMs,
        init.parentId,
      )
      : undefined;
    const trace = new Trace(
      init.recorder,
      init.traceId,
      init.incoming?.data ?? {},
      init.facade === true,
    );
    super(trace, init.id, init.name, data);
    trace.root = data;
    this.incoming = init.incoming;
    this.ruleName = init.ruleName;
    this.isFacade = init.facade === true;
    if (data) {
      if (init.aws) data.aws = init.aws;
      if (init.service) data.service = init.service;
      if (init.origin) data.origin = init.origin;
    }
  }

  /**
   * Records the user (at most 250 characters).
   *
   * @param user The user id.
   * @returns This segment.
   */
  setUser(user: string): this {
    if (this.data === undefined) return this;
    const d = this.writable("set the user");
    if (d && typeof user === "string") d.user = cut(user, MAX_FIELD_LENGTH);
    return this;
  }

  /**
   * Sets the segment origin, such as `AWS::EC2::Instance`.
   *
   * @param origin The origin.
   * @returns This segment.
   */
  setOrigin(origin: string): this {
    if (this.data === undefined) return this;
    const d = this.writable("set the origin");
    if (d && typeof origin === "string") d.origin = origin;
    return this;
  }

  /**
   * The `X-Amzn-Trace-Id` response header: `Root=…`, with `;Sampled=0|1`
   * when the request asked with `Sampled=?`.
   *
   * @returns The header value.
   */
  responseTraceHeader(): string {
    return responseTraceHeader(this.traceId, this.isSampled, this.incoming);
  }

  /** @internal */
  protected ended(data: EntityData): void {
    const trace = this.trace;
    if (trace.facade) return;
    trace.rootEmitted = true;
    trace.recorder.emit(data, false);
  }
}

/** A subsegment: one piece of work (a call, a query, a block) inside a segment. */
export class Subsegment extends Entity {
  /** The entity this subsegment belongs to. */
  readonly parent: Entity;

  /** @internal Use `entity.startSubsegment()` or `capture()`. */
  constructor(
    trace: Trace,
    id: string,
    name: string,
    data: EntityData | undefined,
    parent: Entity,
  ) {
    super(trace, id, name, data);
    this.parent = parent;
  }

  /** @internal */
  protected ended(data: EntityData): void {
    const parentData = (this.parent as Subsegment).data;
    if (parentData) this.trace.subsegmentEnded(data, parentData);
  }
}

export type { Trace };
