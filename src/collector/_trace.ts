// One trace's stored documents → the assembled tree (independent subsegments
// put back under their parents), its X-Ray `TraceSummary`, and its share of a
// service graph. Plain data in, plain data out: no storage, no I/O.

// deno-lint-ignore no-explicit-any
type Doc = Record<string, any>;

/** A stored document, as the store hands it over. */
export interface StoredDocument {
  /** The segment or subsegment id. */
  id: string;
  /** The document's JSON text. */
  body: string;
}

/** An assembled trace. */
export interface AssembledTrace {
  /** The trace id. */
  id: string;
  /** Segment documents with their independent subsegments merged in, plus orphans. */
  segments: { id: string; document: Doc }[];
  /** Every segment and subsegment by id. */
  entities: Map<string, Doc>;
  /** The id of the segment or subsegment each entity sits under (absent for roots). */
  parents: Map<string, string>;
  /** The ids of the top-level segment documents. */
  segmentIds: Set<string>;
}

function walk(
  entity: Doc,
  parentId: string | undefined,
  entities: Map<string, Doc>,
  parents: Map<string, string>,
): void {
  if (typeof entity?.id !== "string") return;
  entities.set(entity.id, entity);
  if (parentId !== undefined) parents.set(entity.id, parentId);
  if (Array.isArray(entity.subsegments)) {
    for (const sub of entity.subsegments) {
      walk(sub, entity.id, entities, parents);
    }
  }
}

/** Removes an entity and its nested ones from the index (where still theirs). */
function unwalk(
  entity: Doc,
  entities: Map<string, Doc>,
  parents: Map<string, string>,
): void {
  if (typeof entity?.id !== "string") return;
  if (entities.get(entity.id) === entity) {
    entities.delete(entity.id);
    parents.delete(entity.id);
  }
  if (Array.isArray(entity.subsegments)) {
    for (const sub of entity.subsegments) unwalk(sub, entities, parents);
  }
}

function byStart(a: Doc, b: Doc): number {
  return (a.start_time ?? 0) - (b.start_time ?? 0);
}

/** Puts one trace's documents together into one tree. */
export function assembleTrace(
  traceId: string,
  stored: readonly StoredDocument[],
): AssembledTrace {
  const segments: { id: string; document: Doc }[] = [];
  let pending: Doc[] = [];
  for (const row of stored) {
    let doc: Doc;
    try {
      doc = JSON.parse(row.body);
    } catch {
      continue;
    }
    if (doc.type === "subsegment") pending.push(doc);
    else segments.push({ id: doc.id, document: doc });
  }
  segments.sort((a, b) => byStart(a.document, b.document));
  pending.sort(byStart);
  const entities = new Map<string, Doc>();
  const parents = new Map<string, string>();
  const segmentIds = new Set<string>();
  for (const s of segments) {
    segmentIds.add(s.id);
    walk(s.document, s.document.parent_id, entities, parents);
  }
  // Independent subsegments may hang under each other: attach until stuck.
  let progress = true;
  while (pending.length > 0 && progress) {
    progress = false;
    const left: Doc[] = [];
    for (const doc of pending) {
      const parent = entities.get(doc.parent_id);
      if (!parent) {
        left.push(doc);
        continue;
      }
      const parentId = doc.parent_id;
      const { trace_id: _t, parent_id: _p, type: _y, ...entity } = doc;
      const list: Doc[] = Array.isArray(parent.subsegments)
        ? parent.subsegments
        : (parent.subsegments = []);
      const at = list.findIndex((s) => s?.id === entity.id);
      if (at >= 0) {
        // A streamed final version replaces the in-progress copy nested in
        // the parent; a nested final copy wins over an in-progress document.
        if (!(entity.in_progress === true && list[at].in_progress !== true)) {
          // The replaced copy's nested entities leave the index: streamed
          // children must attach to the new version, not the stale one.
          unwalk(list[at], entities, parents);
          list[at] = entity;
        }
      } else {
        list.push(entity);
        list.sort(byStart);
      }
      walk(
        list[at >= 0 ? at : list.indexOf(entity)],
        parentId,
        entities,
        parents,
      );
      progress = true;
    }
    pending = left;
  }
  for (const orphan of pending) {
    segments.push({ id: orphan.id, document: orphan });
    walk(orphan, orphan.parent_id, entities, parents);
  }
  return { id: traceId, segments, entities, parents, segmentIds };
}

