// STAND-IN for the collector, used by tests/viewer_browser_test.ts only until
// the collector (src/collector/) merges; then the browser test should run
// against the real collector and this file goes away.
//
// It serves `viewerPage` at `/`, takes documents on `POST /TraceSegments` in
// the PutTraceSegments shape (as the collector does, so the test feeds both
// the same way), and answers a deliberately small fake of the three read APIs
// the page calls, in the X-Ray API's JSON shapes, computed from those
// documents (real ones from the project's own tracer): GetTraceSummaries (with a tiny filter subset: `service("x")`,
// `http.status = N`, `annotation.k = "v"`, `fault`, `error`, `throttle`,
// joined by AND; anything else is answered 400 InvalidRequestException),
// BatchGetTraces and GetServiceGraph. It answers on both the collector's
// agreed paths (/GetTraceSummaries …) and X-Ray's REST paths (/TraceSummaries …).
import { viewerPage } from "../src/collector/viewer.ts";
import { serve } from "./_server.ts";

// deno-lint-ignore no-explicit-any
type Doc = any;

/** A running stand-in. */
export interface StandIn {
  url: string;
  /** The API paths called, in order. */
  calls: string[];
  close(): Promise<void>;
}

interface Entity {
  doc: Doc;
  /** The nearest enclosing segment's name. */
  service: string;
}

function entities(docs: Doc[]): Entity[] {
  const out: Entity[] = [];
  const walk = (doc: Doc, service: string) => {
    out.push({ doc, service });
    for (const sub of doc.subsegments ?? []) walk(sub, service);
  };
  const names = new Map<string, string>();
  for (const d of docs) if (d.type !== "subsegment") names.set(d.id, d.name);
  for (const d of docs) {
    walk(d, d.type === "subsegment" ? names.get(d.parent_id) ?? "" : d.name);
  }
  return out;
}

function annotationValue(v: unknown) {
  if (typeof v === "number") return { NumberValue: v };
  if (typeof v === "boolean") return { BooleanValue: v };
  return { StringValue: String(v) };
}

function summary(id: string, docs: Doc[]) {
  const segments = docs.filter((d) => d.type !== "subsegment");
  const ids = new Set(
    entities(docs).map((e) => e.doc.id as string),
  );
  const root = segments.find((s) => !s.parent_id || !ids.has(s.parent_id)) ??
    segments[0] ?? docs[0];
  const all = entities(docs).map((e) => e.doc);
  const start = Math.min(...all.map((d) => d.start_time));
  const end = Math.max(...all.map((d) => d.end_time ?? d.start_time));
  const annotations: Record<string, { AnnotationValue: unknown }[]> = {};
  for (const d of all) {
    for (const [k, v] of Object.entries(d.annotations ?? {})) {
      (annotations[k] ??= []).push({ AnnotationValue: annotationValue(v) });
    }
  }
  return {
    Id: id,
    StartTime: root.start_time,
    Duration: end - start,
    ResponseTime: (root.end_time ?? end) - root.start_time,
    HasFault: all.some((d) => d.fault === true),
    HasError: all.some((d) => d.error === true),
    HasThrottle: all.some((d) => d.throttle === true),
    IsPartial: false,
    Http: {
      HttpURL: root.http?.request?.url,
      HttpStatus: root.http?.response?.status,
      HttpMethod: root.http?.request?.method,
    },
    Annotations: annotations,
    ServiceIds: [...new Set(segments.map((s) => s.name))].map((Name) => ({
      Name,
      Names: [Name],
      Type: "AWS::EC2::Instance",
    })),
    EntryPoint: { Name: root.name, Names: [root.name] },
  };
}

class FilterError extends Error {}

/** The fake's filter subset: terms joined by AND, each checked on a summary. */
function compileFilter(
  text: string,
): (s: ReturnType<typeof summary>) => boolean {
  const terms = text.split(/\s+AND\s+/);
  const checks = terms.map((raw, i) => {
    const term = raw.trim();
    let m;
    if ((m = /^service\("([^"]*)"\)$/.exec(term))) {
      const name = m[1];
      return (s: ReturnType<typeof summary>) =>
        s.ServiceIds.some((x) => x.Name === name);
    }
    if ((m = /^http\.status\s*=\s*(\d+)$/.exec(term))) {
      const code = Number(m[1]);
      return (s: ReturnType<typeof summary>) => s.Http.HttpStatus === code;
    }
    if ((m = /^annotation\.(\w+)\s*=\s*"([^"]*)"$/.exec(term))) {
      const [, key, value] = m;
      return (s: ReturnType<typeof summary>) =>
        (s.Annotations[key] ?? []).some((a) =>
          (a.AnnotationValue as { StringValue?: string }).StringValue === value
        );
    }
    if (term === "fault") return (s: ReturnType<typeof summary>) => s.HasFault;
    if (term === "error") return (s: ReturnType<typeof summary>) => s.HasError;
    if (term === "throttle") {
      return (s: ReturnType<typeof summary>) => s.HasThrottle;
    }
    throw new FilterError(
      `Invalid filter expression: cannot read term ${i + 1} '${term}'`,
    );
  });
  return (s) => checks.every((check) => check(s));
}

interface GraphNode {
  name: string;
  type: string;
  ok: number;
  error: number;
  fault: number;
  throttle: number;
  total: number;
  time: number;
  edges: Map<string, GraphNode & { target: string }>;
}

