// X-Ray documents (the wire JSON the tracer sends) → OTLP/JSON trace data
// (`ExportTraceServiceRequest`, opentelemetry-proto's JSON mapping: hex ids,
// enums as numbers, 64-bit integers as strings).
//
// The mapping follows the current OpenTelemetry semantic conventions (HTTP,
// database, AWS SDK, resource) and, for what X-Ray has and OpenTelemetry has
// not, what X-Ray's own OTLP ingestion (and the collector's awsxray exporter)
// reads back: annotations as plain attributes listed in
// `aws.xray.annotations`, metadata as `aws.xray.metadata.<namespace>` JSON
// strings. Fields with no convention go under `aws.xray.<block>.<field>`.
import { VERSION } from "../version.ts";
import { isRecord } from "../_util.ts";

/** An OTLP `AnyValue` in its JSON form. */
export type OtlpValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: string }
  | { doubleValue: number }
  | { arrayValue: { values: OtlpValue[] } };

/** An OTLP `KeyValue`. */
export interface OtlpAttribute {
  /** The attribute name. */
  key: string;
  /** The value. */
  value: OtlpValue;
}

/** An OTLP span event (exceptions only, here). */
export interface OtlpEvent {
  /** `exception`. */
  name: string;
  /** Epoch nanoseconds, as a decimal string. */
  timeUnixNano: string;
  /** `exception.type`, `exception.message`, `exception.stacktrace`. */
  attributes: OtlpAttribute[];
}

/** An OTLP span in its JSON form. */
export interface OtlpSpan {
  /** 32 lower-case hex digits. */
  traceId: string;
  /** 16 lower-case hex digits. */
  spanId: string;
  /** The parent's span id, absent for a root span. */
  parentSpanId?: string;
  /** W3C trace flags (bit 0 sampled) and the is-remote bits (8, 9). */
  flags: number;
  /** The span name: the segment or subsegment name. */
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  /** Epoch nanoseconds, as a decimal string. */
  startTimeUnixNano: string;
  /** Epoch nanoseconds, as a decimal string. */
  endTimeUnixNano: string;
  /** The attributes. */
  attributes: OtlpAttribute[];
  /** Exception events. */
  events: OtlpEvent[];
  /** 0 unset, 2 error. */
  status: { code: number; message?: string };
}

/** An OTLP `ResourceSpans`. */
export interface OtlpResourceSpans {
  /** The resource. */
  resource: { attributes: OtlpAttribute[] };
  /** One scope: this library. */
  scopeSpans: {
    scope: { name: string; version: string };
    spans: OtlpSpan[];
  }[];
}

/** An OTLP `ExportTraceServiceRequest` in its JSON form. */
export interface OtlpTraceRequest {
  /** Spans grouped by resource. */
  resourceSpans: OtlpResourceSpans[];
}

/** Span kinds. */
export const SPAN_KIND_INTERNAL = 1;
/** A segment: the request a service handled. */
export const SPAN_KIND_SERVER = 2;
/** A `remote` or `aws` subsegment: a call out. */
export const SPAN_KIND_CLIENT = 3;
/** Status code for error, fault or throttle. */
export const STATUS_ERROR = 2;

type Doc = Record<string, unknown>;
type Attributes = Record<string, unknown>;

const TRACE_ID = /^1-([0-9a-f]{8})-([0-9a-f]{24})$/i;
const SPAN_ID = /^[0-9a-f]{16}$/i;

/**
 * The 32-hex OpenTelemetry trace id of an X-Ray trace id (the two hex parts
 * joined, as AWS's OpenTelemetry propagator maps them), lower case; `undefined`
 * when it is not one.
 */
export function otelTraceId(xrayTraceId: unknown): string | undefined {
  const m = typeof xrayTraceId === "string" && TRACE_ID.exec(xrayTraceId);
  return m ? (m[1] + m[2]).toLowerCase() : undefined;
}