// ---------------------------------------------------------------------------
// Summaries

/** An X-Ray `ServiceId`: a node of the service graph. */
export interface ServiceId {
  /** The service or remote host name. */
  Name?: string;
  /** The names it goes by (here: `[Name]`). */
  Names?: string[];
  /** The segment's `origin`, else `service`; `remote`, `AWS::<name>`, `Database::SQL` or `client`. */
  Type?: string;
}

/** An X-Ray `AnnotationValue`: exactly one of the three. */
export type AnnotationValue =
  | { StringValue: string }
  | { NumberValue: number }
  | { BooleanValue: boolean };

/** The HTTP request and response of a trace's entry segment. */
export interface TraceHttp {
  /** `http.request.url`. */
  HttpURL?: string;
  /** `http.response.status`. */
  HttpStatus?: number;
  /** `http.request.method`. */
  HttpMethod?: string;
  /** `http.request.user_agent`. */
  UserAgent?: string;
  /** `http.request.client_ip`. */
  ClientIp?: string;
}

/** An X-Ray `TraceSummary` (the fields this collector fills). */
export interface TraceSummary {
  /** The trace id. */
  Id: string;
  /** The earliest start time in the trace, epoch seconds. */
  StartTime: number;
  /** Latest end minus earliest start, seconds (absent while nothing ended). */
  Duration?: number;
  /** The entry segment's end minus its start, seconds. */
  ResponseTime?: number;
  /** A segment has `fault`. */
  HasFault: boolean;
  /** A segment has `error`. */
  HasError: boolean;
  /** A segment has `throttle`. */
  HasThrottle: boolean;
  /** Part of the trace is in progress, or no segment arrived yet. */
  IsPartial: boolean;
  /** The entry segment's HTTP request and response. */
  Http?: TraceHttp;
  /** Every annotation in the trace: key → distinct values and the services that set them. */
  Annotations: Record<
    string,
    { AnnotationValue: AnnotationValue; ServiceIds: ServiceId[] }[]
  >;
  /** Segments' `user` values. */
  Users: { UserName: string; ServiceIds: ServiceId[] }[];
  /** Every service and downstream host in the trace. */
  ServiceIds: ServiceId[];
  /** Segments' `resource_arn` values. */
  ResourceARNs: { ARN: string }[];
  /** EC2 instance ids from segments' `aws.ec2`. */
  InstanceIds: { Id: string }[];
  /** Availability zones from segments' `aws.ec2`. */
  AvailabilityZones: { Name: string }[];
  /** The earliest root segment's service. */
  EntryPoint?: ServiceId;
  /** Where faults start: the deepest entities with `fault`. */
  FaultRootCauses: RootCause[];
  /** Where errors start: the deepest entities with `error` or `throttle`. */
  ErrorRootCauses: RootCause[];
  /** Always empty here. */
  ResponseTimeRootCauses: unknown[];
  /** Increases each time the trace's documents change. */
  Revision: number;
}

/** The node a segment or remote subsegment stands for in a service graph. */
export function serviceOf(entity: Doc, isSegment: boolean): ServiceId {
  const name = String(entity.name);
  if (isSegment) {
    return {
      Name: name,
      Names: [name],
      Type: typeof entity.origin === "string" ? entity.origin : "service",
    };
  }
  let type = "remote";
  if (entity.namespace === "aws") type = `AWS::${name}`;
  else if (entity.sql) type = "Database::SQL";
  return { Name: name, Names: [name], Type: type };
}

function sameService(a: ServiceId, b: ServiceId): boolean {
  return a.Name === b.Name && a.Type === b.Type;
}

function addService(list: ServiceId[], service: ServiceId): void {
  if (!list.some((s) => sameService(s, service))) list.push(service);
}

function annotationValue(value: unknown): AnnotationValue | undefined {
  if (typeof value === "string") return { StringValue: value };
  if (typeof value === "number") return { NumberValue: value };
  if (typeof value === "boolean") return { BooleanValue: value };
  return undefined;
}

