// W2 of `deno task bench` (`--only=http`): requests per second of real
// servers, traced and not, on Node (@hono/node-server, Express), Deno.serve
// and Bun.serve. Run by scripts/bench.ts after it installed bench/node_modules,
// copied the npm build into it and bundled bench/http/*.ts into bench/dist/.
//
// - The load comes from a second process on 127.0.0.1: autocannon (pinned in
//   bench/package.json) in one long-lived Node process (bench/http/load.ts),
//   20 connections, a bounded window per route.
// - Each variant runs in a fresh server process per round (bench/http/server.ts);
//   the order of the variants rotates from round to round.
// - Per window: req/s, p99 latency, the server's CPU time per request
//   (/proc/<pid>/stat utime + stime before and after), and the CPU that
//   processes other than the server, the load generator, the sink and this
//   script used meanwhile (/proc/stat): a window where others took more than
//   a tenth of a core is flagged, as single windows on a shared 2-core machine
//   swing by ±40 %.
// - The documents (spans, datagrams) every traced variant sends go to one
//   local sink process (bench/http/sink.ts), which counts them: at 100 %
//   sampling delivered must equal the requests handled.

import {
  BENCH,
  Child,
  DIST,
  median,
  problemsMarkdown,
  processTicks,
  type RunHeader,
  runHeader,
  type Runtime,
  sleep,
  systemTicks,
  TICKS_PER_SECOND,
} from "./_bench_util.ts";

/** One route the load generator asks for. */
export interface Route {
  name: "text" | "json" | "big" | "head";
  path: string;
  method: "GET" | "HEAD";
  title: string;
}

export const ROUTES: Route[] = [
  { name: "text", path: "/text", method: "GET", title: "small text" },
  { name: "json", path: "/json", method: "GET", title: "~2 KB JSON" },
  { name: "big", path: "/big", method: "GET", title: "1 MiB body" },
  { name: "head", path: "/text", method: "HEAD", title: "HEAD" },
];

/** One server variant. */
export interface Variant {
  runtime: string;
  /** The server.ts variant name. */
  name: string;
  /** What the tables call it. */
  label: string;
  routes: Route["name"][];
  /** What the ÷ bare and ÷ no-op columns divide by (variant names, same runtime). */
  bare: string;
  noop: string;
  /** Which sink counter must equal the requests handled (100 % sampling). */
  expect?: "documents" | "spans" | "datagrams";
  /** Which sink counter to show (default sampling: some documents). */
  count?: "documents";
  /** Part of `--quick`. */
  quick?: boolean;
}

const ALL: Route["name"][] = ["text", "json", "big", "head"];
const LIGHT: Route["name"][] = ["text", "json"];

function honoFamily(runtime: string, serverName: string): Variant[] {
  const ref = { bare: "hono", noop: "noop" };
  return [
    {
      runtime,
      name: "hono",
      label: `${serverName} + Hono (bare)`,
      // The 1 MiB and HEAD routes are there for the middleware's own cost
      // (÷ no-op); leaving bare Hono out of them keeps the run under 15 min.
      routes: LIGHT,
      ...ref,
      quick: true,
    },
    {
      runtime,
      name: "noop",
      label: "Hono + no-op async middleware",
      routes: ALL,
      ...ref,
      quick: true,
    },
    {
      runtime,
      name: "xray-default",
      label: "Hono + xray(), default rule",
      routes: ALL,
      ...ref,
      count: "documents",
      quick: true,
    },
    {
      runtime,
      name: "xray-100",
      label: "Hono + xray(), 100 %",
      routes: ALL,
      ...ref,
      expect: "documents",
      quick: true,
    },
  ];
}

function fetchFamily(runtime: string, serverName: string): Variant[] {
  const ref = { bare: "fetch", noop: "fetch" };
  return [
    {
      runtime,
      name: "fetch",
      label: `${serverName}, plain fetch handler`,
      routes: LIGHT,
      ...ref,
      quick: true,
    },
    {
      runtime,
      name: "withxray-default",
      label: "withXRay(handler), default rule",
      routes: LIGHT,
      ...ref,
      count: "documents",
    },
    {
      runtime,
      name: "withxray-100",
      label: "withXRay(handler), 100 %",
      routes: LIGHT,
      ...ref,
      expect: "documents",
      quick: true,
    },
  ];
}

