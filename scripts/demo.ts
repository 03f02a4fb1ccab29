// `deno task demo`: the local collector and viewer, fed by a traced app.
//
// Starts the collector in-process (127.0.0.1:2000 when free, else a free
// port; traces in memory unless `--data DIR`), then two small Hono services
// behind the project's own `xray()` middleware, both sending to it with
// `daemonSender` and sampling every request: a shop whose /cart route reads
// SQLite (node:sqlite through `traceSqlite`), calls an inventory service
// through `tracedFetch` and asks the collector for its sampling rules with a
// traced AWS SDK v3 client (`captureAWSClient`), plus a route that throws and
// one that answers 429. It sends a bounded burst of requests, waits until the
// collector has stored every trace, prints the viewer URL and one trace read
// back with BatchGetTraces as a tree, then keeps serving until Ctrl-C.
//
//   deno task demo                 # keep serving; open the viewer URL
//   deno task demo --once          # exit 0 after printing (1 on a lost trace)
//   deno task demo --data DIR      # keep the traces in DIR/traces.sqlite
//
// scripts/screenshot.ts reuses `startDemo` for the README's screenshot.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Hono } from "hono";
import { GetSamplingRulesCommand, XRayClient } from "@aws-sdk/client-xray";
import {
  consoleSender,
  createTracer,
  daemonSender,
  localSampler,
  newTraceId,
  TRACE_HEADER,
  tracedFetch,
  type Tracer,
} from "../mod.ts";
import { xray, type XRayVariables } from "../src/hono.ts";
import { captureAWSClient, withParent } from "../src/aws_sdk.ts";
import { traceSqlite } from "../src/sql/mod.ts";
import {
  type RunningCollector,
  startCollector,
} from "../src/collector/server.ts";

/** The scripted burst: each path in turn, `BURST` requests in all. */
const PATHS = [
  "/cart/1",
  "/cart/2",
  "/pay",
  "/cart/3",
  "/limited",
  "/nowhere",
];
const BURST = 60;

type App = Hono<{ Variables: XRayVariables }>;

/** A running demo: the collector, the two services and their tracers. */
export interface Demo {
  collector: RunningCollector;
  /** The shop's base URL (no trailing slash). */
  shopUrl: string;
  /** The inventory service's base URL. */
  inventoryUrl: string;
  tracers: Tracer[];
  close(): Promise<void>;
}

/** Starts the collector (port 2000 if free) and the traced services. */
export async function startDemo(
  options: { database?: string; port?: number } = {},
): Promise<Demo> {
  const database = options.database ?? ":memory:";
  let collector: RunningCollector;
  try {
    collector = await startCollector({ port: options.port ?? 2000, database });
  } catch (e) {
    // Port 2000 is taken (a daemon, another collector): any free port will do.
    if (options.port !== undefined && options.port !== 2000) throw e;
    collector = await startCollector({ port: 0, database });
  }
  const endpoint = collector.url.replace(/\/$/, "");
  const sender = () => daemonSender({ address: `127.0.0.1:${collector.port}` });
  // Every request is sampled here, so that each one shows up (the default
  // rule takes the first request each second and 5 % of the rest).
  const sampler = localSampler({
    version: 2,
    default: { fixed_target: 1, rate: 1 },
  });
  const shop = createTracer({
    serviceName: "demo-shop",
    sampler,
    sender: sender(),
  });
  const inventory = createTracer({
    serviceName: "demo-inventory",
    sampler,
    sender: sender(),
  });

  const inventoryApp: App = new Hono();
  inventoryApp.use(xray({ tracer: inventory }));
  inventoryApp.get("/stock/:id", async (c) => {
    const inStock = await c.var.xray.capture("reserve", async () => {
      await new Promise((r) => setTimeout(r, 2));
      return c.req.param("id") !== "3";
    });
    return c.json({ inStock });
  });
  const inventoryServer = serve(inventoryApp);
  const inventoryUrl = baseUrl(inventoryServer);

  // One SQLite database in memory; each request wraps it with its segment as
  // the parent (wrapping is cheap: the statements stay the driver's own).
  const db = new DatabaseSync(":memory:");
  db.exec(
    "CREATE TABLE items (cart INTEGER, sku TEXT, price REAL);" +
      "INSERT INTO items VALUES (1, 'tea', 4.5), (1, 'mug', 9), (2, 'tea', 4.5), (3, 'pot', 25);",
  );
  // An AWS SDK v3 client against the collector's own X-Ray API (it serves
  // GetSamplingRules); the credentials are placeholders it does not check.
  const aws = captureAWSClient(
    new XRayClient({
      region: "us-east-1",
      endpoint,
      credentials: { accessKeyId: "demo", secretAccessKey: "demo" },
    }),
  );

  const shopApp: App = new Hono();
  shopApp.use(xray({ tracer: shop }));
  shopApp.get("/cart/:id", async (c) => {
    const segment = c.var.xray;
    const cart = Number(c.req.param("id"));
    segment.annotate("cart", cart);
    segment.annotate("customer", `c-${cart * 7}`);
    const items = traceSqlite(db, { parent: segment })
      .prepare("SELECT sku, price FROM items WHERE cart = ?")
      .all(cart) as { sku: string; price: number }[];
    const total = await segment.capture("price", (sub) => {
      sub.addMetadata("rule", "list price, no discount", "pricing");
      return items.reduce((sum, item) => sum + item.price, 0);
    });
    const fetch = tracedFetch(segment); // a remote subsegment + X-Amzn-Trace-Id downstream
    const stock = await (await fetch(`${inventoryUrl}/stock/${cart}`)).json();
    const rules = await aws.send(
      withParent(new GetSamplingRulesCommand({}), segment),
    );
    return c.json({
      cart,
      items: items.length,
      total,
      ...stock,
      rules: rules.SamplingRuleRecords?.length ?? 0,
    });
  });
  shopApp.get("/pay", async (c) => {
    await c.var.xray.capture("charge card", () => {
      throw new Error("card declined by upstream");
    });
    return c.text("paid");
  });
  shopApp.get("/limited", (c) => c.text("slow down", 429));
  // Hono logs errors it catches; the trace shows this one.
  shopApp.onError((_error, c) => c.text("internal error", 500));
  const shopServer = serve(shopApp);

  return {
    collector,
    shopUrl: baseUrl(shopServer),
    inventoryUrl,
    tracers: [shop, inventory],
    async close(): Promise<void> {
      for (const tracer of [shop, inventory]) await tracer.shutdown();
      await shopServer.shutdown();
      await inventoryServer.shutdown();
      aws.destroy();
      db.close();
      await collector.close();
    },
  };
}

