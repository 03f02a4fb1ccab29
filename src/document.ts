/**
 * Entity data → X-Ray wire JSON. The only module with snake_case keys; also
 * the 64 KB size guard and the splitting of large trees into independent
 * subsegment documents.
 *
 * @module
 */

import type { StackFrame } from "./stack.ts";
import { toJsonSafe } from "./metadata.ts";
import { setKey, utf8Length } from "./_util.ts";

/** The most bytes one X-Ray document may have. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

/** Error flag bits. */
export const FLAG_ERROR = 1;
/** Fault flag bit. */
export const FLAG_FAULT = 2;
/** Throttle flag bit. */
export const FLAG_THROTTLE = 4;

/** One recorded exception. */
export interface ExceptionData {
  /** 16 hex id. */
  id: string;
  /** The message. */
  message: string;
  /** The error's name. */
  type: string;
  /** Whether the error came from a downstream service. */
  remote: boolean;
  /** Parsed frames. */
  stack: StackFrame[];
  /** Frames left out beyond `maxStackFrames`. */
  truncated?: number;
}

/** HTTP request fields, camelCase (what `setHttpRequest` takes; kept under wire names). */
export interface HttpRequestData {
  /** The method. */
  method?: string;
  /** The URL; credentials are removed and it is cut to 250 characters. */
  url?: string;
  /** The `User-Agent`. */
  userAgent?: string;
  /** The client address. */
  clientIp?: string;
  /** Whether `clientIp` came from `X-Forwarded-For`. */
  xForwardedFor?: boolean;
  /** For outgoing calls: whether the callee was traced. */
  traced?: boolean;
}

/** HTTP response fields, camelCase (what `setHttpResponse` takes; kept under wire names). */
export interface HttpResponseData {
  /** The status code: ≥ 500 sets fault, 429 throttle + error, ≥ 400 error. */
  status?: number;
  /** The body length in bytes. */
  contentLength?: number;
}

/** SQL fields, camelCase. */
export interface SqlData {
  /** Connection string without password. */
  connectionString?: string;
  /** The database URL without password. */
  url?: string;
  /** The query with values left out. */
  sanitizedQuery?: string;
  /** `PostgreSQL`, `MySQL`, … */
  databaseType?: string;
  /** The server version. */
  databaseVersion?: string;
  /** The driver name and version. */
  driverVersion?: string;
  /** The database user. */
  user?: string;
  /** `statement` or `call`. */
  preparation?: "statement" | "call";
}

/** Everything recorded on one segment or subsegment (camelCase model). */
export interface EntityData {
  /** Segment or subsegment. */
  kind: "segment" | "subsegment";
  /** The sanitized name. */
  name: string;
  /** 16 hex id. */
  id: string;
  /** The trace id. */
  traceId: string;
  /** The parent id: the upstream caller for segments, the parent entity for subsegments. */
  parentId?: string;
  /** Start, epoch ms. */
  startMs: number;
  /** End, epoch ms; absent while in progress. */
  endMs?: number;
  /** Error/fault/throttle bits. */
  flags: number;
  /** `remote`, `aws` or `local` (subsegments). */
  namespace?: string;
  /** Segment origin, e.g. `AWS::EC2::Instance`. */
  origin?: string;
  /** The user (segments). */
  user?: string;
  /** Annotations. */
  annotations?: Record<string, string | number | boolean>;
  /** Number of annotations held. */
  annotationCount: number;
  /** Metadata by namespace (raw values, converted when written). */
  metadata?: Record<string, Record<string, unknown>>;
  /** HTTP request fields, under their wire names (`user_agent`). */
  httpRequest?: Record<string, unknown>;
  /** HTTP response fields, under their wire names (`content_length`). */
  httpResponse?: Record<string, unknown>;
  /** The `aws` block. */
  aws?: Record<string, unknown>;
  /** The `service` block (segments). */
  service?: Record<string, unknown>;
  /** The `sql` block, under its wire names (`sanitized_query`). */
  sql?: Record<string, unknown>;
  /** Recorded exceptions (already in wire form). */
  exceptions?: ExceptionData[];
  /** An exception id recorded elsewhere in the trace (cause by reference). */
  causeId?: string;
  /** Levels below the segment (subsegments). */
  depth?: number;
  /** Child subsegments not yet sent. */
  children?: EntityData[];
}

function seconds(ms: number): number {
  return Math.round(ms * 1000) / 1e6;
}

/** The wire names of the flag bits, lowest first. */
const FLAGS = ["error", "fault", "throttle"];

function convertMetadata(
  metadata: Record<string, Record<string, unknown>>,
): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  // Object.keys, never for-in: the namespaces are plain objects, and for-in
  // would also walk enumerable keys added to Object.prototype.
  for (const ns of Object.keys(metadata)) {
    const entries = metadata[ns];
    let converted: Record<string, unknown> | undefined;
    for (const key of Object.keys(entries)) {
      // Functions, symbols and undefined convert to undefined and are left
      // out here: kept, a function under a `toJSON` key would make
      // JSON.stringify call it in place of the namespace object.
      const value = toJsonSafe(entries[key]);
      if (value !== undefined) setKey(converted ??= {}, key, value);
    }
    if (converted) setKey(out ??= {}, ns, converted);
  }
  return out;
}

