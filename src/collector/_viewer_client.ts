// The viewer's browser code. Not imported by any module: scripts/build_viewer.ts
// bundles it (with the dagre graph layout) into _viewer_assets.ts, which
// viewer.ts inlines into the page. It talks to the collector only through the
// X-Ray read APIs' own JSON shapes (GetTraceSummaries, BatchGetTraces,
// GetServiceGraph) on the page's own origin.
import { graphlib, layout } from "@dagrejs/dagre";

// ---------------------------------------------------------------- API shapes

interface AnnotationValue {
  StringValue?: string;
  NumberValue?: number;
  BooleanValue?: boolean;
}

interface TraceSummary {
  Id: string;
  StartTime?: number | string;
  Duration?: number;
  ResponseTime?: number;
  HasFault?: boolean;
  HasError?: boolean;
  HasThrottle?: boolean;
  IsPartial?: boolean;
  Http?: {
    HttpURL?: string;
    HttpStatus?: number;
    HttpMethod?: string;
  };
  Annotations?: Record<string, { AnnotationValue?: AnnotationValue }[]>;
  ServiceIds?: { Name?: string; Type?: string }[];
  EntryPoint?: { Name?: string; Type?: string };
}

interface Trace {
  Id: string;
  Duration?: number;
  Segments?: { Id: string; Document: string }[];
}

interface Statistics {
  OkCount?: number;
  ErrorStatistics?: { TotalCount?: number; ThrottleCount?: number };
  FaultStatistics?: { TotalCount?: number };
  TotalCount?: number;
  TotalResponseTime?: number;
}

interface Service {
  ReferenceId: number;
  Name?: string;
  Names?: string[];
  Type?: string;
  Root?: boolean;
  Edges?: { ReferenceId: number; SummaryStatistics?: Statistics }[];
  SummaryStatistics?: Statistics;
}

/** A segment or subsegment document, as far as the viewer reads it. */
interface Doc {
  id: string;
  name?: string;
  type?: string;
  trace_id?: string;
  parent_id?: string;
  start_time?: number;
  end_time?: number;
  in_progress?: boolean;
  namespace?: string;
  origin?: string;
  user?: string;
  error?: boolean;
  fault?: boolean;
  throttle?: boolean;
  http?: Record<string, unknown>;
  aws?: Record<string, unknown>;
  sql?: Record<string, unknown>;
  service?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
  cause?: unknown;
  subsegments?: Doc[];
}

// ---------------------------------------------------------------- fetching

/**
 * Each read API by the path the collector agreed on, then the X-Ray REST
 * path the AWS SDKs use; the first path answering 404 is dropped for good.
 */
const PATHS: Record<string, string[]> = {
  summaries: ["/GetTraceSummaries", "/TraceSummaries"],
  traces: ["/BatchGetTraces", "/Traces"],
  graph: ["/GetServiceGraph", "/ServiceGraph"],
};

type ApiResult<T> =
  | { ok: true; data: T }
  | { ok: false; status: number; message: string };