function serve(app: App): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
}

function baseUrl(server: Deno.HttpServer<Deno.NetAddr>): string {
  return `http://127.0.0.1:${server.addr.port}`;
}

/** What the burst produced: its trace ids, one per request. */
export interface Burst {
  traces: string[];
  /** Documents the services made: one per request, plus one per inventory call. */
  documents: number;
  /** A /cart request's trace id (the richest tree). */
  cartTrace: string;
}

/** Sends `BURST` requests, a few at a time, with a one-line progress indicator. */
export async function sendBurst(
  demo: Demo,
  progress: (done: number, total: number) => void = () => {},
): Promise<Burst> {
  const traces: string[] = [];
  let documents = 0;
  let cartTrace = "";
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < BURST) {
      const i = next++;
      const path = PATHS[i % PATHS.length];
      // The trace id is chosen here, as a load balancer in front would do;
      // the shop's sampler still makes the sampling decision.
      const trace = newTraceId();
      traces.push(trace);
      const res = await fetch(demo.shopUrl + path, {
        headers: { [TRACE_HEADER]: `Root=${trace}` },
      });
      await res.body?.cancel();
      documents += path.startsWith("/cart/") ? 2 : 1;
      if (path === "/cart/1" && !cartTrace) cartTrace = trace;
      progress(++done, BURST);
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  return { traces, documents, cartTrace };
}

/**
 * Flushes the tracers, then waits (at most `timeoutMs`) until the collector
 * has stored `documents` documents. Returns the collector's counters.
 */