/**
 * Builds the X-Ray wire object of an entity and its remaining children.
 *
 * @param data The entity data.
 * @param independent Write a subsegment as an independent document (`type`,
 * `trace_id`, `parent_id`).
 * @returns The wire object, ready for `JSON.stringify`.
 */
export function toWire(
  data: EntityData,
  independent?: boolean,
): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    name: data.name,
    id: data.id,
    start_time: seconds(data.startMs),
  };
  const segment = data.kind === "segment";
  if (segment || independent) {
    doc.trace_id = data.traceId;
    if (!segment) doc.type = "subsegment";
    if (data.parentId) doc.parent_id = data.parentId;
  }
  if (data.endMs !== undefined) doc.end_time = seconds(data.endMs);
  else doc.in_progress = true;
  if (data.namespace) doc.namespace = data.namespace;
  if (data.origin) doc.origin = data.origin;
  if (data.user !== undefined) doc.user = data.user;
  for (let i = 0; i < 3; i++) if (data.flags & (1 << i)) doc[FLAGS[i]] = true;
  const { httpRequest, httpResponse, children } = data;
  if (httpRequest || httpResponse) {
    const http: Record<string, unknown> = doc.http = {};
    if (httpRequest) http.request = httpRequest;
    // A copy: setHttpResponse writes its fields in place.
    if (httpResponse) http.response = { ...httpResponse };
  }
  // (Made JSON-safe when recorded.)
  if (data.aws) doc.aws = data.aws;
  if (data.service) doc.service = data.service;
  if (data.sql) doc.sql = data.sql;
  if (data.annotations) doc.annotations = data.annotations;
  const metadata = data.metadata && convertMetadata(data.metadata);
  if (metadata) doc.metadata = metadata;
  const cause = data.exceptions
    ? { exceptions: data.exceptions }
    : data.causeId;
  if (cause !== undefined) doc.cause = cause;
  if (children?.length) doc.subsegments = children.map((c) => toWire(c));
  return doc;
}

// A UTF-16 unit is at most 3 UTF-8 bytes: short documents need no encoding.
function fits(text: string): boolean {
  return text.length * 3 <= MAX_DOCUMENT_BYTES ||
    utf8Length(text) <= MAX_DOCUMENT_BYTES;
}

/** What {@linkcode serialize} produced. */
export interface Serialized {
  /** JSON documents, each ≤ 64 KB; the entity's own document last. */
  documents: string[];
  /** How many entities had fields cut to fit. */
  truncated: number;
}

const TRUNCATION_ORDER = [
  "metadata",
  "annotations",
  "cause",
  "sql",
  "aws",
  "http",
];

/**
 * Serializes an entity with its remaining children into one or more
 * documents of at most 64 KB: when the whole tree is too large, the largest
 * children go out first as independent subsegment documents; an entity still
 * too large on its own has fields cut, in order metadata, annotations, cause,
 * sql, aws, http, and a visible `xray-edge` metadata marker saying so.
 *
 * @param data The entity.
 * @param independent Write a subsegment as an independent document.
 * @param out Where documents go (children's before their parent's).
 * @returns The documents and the count of entities cut.
 */
export function serialize(
  data: EntityData,
  independent: boolean,
  out: Serialized = { documents: [], truncated: 0 },
): Serialized {
  const wire = toWire(data, independent);
  let text = JSON.stringify(wire);
  if (!fits(text)) {
    // Too large: send children out one by one, largest first.
    const children = data.children ?? [];
    // The children's wire forms (made once, by toWire above) and their sizes.
    const wires = (wire.subsegments ?? []) as unknown[];
    const sizes = wires.map((w) => JSON.stringify(w).length);
    const inline = new Set(children.keys());
    for (const i of [...inline].sort((a, b) => sizes[b] - sizes[a])) {
      serialize(
        { ...children[i], parentId: data.id, traceId: data.traceId },
        true,
        out,
      );
      inline.delete(i);
      if (inline.size) wire.subsegments = wires.filter((_, j) => inline.has(j));
      else delete wire.subsegments;
      text = JSON.stringify(wire);
      if (fits(text)) break;
    }
  }
  if (!fits(text)) {
    // Still too large alone: cut fields and say so.
    const originalBytes = utf8Length(text);
    const cut: string[] = [];
    for (const field of TRUNCATION_ORDER) {
      if (field in wire) {
        delete wire[field];
        cut.push(field);
        wire.metadata = { "xray-edge": { truncated: cut, originalBytes } };
        text = JSON.stringify(wire);
        if (fits(text)) break;
      }
    }
    out.truncated++;
  }
  out.documents.push(text);
  return out;
}