/** The segment each entity belongs to (itself for segments). */
function owningSegment(trace: AssembledTrace, id: string): Doc | undefined {
  let current: string | undefined = id;
  for (let i = 0; current !== undefined && i < 1000; i++) {
    if (trace.segmentIds.has(current)) return trace.entities.get(current);
    current = trace.parents.get(current);
  }
  return undefined;
}

/** Remote calls not answered by a traced downstream segment. */
function inferredCalls(trace: AssembledTrace): { call: Doc; from: Doc }[] {
  const answered = new Set<string>();
  for (const id of trace.segmentIds) {
    const seg = trace.entities.get(id);
    if (typeof seg?.parent_id === "string") answered.add(seg.parent_id);
  }
  const out: { call: Doc; from: Doc }[] = [];
  for (const [id, entity] of trace.entities) {
    if (trace.segmentIds.has(id) || answered.has(id)) continue;
    if (entity.namespace !== "remote" && entity.namespace !== "aws") continue;
    // Only the outermost remote call counts (an AWS call's HTTP child is the same call).
    let nested = false;
    for (
      let p = trace.parents.get(id);
      p !== undefined && !trace.segmentIds.has(p);
      p = trace.parents.get(p)
    ) {
      const up = trace.entities.get(p);
      if (up?.namespace === "remote" || up?.namespace === "aws") {
        nested = true;
        break;
      }
    }
    if (nested) continue;
    const from = owningSegment(trace, id);
    if (from) out.push({ call: entity, from });
  }
  return out;
}

/** The segments without a parent inside the trace, earliest first. */
function rootSegments(trace: AssembledTrace): Doc[] {
  const roots: Doc[] = [];
  for (const id of trace.segmentIds) {
    const seg = trace.entities.get(id)!;
    if (
      typeof seg.parent_id !== "string" || !trace.entities.has(seg.parent_id)
    ) {
      roots.push(seg);
    }
  }
  return roots.sort(byStart);
}

/** Builds the X-Ray `TraceSummary` of an assembled trace. */
export function summarizeTrace(
  trace: AssembledTrace,
  revision: number,
): TraceSummary {
  let start = Number.POSITIVE_INFINITY;
  let end = Number.NEGATIVE_INFINITY;
  let partial = false;
  const annotations: TraceSummary["Annotations"] = {};
  const users: TraceSummary["Users"] = [];
  const services: ServiceId[] = [];
  const arns = new Set<string>();
  const instances = new Set<string>();
  const zones = new Set<string>();
  let fault = false;
  let error = false;
  let throttle = false;
  for (const [id, entity] of trace.entities) {
    const isSegment = trace.segmentIds.has(id);
    if (typeof entity.start_time === "number") {
      start = Math.min(start, entity.start_time);
    }
    if (typeof entity.end_time === "number") {
      end = Math.max(end, entity.end_time);
    }
    if (entity.in_progress === true) partial = true;
    const owner = isSegment ? entity : owningSegment(trace, id);
    const ownerService = owner ? serviceOf(owner, true) : undefined;
    if (isSegment) {
      addService(services, ownerService!);
      if (entity.fault === true) fault = true;
      if (entity.error === true) error = true;
      if (entity.throttle === true) throttle = true;
      if (typeof entity.user === "string") {
        const existing = users.find((u) => u.UserName === entity.user);
        if (existing) addService(existing.ServiceIds, ownerService!);
        else users.push({ UserName: entity.user, ServiceIds: [ownerService!] });
      }
      if (typeof entity.resource_arn === "string") {
        arns.add(entity.resource_arn);
      }
      const ec2 = entity.aws?.ec2;
      if (typeof ec2?.instance_id === "string") instances.add(ec2.instance_id);
      if (typeof ec2?.availability_zone === "string") {
        zones.add(ec2.availability_zone);
      }
    }
    if (entity.annotations && typeof entity.annotations === "object") {
      for (const [key, raw] of Object.entries(entity.annotations)) {
        const value = annotationValue(raw);
        if (!value) continue;
        const list = annotations[key] ??= [];
        const text = JSON.stringify(value);
        let item = list.find((v) => JSON.stringify(v.AnnotationValue) === text);
        if (!item) {
          item = { AnnotationValue: value, ServiceIds: [] };
          list.push(item);
        }
        if (ownerService) addService(item.ServiceIds, ownerService);
      }
    }
  }
  for (const { call } of inferredCalls(trace)) {
    addService(services, serviceOf(call, false));
  }
  const roots = rootSegments(trace);
  const root = roots[0];
  if (trace.segmentIds.size === 0) partial = true;
  const summary: TraceSummary = {
    Id: trace.id,
    StartTime: Number.isFinite(start) ? start : 0,
    HasFault: fault,
    HasError: error,
    HasThrottle: throttle,
    IsPartial: partial,
    Annotations: annotations,
    Users: users,
    ServiceIds: services,
    ResourceARNs: [...arns].map((ARN) => ({ ARN })),
    InstanceIds: [...instances].map((Id) => ({ Id })),
    AvailabilityZones: [...zones].map((Name) => ({ Name })),
    FaultRootCauses: rootCauses(trace, "fault"),
    ErrorRootCauses: rootCauses(trace, "error"),
    ResponseTimeRootCauses: [],
    Revision: revision,
  };
  if (Number.isFinite(start) && Number.isFinite(end)) {
    summary.Duration = round(end - start);
  }
  if (root) {
    summary.EntryPoint = serviceOf(root, true);
    if (typeof root.end_time === "number") {
      summary.ResponseTime = round(root.end_time - root.start_time);
    }
    const request = root.http?.request;
    const response = root.http?.response;
    if (request || response) {
      const http: NonNullable<TraceSummary["Http"]> = {};
      if (typeof request?.url === "string") http.HttpURL = request.url;
      if (typeof response?.status === "number") {
        http.HttpStatus = response.status;
      }
      if (typeof request?.method === "string") http.HttpMethod = request.method;
      if (typeof request?.user_agent === "string") {
        http.UserAgent = request.user_agent;
      }
      if (typeof request?.client_ip === "string") {
        http.ClientIp = request.client_ip;
      }
      summary.Http = http;
    }
  }
  return summary;
}

