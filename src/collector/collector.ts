// The collector as a fetch handler plus a datagram entry point: ingest
// (PutTraceSegments over HTTP, daemon-format UDP datagrams), the sampling APIs,
// the read APIs in the X-Ray API's shapes, /stats and the viewer page. No
// sockets here: server.ts binds them.

import { openStore, type Store, type TimeRange } from "./_store.ts";
import { schemaErrors } from "./_schema.ts";
import { assembleTrace, ServiceGraph, type TraceSummary } from "./_trace.ts";
import { FilterExpressionError, parseFilterExpression } from "./filter.ts";
import { samplingService } from "./_sampling.ts";
import type { LocalSamplingRules } from "../sampling/local.ts";
import { viewerPage } from "./viewer.ts";

/** The largest document X-Ray accepts. */
export const MAX_DOCUMENT_BYTES = 64 * 1024;

/** Options for {@linkcode createCollector}. */
export interface CollectorOptions {
  /**
   * Where traces are kept: a SQLite file path, or `:memory:`.
   * @default ":memory:"
   */
  database?: string;
  /** At most this many traces are kept (the first to arrive are dropped first). @default 10000 */
  maxTraces?: number;
  /** At most this much document text is kept. @default 268435456 (256 MiB) */
  maxBytes?: number;
  /**
   * One trace holds at most this much document text; further documents of it
   * are refused (`TraceTooLarge`). @default 16777216 (16 MiB)
   */
  maxTraceBytes?: number;
  /** HTTP request bodies over this are answered 413. @default 8388608 (8 MiB) */
  maxBodyBytes?: number;
  /**
   * Request bodies being read at once may hold at most this much; beyond it
   * requests are answered 429 `ThrottledException` (senders retry).
   * @default 67108864 (64 MiB)
   */
  maxInflightBytes?: number;
  /** Datagrams waiting to be stored beyond this are dropped (and counted). @default 16777216 */
  maxQueuedBytes?: number;
  /** Sampling rules served to `centralizedSampler` (the `localSampler` format). @default 1 request/s + 5 % */
  rules?: LocalSamplingRules | string;
  /** Time source, epoch ms. @default Date.now */
  now?: () => number;
}

/** Counters reported on `GET /stats`. */
export interface CollectorStats {
  /** When the collector started, epoch ms. */
  startedAtMs: number;
  /** Increases whenever stored data changes (for live views). */
  revision: number;
  /** Documents received over HTTP and UDP. */
  documents: {
    received: number;
    stored: number;
    duplicates: number;
    stale: number;
    rejected: number;
    dropped: number;
    /** The latest refused document: where it came from, its id and why. */
    lastRejected?: {
      source: "http" | "udp";
      id: string;
      reason: string;
      atMs: number;
    };
  };
  /** HTTP requests. */
  http: {
    requests: number;
    tooLarge: number;
    throttled: number;
    /** Bodies that ended early (the client went away). */
    aborted: number;
    badJson: number;
    badRequests: number;
    notFound: number;
    errors: number;
  };
  /** UDP datagrams. */
  udp: { datagrams: number; malformed: number; dropped: number };
  /** What is stored. */
  store: { traces: number; documents: number; bytes: number; evicted: number };
  /** Sampling API calls. */
  sampling: { rules: number; targets: number };
}

/** A running collector without sockets. */
export interface Collector {
  /** Answers one HTTP request (any route the collector serves). */
  fetch(request: Request): Promise<Response>;
  /** Takes one UDP datagram in the daemon format; never throws. */
  ingestDatagram(data: Uint8Array): void;
  /** Stores every datagram still queued. */
  drain(): void;
  /** The counters of `GET /stats`. */
  stats(): CollectorStats;
  /** Stops and closes the database. */
  close(): void;
}