export async function waitForCollector(
  demo: Demo,
  documents: number,
  timeoutMs = 5000,
): Promise<ReturnType<RunningCollector["collector"]["stats"]>> {
  for (const tracer of demo.tracers) await tracer.flush();
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const stats = await (await fetch(new URL("/stats", demo.collector.url)))
      .json() as ReturnType<RunningCollector["collector"]["stats"]>;
    const settled = stats.documents.stored + stats.documents.duplicates +
      stats.documents.rejected + stats.documents.dropped;
    if (settled >= documents || Date.now() > deadline) return stats;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Doc {
  id: string;
  parent_id?: string;
  subsegments?: Doc[];
  [key: string]: unknown;
}

/**
 * One trace as read back with BatchGetTraces, its segments put under the
 * subsegments that called them, as lines in the console sender's tree format.
 */
export async function traceTree(demo: Demo, traceId: string): Promise<string> {
  const res = await fetch(new URL("/Traces", demo.collector.url), {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ TraceIds: [traceId] }),
  });
  const answer = await res.json() as {
    Traces?: { Segments: { Document: string }[] }[];
  };
  const segments = (answer.Traces?.[0]?.Segments ?? [])
    .map((s) => JSON.parse(s.Document) as Doc);
  const byId = new Map<string, Doc>();
  const index = (doc: Doc) => {
    byId.set(doc.id, doc);
    doc.subsegments?.forEach(index);
  };
  segments.forEach(index);
  const roots: Doc[] = [];
  for (const segment of segments) {
    const caller = segment.parent_id && byId.get(segment.parent_id);
    if (caller) (caller.subsegments ??= []).push(segment);
    else roots.push(segment);
  }
  const lines: string[] = [];
  const tree = consoleSender({ format: "tree", write: (l) => lines.push(l) });
  await tree.send(roots.map((doc) => JSON.stringify(doc)));
  return lines.join("\n");
}

function parseArgs(args: string[]): { once: boolean; database: string } {
  let once = false;
  let database = ":memory:";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--once") once = true;
    else if (arg === "--data" || arg.startsWith("--data=")) {
      const dir = arg === "--data" ? args[++i] : arg.slice("--data=".length);
      if (!dir) throw new RangeError("demo: '--data' needs a directory");
      if (dir !== ":memory:") {
        mkdirSync(dir, { recursive: true });
        database = join(dir, "traces.sqlite");
      }
    } else {
      throw new RangeError(
        `demo: unknown option '${arg}' (use --once, --data DIR)`,
      );
    }
  }
  return { once, database };
}

async function main(): Promise<void> {
  const { once, database } = parseArgs(Deno.args);
  const demo = await startDemo({ database });
  const { collector } = demo;
  console.log(
    `xray-edge demo: collector on 127.0.0.1:${collector.port}${
      collector.port === 2000 ? "" : " (port 2000 was taken)"
    }, storage ${database === ":memory:" ? "in memory" : database}`,
  );
  console.log(
    `  demo-shop on ${demo.shopUrl}, demo-inventory on ${demo.inventoryUrl}`,
  );

  // With --data, traces of earlier runs are there too: count this run's.
  const before = collector.collector.stats().store;
  const encoder = new TextEncoder();
  const tty = Deno.stdout.isTerminal();
  const burst = await sendBurst(demo, (done, total) => {
    if (tty) {
      Deno.stdout.writeSync(
        encoder.encode(`\r  sending traffic ${done}/${total}`),
      );
    }
  });
  if (tty) Deno.stdout.writeSync(encoder.encode("\r\x1b[K"));
  console.log(
    `  sent ${BURST} requests (${
      PATHS.join(", ")
    }): ${burst.documents} documents`,
  );

  const stats = await waitForCollector(demo, burst.documents);
  const dropped = demo.tracers.reduce(
    (n, t) => n + Object.values(t.stats().dropped).reduce((a, b) => a + b, 0),
    0,
  );
  const traces = stats.store.traces + stats.store.evicted - before.traces -
    before.evicted;
  console.log(
    `  the collector got ${traces} traces, ${stats.documents.stored} documents (${stats.documents.rejected} rejected, ${dropped} dropped by the senders)`,
  );

  console.log(
    `\nOne trace (${burst.cartTrace}), read back with BatchGetTraces:\n`,
  );
  console.log(await traceTree(demo, burst.cartTrace));
  console.log(`\nViewer: ${collector.url}`);

  const ok = traces === BURST &&
    burst.traces.length === BURST &&
    stats.documents.stored === burst.documents &&
    stats.documents.rejected === 0 && stats.documents.dropped === 0 &&
    dropped === 0;
  if (once) {
    await demo.close();
    if (!ok) {
      console.error(
        `demo: expected ${BURST} traces and ${burst.documents} documents in the collector, none dropped`,
      );
      Deno.exit(1);
    }
    return;
  }
  if (!ok) {
    console.error("demo: some documents did not reach the collector");
  }
  console.log(
    `\nStill serving: try\n  curl ${demo.shopUrl}/cart/2\n  curl ${demo.shopUrl}/pay\n` +
      `and watch the traces appear in the viewer live. Its filter box takes X-Ray\n` +
      `filter expressions, for example:\n  annotation.customer = "c-7"\n  fault OR throttle\n` +
      `Ctrl-C stops everything.`,
  );
  Deno.addSignalListener("SIGINT", async () => {
    await demo.close();
    Deno.exit(0);
  });
}

if (import.meta.main) await main();