function spanId(value: unknown): string | undefined {
  return typeof value === "string" && SPAN_ID.test(value)
    ? value.toLowerCase()
    : undefined;
}

/** Epoch seconds (microsecond precision) → nanoseconds as a decimal string. */
function nanos(seconds: number): string {
  const micros = Math.round(seconds * 1e6);
  return micros > 0 ? micros + "000" : "0";
}

/** An attribute value; objects become JSON text; `undefined` for nothing. */
export function otlpValue(value: unknown): OtlpValue | undefined {
  switch (typeof value) {
    case "string":
      return { stringValue: value };
    case "boolean":
      return { boolValue: value };
    case "number":
      return Number.isSafeInteger(value)
        ? { intValue: String(value) }
        : Number.isFinite(value)
        ? { doubleValue: value }
        : undefined;
    case "object":
      if (value === null) return undefined;
      if (
        Array.isArray(value) &&
        value.every((v) => typeof v === "string")
      ) {
        return {
          arrayValue: { values: value.map((v) => ({ stringValue: v })) },
        };
      }
      return { stringValue: JSON.stringify(value) };
  }
  return undefined;
}

function toAttributes(attributes: Attributes): OtlpAttribute[] {
  const out: OtlpAttribute[] = [];
  for (const key of Object.keys(attributes)) {
    const value = otlpValue(attributes[key]);
    if (value) out.push({ key, value });
  }
  return out;
}

const str = (v: unknown): string | undefined =>
  typeof v === "string" && v ? v : undefined;
const num = (v: unknown): number | undefined =>
  typeof v === "number" && Number.isFinite(v) ? v : undefined;

/** Puts the leftovers of an X-Ray block under `aws.xray.<block>.<field>`. */
function rest(
  out: Attributes,
  block: string,
  fields: Doc,
  mapped: readonly string[],
): void {
  for (const key of Object.keys(fields)) {
    if (!mapped.includes(key)) out[`aws.xray.${block}.${key}`] = fields[key];
  }
}

/** `server.address` / `server.port` of a URL, when it is one. */
function putServer(out: Attributes, url: string): URL | undefined {
  try {
    const parsed = new URL(url);
    if (parsed.hostname) {
      out["server.address"] = parsed.hostname.replace(/^\[|\]$/g, "");
      out["server.port"] = parsed.port
        ? +parsed.port
        : parsed.protocol === "https:"
        ? 443
        : parsed.protocol === "http:"
        ? 80
        : undefined;
    }
    return parsed;
  } catch {
    return undefined;
  }
}

function httpAttributes(out: Attributes, http: Doc, server: boolean): void {
  const request = isRecord(http.request) ? http.request : {};
  const response = isRecord(http.response) ? http.response : {};
  out["http.request.method"] = str(request.method);
  const url = str(request.url);
  if (url) {
    if (server) {
      const parsed = putServer(out, url);
      if (parsed) {
        out["url.scheme"] = parsed.protocol.slice(0, -1);
        out["url.path"] = parsed.pathname;
        if (parsed.search) out["url.query"] = parsed.search.slice(1);
      } else out["url.path"] = url;
    } else {
      out["url.full"] = url;
      putServer(out, url);
    }
  }
  out["user_agent.original"] = str(request.user_agent);
  out["client.address"] = str(request.client_ip);
  if (request.traced === true) out["aws.xray.traced"] = true;
  out["http.response.status_code"] = num(response.status);
  out["http.response.body.size"] = num(response.content_length);
  rest(out, "http.request", request, [
    "method",
    "url",
    "user_agent",
    "client_ip",
    "x_forwarded_for",
    "traced",
  ]);
  rest(out, "http.response", response, ["status", "content_length"]);
}

/** X-Ray database types → `db.system.name` values. */
const DB_SYSTEMS: Record<string, string> = {
  postgresql: "postgresql",
  mysql: "mysql",
  mariadb: "mariadb",
  sqlite: "sqlite",
  mongodb: "mongodb",
  d1: "cloudflare.d1",
};

