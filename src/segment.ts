/**
 * Segment and Subsegment: mutable builders over a plain data tree. `end()`
 * hands finished data to the tracer, which turns it into documents.
 *
 * @module
 */

import { setKey, timeOr } from "./_util.ts";
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
import { toJsonSafe } from "./metadata.ts";
import { XRayError } from "./errors.ts";

/** The most annotations one document may hold. */
export const MAX_ANNOTATIONS = 50;
/** The longest annotation string value the schema accepts. */
export const MAX_ANNOTATION_VALUE_LENGTH = 1000;
/** The longest name kept. */
export const MAX_NAME_LENGTH = 200;
/**
 * The most levels of subsegments recorded below a segment: deeper ones are
 * not recorded (reported once where the tree is cut), so recording and
 * serialization never recurse deeper than this.
 */
export const MAX_DEPTH = 256;
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

/** The HTTP request fields `setHttpRequest` takes. */
export type HttpRequestInfo = HttpRequestData;

/** The HTTP response fields `setHttpResponse` takes. */
export type HttpResponseInfo = HttpResponseData;

/** Options for `addError`. */
export interface AddErrorOptions {
  /** The error came from a downstream service. */
  remote?: boolean;
}

// Letters and digits as the schema's (Unicode 8) name pattern knows them: the
// \p{…} classes minus characters assigned later (which the schema rejects),
// and nothing outside the Basic Multilingual Plane. The later ones are listed
// as ranges that may also span characters no engine counts as letters or
// digits (those go anyway), which keeps the list short.
const NAME_STRIP =
  /[^\p{L}\p{N}\p{Z}_.:/%&#=+\-@]|[\u0560\u0588\u05ef\u0860-\u088f\u08b5-\u08c9\u09fc\u0c5c\u0c5d\u0c80\u0cdc\u0cdd\u0d04\u0d54-\u0d5e\u0d76-\u0d78\u0e86\u0e89\u0e8c\u0e8e-\u0e93\u0e98\u0ea0\u0ea8\u0ea9\u0eac\u170d\u171f\u1878\u1b4c\u1c80-\u1cbf\u1cf2\u1cf3\u1cfa\u2c2f\u2c5f\u312e\u312f\u31bb-\u31bf\u4db6-\u4dbf\u9fd6-\u9fff\ua7ae\ua7af\ua7b8-\ua7f6\ua8fe\uab66-\uab69\u{10000}-\u{10ffff}]/gu;
const NAME_SAFE = /^[A-Za-z0-9 _.:/%&#=+\-@]*$/;
/** What an annotation key must be: 1 to 500 of A-Z, a-z, 0-9 and _. @internal */
export const ANNOTATION_KEY: RegExp = /^\w{1,500}$/;

/**
 * Keeps only the characters X-Ray's schema allows in a name (Unicode letters
 * and digits, spaces, `_ . : / % & # = + - @`) and cuts it to 200 characters.
 *
 * @param name The raw name.
 * @returns The clean name (possibly empty).
 */
export function sanitizeName(name: string): string {
  const s = typeof name === "string" ? name : safeString(name);
  return cut(
    NAME_SAFE.test(s) ? s : s.replace(NAME_STRIP, ""),
    MAX_NAME_LENGTH,
  );
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

function isObject(value: unknown): value is object {
  return typeof value === "object" && value !== null;
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
        u.username = u.password = "";
        out = u.href;
      }
    } catch {
      // Not a URL: keep as given.
    }
  }
  return dropQuery ? out.replace(/[?#][^]*/, "") : out;
}

/** Reads a property without letting a hostile object (or `null`) throw. */
function read(value: unknown, key: string): unknown {
  try {
    return (value as Record<string, unknown> | undefined)?.[key];
  } catch {
    // A throwing getter or proxy counts as absent.
  }
}

/** A value as an error message quotes it. */
function describe(value: unknown): string {
  return typeof value === "string"
    ? `'${cut(value, 60)}'`
    : typeof value === "function"
    ? "a function"
    : isObject(value)
    ? Array.isArray(value) ? "an array" : "an object"
    : safeString(value) + (typeof value === "bigint" ? "n" : "");
}

/**
 * State shared by every entity of one trace: the tracer's options for the
 * segment (a fresh object per segment: `recorder`, `traceId`, `incoming`,
 * `facade`, …) with these fields added.
 */
interface Trace extends SegmentInit {
  /** The segment's data (undefined when unsampled). */
  root?: EntityData;
  /** Whether the segment's own document went out. */
  sent?: boolean;
  /** Subsegments attached to the tree and not yet sent. */
  held: number;
  /** Whether a subsegment was refused as too deep. */
  cut?: boolean;
  /** Ids of recorded exceptions by error object, for cause references. */
  errors?: WeakMap<object, string>;
}

function report(trace: Trace, message: string): void {
  trace.recorder.report(new XRayError(message), "recording");
}

/** `n` plus the entities in a tree (an `Array#reduce` callback). */
function countTree(n: number, data: EntityData): number {
  return data.children?.reduce(countTree, n + 1) ?? n + 1;
}

/** Whether the entity or any descendant is still open. */
function isOpen(data: EntityData): boolean {
  return data.endMs === undefined || !!data.children?.some(isOpen);
}

/** Sends the finished subtrees below `node` on their own; counts them. */
function streamFinished(trace: Trace, node: EntityData): number {
  let sent = 0;
  node.children = node.children?.filter((child) => {
    if (isOpen(child)) {
      sent += streamFinished(trace, child);
      return true;
    }
    trace.recorder.emit(child, true);
    sent += countTree(0, child);
    return false;
  });
  return sent;
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

// Recording steps: each checks its input and writes it into the entity's
// data, or returns why it refused (the end of a "Cannot …" message).

function putAnnotation(
  d: EntityData,
  key: string,
  value: AnnotationValue,
): string | void {
  if (typeof key !== "string" || !ANNOTATION_KEY.test(key)) {
    return ` as key ${describe(key)} is not [A-Za-z0-9_]{1,500}`;
  }
  if (
    !(typeof value === "boolean" || Number.isFinite(value) ||
      (typeof value === "string" &&
        value.length <= MAX_ANNOTATION_VALUE_LENGTH))
  ) {
    return ` as the value of '${key}' must be a string of at most 1000 characters, a finite number or a boolean: current value is ${
      describe(value)
    }`;
  }
  // A plain object: JSON.stringify writes null-prototype (dictionary-mode)
  // objects about twice as slowly in V8. Keys Object.prototype has (such as
  // "__proto__", a valid key) are defined, never assigned.
  const annotations = d.annotations ??= {};
  if (!Object.hasOwn(annotations, key)) {
    if (d.annotationCount >= MAX_ANNOTATIONS) {
      return ` with '${key}' as it already holds ${MAX_ANNOTATIONS} annotations`;
    }
    d.annotationCount++;
  }
  setKey(annotations, key, value);
}

function putMetadata(
  d: EntityData,
  key: string,
  value: unknown,
  namespace: string,
): string | void {
  if (
    typeof namespace !== "string" || namespace.startsWith("AWS.") ||
    typeof key !== "string"
  ) {
    return ` as namespace ${describe(namespace)} or key ${
      describe(key)
    } is not allowed`;
  }
  // Plain objects read with Object.keys (never for-in) when the document is
  // written: V8 enumerates null-prototype (dictionary) objects far slower.
  const metadata = d.metadata ??= {};
  let ns = Object.hasOwn(metadata, namespace) ? metadata[namespace] : undefined;
  if (!ns) setKey(metadata, namespace, ns = {});
  setKey(ns, key, value);
}

// Wire names by field name (`userAgent` → `user_agent`), made once per name.
const WIRE_NAMES: Record<string, string> = {};

/**
 * Copies the string fields `keys` of `from` under their wire names, URLs
 * without credentials, each cut to `max` characters (`user` always to 250).
 */
function copyStrings(
  into: Record<string, unknown>,
  from: object,
  keys: readonly string[],
  max: number,
): void {
  for (const k of keys) {
    const v = (from as Record<string, unknown>)[k];
    if (typeof v === "string") {
      into[
        WIRE_NAMES[k] ??= k.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase())
      ] = cut(
        k === "url" || k === "connectionString" ? cleanUrl(v) : v,
        k === "user" ? MAX_FIELD_LENGTH : max,
      );
    }
  }
}

const HTTP_KEYS = ["method", "url", "userAgent", "clientIp"];
const SQL_KEYS = [
  "connectionString",
  "url",
  "sanitizedQuery",
  "databaseType",
  "databaseVersion",
  "driverVersion",
  "user",
  "preparation",
];

function putHttpRequest(d: EntityData, request: HttpRequestInfo): void {
  if (isObject(request)) {
    // Filled in a copy: a getter that throws leaves the entity as it was.
    const r = { ...d.httpRequest };
    copyStrings(r, request, HTTP_KEYS, MAX_FIELD_LENGTH);
    if (request.xForwardedFor === true) r.x_forwarded_for = true;
    const traced = request.traced;
    if (typeof traced === "boolean") r.traced = traced;
    d.httpRequest = r;
  }
}

function putHttpResponse(d: EntityData, response: HttpResponseInfo): void {
  if (isObject(response)) {
    const { status, contentLength } = response;
    // (Nothing below can throw once the fields are read.)
    const r = d.httpResponse ??= {};
    if (Number.isInteger(status) && status! >= 0) {
      r.status = status;
      d.flags |= status! >= 500
        ? FLAG_FAULT
        : status === 429
        ? FLAG_THROTTLE | FLAG_ERROR
        : status! >= 400
        ? FLAG_ERROR
        : 0;
    }
    if (Number.isFinite(contentLength) && contentLength! >= 0) {
      r.content_length = contentLength;
    }
  }
}

function putSql(d: EntityData, sql: SqlData): void {
  if (isObject(sql)) {
    const out = { ...d.sql };
    copyStrings(out, sql, SQL_KEYS, Infinity);
    d.sql = out;
  }
}

function putAws(d: EntityData, aws: Record<string, unknown>): void {
  // Made JSON-safe here, once, not each time a document is written. Spread
  // copies own keys as data (a "__proto__" key stays a key).
  if (isObject(aws)) d.aws = { ...d.aws, ...toJsonSafe(aws) as object };
}

function putFlag(d: EntityData, flag: number): void {
  d.flags |= flag;
}

function putUser(d: EntityData, user: string): void {
  if (typeof user === "string") d.user = cut(user, MAX_FIELD_LENGTH);
}

function putOrigin(d: EntityData, origin: string): void {
  if (typeof origin === "string") d.origin = origin;
}

function putEnd(
  d: EntityData,
  endTime: number | undefined,
  trace: Trace,
  parent: EntityData | undefined,
): void {
  d.endMs = timeOr(trace.recorder.clock, endTime);
  if (!parent) {
    // The segment (a facade is never sent itself).
    if (!trace.facade) {
      trace.sent = true;
      trace.recorder.emit(d, false);
    }
  } else if (trace.sent) {
    // The segment went out already: send this subtree on its own.
    const list = parent.children!;
    const i = list.indexOf(d);
    if (i !== -1) list.splice(i, 1);
    trace.held -= countTree(0, d);
    trace.recorder.emit(d, true);
  } else if (trace.held > trace.recorder.streamingThreshold || trace.facade) {
    trace.held -= streamFinished(trace, trace.root!);
  }
}

function putError(
  d: EntityData,
  error: unknown,
  options: AddErrorOptions | undefined,
  trace: Trace,
): void {
  d.flags |= FLAG_FAULT;
  // (A WeakMap answers undefined for primitives.)
  const known = trace.errors?.get(error as object);
  if (known !== undefined) {
    if (!d.exceptions) d.causeId = known;
    return;
  }
  const { ids, maxStackFrames: max } = trace.recorder;
  const id = ids.segmentId();
  let message: string;
  let type: unknown = typeof error;
  let stack: unknown;
  try {
    if (isObject(error)) {
      ({ message, name: type, stack } = error as Error);
      message = String(message ?? "");
    } else message = safeString(error);
  } catch {
    message = "[unreadable error]";
    type = stack = undefined;
  }
  const all = parseStack(stack as string, max + 1000); // [] for a non-string
  const exception: ExceptionData = {
    id,
    message: cut(message, MAX_MESSAGE_LENGTH),
    type: cut(typeof type === "string" && type || "Error", MAX_FIELD_LENGTH),
    remote: read(options, "remote") === true,
    stack: all.slice(0, max),
  };
  if (all.length > max) exception.truncated = all.length - max;
  (d.exceptions ??= []).push(exception);
  d.causeId = undefined;
  if (isObject(error)) (trace.errors ??= new WeakMap()).set(error, id);
}

type Step<A, B, C> = (
  data: EntityData,
  a: A,
  b: B,
  c: C,
) => string | void;

/**
 * Runs one recording step on a sampled entity and reports a refusal, a throw
 * (from user objects read by the step) or recording after `end()`. Set in
 * `Entity`'s static block, where the entity's private state is in reach.
 */
let record: <E extends Entity, A, B, C>(
  entity: E,
  what: string,
  step: Step<A, B, C>,
  a: A,
  b?: B,
  c?: C,
) => E;

function failed(sub: Subsegment, error: unknown): never {
  sub.addError(error);
  sub.end();
  throw error;
}

/**
 * What segments and subsegments share: the recording API. Every method
 * returns the entity, never throws, and drops a bad recording whole
 * (reported through the tracer's `onError`). On unsampled entities every
 * recording call is a no-op.
 */
export abstract class Entity {
  /** The sanitized name. */
  readonly name: string;
  #id: string | undefined;
  #trace: Trace;
  #data: EntityData | undefined;
  #ended = false;
  #header: string | undefined;

  /** @internal */
  constructor(
    trace: Trace,
    id: string | undefined,
    name: string,
    data: EntityData | undefined,
  ) {
    this.#trace = trace;
    this.#id = id;
    this.name = name;
    this.#data = data;
  }

  static {
    record = (entity, what, step, a, b, c) => {
      const data = entity.#data;
      if (data) {
        let reason: string | void;
        if (entity.#ended) reason = " as it has ended";
        else {
          try {
            reason = step(data, a, b!, c!);
          } catch (e) {
            reason = ": " + safeString((e as Error)?.message);
          }
        }
        if (reason) {
          report(
            entity.#trace,
            `Cannot call ${what}() on '${entity.name}'${reason}`,
          );
        }
      }
      return entity;
    };
  }

  /** Whether this trace is sampled (recorded and sent). */
  get isSampled(): boolean {
    return this.#data !== undefined;
  }

  /** The 16-hex-digit id (made when first asked for, on unsampled entities). */
  get id(): string {
    return this.#id ??= this.#trace.recorder.ids.segmentId();
  }

  /** The trace id (made when first asked for, on unsampled new traces). */
  get traceId(): string {
    const trace = this.#trace;
    return trace.traceId ??= trace.recorder.ids.traceId(
      timeOr(trace.recorder.clock, trace.startMs),
    );
  }

  /** Whether `end()` was called. */
  get isEnded(): boolean {
    return this.#ended;
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
    return record(this, "annotate", putAnnotation, key, value);
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
    return record(this, "addMetadata", putMetadata, key, value, namespace);
  }

  /**
   * Records the HTTP request.
   *
   * @param request The request fields.
   * @returns This entity.
   */
  setHttpRequest(request: HttpRequestInfo): this {
    return record(this, "setHttpRequest", putHttpRequest, request);
  }

  /**
   * Records the HTTP response and sets the flags its status implies.
   *
   * @param response The response fields.
   * @returns This entity.
   */
  setHttpResponse(response: HttpResponseInfo): this {
    return record(this, "setHttpResponse", putHttpResponse, response);
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
    return record(
      this,
      "addError",
      putError,
      error,
      options,
      this.#trace,
    );
  }

  /**
   * Records SQL query details (`sql` block).
   *
   * @param sql The fields.
   * @returns This entity.
   */
  setSql(sql: SqlData): this {
    return record(this, "setSql", putSql, sql);
  }

  /**
   * Merges fields into the `aws` block (operation, region, request id, …),
   * made JSON-safe as they are when called.
   *
   * @param aws The fields, snake_case as X-Ray shows them.
   * @returns This entity.
   */
  setAws(aws: Record<string, unknown>): this {
    return record(this, "setAws", putAws, aws);
  }

  /** Sets the `error` flag (a client error, 4xx). @returns This entity. */
  addErrorFlag(): this {
    return record(this, "addErrorFlag", putFlag, FLAG_ERROR);
  }

  /** Sets the `fault` flag (a server error, 5xx). @returns This entity. */
  addFaultFlag(): this {
    return record(this, "addFaultFlag", putFlag, FLAG_FAULT);
  }

  /** Sets the `throttle` flag (429). @returns This entity. */
  addThrottleFlag(): this {
    return record(this, "addThrottleFlag", putFlag, FLAG_THROTTLE);
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
    const parent = this.#data;
    let id: string | undefined;
    let clean = name;
    let data: EntityData | undefined;
    // (A segment's depth is undefined: 0.)
    const depth = -~parent?.depth!;
    if (depth > MAX_DEPTH) {
      // Reported once per segment: a deep recursion cuts the tree often.
      if (!trace.cut) {
        trace.cut = true;
        report(
          trace,
          `Cannot call startSubsegment() on '${this.name}' as it is too deep`,
        );
      }
    } else if (parent) {
      clean = sanitizeName(name);
      if (!clean) {
        report(
          trace,
          `Cannot name a subsegment ${describe(name)}: using 'unnamed'`,
        );
        clean = "unnamed";
      }
      data = newData(
        "subsegment",
        clean,
        id = trace.recorder.ids.segmentId(),
        trace.traceId!,
        timeOr(trace.recorder.clock, read(options, "startTime")),
        this.id,
      );
      const namespace = read(options, "namespace");
      if (
        namespace === "remote" || namespace === "aws" || namespace === "local"
      ) {
        data.namespace = namespace;
      }
      data.depth = depth;
      (parent.children ??= []).push(data);
      trace.held++;
    }
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
      failed(sub, error);
    }
    if (typeof read(result, "then") === "function") {
      return (result as unknown as Promise<unknown>).then(
        (value) => {
          sub.end();
          return value;
        },
        (error) => failed(sub, error),
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
    const d = this.#data;
    // Once ended, `record` only reports (the step never runs).
    if (this.#ended) record(this, "end", putEnd, endTime);
    else {
      this.#ended = true;
      const parent = (this as unknown as Subsegment).parent;
      if (d) putEnd(d, endTime, this.#trace, parent && parent.#data);
    }
  }

  /**
   * The `X-Amzn-Trace-Id` value a downstream call made from this entity
   * should carry: Root, this entity as Parent, Sampled, and the incoming
   * extra data (such as `Lineage`).
   *
   * @returns The header value.
   */
  traceHeaderFor(): string {
    return this.#header ??= formatTraceHeader({
      root: this.traceId,
      parent: this.id,
      sampled: this.#data !== undefined,
      data: this.#trace.incoming?.data ?? {},
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
    return d && toWire(d, d.kind === "subsegment");
  }
}

/** Options the tracer passes when it creates a segment. */
export interface SegmentInit {
  /** The recorder (tracer internals). */
  recorder: Recorder;
  /** The clean name. */
  name: string;
  /** The trace id (made on demand when absent). */
  traceId?: string;
  /** This segment's id (made on demand when absent). */
  id?: string;
  /** The upstream parent id. */
  parentId?: string;
  /** Whether sampled. */
  sampled: boolean;
  /** The parsed incoming header. */
  incoming?: TraceHeader;
  /** Start, epoch ms (unsampled segments may have none). */
  startMs?: number;
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
    const trace = init as Trace;
    const { name, id } = trace;
    trace.held = 0;
    if (trace.sampled) {
      const data = trace.root = newData(
        "segment",
        name,
        id!,
        trace.traceId!,
        trace.startMs!,
        trace.parentId,
      );
      // Only truthy ones count when the document is written.
      data.aws = trace.aws;
      data.service = trace.service;
      data.origin = trace.origin;
    }
    super(trace, id, name, trace.root);
    this.incoming = trace.incoming;
    this.ruleName = trace.ruleName;
    this.isFacade = trace.facade === true;
  }

  /**
   * Records the user (at most 250 characters).
   *
   * @param user The user id.
   * @returns This segment.
   */
  setUser(user: string): this {
    return record(this, "setUser", putUser, user);
  }

  /**
   * Sets the segment origin, such as `AWS::EC2::Instance`.
   *
   * @param origin The origin.
   * @returns This segment.
   */
  setOrigin(origin: string): this {
    return record(this, "setOrigin", putOrigin, origin);
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
}

/** A subsegment: one piece of work (a call, a query, a block) inside a segment. */
export class Subsegment extends Entity {
  /** The entity this subsegment belongs to. */
  readonly parent: Entity;

  /** @internal Use `entity.startSubsegment()` or `capture()`. */
  constructor(
    trace: Trace,
    id: string | undefined,
    name: string,
    data: EntityData | undefined,
    parent: Entity,
  ) {
    super(trace, id, name, data);
    this.parent = parent;
  }
}

export type { Trace };
