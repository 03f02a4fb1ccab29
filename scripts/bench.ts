// `deno task bench`: the speed benchmarks of issues 2 and 18.
//
// 1. installs the peers (pinned in bench/package.json) into bench/node_modules,
//    builds the npm package (npm_build.ts) and copies it in as `xray-edge`,
// 2. bundles bench/cases.ts (xray-edge from mod.ts + the peers) into one ESM
//    file with esbuild, so the same code runs everywhere, and bench/http/*.ts
//    and bench/export.ts with their imports left to bench/node_modules,
// 3. micro: runs every case in a fresh process on Deno, Node and Bun;
//    http (W2, scripts/bench_http.ts): requests per second of real servers;
//    export (W4, scripts/bench_export.ts): documents per second and memory
//    while the sink is down,
// 4. writes bench/results/<part>.json and regenerates BENCHMARKS.md from every
//    results file there (a part not run keeps its last results).
//
// Flags: --only=micro|http|export|paired (or a micro case prefix such as
// `request`; `paired` prints and writes nothing: bench/http/paired.ts),
// --render (only regenerate BENCHMARKS.md from bench/results/*.json; with
// --quick, print what the quick results would give),
// --runtimes=deno,node,bun, --no-write (print only), --quick (a smoke run:
// fewer rounds, short windows, fewer variants; writes bench/results/*.quick.json
// and leaves BENCHMARKS.md alone).
// micro: --rounds=N (default 9), --round-ms=N (default 150), --passes=N
// (default 2; each case keeps its lowest median).
// http: --http-rounds=N (default 3), --window=S (default 2; the whole run
// must stay under 15 minutes: 68 windows a round), --warm=S (default 1, per
// server process, shared by its routes), --connections=N (default 20), --variants=a,b
// (`runtime/name` prefixes), --routes=text,json,big,head, --profile (Node
// servers write V8 CPU profiles to bench/results/profiles/, for DevTools).
// export: --export-seconds=S (default 4), --down=S (default 60), --rate=N
// (default 1500), --outage-runtimes=node (default node).
// paired: --paired-seconds=S (default 40), --paired=a,b,… (default
// xray-never,xray-5-discard,xray-100-discard,xray-100).
// Timings are never asserted anywhere.

import * as esbuild from "esbuild";
import {
  BENCH,
  DIST,
  flag,
  machine,
  median as medianOf,
  must,
  readResults,
  ROOT,
  run,
  type RunHeader,
  runHeader,
  type Runtime,
  runtimes,
  writeResults,
} from "./_bench_util.ts";
import { httpMarkdown, type HttpResults, runHttp } from "./bench_http.ts";
import {
  exportMarkdown,
  type ExportResults,
  runExport,
} from "./bench_export.ts";

const BUNDLE = new URL("cases.mjs", DIST);
const HEAP_REQUESTS = 300_000;
const HEAP_BUDGET_BYTES = 100 * 1024;

/** A case as bench/cases.ts names it, with what it is compared against. */
interface CaseInfo {
  name: string;
  group: "request" | "header" | "unsampled";
  subject: string;
  heap?: boolean;
}

const CASES: CaseInfo[] = [
  {
    name: "request/xray-edge",
    group: "request",
    subject: "xray-edge",
    heap: true,
  },
  {
    name: "request/aws-xray-sdk-core",
    group: "request",
    subject: "aws-xray-sdk-core",
  },
  { name: "request/opentelemetry", group: "request", subject: "opentelemetry" },
  { name: "request/floor", group: "request", subject: "floor" },
  { name: "header/xray-edge", group: "header", subject: "xray-edge" },
  {
    name: "header/aws-xray-sdk-core",
    group: "header",
    subject: "aws-xray-sdk-core",
  },
  { name: "header/opentelemetry", group: "header", subject: "opentelemetry" },
  { name: "header/floor", group: "header", subject: "floor" },
  {
    name: "unsampled/xray-edge",
    group: "unsampled",
    subject: "xray-edge",
    heap: true,
  },
  {
    name: "unsampled/opentelemetry",
    group: "unsampled",
    subject: "opentelemetry",
  },
];