function sqlAttributes(out: Attributes, sql: Doc): void {
  const type = str(sql.database_type);
  if (type) {
    out["db.system.name"] = DB_SYSTEMS[type.toLowerCase()] ??
      type.toLowerCase().replace(/\s+/g, "_");
  }
  out["db.query.text"] = str(sql.sanitized_query);
  const url = str(sql.url);
  if (url) {
    const parsed = putServer(out, url);
    const name = parsed?.pathname.slice(1);
    if (name) out["db.namespace"] = decodeURIComponent(name);
  }
  rest(out, "sql", sql, ["database_type", "sanitized_query"]);
}

function awsAttributes(out: Attributes, aws: Doc, service: string): void {
  out["rpc.system"] = "aws-api";
  out["rpc.service"] = service;
  out["rpc.method"] = str(aws.operation);
  out["cloud.region"] = str(aws.region);
  out["aws.request_id"] = str(aws.request_id);
  out["aws.extended_request_id"] = str(aws.id_2);
  const tables = Array.isArray(aws.table_names)
    ? aws.table_names
    : str(aws.table_name) && [aws.table_name];
  if (tables) out["aws.dynamodb.table_names"] = tables;
  out["aws.sqs.queue.url"] = str(aws.queue_url);
  out["aws.s3.bucket"] = str(aws.bucket_name);
  out["aws.s3.key"] = str(aws.key);
  // The name the collector's awsxray exporter reads back.
  out["aws.xray.retries"] = num(aws.retries);
  rest(out, "aws", aws, [
    "retries",
    "operation",
    "region",
    "request_id",
    "id_2",
    "table_name",
    "table_names",
    "queue_url",
    "bucket_name",
    "key",
  ]);
}

/** Origins → `cloud.platform`. */
const PLATFORMS: Record<string, string> = {
  "AWS::EC2::Instance": "aws_ec2",
  "AWS::ECS::Container": "aws_ecs",
  "AWS::ElasticBeanstalk::Environment": "aws_elastic_beanstalk",
  "AWS::Lambda::Function": "aws_lambda",
};

/** The keys of a segment's `aws` block that describe the service (resource). */
const RESOURCE_BLOCKS = ["xray", "ec2", "ecs", "elastic_beanstalk", "lambda"];

/**
 * The resource attributes of a segment: `service.name` (the segment name),
 * `service.version`, the runtime, the SDK, and the plugin data.
 */
function resourceOf(doc: Doc): Attributes {
  const out: Attributes = { "service.name": doc.name };
  const service = isRecord(doc.service) ? doc.service : {};
  out["service.version"] = str(service.version);
  out["process.runtime.name"] = str(service.runtime);
  out["process.runtime.version"] = str(service.runtime_version);
  const aws = isRecord(doc.aws) ? doc.aws : {};
  const block = (name: string): Doc =>
    isRecord(aws[name]) ? aws[name] as Doc : {};
  const xray = block("xray");
  out["telemetry.sdk.name"] = str(xray.sdk) ?? "xray-edge";
  out["telemetry.sdk.version"] = str(xray.sdk_version) ?? VERSION;
  out["telemetry.sdk.language"] = service.runtime === "node"
    ? "nodejs"
    : "webjs";
  const platform = PLATFORMS[doc.origin as string];
  const ec2 = block("ec2");
  const ecs = block("ecs");
  const eb = block("elastic_beanstalk");
  const lambda = block("lambda");
  if (platform || aws.ec2 || aws.ecs || aws.elastic_beanstalk || aws.lambda) {
    out["cloud.provider"] = "aws";
  }
  out["cloud.platform"] = platform ??
    (aws.lambda ? "aws_lambda" : undefined);
  out["host.id"] = str(ec2.instance_id);
  out["host.type"] = str(ec2.instance_size);
  out["host.image.id"] = str(ec2.ami_id);
  out["cloud.availability_zone"] = str(ec2.availability_zone) ??
    str(ecs.availability_zone);
  out["container.name"] = str(ecs.container);
  out["container.id"] = str(ecs.container_id);
  out["aws.ecs.container.arn"] = str(ecs.container_arn);
  out["aws.ecs.cluster.arn"] = str(ecs.cluster);
  out["aws.ecs.task.arn"] = str(ecs.task_arn);
  out["aws.ecs.launchtype"] = str(ecs.launch_type)?.toLowerCase();
  out["service.namespace"] = str(eb.environment_name);
  out["service.instance.id"] = eb.deployment_id === undefined
    ? undefined
    : String(eb.deployment_id);
  out["service.version"] ??= str(eb.version_label);
  out["faas.name"] = str(lambda.function_name);
  out["faas.version"] = str(lambda.function_version);
  out["cloud.region"] = str(lambda.region);
  // Origins this mapping does not know are kept as they are.
  if (doc.origin !== undefined && !platform) {
    out["aws.xray.origin"] = doc.origin;
  }
  return out;
}