/** Every variant, in table order. */
export function variants(): Variant[] {
  const ref = { bare: "hono", noop: "noop" };
  return [
    ...honoFamily("node", "@hono/node-server"),
    {
      runtime: "node",
      name: "otel",
      label:
        "Hono + @hono/otel (X-Ray ids + propagator, BatchSpanProcessor, OTLP/HTTP)",
      routes: LIGHT,
      ...ref,
      expect: "spans",
      quick: true,
    },
    {
      runtime: "node",
      name: "aws-xray-sdk",
      label: "Hono + aws-xray-sdk-core manual segment (UDP)",
      routes: LIGHT,
      ...ref,
      expect: "datagrams",
      quick: true,
    },
    {
      runtime: "node",
      name: "express",
      label: "Express (bare)",
      routes: LIGHT,
      ...ref,
    },
    {
      runtime: "node",
      name: "express-xray",
      label: "Express + aws-xray-sdk-express, 100 % (UDP)",
      routes: LIGHT,
      ...ref,
      expect: "datagrams",
      quick: true,
    },
    {
      runtime: "node",
      name: "express-xray-edge",
      label: "Express + xray-edge's xrayExpress, 100 %",
      routes: LIGHT,
      ...ref,
      expect: "documents",
    },
    ...honoFamily("deno", "Deno.serve"),
    ...fetchFamily("deno", "Deno.serve"),
    ...honoFamily("bun", "Bun.serve"),
    ...fetchFamily("bun", "Bun.serve"),
  ];
}

/** One measured window. */
export interface Window {
  runtime: string;
  variant: string;
  route: Route["name"];
  round: number;
  requests: number;
  seconds: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Server CPU per request, µs. */
  cpuUs: number;
  /** Server CPU, in cores (1 = one core busy for the whole window). */
  serverCores: number;
  /** CPU used by everything else on the machine, in cores. */
  otherCores: number;
  /** CPU of the load generator, in cores (near 1: it, not the server, was the limit). */
  loaderCores: number;
  errors: number;
  non2xx: number;
}

/** What one server process delivered. */
export interface Delivery {
  runtime: string;
  variant: string;
  round: number;
  handled: number;
  delivered: number;
  counter: string;
  expected?: number;
  tracerErrors: number;
  firstError?: string;
  dropped?: number;
}

/** The medians of one variant × route. */
export interface Summary {
  runtime: string;
  variant: string;
  label: string;
  route: Route["name"];
  rps: number;
  p99Ms: number;
  cpuUs: number;
  serverCores: number;
  loaderCores: number;
  windows: number;
  noisyWindows: number;
  vsBare?: number;
  vsNoop?: number;
  /**
   * The no-op reference's server CPU per request ÷ this variant's: the req/s
   * ratio a CPU-bound server would show, unaffected by a saturated load
   * generator.
   */
  cpuVsNoop?: number;
}

export interface HttpResults extends RunHeader {
  kind: "http";
  config: {
    rounds: number;
    windowSeconds: number;
    warmSeconds: number;
    connections: number;
    quick: boolean;
  };
  windows: Window[];
  deliveries: Delivery[];
  summaries: Summary[];
  labels: Record<string, string>;
  problems: string[];
  /** Set by hand when rows were merged in from a second run. */
  note?: string;
}

export interface HttpOptions {
  rounds: number;
  windowSeconds: number;
  warmSeconds: number;
  connections: number;
  quick: boolean;
  /** Variant filter: `runtime/name` or `name` prefixes; undefined = the set. */
  variants?: string[];
  /** Where Node servers write CPU profiles (`--profile`); none when undefined. */
  profileDir?: string;
  routes?: string[];
  runtimes: Runtime[];
  command: string;
  machine: string;
}