async function api<T>(kind: string, body: unknown): Promise<ApiResult<T>> {
  const paths = PATHS[kind];
  for (;;) {
    let res: Response;
    try {
      res = await fetch(paths[0], {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    } catch (error) {
      return { ok: false, status: 0, message: String(error) };
    }
    if (res.status === 404 && paths.length > 1) {
      await res.body?.cancel();
      paths.shift();
      continue;
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
    if (res.ok) return { ok: true, data: data as T };
    const d = data as { message?: string; Message?: string } | undefined;
    return {
      ok: false,
      status: res.status,
      message: d?.message ?? d?.Message ?? (text || res.statusText),
    };
  }
}

// ---------------------------------------------------------------- DOM helpers

type Child = Node | string | number | undefined | null | false;

function h(
  tag: string,
  attrs: Record<string, string | number | boolean | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    el.append(typeof c === "object" ? c : String(c));
  }
  return el;
}

const SVG_NS = "http://www.w3.org/2000/svg";

function s(
  tag: string,
  attrs: Record<string, string | number> = {},
  ...children: (Node | string)[]
): SVGElement {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.append(c);
  return el;
}

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  return document.getElementById(id) as T;
}

// ---------------------------------------------------------------- formatting

function ms(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return "";
  const v = seconds * 1000;
  if (v >= 10000) return `${(v / 1000).toFixed(1)} s`;
  if (v >= 100) return `${Math.round(v)} ms`;
  if (v >= 10) return `${v.toFixed(1)} ms`;
  return `${v.toFixed(2)} ms`;
}

function pct(part: number, total: number): string {
  if (!total) return "0%";
  const p = (part / total) * 100;
  return `${p >= 10 || p === 0 ? Math.round(p) : p.toFixed(1)}%`;
}

function clock(epochSeconds: number | undefined): string {
  if (epochSeconds === undefined || !Number.isFinite(epochSeconds)) return "";
  const d = new Date(epochSeconds * 1000);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${
    pad(d.getMilliseconds(), 3)
  }`;
}

function annotationText(v: AnnotationValue | undefined): string {
  if (!v) return "";
  if (v.StringValue !== undefined) return v.StringValue;
  if (v.NumberValue !== undefined) return String(v.NumberValue);
  if (v.BooleanValue !== undefined) return String(v.BooleanValue);
  return "";
}

function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** The epoch seconds a summary started at: `StartTime`, else the trace id's. */
function startOf(t: TraceSummary): number {
  if (typeof t.StartTime === "number") return t.StartTime;
  if (typeof t.StartTime === "string") {
    const v = Date.parse(t.StartTime);
    if (Number.isFinite(v)) return v / 1000;
  }
  const m = /^1-([0-9a-f]{8})-/.exec(t.Id);
  return m ? parseInt(m[1], 16) : 0;
}

/** ok | error | fault | throttle, the worst first. */
function health(
  x: { fault?: boolean; error?: boolean; throttle?: boolean },
): string {
  if (x.fault) return "fault";
  if (x.throttle) return "throttle";
  if (x.error) return "error";
  return "ok";
}

// ---------------------------------------------------------------- state

const state = {
  tab: "traces" as "traces" | "map",
  filter: "",
  /** The last filter the collector accepted (polling falls back to it). */
  goodFilter: "",
  rangeSeconds: 900,
  live: true,
  summaries: [] as TraceSummary[],
  listKey: "",
  /** The collector has more traces in the window than one page. */
  more: false,
  selected: undefined as string | undefined,
  selectedKey: "",
  trace: undefined as Trace | undefined,
  entity: undefined as string | undefined,
  /** Waterfall rows whose subtrees are folded. */
  collapsed: new Set<string>(),
  mapKey: "",
  busy: false,
};

function setStatus(text: string, kind: "ok" | "bad" | "idle"): void {
  const el = byId("status");
  el.textContent = text;
  el.className = kind;
}

/** Says in the status line why a collector call failed. */
function showFailure(res: { status: number; message: string }): void {
  setStatus(
    res.status
      ? `collector answered ${res.status}: ${res.message}`
      : "collector unreachable",
    "bad",
  );
}

function readHash(): void {
  const p = new URLSearchParams(location.hash.slice(1));
  state.filter = p.get("filter") ?? "";
  state.selected = p.get("trace") ?? undefined;
  state.tab = p.get("tab") === "map" ? "map" : "traces";
  const range = Number(p.get("range"));
  if (range > 0) state.rangeSeconds = range;
}

function writeHash(): void {
  const p = new URLSearchParams();
  if (state.filter) p.set("filter", state.filter);
  if (state.selected) p.set("trace", state.selected);
  if (state.tab === "map") p.set("tab", "map");
  if (state.rangeSeconds !== 900) p.set("range", String(state.rangeSeconds));
  const hash = p.toString();
  history.replaceState(null, "", hash ? `#${hash}` : location.pathname);
}

function timeRange(): { StartTime: number; EndTime: number } {
  const now = Date.now() / 1000;
  return { StartTime: Math.floor(now - state.rangeSeconds), EndTime: now + 1 };
}

// ---------------------------------------------------------------- trace list

function showFilterError(message: string | undefined): void {
  const el = byId("filter-error");
  const input = byId<HTMLInputElement>("filter");
  if (message) {
    el.textContent = message;
    el.hidden = false;
    input.setAttribute("aria-invalid", "true");
  } else {
    el.textContent = "";
    el.hidden = true;
    input.removeAttribute("aria-invalid");
  }
}

/** Loads the list; false when the collector could not be reached. */
async function loadList(): Promise<boolean> {
  const body: Record<string, unknown> = { ...timeRange() };
  if (state.filter) body.FilterExpression = state.filter;
  const res = await api<
    { TraceSummaries?: TraceSummary[]; NextToken?: string }
  >("summaries", body);
  if (!res.ok) {
    if (res.status === 400 && state.filter !== state.goodFilter) {
      showFilterError(res.message);
      state.filter = state.goodFilter;
      writeHash();
      return true;
    }
    showFailure(res);
    return false;
  }
  state.goodFilter = state.filter;
  const list = [...(res.data.TraceSummaries ?? [])];
  // Newest first; the sort is stable, so the server's order breaks ties.
  list.sort((a, b) => startOf(b) - startOf(a));
  state.summaries = list;
  state.more = res.data.NextToken !== undefined;
  const key = JSON.stringify(list) + state.more;
  if (key !== state.listKey) {
    state.listKey = key;
    renderList();
  }
  const sel = list.find((t) => t.Id === state.selected);
  if (state.selected) {
    const selKey = sel ? JSON.stringify(sel) : "";
    if (selKey !== state.selectedKey || !state.trace) {
      state.selectedKey = selKey;
      await loadTrace(state.selected);
    }
  }
  return true;
}

function renderList(): void {
  const tbody = byId("trace-rows");
  tbody.replaceChildren();
  for (const t of state.summaries) {
    const service = t.EntryPoint?.Name ?? t.ServiceIds?.[0]?.Name ?? "";
    const status = t.Http?.HttpStatus;
    const kind = health({
      fault: t.HasFault,
      error: t.HasError,
      throttle: t.HasThrottle,
    });
    const chips = h("td", { class: "annotations" });
    for (const [key, values] of Object.entries(t.Annotations ?? {})) {
      for (const v of values ?? []) {
        chips.append(
          h(
            "span",
            { class: "chip" },
            h("b", {}, key),
            "=",
            annotationText(v.AnnotationValue),
          ),
          " ",
        );
      }
    }
    const row = h(
      "tr",
      {
        class: `trace-row ${kind}${t.Id === state.selected ? " selected" : ""}`,
        "data-trace-id": t.Id,
        tabindex: 0,
      },
      h("td", { class: "time" }, clock(startOf(t))),
      h("td", { class: "service" }, service),
      h("td", { class: "method" }, t.Http?.HttpMethod ?? ""),
      h(
        "td",
        { class: "url", title: t.Http?.HttpURL ?? "" },
        t.Http?.HttpURL ?? "",
      ),
      h(
        "td",
        { class: "status" },
        h(
          "span",
          { class: `badge ${kind}` },
          status ?? (kind === "ok" ? "OK" : kind),
        ),
      ),
      h("td", { class: "duration" }, ms(t.Duration ?? t.ResponseTime)),
      chips,
    );
    row.addEventListener("click", () => selectTrace(t.Id));
    row.addEventListener("keydown", (e) => {
      if ((e as KeyboardEvent).key === "Enter") selectTrace(t.Id);
    });
    tbody.append(row);
  }
  byId("list-empty").hidden = state.summaries.length > 0;
  byId("trace-count").textContent = `${state.summaries.length} trace${
    state.summaries.length === 1 ? "" : "s"
  }${
    state.more ? " (the newest page: narrow the time range or the filter)" : ""
  }`;
}

function selectTrace(id: string): void {
  state.selected = id;
  state.entity = undefined;
  state.collapsed.clear();
  state.trace = undefined;
  state.selectedKey = "";
  writeHash();
  for (const row of document.querySelectorAll(".trace-row")) {
    row.classList.toggle(
      "selected",
      (row as HTMLElement).dataset.traceId === id,
    );
  }
  void loadTrace(id);
}

// ---------------------------------------------------------------- waterfall

interface Row {
  doc: Doc;
  depth: number;
  /** Is a segment (a service's own document), not a subsegment. */
  isSegment: boolean;
  parent?: Row;
  children: Row[];
}

/**
 * Merges a trace's documents into one tree in waterfall order: independent
 * subsegments and downstream segments go under their parents; a completed
 * document wins over an in-progress one with the same id.
 */
function traceRows(trace: Trace): Row[] {
  const nodes = new Map<string, Row>();
  const add = (doc: Doc, isSegment: boolean, parent?: Row): void => {
    if (!doc || typeof doc !== "object" || typeof doc.id !== "string") return;
    let node = nodes.get(doc.id);
    if (!node) {
      node = { doc, depth: 0, isSegment, children: [] };
      nodes.set(doc.id, node);
    } else if (node.doc.end_time === undefined && doc.end_time !== undefined) {
      node.doc = doc;
    }
    if (parent && !node.parent) node.parent = parent;
    for (const sub of doc.subsegments ?? []) add(sub, false, node);
  };
  for (const seg of trace.Segments ?? []) {
    try {
      const doc = JSON.parse(seg.Document) as Doc;
      add(doc, doc.type !== "subsegment");
    } catch {
      // Not JSON: the collector would not have stored it; nothing to draw.
    }
  }
  for (const node of nodes.values()) {
    const parentId = node.doc.parent_id;
    if (!node.parent && parentId) node.parent = nodes.get(parentId);
  }
  const roots: Row[] = [];
  for (const node of nodes.values()) {
    if (node.parent && node.parent !== node) node.parent.children.push(node);
    else roots.push(node);
  }
  const out: Row[] = [];
  const seen = new Set<Row>();
  const byStart = (a: Row, b: Row) =>
    (a.doc.start_time ?? 0) - (b.doc.start_time ?? 0);
  const walk = (list: Row[], depth: number) => {
    for (const n of list.sort(byStart)) {
      if (seen.has(n)) continue;
      seen.add(n);
      n.depth = depth;
      out.push(n);
      walk(n.children, depth + 1);
    }
  };
  walk(roots, 0);
  // Documents whose parent chain loops back on itself still get a row.
  walk([...nodes.values()].filter((n) => !seen.has(n)), 0);
  return out;
}

async function loadTrace(id: string): Promise<void> {
  const res = await api<{ Traces?: Trace[] }>("traces", { TraceIds: [id] });
  if (state.selected !== id) return;
  const detail = byId("trace-detail");
  detail.hidden = false;
  byId("detail-id").textContent = id;
  if (!res.ok) {
    byId("waterfall").replaceChildren(
      h("p", { class: "problem" }, `Could not load the trace: ${res.message}`),
    );
    return;
  }
  const trace = res.data.Traces?.find((t) => t.Id === id) ??
    res.data.Traces?.[0];
  if (!trace) {
    byId("waterfall").replaceChildren(
      h("p", { class: "problem" }, "The collector no longer has this trace."),
    );
    return;
  }
  state.trace = trace;
  const sum = state.summaries.find((t) => t.Id === id);
  byId("detail-summary").textContent = sum
    ? [
      sum.Http?.HttpMethod,
      sum.Http?.HttpURL,
      sum.Http?.HttpStatus,
      ms(sum.Duration ?? trace.Duration),
    ].filter((x) => x !== undefined && x !== "").join(" · ")
    : ms(trace.Duration);
  renderWaterfall(trace);
}

function renderWaterfall(trace: Trace): void {
  const nodes = traceRows(trace);
  let t0 = Infinity;
  let t1 = -Infinity;
  for (const n of nodes) {
    const { start_time: start, end_time: end } = n.doc;
    if (typeof start === "number") {
      t0 = Math.min(t0, start);
      t1 = Math.max(t1, start);
    }
    if (typeof end === "number") t1 = Math.max(t1, end);
  }
  if (!Number.isFinite(t0)) t0 = t1 = 0;
  const span = Math.max(t1 - t0, 1e-6);
  const pos = (t: number) => ((t - t0) / span) * 100;

  const axis = h("div", { class: "wf-axis" });
  for (let i = 0; i <= 4; i++) {
    axis.append(
      h(
        "span",
        { class: "tick", style: `left:${i * 25}%` },
        ms((span * i) / 4),
      ),
    );
  }
  const head = h(
    "div",
    { class: "wf-row wf-head" },
    h("div", { class: "wf-name" }, "Name"),
    h("div", { class: "wf-time" }, axis),
  );
  const rows = [head];
  const hidden = (n: Row): boolean => {
    for (let p = n.parent; p; p = p.parent) {
      if (state.collapsed.has(p.doc.id)) return true;
      if (p === n) break;
    }
    return false;
  };
  for (const n of nodes) {
    if (hidden(n)) continue;
    const d = n.doc;
    const start = d.start_time ?? t0;
    const inProgress = d.end_time === undefined;
    const end = inProgress ? t1 : d.end_time!;
    const kind = health(d);
    const status = (d.http?.response as { status?: number } | undefined)
      ?.status;
    const left = pos(start);
    const width = Math.max(pos(end) - left, inProgress ? 2 : 0.3);
    const label = inProgress ? "in progress" : ms(end - start);
    const bar = h(
      "button",
      {
        class: `bar ${kind}${inProgress ? " in-progress" : ""}`,
        style: `left:${left}%;width:${width}%`,
        title: `${d.name ?? ""}: ${label}`,
        "data-entity-id": d.id,
        "data-depth": n.depth,
        type: "button",
      },
    );
    const row = h(
      "div",
      {
        class: `wf-row${state.entity === d.id ? " selected" : ""}${
          n.isSegment ? " wf-segment" : ""
        }`,
        "data-entity-id": d.id,
        "data-depth": n.depth,
      },
      h(
        "div",
        { class: "wf-name", style: `padding-left:${n.depth * 16 + 4}px` },
        n.children.length
          ? toggle(d.id, n.children.length)
          : h("span", { class: "toggle" }),
        h("span", { class: `dot ${kind}` }),
        h("span", { class: "entity-name" }, d.name ?? d.id),
        n.isSegment && d.origin ? h("small", {}, ` ${d.origin}`) : "",
        d.namespace ? h("small", {}, ` ${d.namespace}`) : "",
        status ? h("small", { class: `code ${kind}` }, ` ${status}`) : "",
      ),
      h(
        "div",
        { class: "wf-time" },
        bar,
        h(
          "span",
          {
            class: "bar-label",
            style: left + width > 80
              ? `right:${100 - left + 0.5}%`
              : `left:${left + width + 0.5}%`,
          },
          label,
        ),
      ),
    );
    row.addEventListener("click", () => selectEntity(d.id));
    rows.push(row);
  }
  byId("waterfall").replaceChildren(...rows);
  const chosen = nodes.find((n) => n.doc.id === state.entity);
  if (chosen) renderEntity(chosen);
  else {byId("entity-panel").replaceChildren(
      h("p", { class: "hint" }, "Click a bar to see its details."),
    );}
}

/** The ▾/▸ button that folds a row's subtree. */
function toggle(id: string, children: number): HTMLElement {
  const folded = state.collapsed.has(id);
  const button = h(
    "button",
    {
      type: "button",
      class: "toggle",
      "aria-expanded": String(!folded),
      title: folded ? `Show ${children} nested` : "Fold",
    },
    folded ? "▸" : "▾",
  );
  button.addEventListener("click", (e) => {
    e.stopPropagation();
    if (folded) state.collapsed.delete(id);
    else state.collapsed.add(id);
    if (state.trace) renderWaterfall(state.trace);
  });
  return button;
}

function selectEntity(id: string): void {
  state.entity = id;
  if (!state.trace) return;
  for (const row of document.querySelectorAll(".wf-row")) {
    row.classList.toggle(
      "selected",
      (row as HTMLElement).dataset.entityId === id,
    );
  }
  const node = traceRows(state.trace).find((n) => n.doc.id === id);
  if (node) renderEntity(node);
}

function kvTable(entries: [string, unknown][], cls: string): HTMLElement {
  const table = h("table", { class: `kv ${cls}` });
  for (const [k, v] of entries) {
    table.append(
      h(
        "tr",
        {},
        h("th", {}, k),
        h(
          "td",
          {},
          typeof v === "object" && v !== null
            ? h("pre", {}, json(v))
            : String(v),
        ),
      ),
    );
  }
  return table;
}

function block(title: string, cls: string, ...body: Child[]): HTMLElement {
  return h(
    "section",
    { class: `block ${cls}` },
    h("h3", {}, title),
    ...body,
  );
}

function renderEntity(row: Row): void {
  const d = row.doc;
  const panel = byId("entity-panel");
  const parts: HTMLElement[] = [];
  const inProgress = d.end_time === undefined;
  const overview: [string, unknown][] = [
    ["Name", d.name ?? ""],
    ["Id", d.id],
    ["Kind", row.isSegment ? "segment" : "subsegment"],
  ];
  if (d.namespace) overview.push(["Namespace", d.namespace]);
  if (d.origin) overview.push(["Origin", d.origin]);
  if (d.parent_id) overview.push(["Parent", d.parent_id]);
  if (d.user) overview.push(["User", d.user]);
  if (d.start_time !== undefined) {
    overview.push(["Start", new Date(d.start_time * 1000).toISOString()]);
  }
  overview.push([
    "Duration",
    inProgress ? "in progress" : ms((d.end_time ?? 0) - (d.start_time ?? 0)),
  ]);
  const flags = ["fault", "error", "throttle"].filter((f) =>
    (d as unknown as Record<string, unknown>)[f] === true
  );
  overview.push(["Status", flags.length ? flags.join(", ") : "ok"]);
  parts.push(
    h("h2", {}, d.name ?? d.id),
    block("Overview", "overview", kvTable(overview, "overview")),
  );
  const annotations = Object.entries(d.annotations ?? {});
  if (annotations.length) {
    parts.push(
      block("Annotations", "annotations", kvTable(annotations, "annotations")),
    );
  }
  if (d.metadata && Object.keys(d.metadata).length) {
    parts.push(
      block(
        "Metadata",
        "metadata",
        kvTable(Object.entries(d.metadata), "metadata"),
      ),
    );
  }
  if (d.http) parts.push(block("HTTP", "http", h("pre", {}, json(d.http))));
  if (d.aws) parts.push(block("AWS", "aws", h("pre", {}, json(d.aws))));
  if (d.sql) parts.push(block("SQL", "sql", h("pre", {}, json(d.sql))));
  const cause = renderCause(d.cause);
  if (cause) parts.push(cause);
  if (d.service) {
    parts.push(block("Service", "service", h("pre", {}, json(d.service))));
  }
  const { subsegments: _omit, ...own } = d;
  parts.push(
    h(
      "details",
      { class: "raw" },
      h("summary", {}, "Raw document"),
      h("pre", {}, json(own)),
    ),
  );
  panel.replaceChildren(...parts);
}

interface StackFrame {
  path?: string;
  line?: number;
  label?: string;
}

interface ExceptionDoc {
  id?: string;
  type?: string;
  message?: string;
  remote?: boolean;
  stack?: StackFrame[];
  truncated?: number;
  skipped?: number;
}

function renderCause(cause: unknown): HTMLElement | undefined {
  if (cause === undefined || cause === null) return undefined;
  if (typeof cause === "string") {
    return block(
      "Exceptions",
      "exceptions",
      h("p", {}, `Exception ${cause} (recorded in a child subsegment)`),
    );
  }
  const c = cause as {
    working_directory?: string;
    exceptions?: ExceptionDoc[];
    paths?: string[];
  };
  const items: HTMLElement[] = [];
  for (const e of c.exceptions ?? []) {
    const frames = h("ol", { class: "stack" });
    for (const f of e.stack ?? []) {
      frames.append(
        h(
          "li",
          {},
          h("code", {}, f.label ?? "(anonymous)"),
          " ",
          h("span", { class: "where" }, `${f.path ?? "?"}:${f.line ?? "?"}`),
        ),
      );
    }
    if (e.truncated) {
      frames.append(h("li", { class: "hint" }, `… ${e.truncated} more frames`));
    }
    items.push(
      h(
        "div",
        { class: "exception" },
        h(
          "p",
          {},
          h("b", {}, e.type ?? "Error"),
          e.message ? `: ${e.message}` : "",
          e.remote ? h("small", {}, " (remote)") : "",
        ),
        frames,
      ),
    );
  }
  if (c.working_directory) {
    items.push(h("p", { class: "hint" }, `in ${c.working_directory}`));
  }
  return block("Exceptions", "exceptions", ...items);
}

// ---------------------------------------------------------------- service map

const NODE_W = 200;
const NODE_H = 84;

/** Loads the map; false when the collector could not be reached. */
async function loadMap(): Promise<boolean> {
  const res = await api<{ Services?: Service[] }>("graph", timeRange());
  if (!res.ok) {
    showFailure(res);
    return false;
  }
  const services = res.data.Services ?? [];
  const key = JSON.stringify(services);
  if (key !== state.mapKey) {
    state.mapKey = key;
    renderMap(services);
  }
  return true;
}

function stats(st: Statistics | undefined) {
  const total = st?.TotalCount ?? 0;
  const errors = st?.ErrorStatistics?.TotalCount ?? 0;
  const faults = st?.FaultStatistics?.TotalCount ?? 0;
  const avg = total ? (st?.TotalResponseTime ?? 0) / total : undefined;
  return { total, errors, faults, avg };
}

function renderMap(services: Service[]): void {
  const svg = byId("map") as unknown as SVGSVGElement;
  byId("map-empty").hidden = services.length > 0;
  const g = new graphlib.Graph({ multigraph: false });
  g.setGraph({
    rankdir: "LR",
    nodesep: 36,
    ranksep: 110,
    marginx: 20,
    marginy: 20,
  });
  g.setDefaultEdgeLabel(() => ({}));
  const byRef = new Map<number, Service>();
  for (const svc of services) {
    byRef.set(svc.ReferenceId, svc);
    g.setNode(String(svc.ReferenceId), { width: NODE_W, height: NODE_H });
  }
  for (const svc of services) {
    for (const e of svc.Edges ?? []) {
      if (!byRef.has(e.ReferenceId)) continue;
      g.setEdge(String(svc.ReferenceId), String(e.ReferenceId), {
        width: 110,
        height: 18,
        labelpos: "c",
      });
    }
  }
  layout(g);
  const graph = g.graph();
  const width = Math.max((graph.width ?? 0) + 10, 200);
  const height = Math.max((graph.height ?? 0) + 10, 100);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("width", String(width));
  svg.setAttribute("height", String(height));
  const defs = s(
    "defs",
    {},
    s(
      "marker",
      {
        id: "arrow",
        viewBox: "0 0 10 10",
        refX: 10,
        refY: 5,
        markerWidth: 8,
        markerHeight: 8,
        orient: "auto-start-reverse",
      },
      s("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }),
    ),
  );
  const children: SVGElement[] = [defs];
  for (const svc of services) {
    for (const e of svc.Edges ?? []) {
      const target = byRef.get(e.ReferenceId);
      if (!target) continue;
      const edge = g.edge(String(svc.ReferenceId), String(e.ReferenceId));
      const pts = (edge?.points ?? []) as { x: number; y: number }[];
      if (pts.length < 2) continue;
      let d = `M${pts[0].x},${pts[0].y}`;
      for (let i = 1; i < pts.length; i++) d += ` L${pts[i].x},${pts[i].y}`;
      const st = stats(e.SummaryStatistics);
      const kind = st.faults ? "fault" : st.errors ? "error" : "ok";
      const group = s(
        "g",
        {
          class: `edge ${kind}`,
          "data-from": svc.Name ?? "",
          "data-to": target.Name ?? "",
        },
        s("path", { d, "marker-end": "url(#arrow)" }),
      );
      if (edge?.x !== undefined && edge?.y !== undefined) {
        group.append(
          s(
            "text",
            { x: edge.x, y: (edge.y ?? 0) + 4, "text-anchor": "middle" },
            `${st.total} call${st.total === 1 ? "" : "s"}${
              st.avg === undefined ? "" : ` · ${ms(st.avg)}`
            }`,
          ),
        );
      }
      children.push(group);
    }
  }
  for (const svc of services) {
    const n = g.node(String(svc.ReferenceId));
    const name = svc.Name ?? (svc.Type === "client" ? "client" : "?");
    if (!n || n.x === undefined || n.y === undefined) continue;
    const st = stats(svc.SummaryStatistics);
    const isClient = svc.Type === "client" && st.total === 0;
    const x = n.x - NODE_W / 2;
    const y = n.y - NODE_H / 2;
    const kind = st.faults ? "fault" : st.errors ? "error" : "ok";
    const okPart = st.total ? (st.total - st.errors - st.faults) / st.total : 1;
    const errPart = st.total ? st.errors / st.total : 0;
    const barW = NODE_W - 20;
    const group = s(
      "g",
      {
        class: `node ${kind}`,
        "data-name": svc.Name ?? "",
        "data-type": svc.Type ?? "",
        transform: `translate(${x},${y})`,
        tabindex: 0,
      },
      s("rect", { width: NODE_W, height: NODE_H, rx: 8 }),
      s("text", { x: 10, y: 20, class: "name" }, name),
      s("text", { x: 10, y: 36, class: "type" }, svc.Type ?? ""),
      s(
        "text",
        { x: 10, y: 54, class: "numbers" },
        isClient
          ? "where requests come from"
          : `${st.total} req · ${pct(st.errors, st.total)} err · ${
            pct(st.faults, st.total)
          } fault`,
      ),
      s(
        "text",
        { x: 10, y: 70, class: "numbers" },
        isClient
          ? ""
          : st.avg === undefined
          ? "no timings"
          : `avg ${ms(st.avg)}`,
      ),
      s("rect", {
        x: 10,
        y: 75,
        width: barW * okPart,
        height: 4,
        class: "health ok",
      }),
      s("rect", {
        x: 10 + barW * okPart,
        y: 75,
        width: barW * errPart,
        height: 4,
        class: "health error",
      }),
      s("rect", {
        x: 10 + barW * (okPart + errPart),
        y: 75,
        width: Math.max(barW * (1 - okPart - errPart), 0),
        height: 4,
        class: "health fault",
      }),
    );
    if (svc.Name !== undefined) {
      // A click lists the traces through this node.
      group.prepend(s("title", {}, `Show traces through ${svc.Name}`));
      const quoted = svc.Name.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
      const open = () => {
        byId<HTMLInputElement>("filter").value = `service("${quoted}")`;
        applyFilter();
        showTab("traces");
      };
      group.addEventListener("click", open);
      group.addEventListener("keydown", (e) => {
        if ((e as KeyboardEvent).key === "Enter") open();
      });
    }
    children.push(group);
  }
  svg.replaceChildren(...children);
}

// ---------------------------------------------------------------- wiring

function showTab(tab: "traces" | "map"): void {
  state.tab = tab;
  byId("traces-view").hidden = tab !== "traces";
  byId("map-view").hidden = tab !== "map";
  for (const b of document.querySelectorAll("nav button")) {
    const on = (b as HTMLElement).dataset.tab === tab;
    b.classList.toggle("active", on);
    b.setAttribute("aria-selected", String(on));
  }
  writeHash();
  void refresh();
}

function applyFilter(): void {
  state.filter = byId<HTMLInputElement>("filter").value.trim();
  showFilterError(undefined);
  state.listKey = "";
  writeHash();
  void refresh();
}

let pending = false;

async function refresh(): Promise<void> {
  if (state.busy) {
    pending = true;
    return;
  }
  state.busy = true;
  try {
    const reached = await (state.tab === "map" ? loadMap() : loadList());
    if (reached) {
      const at = clock(Date.now() / 1000).slice(0, 8);
      setStatus(state.live ? `live · ${at}` : `paused · ${at}`, "ok");
    }
  } finally {
    state.busy = false;
  }
  if (pending) {
    pending = false;
    await refresh();
  }
}

function start(): void {
  readHash();
  const input = byId<HTMLInputElement>("filter");
  input.value = state.filter;
  const range = byId<HTMLSelectElement>("range");
  range.value = String(state.rangeSeconds);
  if (range.value !== String(state.rangeSeconds)) {
    range.append(
      h("option", { value: state.rangeSeconds }, `${state.rangeSeconds} s`),
    );
    range.value = String(state.rangeSeconds);
  }
  byId("filter-form").addEventListener("submit", (e) => {
    e.preventDefault();
    applyFilter();
  });
  input.addEventListener("input", () => showFilterError(undefined));
  range.addEventListener("change", () => {
    state.rangeSeconds = Number(range.value);
    writeHash();
    void refresh();
  });
  const live = byId<HTMLInputElement>("live");
  live.addEventListener("change", () => {
    state.live = live.checked;
    void refresh();
  });
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener(
      "click",
      () =>
        showTab((b as HTMLElement).dataset.tab === "map" ? "map" : "traces"),
    );
  }
  showTab(state.tab);
  setInterval(() => {
    if (state.live && !document.hidden) void refresh();
  }, 1000);
}

start();