function newNode(name: string, type: string): GraphNode {
  return {
    name,
    type,
    ok: 0,
    error: 0,
    fault: 0,
    throttle: 0,
    total: 0,
    time: 0,
    edges: new Map(),
  };
}

function count(node: GraphNode, doc: Doc): void {
  node.total++;
  node.time += (doc.end_time ?? doc.start_time) - doc.start_time;
  if (doc.fault) node.fault++;
  else if (doc.error) {
    node.error++;
    if (doc.throttle) node.throttle++;
  } else node.ok++;
}

function statistics(n: GraphNode) {
  return {
    OkCount: n.ok,
    ErrorStatistics: {
      ThrottleCount: n.throttle,
      OtherCount: n.error - n.throttle,
      TotalCount: n.error,
    },
    FaultStatistics: { OtherCount: n.fault, TotalCount: n.fault },
    TotalCount: n.total,
    TotalResponseTime: n.time,
  };
}

function serviceGraph(traces: Map<string, Doc[]>) {
  const nodes = new Map<string, GraphNode>();
  const node = (name: string, type: string) => {
    let n = nodes.get(name);
    if (!n) nodes.set(name, n = newNode(name, type));
    return n;
  };
  for (const docs of traces.values()) {
    const segments = docs.filter((d) => d.type !== "subsegment");
    const byParent = new Map<string, Doc>();
    for (const s of segments) if (s.parent_id) byParent.set(s.parent_id, s);
    for (const s of segments) count(node(s.name, s.origin ?? "service"), s);
    for (const { doc, service } of entities(docs)) {
      if (doc.namespace !== "remote" && doc.namespace !== "aws") continue;
      const downstream = byParent.get(doc.id);
      const target = downstream
        ? node(downstream.name, downstream.origin ?? "service")
        : node(
          doc.name,
          doc.namespace === "aws" ? `AWS::${doc.name}` : "remote",
        );
      if (!downstream) count(target, doc);
      const from = node(service, "service");
      let edge = from.edges.get(target.name);
      if (!edge) {
        from.edges.set(
          target.name,
          edge = { ...newNode(target.name, ""), target: target.name },
        );
      }
      count(edge, doc);
    }
  }
  const refs = new Map([...nodes.keys()].map((name, i) => [name, i]));
  return {
    Services: [...nodes.values()].map((n) => ({
      ReferenceId: refs.get(n.name),
      Name: n.name,
      Names: [n.name],
      Type: n.type,
      Edges: [...n.edges.values()].map((e) => ({
        ReferenceId: refs.get(e.target),
        SummaryStatistics: statistics(e),
      })),
      SummaryStatistics: statistics(n),
    })),
  };
}

const json = (body: unknown, status = 200) =>
  new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });

/** Starts the stand-in on an ephemeral 127.0.0.1 port. */
export async function startStandIn(): Promise<StandIn> {
  const traces = new Map<string, Doc[]>();
  const calls: string[] = [];
  const server = await serve(async (request) => {
    const path = new URL(request.url).pathname;
    if (request.method === "GET" && path === "/") {
      return new Response(viewerPage, {
        headers: { "content-type": "text/html; charset=utf-8" },
      });
    }
    if (request.method !== "POST") return new Response("", { status: 404 });
    // deno-lint-ignore no-explicit-any
    let body: any;
    try {
      body = await request.json();
    } catch {
      body = undefined;
    }
    if (typeof body !== "object" || body === null) {
      return json({
        __type: "InvalidRequestException",
        message: "The body is not a JSON object",
      }, 400);
    }
    calls.push(path);
    switch (path) {
      case "/TraceSegments": {
        const docs: string[] = Array.isArray(body.TraceSegmentDocuments)
          ? body.TraceSegmentDocuments
          : [];
        for (const text of docs) {
          const doc = JSON.parse(text);
          const list = traces.get(doc.trace_id) ?? [];
          traces.set(doc.trace_id, list);
          list.push(doc);
        }
        return json({ UnprocessedTraceSegments: [] });
      }
      case "/GetTraceSummaries":
      case "/TraceSummaries": {
        let keep: (s: ReturnType<typeof summary>) => boolean = () => true;
        if (body.FilterExpression) {
          try {
            keep = compileFilter(body.FilterExpression);
          } catch (error) {
            return json({
              __type: "InvalidRequestException",
              message: (error as Error).message,
            }, 400);
          }
        }
        const list = [...traces].map(([id, docs]) => summary(id, docs))
          .filter(keep)
          .sort((a, b) => b.StartTime - a.StartTime);
        return json({
          TraceSummaries: list,
          TracesProcessedCount: traces.size,
        });
      }
      case "/BatchGetTraces":
      case "/Traces": {
        const ids: string[] = Array.isArray(body.TraceIds) ? body.TraceIds : [];
        return json({
          Traces: ids.filter((id) => traces.has(id)).map((id) => {
            const docs = traces.get(id)!;
            const s = summary(id, docs);
            return {
              Id: id,
              Duration: s.Duration,
              LimitExceeded: false,
              Segments: docs.map((d) => ({
                Id: d.id,
                Document: JSON.stringify(d),
              })),
            };
          }),
          UnprocessedTraceIds: ids.filter((id) => !traces.has(id)),
        });
      }
      case "/GetServiceGraph":
      case "/ServiceGraph":
        return json(serviceGraph(traces));
    }
    return new Response("", { status: 404 });
  });
  return {
    url: server.url,
    calls,
    close: () => server.close(),
  };
}