/** What one case process prints. */
interface CaseResult {
  case: string;
  runtime: { name: string; version: string };
  perRound: number;
  nsPerOp: number[];
  medianNs: number;
  wireBytes: number;
  retainedPer100k?: number;
  heapRequests: number;
  errors: number;
}

async function installPeers(): Promise<void> {
  console.log("installing peers (bench/package.json) …");
  await must(
    "npm install",
    "npm",
    ["install", "--no-audit", "--no-fund"],
    BENCH,
  );
  // The servers and the export bench use xray-edge as an npm user gets it:
  // the built package, placed where `import "xray-edge"` finds it (after the
  // install, which would remove it as extraneous).
  console.log("building the npm package (npm_build.ts) …");
  await must("npm build", Deno.execPath(), ["run", "-A", "npm_build.ts"], ROOT);
  const target = new URL("node_modules/xray-edge/", BENCH);
  await Deno.remove(target, { recursive: true }).catch(() => {});
  await must("copy", "cp", [
    "-r",
    new URL("npm/", ROOT).pathname,
    target.pathname,
  ]);
}

async function bundle(): Promise<void> {
  await Deno.remove(DIST, { recursive: true }).catch(() => {});
  await esbuild.build({
    entryPoints: [new URL("cases.ts", BENCH).pathname],
    outdir: DIST.pathname,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    splitting: true,
    platform: "node",
    format: "esm",
    target: "es2022",
    // The CommonJS peers (aws-xray-sdk-core) require Node built-ins.
    banner: {
      js: 'import { createRequire as __createRequire } from "node:module";\n' +
        "const require = __createRequire(import.meta.url);",
    },
    logLevel: "warning",
  });
  // The servers, the load generator, the sink and the export bench: types
  // stripped, every package import left to bench/node_modules at run time.
  await esbuild.build({
    entryPoints: [
      "http/server.ts",
      "http/sink.ts",
      "http/load.ts",
      "http/paired.ts",
      "export.ts",
      "middleware.ts",
    ]
      .map((f) => new URL(f, BENCH).pathname),
    outdir: DIST.pathname,
    outbase: BENCH.pathname,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    packages: "external",
    platform: "node",
    format: "esm",
    target: "es2022",
    logLevel: "warning",
  });
  await esbuild.stop();
}

async function runCase(
  runtime: Runtime,
  info: CaseInfo,
  rounds: number,
  roundMs: number,
  measureHeap: boolean,
): Promise<CaseResult> {
  const args = [
    ...runtime.args,
    BUNDLE.pathname,
    info.name,
    String(rounds),
    String(roundMs),
    String(info.heap && measureHeap ? HEAP_REQUESTS : 0),
  ];
  const r = await run(runtime.command, args, BENCH);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  if (!r.ok || !line.startsWith("{")) {
    throw new Error(
      `${info.name} on ${runtime.name} failed:\n${r.stdout}\n${r.stderr}`,
    );
  }
  const result = JSON.parse(line) as CaseResult;
  if (result.errors > 0) {
    throw new Error(
      `${info.name} on ${runtime.name} reported ${result.errors} recording errors`,
    );
  }
  return result;
}

function micros(ns: number | undefined): string {
  if (ns === undefined) return "—";
  const us = ns / 1000;
  return us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2);
}

function ratio(x: number): string {
  return x >= 10 ? x.toFixed(0) + "×" : x.toFixed(2) + "×";
}

function kib(bytes: number | undefined): string {
  return bytes === undefined ? "—" : (bytes / 1024).toFixed(1) + " KiB";
}

/** A checked target: `value` must be ≥ `min` or ≤ `max`. */
interface Target {
  text: string;
  value(r: Results, runtime: string): number | undefined;
  min?: number;
  max?: number;
  show(v: number): string;
}