/** The segment's `aws` block entries that are per request (span attributes). */
function segmentAws(out: Attributes, doc: Doc): void {
  const aws = isRecord(doc.aws) ? doc.aws : {};
  const xray = isRecord(aws.xray) ? aws.xray : {};
  out["aws.xray.sampling_rule_name"] = str(xray.sampling_rule_name);
  for (const key of Object.keys(aws)) {
    if (!RESOURCE_BLOCKS.includes(key)) out[`aws.xray.aws.${key}`] = aws[key];
  }
}

interface Frame {
  path?: unknown;
  line?: unknown;
  label?: unknown;
}

function exceptionEvents(doc: Doc, time: string): OtlpEvent[] {
  const cause = isRecord(doc.cause) ? doc.cause : undefined;
  const list = Array.isArray(cause?.exceptions) ? cause.exceptions : [];
  return list.filter(isRecord).map((e): OtlpEvent => {
    const type = str(e.type) ?? "Error";
    const message = typeof e.message === "string" ? e.message : "";
    const frames = (Array.isArray(e.stack) ? e.stack : []) as Frame[];
    const stack = [`${type}${message && ": " + message}`].concat(
      frames.map((f) =>
        `    at ${f.label ? f.label + " (" : ""}${f.path ?? "<anonymous>"}${
          f.line !== undefined ? ":" + f.line : ""
        }${f.label ? ")" : ""}`
      ),
    ).join("\n");
    return {
      name: "exception",
      timeUnixNano: time,
      attributes: toAttributes({
        "exception.type": type,
        "exception.message": message,
        "exception.stacktrace": stack,
        // X-Ray's own fields, under the names its exporter reads back.
        "aws.xray.exception.id": str(e.id),
        "aws.xray.exception.remote": e.remote === true ? true : undefined,
      }),
    };
  });
}

/**
 * Appends the spans of one entity and its finished subsegments to `out`.
 * An entity still in progress is left out with its subtree: the tracer sends
 * it again as an independent subsegment when it ends.
 */