// deno-lint-ignore no-explicit-any
type Json = any;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function errorResponse(e: HttpError): Response {
  return new Response(
    JSON.stringify({ __type: e.code, message: e.message }),
    {
      status: e.status,
      headers: {
        "content-type": "application/json",
        "x-amzn-errortype": e.code,
      },
    },
  );
}

function positiveOption(
  options: CollectorOptions,
  key: keyof CollectorOptions,
  fallback: number,
): number {
  const value = options[key] ?? fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Cannot create collector as '${key}' must be a positive integer: current value is ${
        JSON.stringify(value)
      }`,
    );
  }
  return value;
}

/** Shared accounting of body bytes being read, across requests. */
interface Inflight {
  take(bytes: number): boolean;
  give(bytes: number): void;
}

async function readBody(
  request: Request,
  limit: number,
  inflight: Inflight,
): Promise<string> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) {
    await request.body?.cancel().catch(() => {});
    throw new HttpError(
      413,
      "RequestEntityTooLarge",
      `Request body over ${limit} bytes`,
    );
  }
  if (!request.body) return "";
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw new HttpError(
          400,
          "IncompleteBody",
          `The request body ended early: ${
            e instanceof Error ? e.message : String(e)
          }`,
        );
      }
      const { done, value } = chunk;
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        await reader.cancel().catch(() => {});
        throw new HttpError(
          413,
          "RequestEntityTooLarge",
          `Request body over ${limit} bytes`,
        );
      }
      if (!inflight.take(value.byteLength)) {
        size -= value.byteLength;
        await reader.cancel().catch(() => {});
        throw new HttpError(
          429,
          "ThrottledException",
          "Too much data in flight: retry later",
        );
      }
      chunks.push(value);
    }
  } finally {
    inflight.give(size);
  }
  const all = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.byteLength;
  }
  return new TextDecoder().decode(all);
}

/** Epoch seconds from a number (seconds) or a date string. */
function time(value: unknown, name: string): number {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value !== "") {
    const n = Number(value);
    if (Number.isFinite(n)) return n;
    const ms = Date.parse(value);
    if (Number.isFinite(ms)) return ms / 1000;
  }
  throw new HttpError(
    400,
    "InvalidRequestException",
    `${name} must be a timestamp (epoch seconds or an ISO 8601 date): current value is ${
      JSON.stringify(value)
    }`,
  );
}

/** `TimeRangeType`: `TraceId` (the default), `Event`, or `Service` (read as `Event`). */
function timeRange(body: Json): TimeRange {
  const type = body?.TimeRangeType;
  if (type === undefined || type === null || type === "TraceId") {
    return "TraceId";
  }
  if (type === "Event" || type === "Service") return "Event";
  throw new HttpError(
    400,
    "InvalidRequestException",
    `TimeRangeType must be TraceId, Event or Service: current value is ${
      JSON.stringify(type)
    }`,
  );
}

function traceIdList(body: Json): string[] {
  const ids = body?.TraceIds;
  if (
    !Array.isArray(ids) || ids.length === 0 ||
    !ids.every((i) => typeof i === "string")
  ) {
    throw new HttpError(
      400,
      "InvalidRequestException",
      "TraceIds must be a non-empty list of trace ids",
    );
  }
  return ids;
}

function offsetFrom(token: unknown): number {
  if (token === undefined || token === null || token === "") return 0;
  const n = Number(token);
  if (!Number.isInteger(n) || n < 0) {
    throw new HttpError(400, "InvalidRequestException", "Invalid NextToken");
  }
  return n;
}

const SUMMARIES_PAGE = 1000;
const TRACES_PAGE = 100;

/**
 * Creates a collector: storage plus the HTTP routes as a fetch handler and a
 * datagram entry point. Bind it to sockets with `startCollector`, or serve
 * `collector.fetch` with any server (Deno.serve, Bun.serve).
 *
 * @param options Storage, limits and sampling rules.
 * @returns The collector.
 * @throws {RangeError} When an option or the rules document is invalid.
 *
 * @example Store a document and list it
 * ```ts
 * import assert from "node:assert/strict";
 * import { createCollector } from "./collector.ts";
 * const collector = await createCollector({ database: ":memory:" });
 * const doc = { name: "api", id: "70de5b6f19ff9a0a", trace_id: "1-581cf771-a006649127e371903a2de979", start_time: 1, end_time: 2 };
 * const put = await collector.fetch(new Request("http://collector/TraceSegments", {
 *   method: "POST", body: JSON.stringify({ TraceSegmentDocuments: [JSON.stringify(doc)] }),
 * }));
 * assert.deepEqual(await put.json(), { UnprocessedTraceSegments: [] });
 * assert.equal(collector.stats().store.traces, 1);
 * collector.close();
 * ```
 */
export async function createCollector(
  options: CollectorOptions = {},
): Promise<Collector> {
  const now = options.now ?? (() => Date.now());
  const maxTraces = positiveOption(options, "maxTraces", 10_000);
  const maxBytes = positiveOption(options, "maxBytes", 256 * 1024 * 1024);
  const maxBodyBytes = positiveOption(options, "maxBodyBytes", 8 * 1024 * 1024);
  const maxQueuedBytes = positiveOption(
    options,
    "maxQueuedBytes",
    16 * 1024 * 1024,
  );
  const maxInflightBytes = positiveOption(
    options,
    "maxInflightBytes",
    64 * 1024 * 1024,
  );
  let inflightBytes = 0;
  const database = options.database ?? ":memory:";
  if (typeof database !== "string" || database === "") {
    throw new RangeError(
      `Cannot create collector as 'database' must be a file path or ':memory:': current value is ${
        JSON.stringify(database)
      }`,
    );
  }
  const sampling = samplingService(options.rules, now());
  const maxTraceBytes = positiveOption(
    options,
    "maxTraceBytes",
    16 * 1024 * 1024,
  );
  const store: Store = await openStore({
    path: database,
    maxTraces,
    maxBytes,
    maxTraceBytes,
  });
  const startedAtMs = now();
  let revision = 0;
  const documents: CollectorStats["documents"] = {
    received: 0,
    stored: 0,
    duplicates: 0,
    stale: 0,
    rejected: 0,
    dropped: 0,
  };
  function rejected(source: "http" | "udp", id: string, reason: string): void {
    documents.rejected++;
    documents.lastRejected = { source, id, reason, atMs: now() };
  }
  const http = {
    requests: 0,
    tooLarge: 0,
    throttled: 0,
    aborted: 0,
    badJson: 0,
    badRequests: 0,
    notFound: 0,
    errors: 0,
  };
  const udp = { datagrams: 0, malformed: 0, dropped: 0 };
  const samplingCalls = { rules: 0, targets: 0 };
  let evicted = 0;
  let closed = false;

  /** Validates one document text: the stored row, or the reason it is refused. */
  function validate(
    text: unknown,
  ): { ok: true; doc: Json; body: string } | {
    ok: false;
    id: string;
    code: string;
    reason: string;
  } {
    if (typeof text !== "string") {
      return {
        ok: false,
        id: "",
        code: "InvalidDocument",
        reason: "document must be a JSON string",
      };
    }
    // Up to 3 UTF-8 bytes per UTF-16 unit: count bytes only when it matters.
    if (text.length * 3 > MAX_DOCUMENT_BYTES) {
      const bytes = new TextEncoder().encode(text).byteLength;
      if (bytes > MAX_DOCUMENT_BYTES) {
        return {
          ok: false,
          id: idIn(text),
          code: "DocumentTooLarge",
          reason: `document is ${bytes} bytes, over the 64 KB limit`,
        };
      }
    }
    let doc: Json;
    try {
      doc = JSON.parse(text);
    } catch (e) {
      return {
        ok: false,
        id: idIn(text),
        code: "InvalidJson",
        reason: `document is not valid JSON: ${(e as Error).message}`,
      };
    }
    const errors = schemaErrors(doc);
    if (errors.length > 0) {
      return {
        ok: false,
        id: typeof doc?.id === "string" ? doc.id : "",
        code: "InvalidDocument",
        reason: `document does not match the X-Ray segment schema: ${
          errors.join("; ")
        }`,
      };
    }
    return { ok: true, doc, body: text };
  }

  /** Stores validated documents; returns the ones refused (trace too large). */
  function store_(
    valid: { doc: Json; body: string }[],
    source: "http" | "udp",
  ): { Id: string; ErrorCode: string; Message: string }[] {
    if (valid.length === 0) return [];
    const result = store.put(valid.map(({ doc, body }) => ({
      traceId: doc.trace_id,
      id: doc.id,
      inProgress: doc.in_progress === true,
      endTime: typeof doc.end_time === "number" ? doc.end_time : undefined,
      body,
    })));
    documents.stored += result.stored;
    documents.duplicates += result.duplicates;
    documents.stale += result.stale;
    evicted += result.evicted;
    if (result.stored > 0 || result.evicted > 0) revision++;
    return result.refused.map((i) => {
      const doc = valid[i].doc;
      const reason =
        `trace ${doc.trace_id} would hold more than ${maxTraceBytes} bytes of documents (maxTraceBytes)`;
      rejected(source, doc.id, reason);
      return { Id: doc.id, ErrorCode: "TraceTooLarge", Message: reason };
    });
  }

  // -- UDP: a bounded queue drained in batches (one transaction each) --------
  let queue: Uint8Array[] = [];
  let queuedBytes = 0;
  let scheduled: ReturnType<typeof setTimeout> | undefined;

  function drain(): void {
    scheduled = undefined;
    const pending = queue;
    queue = [];
    for (let at = 0; at < pending.length; at += 500) {
      const batch = pending.slice(at, at + 500);
      const valid: { doc: Json; body: string }[] = [];
      for (const data of batch) {
        queuedBytes -= data.byteLength;
        let text: string;
        try {
          text = new TextDecoder("utf-8", { fatal: true }).decode(data);
        } catch {
          udp.malformed++;
          continue;
        }
        const nl = text.indexOf("\n");
        if (nl < 0 || !isDaemonHeader(text.slice(0, nl))) {
          udp.malformed++;
          continue;
        }
        documents.received++;
        const checked = validate(text.slice(nl + 1));
        if (checked.ok) valid.push(checked);
        else rejected("udp", checked.id, checked.reason);
      }
      try {
        store_(valid, "udp");
      } catch {
        documents.dropped += valid.length;
      }
    }
  }

  function ingestDatagram(data: Uint8Array): void {
    if (closed) return;
    udp.datagrams++;
    if (queuedBytes + data.byteLength > maxQueuedBytes) {
      udp.dropped++;
      documents.dropped++;
      return;
    }
    queue.push(data);
    queuedBytes += data.byteLength;
    scheduled ??= setTimeout(drain, 0);
  }

  // -- HTTP routes ----------------------------------------------------------

  const inflight: Inflight = {
    take(bytes: number): boolean {
      if (inflightBytes + bytes > maxInflightBytes) return false;
      inflightBytes += bytes;
      return true;
    },
    give(bytes: number): void {
      inflightBytes -= bytes;
    },
  };

  async function readJson(request: Request): Promise<Json> {
    const text = await readBody(request, maxBodyBytes, inflight);
    if (text.trim() === "") return {};
    try {
      return JSON.parse(text);
    } catch (e) {
      http.badJson++;
      throw new HttpError(
        400,
        "InvalidRequestException",
        `Request body is not valid JSON: ${(e as Error).message}`,
      );
    }
  }

  function putTraceSegments(body: Json): Response {
    const list = body?.TraceSegmentDocuments;
    if (!Array.isArray(list)) {
      throw new HttpError(
        400,
        "InvalidRequestException",
        "TraceSegmentDocuments must be a list of document strings",
      );
    }
    const unprocessed: { Id: string; ErrorCode: string; Message: string }[] =
      [];
    const valid: { doc: Json; body: string }[] = [];
    for (const text of list) {
      documents.received++;
      const checked = validate(text);
      if (checked.ok) {
        valid.push(checked);
      } else {
        rejected("http", checked.id, checked.reason);
        unprocessed.push({
          Id: checked.id,
          ErrorCode: checked.code,
          Message: checked.reason,
        });
      }
    }
    drain(); // keep arrival order with queued datagrams
    unprocessed.push(...store_(valid, "http"));
    return json({ UnprocessedTraceSegments: unprocessed });
  }

  function getTraceSummaries(body: Json): Response {
    const start = time(body?.StartTime, "StartTime");
    const end = time(body?.EndTime, "EndTime");
    let filter: (s: TraceSummary) => boolean;
    try {
      filter = parseFilterExpression(body?.FilterExpression ?? "");
    } catch (e) {
      if (e instanceof FilterExpressionError) {
        throw new HttpError(400, "InvalidRequestException", e.message);
      }
      throw e;
    }
    const offset = offsetFrom(body?.NextToken);
    drain();
    const out: TraceSummary[] = [];
    let index = 0;
    let processed = 0;
    let next: string | undefined;
    for (const row of store.summaries(start, end, timeRange(body))) {
      if (index++ < offset) continue;
      processed++;
      if (filter(row.summary)) {
        out.push(row.summary);
        if (out.length >= SUMMARIES_PAGE) {
          next = String(index);
          break;
        }
      }
    }
    const answer: Record<string, unknown> = {
      TraceSummaries: out,
      ApproximateTime: now() / 1000,
      TracesProcessedCount: processed,
    };
    if (next !== undefined) answer.NextToken = next;
    return json(answer);
  }

  function batchGetTraces(body: Json): Response {
    const ids = traceIdList(body);
    const offset = offsetFrom(body?.NextToken);
    drain();
    const traces: Record<string, unknown>[] = [];
    const unprocessed: string[] = [];
    const page = ids.slice(offset, offset + TRACES_PAGE);
    for (const id of page) {
      const docs = store.documents(id);
      if (docs.length === 0) {
        unprocessed.push(id);
        continue;
      }
      const trace = assembleTrace(id, docs);
      let first = Number.POSITIVE_INFINITY;
      let last = Number.NEGATIVE_INFINITY;
      for (const e of trace.entities.values()) {
        if (typeof e.start_time === "number") {
          first = Math.min(first, e.start_time);
        }
        if (typeof e.end_time === "number") last = Math.max(last, e.end_time);
      }
      const entry: Record<string, unknown> = {
        Id: id,
        LimitExceeded: false,
        Segments: trace.segments.map((s) => ({
          Id: s.id,
          Document: JSON.stringify(s.document),
        })),
      };
      if (Number.isFinite(first) && Number.isFinite(last)) {
        entry.Duration = Math.round((last - first) * 1e6) / 1e6;
      }
      traces.push(entry);
    }
    const answer: Record<string, unknown> = {
      Traces: traces,
      UnprocessedTraceIds: unprocessed,
    };
    if (offset + TRACES_PAGE < ids.length) {
      answer.NextToken = String(offset + TRACES_PAGE);
    }
    return json(answer);
  }

  function getServiceGraph(body: Json): Response {
    const start = time(body?.StartTime, "StartTime");
    const end = time(body?.EndTime, "EndTime");
    drain();
    const graph = new ServiceGraph();
    for (const calls of store.graphs(start, end, "Event", maxTraces)) {
      graph.addObservations(calls);
    }
    return json({
      StartTime: start,
      EndTime: end,
      Services: graph.services(),
      ContainsOldGroupVersions: false,
    });
  }

  function getTraceGraph(body: Json): Response {
    const ids = traceIdList(body);
    drain();
    const graph = new ServiceGraph();
    for (const id of ids) {
      const calls = store.graphOf(id);
      if (calls) graph.addObservations(calls);
    }
    return json({ Services: graph.services() });
  }

  function stats(): CollectorStats {
    return {
      startedAtMs,
      revision,
      documents: { ...documents },
      http: { ...http },
      udp: { ...udp },
      store: { ...store.counts(), evicted },
      sampling: { ...samplingCalls },
    };
  }

  const POST_ROUTES: Record<string, (body: Json) => Response> = {
    "/TraceSegments": putTraceSegments,
    "/TraceSummaries": getTraceSummaries,
    "/GetTraceSummaries": getTraceSummaries,
    "/Traces": batchGetTraces,
    "/BatchGetTraces": batchGetTraces,
    "/ServiceGraph": getServiceGraph,
    "/GetServiceGraph": getServiceGraph,
    "/TraceGraph": getTraceGraph,
    "/GetTraceGraph": getTraceGraph,
    "/GetSamplingRules": () => {
      samplingCalls.rules++;
      return json(sampling.rules());
    },
    "/SamplingTargets": (body) => {
      samplingCalls.targets++;
      try {
        return json(sampling.targets(body, now()));
      } catch (e) {
        throw new HttpError(
          400,
          "InvalidRequestException",
          (e as Error).message,
        );
      }
    },
  };

  async function handle(request: Request): Promise<Response> {
    http.requests++;
    const path = new URL(request.url).pathname;
    try {
      if (closed) {
        throw new HttpError(503, "ServiceUnavailable", "Collector closed");
      }
      if (request.method === "GET" || request.method === "HEAD") {
        if (path === "/" || path === "/index.html") {
          return new Response(viewerPage, {
            headers: {
              "content-type": "text/html; charset=utf-8",
              "cache-control": "no-store",
            },
          });
        }
        if (path === "/stats") return json(stats());
      }
      const route = POST_ROUTES[path];
      if (!route) {
        await request.body?.cancel().catch(() => {});
        http.notFound++;
        return json({ message: `No route for ${request.method} ${path}` }, 404);
      }
      if (request.method !== "POST") {
        await request.body?.cancel().catch(() => {});
        throw new HttpError(
          405,
          "MethodNotAllowed",
          `${path} takes POST`,
        );
      }
      return route(await readJson(request));
    } catch (e) {
      if (e instanceof HttpError) {
        if (e.status === 413) http.tooLarge++;
        else if (e.status === 429) http.throttled++;
        else if (e.code === "IncompleteBody") http.aborted++;
        else http.badRequests++;
        return errorResponse(e);
      }
      http.errors++;
      return errorResponse(
        new HttpError(
          500,
          "InternalFailure",
          e instanceof Error ? e.message : String(e),
        ),
      );
    }
  }

  return {
    fetch: handle,
    ingestDatagram(data: Uint8Array): void {
      try {
        ingestDatagram(data);
      } catch {
        udp.malformed++;
      }
    },
    drain(): void {
      if (scheduled !== undefined) clearTimeout(scheduled);
      drain();
    },
    stats,
    close(): void {
      if (closed) return;
      if (scheduled !== undefined) clearTimeout(scheduled);
      drain();
      closed = true;
      store.close();
    },
  };
}

function idIn(text: string): string {
  const m = /"id"\s*:\s*"([0-9a-fA-F]{16})"/.exec(text.slice(0, 4096));
  return m ? m[1] : "";
}

/** The daemon's datagram header line: `{"format":"json","version":1}`. */
function isDaemonHeader(line: string): boolean {
  try {
    const header = JSON.parse(line);
    return header?.format === "json" && header?.version === 1;
  } catch {
    return false;
  }
}