type Results = Map<string, Map<string, CaseResult>>;

function median(r: Results, name: string, runtime: string): number | undefined {
  return r.get(name)?.get(runtime)?.medianNs;
}

function speedup(peer: string, ours: string): Target["value"] {
  return (r, rt) => {
    const a = median(r, peer, rt);
    const b = median(r, ours, rt);
    return a !== undefined && b !== undefined ? a / b : undefined;
  };
}

const TARGETS: Target[] = [
  {
    text: "request: xray-edge ≥ 4× faster than aws-xray-sdk-core",
    value: speedup("request/aws-xray-sdk-core", "request/xray-edge"),
    min: 4,
    show: ratio,
  },
  {
    text: "request: xray-edge ≥ 1.5× faster than OpenTelemetry",
    value: speedup("request/opentelemetry", "request/xray-edge"),
    min: 1.5,
    show: ratio,
  },
  {
    text: "request: xray-edge within 1.3× of the floor",
    value: (r, rt) => {
      const s = speedup("request/floor", "request/xray-edge")(r, rt);
      return s === undefined ? undefined : 1 / s;
    },
    max: 1.3,
    show: ratio,
  },
  {
    text: "request: retained heap per 100,000 requests ≤ 100 KiB",
    value: (r, rt) => {
      const c = r.get("request/xray-edge")?.get(rt);
      return c?.retainedPer100k;
    },
    max: HEAP_BUDGET_BYTES,
    show: kib,
  },
  {
    text: "header: xray-edge ≥ 5× faster than OpenTelemetry",
    value: speedup("header/opentelemetry", "header/xray-edge"),
    min: 5,
    show: ratio,
  },
  {
    text: "header: xray-edge within 2× of the floor",
    value: (r, rt) => {
      const s = speedup("header/floor", "header/xray-edge")(r, rt);
      return s === undefined ? undefined : 1 / s;
    },
    max: 2,
    show: ratio,
  },
];