/** One step of a root cause's path: an entity and its exceptions. */
export interface RootCauseEntity {
  /** The segment or subsegment name. */
  Name: string;
  /** Its exceptions (`type` → `Name`, `message` → `Message`). */
  Exceptions: { Name?: string; Message?: string }[];
  /** Whether it is a remote call (namespace `remote` or `aws`). */
  Remote: boolean;
}

/** An X-Ray `FaultRootCause` / `ErrorRootCause`. */
export interface RootCause {
  /** The service where it starts, with the path to the entity. */
  Services: {
    /** The service (or untraced downstream host). */
    Name: string;
    /** `[Name]`. */
    Names: string[];
    /** As in {@linkcode ServiceId}. */
    Type?: string;
    /** From the segment down to the flagged entity. */
    EntityPath: RootCauseEntity[];
    /** True for an untraced downstream host. */
    Inferred: boolean;
  }[];
  /** Whether the trace's entry segment has the same flag. */
  ClientImpacting: boolean;
}

function flagged(entity: Doc, kind: "fault" | "error"): boolean {
  return kind === "fault"
    ? entity.fault === true
    : entity.error === true || entity.throttle === true;
}

/**
 * The deepest flagged entities of a trace, each with the path to it from its
 * segment and its exceptions: X-Ray's fault and error root causes.
 */