const OTHERS_LIMIT = 0.1;

function script(name: string): string {
  return new URL(`http/${name}.mjs`, DIST).pathname;
}

async function getJson(url: string): Promise<Record<string, unknown>> {
  const res = await fetch(url);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${url} answered ${res.status}: ${text.slice(0, 200)}`);
  }
}

/** Runs W2 and returns its results. */
export async function runHttp(options: HttpOptions): Promise<HttpResults> {
  const started = performance.now();
  const rts = new Map(options.runtimes.map((r) => [r.name, r]));
  const node = rts.get("node") ?? {
    name: "node",
    command: "node",
    args: [],
    version: "",
  };
  let chosen = variants().filter((v) => rts.has(v.runtime));
  if (options.variants) {
    const wanted = options.variants;
    chosen = chosen.filter((v) =>
      wanted.some((w) => `${v.runtime}/${v.name}`.startsWith(w) || v.name === w)
    );
  } else if (options.quick) {
    chosen = chosen.filter((v) => v.quick);
  }
  const routeFilter = options.routes ??
    (options.quick ? ["text", "json"] : undefined);
  const plan = chosen.map((v) => ({
    ...v,
    routes: v.routes.filter((r) => !routeFilter || routeFilter.includes(r)),
  })).filter((v) => v.routes.length > 0);
  const windowCount = plan.reduce((n, v) => n + v.routes.length, 0);
  const estimate = options.rounds *
    (windowCount * (options.windowSeconds + 0.1) +
      plan.length * (options.warmSeconds + 1.5));
  console.log(
    `http: ${plan.length} variants, ${windowCount} windows × ${options.rounds} rounds of ${options.windowSeconds} s (≈ ${
      Math.round(estimate)
    } s)`,
  );

  if (options.profileDir) {
    // Profiles of an earlier run would be summed up with this run's.
    await Deno.remove(options.profileDir, { recursive: true }).catch(() => {});
  }
  const sink = new Child(node.command, [script("sink")], BENCH);
  const [, sinkPort, udpPort] = (await sink.line()).split(" ");
  const sinkUrl = `http://127.0.0.1:${sinkPort}`;
  const load = new Child(node.command, [script("load")], BENCH, true);
  await load.line();

  const windows: Window[] = [];
  const deliveries: Delivery[] = [];
  const problems: string[] = [];

  async function fire(url: string, route: Route, seconds: number) {
    await load.send(JSON.stringify({
      url: url + route.path,
      method: route.method,
      seconds,
      connections: options.connections,
    }));
    const r = JSON.parse(await load.line(seconds * 1000 + 30_000));
    if (r.error) throw new Error(`autocannon: ${r.error}`);
    return r as {
      requests: number;
      seconds: number;
      p50: number;
      p99: number;
      errors: number;
      timeouts: number;
      non2xx: number;
    };
  }

  try {
    for (let round = 1; round <= options.rounds; round++) {
      // Rotate: each round starts one variant later, so no variant always
      // runs right after the same neighbour or at the same time of the run.
      const shift = (round - 1) % plan.length;
      const order = [...plan.slice(shift), ...plan.slice(0, shift)];
      console.log(`http round ${round} of ${options.rounds}`);
      for (const v of order) {
        const rt = rts.get(v.runtime)!;
        await fetch(`${sinkUrl}/__reset`).then((r) => r.text());
        // --profile: Node servers write a V8 CPU profile when they exit.
        const profile = options.profileDir && rt.name === "node"
          ? [
            "--cpu-prof",
            `--cpu-prof-dir=${options.profileDir}`,
            `--cpu-prof-name=${v.name}-round${round}.cpuprofile`,
          ]
          : [];
        const server = new Child(
          rt.command,
          [...rt.args, ...profile, script("server"), v.name, sinkPort, udpPort],
          BENCH,
        );
        try {
          const listening = await server.line(30_000);
          const port = listening.split(" ")[1];
          const url = `http://127.0.0.1:${port}`;
          // Warm-up: the process's first window would otherwise pay for the
          // JIT; every route gets a share of the warm-up time, before any
          // window is measured.
          if (options.warmSeconds > 0) {
            for (const name of v.routes) {
              await fire(
                url,
                ROUTES.find((r) => r.name === name)!,
                options.warmSeconds / v.routes.length,
              );
            }
          }
          for (const name of v.routes) {
            const route = ROUTES.find((r) => r.name === name)!;
            const sys0 = systemTicks();
            const load0 = processTicks(load.pid);
            const ours0 = load0 + processTicks(sink.pid) +
              processTicks("self");
            const srv0 = processTicks(server.pid);
            const r = await fire(url, route, options.windowSeconds);
            const srv1 = processTicks(server.pid);
            const load1 = processTicks(load.pid);
            const ours1 = load1 + processTicks(sink.pid) +
              processTicks("self");
            const sys1 = systemTicks();
            const secs = r.seconds || options.windowSeconds;
            const serverTicks = srv1 - srv0;
            const others = (sys1.busy - sys0.busy) - serverTicks -
              (ours1 - ours0);
            const w: Window = {
              runtime: v.runtime,
              variant: v.name,
              route: name,
              round,
              requests: r.requests,
              seconds: secs,
              rps: r.requests / secs,
              p50Ms: r.p50,
              p99Ms: r.p99,
              cpuUs: serverTicks / TICKS_PER_SECOND * 1e6 /
                Math.max(1, r.requests),
              serverCores: serverTicks / TICKS_PER_SECOND / secs,
              otherCores: Math.max(0, others / TICKS_PER_SECOND / secs),
              loaderCores: (load1 - load0) / TICKS_PER_SECOND / secs,
              errors: r.errors + r.timeouts,
              non2xx: r.non2xx,
            };
            windows.push(w);
            const noisy = w.otherCores > OTHERS_LIMIT
              ? `  ⚠ others used ${Math.round(w.otherCores * 100)} % of a core`
              : "";
            const bad = w.errors || w.non2xx || !w.requests
              ? `  ⚠ ${w.requests} requests, ${w.errors} errors, ${w.non2xx} non-2xx`
              : "";
            console.log(
              `  ${v.runtime.padEnd(4)} ${v.name.padEnd(16)} ${
                name.padEnd(4)
              } ${Math.round(w.rps).toString().padStart(7)} req/s  p99 ${
                String(w.p99Ms).padStart(3)
              } ms  ${w.cpuUs.toFixed(0).padStart(4)} µs CPU/req  server ${
                w.serverCores.toFixed(2)
              } / load ${w.loaderCores.toFixed(2)} cores${noisy}${bad}`,
            );
            if (w.errors || w.non2xx || !w.requests) {
              problems.push(
                `${v.runtime}/${v.name} ${name} round ${round}: ${w.requests} requests, ${w.errors} errors, ${w.non2xx} non-2xx`,
              );
            }
          }
          // Delivery: the server flushes what it buffers, then the sink's
          // counter is read until it stops moving.
          const done = await getJson(`${url}/__done`);
          const counter = v.expect ?? v.count;
          if (counter) {
            let last = -1;
            let count = 0;
            for (let i = 0; i < 60; i++) {
              const c = await getJson(`${sinkUrl}/__count`);
              count = Number(c[counter]);
              if (count === last) break;
              last = count;
              await sleep(50);
            }
            const stats = done.stats as
              | { dropped: Record<string, number> }
              | undefined;
            const d: Delivery = {
              runtime: v.runtime,
              variant: v.name,
              round,
              handled: Number(done.handled),
              delivered: count,
              counter,
              expected: v.expect ? Number(done.handled) : undefined,
              tracerErrors: Number(done.errors ?? 0),
              firstError: done.firstError as string | undefined,
              dropped: stats
                ? Object.values(stats.dropped).reduce((a, b) => a + b, 0)
                : undefined,
            };
            deliveries.push(d);
            console.log(
              `  ${v.runtime.padEnd(4)} ${
                v.name.padEnd(16)
              } delivered ${count} ${counter}${
                d.expected !== undefined ? ` of ${d.expected} expected` : ""
              } (${d.handled} requests handled${
                d.dropped ? `, ${d.dropped} counted drops` : ""
              }${d.tracerErrors ? `, ${d.tracerErrors} tracer errors` : ""})`,
            );
            if (d.expected !== undefined && d.delivered !== d.expected) {
              problems.push(
                `${v.runtime}/${v.name} round ${round}: delivered ${d.delivered} ${counter} of ${d.expected}`,
              );
            }
          }
        } catch (e) {
          const message = e instanceof Error ? e.message : String(e);
          problems.push(`${v.runtime}/${v.name} round ${round}: ${message}`);
          console.log(`  ${v.runtime}/${v.name} FAILED: ${message}`);
        } finally {
          await server.stop();
        }
      }
    }
  } finally {
    await load.stop();
    await sink.stop();
  }
  if (options.profileDir) {
    for (const entry of Deno.readDirSync(options.profileDir)) {
      if (!entry.name.endsWith(".cpuprofile")) continue;
      console.log(`${entry.name} (self time, busy samples only):`);
      for (const line of profileTop(`${options.profileDir}/${entry.name}`)) {
        console.log("  " + line);
      }
    }
  }

  const summaries: Summary[] = [];
  for (const v of plan) {
    for (const route of v.routes) {
      const ws = windows.filter((w) =>
        w.runtime === v.runtime && w.variant === v.name && w.route === route
      );
      if (ws.length === 0) continue;
      summaries.push({
        runtime: v.runtime,
        variant: v.name,
        label: v.label,
        route,
        rps: median(ws.map((w) => w.rps)),
        p99Ms: median(ws.map((w) => w.p99Ms)),
        cpuUs: median(ws.map((w) => w.cpuUs)),
        serverCores: median(ws.map((w) => w.serverCores)),
        loaderCores: median(ws.map((w) => w.loaderCores)),
        windows: ws.length,
        noisyWindows: ws.filter((w) => w.otherCores > OTHERS_LIMIT).length,
      });
    }
  }
  addRatios(summaries);
  return {
    kind: "http",
    ...runHeader(options.machine, options.runtimes, options.command, started),
    config: {
      rounds: options.rounds,
      windowSeconds: options.windowSeconds,
      warmSeconds: options.warmSeconds,
      connections: options.connections,
      quick: options.quick,
    },
    windows,
    deliveries,
    summaries,
    labels: Object.fromEntries(
      plan.map((v) => [`${v.runtime}/${v.name}`, v.label]),
    ),
    problems,
  };
}