function tables(results: Results, names: string[]): string {
  const lines: string[] = [];
  const groups: [CaseInfo["group"], string][] = [
    [
      "request",
      "One traced request (segment + 10 subsegments, 2 annotations + 1 metadata each, ended and serialized)",
    ],
    ["header", "`X-Amzn-Trace-Id` parse + format"],
    ["unsampled", "One unsampled request (same calls, nothing recorded)"],
  ];
  for (const [group, title] of groups) {
    const cases = CASES.filter((c) => c.group === group && results.has(c.name));
    if (cases.length === 0) continue;
    const ours = `${group}/xray-edge`;
    lines.push(`### ${title}`, "");
    lines.push(
      "| subject | " +
        names.map((n) => `${n} µs | ${n} vs xray-edge`).join(" | ") +
        " | wire bytes |",
    );
    lines.push("|---|" + names.map(() => "--:|--:").join("|") + "|--:|");
    for (const c of cases) {
      const cells = names.map((rt) => {
        const m = median(results, c.name, rt);
        const o = median(results, ours, rt);
        const rel = m !== undefined && o !== undefined
          ? (c.name === ours ? "1×" : ratio(m / o))
          : "—";
        return `${micros(m)} | ${rel}`;
      });
      const bytes = results.get(c.name)?.values().next().value?.wireBytes;
      lines.push(
        `| ${c.subject} | ${cells.join(" | ")} | ${
          group === "unsampled" || !bytes ? "—" : bytes
        } |`,
      );
    }
    lines.push("");
  }
  const heap = CASES.filter((c) => c.heap && results.has(c.name));
  if (heap.length > 0) {
    lines.push(
      "### Retained heap per 100,000 requests (after full GC; slope over 300,000)",
      "",
    );
    lines.push("| subject | " + names.join(" | ") + " |");
    lines.push("|---|" + names.map(() => "--:").join("|") + "|");
    for (const c of heap) {
      lines.push(
        `| ${c.name} | ${
          names.map((rt) => kib(results.get(c.name)?.get(rt)?.retainedPer100k))
            .join(" | ")
        } |`,
      );
    }
    lines.push("");
  }
  lines.push("### Targets (same-run ratios)", "");
  lines.push("| target | " + names.join(" | ") + " |");
  lines.push("|---|" + names.map(() => ":-:").join("|") + "|");
  for (const t of TARGETS) {
    const cells = names.map((rt) => {
      const v = t.value(results, rt);
      if (v === undefined) return "—";
      const ok = (t.min === undefined || v >= t.min) &&
        (t.max === undefined || v <= t.max);
      return `${t.show(v)} ${ok ? "✅" : "❌"}`;
    });
    lines.push(`| ${t.text} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  return lines.join("\n");
}

// The sampling microbench (written by the sampling work) joins the run when
// it exists: a Deno script whose printed lines go into BENCHMARKS.md as they are.
async function samplingBench(): Promise<string | undefined> {
  const script = new URL("scripts/bench_sampling.ts", ROOT);
  try {
    await Deno.stat(script);
  } catch {
    return undefined;
  }
  console.log("running scripts/bench_sampling.ts …");
  const r = await run(Deno.execPath(), ["run", "-A", script.pathname], ROOT);
  const text = r.ok ? r.stdout.trim() : `failed:\n${r.stdout}\n${r.stderr}`;
  return "`deno run -A scripts/bench_sampling.ts` (Deno only):\n\n```text\n" +
    text.trim() + "\n```";
}

// The SQL wrappers' cost (bench/sql_bench.ts: 50 queries on in-process
// SQLite, untraced, traced and sampled, traced under an unsampled parent):
// Deno's own bench output, as printed.
async function sqlBench(): Promise<string> {
  console.log("running bench/sql_bench.ts …");
  const r = await run(Deno.execPath(), [
    "bench",
    "-A",
    "--no-check",
    new URL("bench/sql_bench.ts", ROOT).pathname,
  ], ROOT);
  const text = r.ok
    // Deno's bench table is coloured; BENCHMARKS.md wants the plain text.
    // deno-lint-ignore no-control-regex
    ? r.stdout.replace(/\x1b\[[0-9;]*m/g, "").replaceAll(ROOT.href, "")
      .trim()
    : `failed:\n${r.stdout}\n${r.stderr}`;
  return "`deno bench -A bench/sql_bench.ts` (Deno, node:sqlite in memory; one " +
    "iteration is 50 queries: divide by 50 for the cost per query):\n\n```text\n" +
    text + "\n```";
}

// The local collector (issue 13): documents/s ingested and the trace-list
// latency with 10,000 traces stored (scripts/bench_collector.ts), as printed.
async function collectorBench(): Promise<string> {
  console.log("running scripts/bench_collector.ts …");
  const r = await run(Deno.execPath(), [
    "run",
    "-A",
    new URL("scripts/bench_collector.ts", ROOT).pathname,
  ], ROOT);
  const text = r.ok ? r.stdout.trim() : `failed:\n${r.stdout}\n${r.stderr}`;
  return "`deno task bench:collector` (Deno, `node:sqlite` in memory):\n\n```text\n" +
    text + "\n```";
}

/** What bench/results/micro.json holds. */
interface MicroResults extends RunHeader {
  kind: "micro";
  config: { rounds: number; roundMs: number; passes: number };
  cases: Record<string, Record<string, CaseResult>>;
  sampling?: string;
  sql?: string;
  collector?: string;
  /** bench/middleware.ts by runtime. */
  middleware?: Record<string, MiddlewareRun>;
}

/** What one bench/middleware.ts process prints. */
interface MiddlewareRun {
  runtime: string;
  version: string;
  perRound: number;
  /** CPU ns per request of every round, by variant. */
  ns: Record<string, number[]>;
  documents: number;
  wireBytes: number;
  errors: number;
}

const MIDDLEWARE_VARIANTS: [string, string][] = [
  ["no-op", "Hono + no-op async middleware"],
  ["xray-default", "Hono + xray(), default rule"],
  ["xray-100", "Hono + xray(), 100 %"],
];

async function runMiddleware(
  rts: Runtime[],
  rounds: number,
  perRound: number,
): Promise<Record<string, MiddlewareRun>> {
  const out: Record<string, MiddlewareRun> = {};
  for (const rt of rts) {
    const r = await run(rt.command, [
      ...rt.args,
      new URL("middleware.mjs", DIST).pathname,
      String(rounds),
      String(perRound),
    ], BENCH);
    const line = r.stdout.trim().split("\n").pop() ?? "";
    if (!r.ok || !line.startsWith("{")) {
      throw new Error(
        `middleware on ${rt.name} failed:\n${r.stdout}\n${r.stderr}`,
      );
    }
    const m = JSON.parse(line) as MiddlewareRun;
    if (m.errors > 0) {
      throw new Error(`middleware on ${rt.name} reported ${m.errors} errors`);
    }
    out[rt.name] = m;
    console.log(
      `middleware ${rt.name.padEnd(5)} ${
        MIDDLEWARE_VARIANTS.map(([v]) => `${v} ${micros(middle(m.ns[v]))} µs`)
          .join(", ")
      }`,
    );
  }
  return out;
}

// The median of a variant's rounds, when it ran.
function middle(values: number[] | undefined): number | undefined {
  return values?.length ? medianOf(values) : undefined;
}

function middlewareMarkdown(runs: Record<string, MiddlewareRun>): string {
  const names = Object.keys(runs);
  const lines = [
    "### What the Hono middleware adds per request, without the network",
    "",
    '`bench/middleware.ts`, one process per runtime: one GET (`"hello"`, text)',
    "answered by Hono through the runtime's own server code, without sockets, so",
    "that the middleware's cost is not buried under the system calls of loopback",
    "HTTP (which dominate the W2 windows on this machine; see",
    "[docs/performance.md](docs/performance.md)). Node: @hono/node-server's request",
    "listener with a real `IncomingMessage` and `ServerResponse` on a socket that",
    "discards what is written (`close` after `finish`, as Node's server emits it);",
    "Deno: `app.fetch(request, info)` with Deno.serve's `remoteAddr` and `completed`;",
    "Bun: `app.fetch(request, server)` with `requestIP`; the body read whole.",
    "xray-edge is the built npm package; documents go to a sender that counts",
    "them. The three variants live in the same process and take turns in a",
    "shuffled order, round by round; medians of the rounds' CPU time per request.",
    "",
    "| variant | " +
    names.map((n) => `${n} µs | ${n} added`).join(" | ") + " |",
    "|---|" + names.map(() => "--:|--:").join("|") + "|",
  ];
  for (const [v, title] of MIDDLEWARE_VARIANTS) {
    const cells = names.map((n) => {
      const m = middle(runs[n].ns[v]);
      const o = middle(runs[n].ns["no-op"]);
      const d = m !== undefined && o !== undefined ? m - o : undefined;
      return `${micros(m)} | ${
        v === "no-op" || d === undefined
          ? "—"
          : `${d < 0 ? "−" : "+"}${micros(Math.abs(d))}`
      }`;
    });
    lines.push(`| ${title} | ${cells.join(" | ")} |`);
  }
  const bytes = Object.values(runs)[0]?.wireBytes;
  lines.push(
    "",
    `(${
      Object.values(runs)[0]?.perRound ?? "?"
    } requests per round; one document is ${bytes} bytes.)`,
    "",
  );
  return lines.join("\n");
}

async function runMicro(
  rts: Runtime[],
  only: string | undefined,
  rounds: number,
  roundMs: number,
  passes: number,
  command: string,
): Promise<MicroResults> {
  const started = performance.now();
  const selected = CASES.filter((c) => !only || c.name.startsWith(only));
  // Two passes over every case (fresh processes each time); a case keeps the
  // lower of its two medians. Contention from other processes only ever adds
  // time, and a second pass minutes later rarely meets the same neighbours.
  const results: Results = new Map();
  for (let pass = 1; pass <= passes; pass++) {
    console.log(`micro pass ${pass} of ${passes}`);
    for (const info of selected) {
      const row = results.get(info.name) ?? new Map<string, CaseResult>();
      results.set(info.name, row);
      for (const rt of rts) {
        const r = await runCase(rt, info, rounds, roundMs, pass === 1);
        const kept = row.get(rt.name);
        if (!kept || r.medianNs < kept.medianNs) {
          row.set(rt.name, {
            ...r,
            retainedPer100k: kept?.retainedPer100k ?? r.retainedPer100k,
          });
        }
        const heap = r.retainedPer100k === undefined
          ? ""
          : `, retained ${kib(r.retainedPer100k)} per 100,000`;
        console.log(
          `${info.name.padEnd(28)} ${rt.name.padEnd(5)} ${
            micros(r.medianNs).padStart(8)
          } µs${heap}`,
        );
      }
    }
  }
  const sampling = only ? undefined : await samplingBench();
  const sql = only ? undefined : await sqlBench();
  const collector = only ? undefined : await collectorBench();
  const middleware = only && !"middleware".startsWith(only)
    ? undefined
    : await runMiddleware(rts, rounds, 5000);
  const cases: MicroResults["cases"] = {};
  for (const [name, row] of results) cases[name] = Object.fromEntries(row);
  return {
    kind: "micro",
    ...runHeader(await machine(), rts, command, started),
    config: { rounds, roundMs, passes },
    cases,
    sampling,
    sql,
    collector,
    middleware,
  };
}

function microResults(m: MicroResults): Results {
  const results: Results = new Map();
  for (const [name, row] of Object.entries(m.cases)) {
    results.set(name, new Map(Object.entries(row)));
  }
  return results;
}

function microMarkdown(m: MicroResults): string {
  const versions = Object.entries(m.versions).map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const { rounds, roundMs } = m.config;
  return [
    "## One request inside the process (micro benchmark)",
    "",
    `\`${m.command}\` on ${
      m.date.slice(0, 10)
    }: ${m.machine}; ${versions}; took ${m.seconds} s.`,
    "",
    "How it is measured: bench/cases.ts is bundled once with esbuild (xray-edge from",
    "`mod.ts`; each peer from npm, at the versions pinned in bench/package.json, in its own",
    "chunk imported only by its own case), and every case runs in a fresh process per",
    `runtime: warm up, calibrate, one full GC, then ${rounds} rounds of ~${roundMs} ms of`,
    "process CPU time (wall time on a shared machine measures the neighbours); the tables",
    'show the median CPU time per operation. "vs xray-edge" is the subject\'s time divided',
    "by xray-edge's on the same runtime (above 1× means xray-edge is faster). Retained heap:",
    "heap after a full GC at 7 points over 300,000 more requests, median slope × 100,000.",
    "",
    "- **xray-edge**: `createTracer` with a sender that keeps the last batch, every",
    "  segment ended and serialized through the batcher, `tracer.flush()` every 50 requests.",
    "- **aws-xray-sdk-core**: manual-mode `Segment` / `addNewSubsegment`, `close()`; the",
    "  emitter's `send` replaced by the SDK's own wire text (protocol header +",
    "  `segment.format()`), so only the UDP socket is skipped.",
    "- **opentelemetry**: `BasicTracerProvider` with `AWSXRayIdGenerator`,",
    "  `BatchSpanProcessor` and an exporter that serializes with",
    "  `JsonTraceSerializer` (OTLP-JSON), `forceFlush()` every 50 requests; metadata is a",
    "  JSON-string attribute (OTel attributes hold no objects). Its wire bytes are per",
    "  request, averaged over export batches. Header: `AWSXRayPropagator` extract + inject.",
    "- **floor**: the cheapest honest way to produce the same wire bytes, written by",
    "  hand for this one shape: ids as hex from a pool of random bytes refilled 4 KiB at",
    "  a time (`crypto.getRandomValues`, the source xray-edge uses too) through a",
    "  byte-to-hex table, the segment and its subsegments as plain object literals",
    "  already in wire shape, timestamps from `Date.now()`, and one `JSON.stringify`",
    "  of the whole document. What it leaves out is what any tracer must do on top:",
    "  keep entities open across calls, check names, keys and values, count and",
    "  queue documents, and decide sampling. A tracer within 1.3× of it spends almost",
    "  all its time on the wire bytes themselves. (The earlier floor drew every id",
    "  with its own `crypto.randomBytes` call, which on Node cost more than",
    "  xray-edge's whole request: that was no limit.) For the header: `split(';')` /",
    "  `split('=')` and string concatenation, no validation.",
    "- **unsampled**: the same calls on a segment the sampler rejected.",
    "",
    tables(microResults(m), Object.keys(m.versions)),
    m.middleware
      ? middlewareMarkdown(m.middleware)
      : "### What the Hono middleware adds per request, without the network\n\nNot measured in this run (`bench/middleware.ts`).\n",
    "### Sampling",
    "",
    m.sampling ??
      "Not measured in this run: scripts/bench.ts runs `scripts/bench_sampling.ts` (the\n" +
        "sampling microbench) and puts its output here.",
    "",
    "### SQL wrappers (`xray-edge/sql`)",
    "",
    m.sql ?? "Not measured in this run (`bench/sql_bench.ts`).",
    "",
    "### Local collector (`xray-edge/collector`)",
    "",
    m.collector ??
      "Not measured in this run (`scripts/bench_collector.ts`).",
    "",
  ].join("\n");
}

/** Regenerates BENCHMARKS.md from every results file in bench/results/. */
async function writeBenchmarks(suffix = ".json"): Promise<void> {
  const micro = await readResults<MicroResults>("micro" + suffix);
  const http = await readResults<HttpResults>("http" + suffix);
  const exp = await readResults<ExportResults>("export" + suffix);
  const doc = [
    "# Benchmarks",
    "",
    "Written by `deno task bench` (scripts/bench.ts) from bench/results/*.json; each",
    "part names the command, the machine and the runtime versions it ran with. The",
    "whole run: `deno task bench` (under 15 minutes); one part:",
    "`deno task bench --only=micro`, `--only=http` or `--only=export`; a smoke test",
    "of the harness: `deno task bench --quick` (numbers not written here); CPU",
    "profiles of the Node servers: `deno task bench --only=http --profile`.",
    "These machines are shared and noisy: only ratios measured in the same run mean",
    "anything, and runs differ by 10–30 % (single HTTP windows by up to ±40 %).",
    "",
    http
      ? httpMarkdown(http)
      : "## Requests per second of a server (W2)\n\nNot measured yet.\n",
    exp ? exportMarkdown(exp) : "## Export (W4)\n\nNot measured yet.\n",
    micro
      ? microMarkdown(micro)
      : "## One request inside the process (micro benchmark)\n\nNot measured yet.\n",
  ].join("\n");
  const file = new URL("BENCHMARKS.md", ROOT);
  if (suffix !== ".json") {
    // Quick results never go into BENCHMARKS.md.
    console.log(doc);
    return;
  }
  await Deno.writeTextFile(file, doc);
  // Keep it as `deno fmt` wants it, so the test task's format check passes.
  await must("deno fmt", Deno.execPath(), ["fmt", file.pathname], ROOT);
  console.log("wrote BENCHMARKS.md");
}

async function main(): Promise<void> {
  const quick = flag("quick") !== undefined;
  const only = flag("only");
  const write = flag("no-write") === undefined;
  const wanted = (flag("runtimes") ?? "deno,node,bun").split(",");
  const parts = only === undefined
    ? ["micro", "http", "export"]
    : only === "http" || only === "export"
    ? [only]
    : ["micro"];
  // A micro case prefix (`--only=request`) runs part of the micro benchmark.
  const casePrefix =
    only === undefined || only === "micro" || parts[0] !== "micro"
      ? undefined
      : only;
  const command = ["deno task bench", ...Deno.args].join(" ");
  const suffix = quick ? ".quick.json" : ".json";
  const started = performance.now();
  if (flag("render") !== undefined) return await writeBenchmarks(suffix);

  await installPeers();
  console.log("bundling bench/ …");
  await bundle();
  if (only === "paired") {
    const node = (await runtimes(["node"]))[0];
    console.log(
      await must(
        "paired variants",
        node.command,
        [
          ...node.args,
          new URL("dist/http/paired.mjs", BENCH).pathname,
          flag("paired-seconds") ?? "40",
          ...(flag("paired") ??
            "xray-never,xray-5-discard,xray-100-discard,xray-100").split(","),
        ],
        BENCH,
      ),
    );
    return;
  }
  const rts = await runtimes(wanted);
  const host = await machine();
  const save = async (name: string, data: unknown) => {
    if (!write) return;
    const file = await writeResults(name + suffix, data);
    console.log(`wrote ${file.pathname.slice(ROOT.pathname.length)}`);
  };

  if (parts.includes("micro")) {
    const micro = await runMicro(
      rts,
      casePrefix,
      Number(flag("rounds") ?? (quick ? 3 : 9)),
      Number(flag("round-ms") ?? (quick ? 100 : 150)),
      Number(flag("passes") ?? (quick ? 1 : 2)),
      command,
    );
    console.log("\n" + tables(microResults(micro), rts.map((r) => r.name)));
    if (micro.middleware) console.log(middlewareMarkdown(micro.middleware));
    if (micro.sampling) console.log(micro.sampling);
    // A partial micro run would leave the tables with holes: print only.
    if (!casePrefix) await save("micro", micro);
  }
  if (parts.includes("http")) {
    const http = await runHttp({
      rounds: Number(flag("http-rounds") ?? (quick ? 1 : 3)),
      windowSeconds: Number(flag("window") ?? 2),
      warmSeconds: Number(flag("warm") ?? 1),
      connections: Number(flag("connections") ?? 20),
      quick,
      variants: flag("variants")?.split(","),
      profileDir: flag("profile") === undefined
        ? undefined
        : new URL("results/profiles/", BENCH).pathname,
      routes: flag("routes")?.split(","),
      runtimes: rts,
      command,
      machine: host,
    });
    console.log("\n" + httpMarkdown(http));
    await save("http", http);
  }
  if (parts.includes("export")) {
    const down = Number(flag("down") ?? (quick ? 10 : 60));
    const exp = await runExport({
      throughputSeconds: Number(flag("export-seconds") ?? (quick ? 2 : 4)),
      downSeconds: down,
      upSeconds: quick ? 3 : 5,
      rate: Number(flag("rate") ?? 1500),
      quick,
      runtimes: rts.filter((r) => r.name !== "bun" || wanted.includes("bun")),
      outageRuntimes: (flag("outage-runtimes") ?? "node").split(","),
      command,
      machine: host,
    });
    console.log("\n" + exportMarkdown(exp));
    await save("export", exp);
  }
  const total = (performance.now() - started) / 1000;
  console.log(
    `(${total.toFixed(0)} s${
      parts.length === 3 && !quick && total > 900
        ? "; over the 15-minute budget of issue 18"
        : ""
    })`,
  );
  if (write && !quick) await writeBenchmarks();
}

await main();