function rootCauses(
  trace: AssembledTrace,
  kind: "fault" | "error",
): RootCause[] {
  const children = new Map<string, string[]>();
  for (const [child, parent] of trace.parents) {
    const list = children.get(parent);
    if (list) list.push(child);
    else children.set(parent, [child]);
  }
  const memo = new Map<string, boolean>();
  const flaggedBelow = (id: string): boolean => {
    let answer = memo.get(id);
    if (answer === undefined) {
      answer = (children.get(id) ?? []).some((c) =>
        flagged(trace.entities.get(c)!, kind) || flaggedBelow(c)
      );
      memo.set(id, answer);
    }
    return answer;
  };
  const roots = rootSegments(trace);
  const clientImpacting = roots.some((r) => flagged(r, kind));
  const answered = new Set<string>();
  for (const id of trace.segmentIds) {
    const parent = trace.entities.get(id)?.parent_id;
    if (typeof parent === "string") answered.add(parent);
  }
  const causes: RootCause[] = [];
  for (const [id, entity] of trace.entities) {
    if (!flagged(entity, kind) || flaggedBelow(id)) continue;
    // The path from the owning segment down to the entity.
    const path: Doc[] = [];
    let current: string | undefined = id;
    while (current !== undefined) {
      path.unshift(trace.entities.get(current)!);
      if (trace.segmentIds.has(current)) break;
      current = trace.parents.get(current);
    }
    const segment = path[0];
    if (!trace.segmentIds.has(segment.id)) continue;
    const remote = (e: Doc) =>
      e.namespace === "remote" || e.namespace === "aws";
    const inferred = !trace.segmentIds.has(id) && remote(entity) &&
      !answered.has(id);
    const service = inferred
      ? serviceOf(entity, false)
      : serviceOf(segment, true);
    causes.push({
      Services: [{
        Name: service.Name!,
        Names: service.Names!,
        Type: service.Type,
        EntityPath: path.map((e) => ({
          Name: String(e.name),
          Exceptions: Array.isArray(e.cause?.exceptions)
            ? e.cause.exceptions.map((x: Doc) => ({
              Name: typeof x?.type === "string" ? x.type : undefined,
              Message: typeof x?.message === "string" ? x.message : undefined,
            }))
            : [],
          Remote: remote(e),
        })),
        Inferred: inferred,
      }],
      ClientImpacting: clientImpacting,
    });
  }
  return causes;
}

function round(seconds: number): number {
  return Math.round(seconds * 1e6) / 1e6;
}

// ---------------------------------------------------------------------------
// Service graphs

interface Stats {
  ok: number;
  error: number;
  throttle: number;
  fault: number;
  total: number;
  responseTime: number;
  /** Response times rounded to the millisecond → how many. */
  histogram: Map<number, number>;
}

const MAX_HISTOGRAM_ENTRIES = 1000;

function histogram(stats: Stats): { Value: number; Count: number }[] {
  return [...stats.histogram].sort((a, b) => a[0] - b[0]).map((
    [Value, Count],
  ) => ({ Value, Count }));
}

interface GraphNode {
  service: ServiceId;
  root: boolean;
  start: number;
  end: number;
  stats: Stats;
  edges: Map<string, { start: number; end: number; stats: Stats }>;
}

function emptyStats(): Stats {
  return {
    ok: 0,
    error: 0,
    throttle: 0,
    fault: 0,
    total: 0,
    responseTime: 0,
    histogram: new Map(),
  };
}

function count(stats: Stats, sample: GraphSample): void {
  stats.total++;
  if (sample.x === 3) stats.fault++;
  else if (sample.x === 2) stats.throttle++;
  else if (sample.x === 1) stats.error++;
  else stats.ok++;
  if (sample.e !== undefined) {
    const seconds = sample.e - sample.s;
    stats.responseTime += seconds;
    const bucket = Math.round(seconds * 1000) / 1000;
    const seen = stats.histogram.get(bucket);
    if (seen !== undefined) stats.histogram.set(bucket, seen + 1);
    else if (stats.histogram.size < MAX_HISTOGRAM_ENTRIES) {
      stats.histogram.set(bucket, 1);
    }
  }
}

function statistics(stats: Stats): Record<string, unknown> {
  return {
    OkCount: stats.ok,
    ErrorStatistics: {
      ThrottleCount: stats.throttle,
      OtherCount: stats.error,
      TotalCount: stats.error + stats.throttle,
    },
    FaultStatistics: { OtherCount: stats.fault, TotalCount: stats.fault },
    TotalCount: stats.total,
    TotalResponseTime: round(stats.responseTime),
  };
}

/** An entity's times and outcome, as the service graph counts it. */
export interface GraphSample {
  /** Start, epoch seconds. */
  s: number;
  /** End, epoch seconds (absent while in progress). */
  e?: number;
  /** 0 ok, 1 error, 2 throttle, 3 fault. */
  x: 0 | 1 | 2 | 3;
}

/**
 * One call seen in a trace: the callee node (counted with the sample) and the
 * edge from its caller (`client` for a root). Compact, so it is stored with
 * the trace and graphs are built without re-reading documents.
 */