function addSpans(
  doc: Doc,
  traceId: string,
  parentSpanId: string | undefined,
  segment: boolean,
  out: OtlpSpan[],
): void {
  const id = spanId(doc.id);
  const start = num(doc.start_time);
  const end = num(doc.end_time);
  if (!id || start === undefined || end === undefined) return;
  const namespace = doc.namespace;
  const kind = segment
    ? SPAN_KIND_SERVER
    : namespace === "remote" || namespace === "aws"
    ? SPAN_KIND_CLIENT
    : SPAN_KIND_INTERNAL;
  const name = typeof doc.name === "string" ? doc.name : "";
  const attributes: Attributes = {};
  if (isRecord(doc.http)) httpAttributes(attributes, doc.http, segment);
  if (isRecord(doc.sql)) sqlAttributes(attributes, doc.sql);
  if (segment) segmentAws(attributes, doc);
  else if (isRecord(doc.aws)) awsAttributes(attributes, doc.aws, name);
  attributes["enduser.id"] = str(doc.user);
  if (doc.throttle === true) attributes["aws.xray.throttle"] = true;
  if (typeof doc.cause === "string") {
    attributes["aws.xray.cause_id"] = doc.cause;
  }
  const annotations = isRecord(doc.annotations) ? doc.annotations : {};
  const keys = Object.keys(annotations);
  for (const key of keys) attributes[key] = annotations[key];
  if (keys.length) attributes["aws.xray.annotations"] = keys;
  if (typeof annotations.http_route === "string") {
    attributes["http.route"] = annotations.http_route;
  }
  const metadata = isRecord(doc.metadata) ? doc.metadata : {};
  for (const ns of Object.keys(metadata)) {
    attributes[`aws.xray.metadata.${ns}`] = JSON.stringify(metadata[ns]);
  }
  const endNanos = nanos(end);
  const events = exceptionEvents(doc, endNanos);
  const failed = doc.fault === true || doc.error === true ||
    doc.throttle === true;
  const status: OtlpSpan["status"] = failed ? { code: STATUS_ERROR } : {
    code: 0,
  };
  const first = events[0]?.attributes;
  if (failed && first) {
    status.message = (first[1].value as { stringValue: string }).stringValue ||
      (first[0].value as { stringValue: string }).stringValue;
  }
  const span: OtlpSpan = {
    traceId,
    spanId: id,
    // Sampled, and whether the parent is remote is known (bit 8): it is
    // for a segment with an upstream parent (bit 9).
    flags: 0x101 | (segment && parentSpanId ? 0x200 : 0),
    name,
    kind,
    startTimeUnixNano: nanos(start),
    endTimeUnixNano: endNanos,
    attributes: toAttributes(attributes),
    events,
    status,
  };
  if (parentSpanId) span.parentSpanId = parentSpanId;
  out.push(span);
  const children = Array.isArray(doc.subsegments) ? doc.subsegments : [];
  for (const child of children) {
    if (isRecord(child)) addSpans(child, traceId, id, false, out);
  }
}

/** The spans of one parsed document, with the resource of its segment. */
export interface MappedDocument {
  /** The trace id, 32 hex. */
  traceId: string;
  /** The resource attributes, for a segment; `undefined` for a subsegment. */
  resource?: Attributes;
  /** The spans (none when everything in it is still in progress). */
  spans: OtlpSpan[];
}

/**
 * Maps one X-Ray document (a segment, or an independent subsegment) to OTLP
 * spans; `undefined` when it is not an X-Ray document.
 */
export function mapDocument(doc: unknown): MappedDocument | undefined {
  if (!isRecord(doc)) return undefined;
  const traceId = otelTraceId(doc.trace_id);
  if (!traceId || !spanId(doc.id) || num(doc.start_time) === undefined) {
    return undefined;
  }
  const segment = doc.type !== "subsegment";
  const spans: OtlpSpan[] = [];
  addSpans(doc, traceId, spanId(doc.parent_id), segment, spans);
  return { traceId, resource: segment ? resourceOf(doc) : undefined, spans };
}

/** Builds the request: one `ResourceSpans` per distinct resource. */
export function toRequest(
  groups: { resource: Attributes; spans: OtlpSpan[] }[],
): OtlpTraceRequest {
  const byKey = new Map<string, OtlpResourceSpans>();
  for (const { resource, spans } of groups) {
    if (!spans.length) continue;
    const attributes = toAttributes(resource);
    const key = JSON.stringify(attributes);
    let entry = byKey.get(key);
    if (!entry) {
      entry = {
        resource: { attributes },
        scopeSpans: [{
          scope: { name: "xray-edge", version: VERSION },
          spans: [],
        }],
      };
      byKey.set(key, entry);
    }
    entry.scopeSpans[0].spans.push(...spans);
  }
  return { resourceSpans: [...byKey.values()] };
}