/** Fills in the ratios to the bare and no-op references of each variant. */
function addRatios(summaries: Summary[]): void {
  const all = variants();
  for (const s of summaries) {
    const v = all.find((p) => p.runtime === s.runtime && p.name === s.variant);
    if (!v) continue;
    const find = (name: string) =>
      summaries.find((x) =>
        x.runtime === s.runtime && x.variant === name && x.route === s.route
      );
    const bare = find(v.bare);
    const noop = find(v.noop);
    if (bare) s.vsBare = s.rps / bare.rps;
    if (noop) {
      s.vsNoop = s.rps / noop.rps;
      s.cpuVsNoop = noop.cpuUs / s.cpuUs;
    }
  }
}

interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
  }[];
  samples: number[];
  timeDeltas: number[];
}

/** The functions with the most self time in a V8 CPU profile (`--profile`). */
export function profileTop(path: string, count = 15): string[] {
  const p = JSON.parse(Deno.readTextFileSync(path)) as CpuProfile;
  const frames = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const self = new Map<string, number>();
  let busy = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const f = frames.get(p.samples[i]);
    if (!f || f.functionName === "(idle)") continue;
    const where = f.url
      ? ` ${f.url.split("/").slice(-2).join("/")}:${f.lineNumber + 1}`
      : "";
    const key = `${f.functionName || "(anonymous)"}${where}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    busy += dt;
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, count).map((
    [key, us],
  ) => `${(us / busy * 100).toFixed(1).padStart(5)} %  ${key}`);
}

function fixed(x: number | undefined, digits = 2): string {
  return x === undefined || !Number.isFinite(x) ? "—" : x.toFixed(digits);
}

/**
 * A variant whose median round used more than this much server CPU per
 * request against its fastest round had most of its rounds slowed down: a
 * slow phase of the machine, which the other-process check cannot see.
 */
const SLOW_LIMIT = 1.3;

// The median ÷ the smallest server CPU per request over a variant's rounds.
function slowdown(
  r: HttpResults,
  runtime: string,
  variant: string | undefined,
  route: string,
): number {
  const cpu = r.windows.filter((w) =>
    w.runtime === runtime && w.variant === variant && w.route === route
  ).map((w) => w.cpuUs);
  return cpu.length ? median(cpu) / Math.min(...cpu) : 1;
}

/** The targets of issue 18, on the summaries. */
export function httpTargets(r: HttpResults): string[] {
  const lines: string[] = [];
  const checks: [string, string, number][] = [
    ["xray-default", "noop", 0.95],
    ["xray-100", "noop", 0.85],
    ["withxray-default", "fetch", 0.95],
    ["withxray-100", "fetch", 0.85],
  ];
  lines.push(
    "| runtime | route | variant | req/s ÷ reference | by CPU per request | target | median ÷ fastest round | |",
    "|---|---|---|--:|--:|--:|--:|:-:|",
  );
  const all = variants();
  for (const s of r.summaries) {
    const check = checks.find(([v]) => v === s.variant);
    if (!check) continue;
    const ratio = s.vsNoop;
    if (ratio === undefined) continue;
    const reference = all.find((p) =>
      p.runtime === s.runtime && p.name === s.variant
    )?.noop;
    const slow = Math.max(
      slowdown(r, s.runtime, s.variant, s.route),
      slowdown(r, s.runtime, reference, s.route),
    );
    lines.push(
      `| ${s.runtime} | ${s.route} | ${s.variant} | ${fixed(ratio)}× ${
        check[1] === "noop" ? "no-op" : "plain handler"
      } | ${fixed(s.cpuVsNoop)}× | ≥ ${check[2]}× | ${fixed(slow)}× | ${
        ratio < check[2] ? "❌" : slow > SLOW_LIMIT ? "❔" : "✅"
      } |`,
    );
  }
  lines.push(
    "",
    "Median ÷ fastest round: the server CPU per request of the median round over",
    "that of the fastest, for the variant or its reference, whichever is larger.",
    `Over ${SLOW_LIMIT}×, most rounds of one of the two ran in a slow phase of the`,
    "machine (which the other-process check above cannot see), so the medians",
    "are not comparable: a ratio that meets its target then is marked ❔, not ✅.",
  );
  return lines;
}

/** The W2 section of BENCHMARKS.md. */
export function httpMarkdown(r: HttpResults): string {
  // Computed again, so that results written by an older bench render alike.
  addRatios(r.summaries);
  const lines: string[] = [];
  const routeTitle = (n: string) => ROUTES.find((x) => x.name === n)!.title;
  const versions = Object.entries(r.versions).map(([k, v]) => `${k} ${v}`)
    .join(", ");
  lines.push(
    "## Requests per second of a server (W2)",
    "",
    `\`${r.command}\` on ${r.date.slice(0, 10)}: ${r.machine}; ${versions}. ` +
      `${r.config.rounds} rounds, ${r.config.windowSeconds} s windows after ${r.config.warmSeconds} s of warm-up per server process (shared by its routes), ` +
      `${r.config.connections} connections; took ${r.seconds} s.`,
    ...(r.note ? ["", r.note] : []),
    "",
    "autocannon in a second process on 127.0.0.1; every variant in a fresh server",
    "process per round, the order rotated round by round; medians over the rounds.",
    "CPU µs/req is the server process's CPU time (all threads) per request;",
    "cores: the CPU the server and the load generator used during the window",
    "(a load generator near 1.00 was itself the limit: autocannon is one Node",
    "thread; the 1 MiB route mostly measures it and the loopback copy).",
    "Where the load generator was the limit, req/s ratios understate the cost of",
    "a middleware; \"by CPU\" (the reference's CPU µs/req ÷ this variant's) is the",
    "req/s ratio a CPU-bound server would show, and the steadier measure here.",
    "Noisy windows: other processes used more than a tenth of a core meanwhile.",
    "÷ bare and ÷ no-op divide by bare Hono and Hono + a no-op async middleware",
    "on the same runtime and route (for `withXRay`: both by the plain fetch handler).",
    "Traced variants deliver every document to a local sink process (a stand-in",
    "for the daemon, an OTLP collector or the daemon's UDP port) that counts them.",
    "The peers trace every request (aws-xray-sdk: manual segment, or",
    "aws-xray-sdk-express with a 100 % rule; OpenTelemetry: its default",
    "always-on sampler).",
    "",
  );
  for (const runtime of Object.keys(r.versions)) {
    const rows = r.summaries.filter((s) => s.runtime === runtime);
    if (rows.length === 0) continue;
    lines.push(`### ${runtime}`, "");
    lines.push(
      "| route | variant | req/s | ÷ bare | ÷ no-op | p99 ms | CPU µs/req | no-op ÷ this, by CPU | cores: server / load | noisy windows |",
      "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    );
    for (const route of ROUTES) {
      for (const s of rows.filter((x) => x.route === route.name)) {
        lines.push(
          `| ${routeTitle(s.route)} | ${s.label} | ${Math.round(s.rps)} | ${
            fixed(s.vsBare)
          } | ${fixed(s.vsNoop)} | ${s.p99Ms} | ${fixed(s.cpuUs, 0)} | ${
            fixed(s.cpuVsNoop)
          } | ${fixed(s.serverCores)} / ${
            fixed(s.loaderCores)
          } | ${s.noisyWindows}/${s.windows} |`,
        );
      }
    }
    lines.push("");
  }
  lines.push("### Targets (issue 18)", "", ...httpTargets(r), "");
  const byVariant = new Map<string, Delivery[]>();
  for (const d of r.deliveries) {
    const key = `${d.runtime}/${d.variant}`;
    byVariant.set(key, [...(byVariant.get(key) ?? []), d]);
  }
  if (byVariant.size > 0) {
    lines.push(
      "### Delivery (all rounds, warm-up included)",
      "",
      "| variant | sent to the sink | requests handled | delivered / expected | counted drops | tracer errors |",
      "|---|---|--:|--:|--:|--:|",
    );
    for (const [key, ds] of byVariant) {
      const sum = (f: (d: Delivery) => number | undefined) =>
        ds.reduce((a, d) => a + (f(d) ?? 0), 0);
      const expected = ds[0].expected !== undefined
        ? sum((d) => d.expected)
        : undefined;
      const delivered = sum((d) => d.delivered);
      lines.push(
        `| ${key} | ${ds[0].counter} | ${sum((d) => d.handled)} | ${
          expected === undefined
            ? `${delivered} (sampled)`
            : `${delivered} / ${expected}${
              delivered === expected ? " ✅" : " ❌"
            }`
        } | ${ds[0].dropped === undefined ? "—" : sum((d) => d.dropped)} | ${
          sum((d) => d.tracerErrors)
        } |`,
      );
    }
    lines.push("");
  }
  if (r.deliveries.some((d) => d.counter === "datagrams")) {
    lines.push(
      "Datagrams (aws-xray-sdk's UDP emitter) can be lost without anyone",
      "counting them: in the emitter's socket or the sink's receive buffer. A",
      "shortfall there is UDP, not a dropped segment the SDK knows of.",
      "",
    );
  }
  lines.push(...problemsMarkdown(r.problems));
  return lines.join("\n");
}