export interface GraphObservation extends GraphSample {
  /** The callee. */
  to: ServiceId;
  /** The caller. */
  from: ServiceId;
}

function sample(entity: Doc): GraphSample {
  const out: GraphSample = {
    s: entity.start_time,
    x: entity.fault === true
      ? 3
      : entity.throttle === true
      ? 2
      : entity.error === true
      ? 1
      : 0,
  };
  if (typeof entity.end_time === "number") out.e = entity.end_time;
  return out;
}

const CLIENT: ServiceId = Object.freeze({ Type: "client" });

/** The calls of one assembled trace, for {@linkcode ServiceGraph}. */
export function graphObservations(trace: AssembledTrace): GraphObservation[] {
  const out: GraphObservation[] = [];
  for (const id of trace.segmentIds) {
    const seg = trace.entities.get(id)!;
    const caller = typeof seg.parent_id === "string"
      ? owningSegment(trace, seg.parent_id)
      : undefined;
    out.push({
      to: serviceOf(seg, true),
      from: caller ? serviceOf(caller, true) : CLIENT,
      ...sample(seg),
    });
  }
  for (const { call, from } of inferredCalls(trace)) {
    out.push({
      to: serviceOf(call, false),
      from: serviceOf(from, true),
      ...sample(call),
    });
  }
  return out;
}

/** Accumulates the service graph of many traces. */
export class ServiceGraph {
  #nodes = new Map<string, GraphNode>();

  #node(service: ServiceId): GraphNode {
    const key = `${service.Name ?? ""}\u0000${service.Type ?? ""}`;
    let node = this.#nodes.get(key);
    if (!node) {
      node = {
        service,
        root: false,
        start: Number.POSITIVE_INFINITY,
        end: Number.NEGATIVE_INFINITY,
        stats: emptyStats(),
        edges: new Map(),
      };
      this.#nodes.set(key, node);
    }
    return node;
  }

  /** Adds one assembled trace. */
  add(trace: AssembledTrace): void {
    this.addObservations(graphObservations(trace));
  }

  /** Adds the calls of one trace (from {@linkcode graphObservations}). */
  addObservations(observations: readonly GraphObservation[]): void {
    for (const o of observations) {
      const node = this.#node(o.to);
      node.start = Math.min(node.start, o.s);
      node.end = Math.max(node.end, o.e ?? o.s);
      count(node.stats, o);
      const from = this.#node(o.from);
      if (o.from.Type === "client") node.root = true;
      const key = `${o.to.Name ?? ""}\u0000${o.to.Type ?? ""}`;
      let edge = from.edges.get(key);
      if (!edge) {
        edge = {
          start: Number.POSITIVE_INFINITY,
          end: Number.NEGATIVE_INFINITY,
          stats: emptyStats(),
        };
        from.edges.set(key, edge);
      }
      edge.start = Math.min(edge.start, o.s);
      edge.end = Math.max(edge.end, o.e ?? o.s);
      count(edge.stats, o);
    }
  }

  /** The X-Ray `Services` list. */
  services(): Record<string, unknown>[] {
    const keys = [...this.#nodes.keys()];
    const refOf = new Map(keys.map((k, i) => [k, i]));
    return keys.map((key, i) => {
      const node = this.#nodes.get(key)!;
      const out: Record<string, unknown> = { ReferenceId: i };
      if (node.service.Name !== undefined) {
        out.Name = node.service.Name;
        out.Names = node.service.Names;
      }
      out.Root = node.root;
      out.Type = node.service.Type;
      out.State = node.service.Type === "client" ? "unknown" : "active";
      if (Number.isFinite(node.start)) {
        out.StartTime = node.start;
        out.EndTime = node.end;
      }
      out.Edges = [...node.edges].map(([to, edge]) => ({
        ReferenceId: refOf.get(to),
        StartTime: edge.start,
        EndTime: edge.end,
        SummaryStatistics: statistics(edge.stats),
        ResponseTimeHistogram: histogram(edge.stats),
        Aliases: [],
      }));
      if (node.service.Type !== "client") {
        out.SummaryStatistics = statistics(node.stats);
        out.DurationHistogram = histogram(node.stats);
        out.ResponseTimeHistogram = histogram(node.stats);
      }
      return out;
    });
  }
}
