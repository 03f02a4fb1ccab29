// One server of the HTTP benchmark (W2 of issue 18), started fresh per variant
// and round by scripts/bench_http.ts:
//
//   <node|deno|bun> dist/http/server.mjs <variant> <sinkHttpPort> <sinkUdpPort>
//
// Prints `listening <port>` once it accepts connections on 127.0.0.1.
// xray-edge comes from the built npm package (bench/node_modules/xray-edge,
// copied from npm/ by the bench), Hono and the peers from bench/node_modules;
// each peer is imported only by its own variant (aws-xray-sdk-core turns on
// async_hooks at import, which would tax every other variant).
//
// Routes (the same on every variant):
//   GET  /text   "hello" (text/plain)
//   GET  /json   ~2 KB of JSON, serialized per request
//   GET  /big    1 MiB of bytes, known length
//   HEAD /text   the text route's head
//   GET  /__done flushes what the variant buffers and answers
//                {handled, stats, errors}; never traced
//
// Variants: hono, noop (Hono + an async middleware that only awaits next()),
// xray-default, xray-100 (xray() at the default rule / at 100 %, daemonSender
// to the sink), fetch (a plain fetch handler), withxray-default,
// withxray-100, and on Node only: otel (@hono/otel, X-Ray propagator and ids,
// BatchSpanProcessor, OTLP/HTTP to the sink), aws-xray-sdk (Hono + a manual
// aws-xray-sdk-core segment per request, UDP emitter to the sink), express,
// express-xray (Express + aws-xray-sdk-express at 100 %), express-xray-edge
// (Express + xray-edge's xrayExpress at 100 %).

import { Hono } from "hono";
import type { Context, MiddlewareHandler } from "hono";
import { createTracer, daemonSender, localSampler } from "xray-edge";
import type { Tracer, TracerStats } from "xray-edge";
import { xray } from "xray-edge/hono";
import { withXRay } from "xray-edge/handler";
import process from "node:process";
import { Buffer } from "node:buffer";
import { runtime as detectRuntime } from "../_runtime.ts";

type Handler = (
  request: Request,
  ...args: unknown[]
) => Response | Promise<Response>;

const [variant, sinkPortArg, udpPortArg] = process.argv.slice(2);
const sink = `127.0.0.1:${sinkPortArg}`;
const udpPort = Number(udpPortArg);

const g = globalThis as Record<string, unknown>;
const runtime = detectRuntime().name;

// ------------------------------------------------------------------ content

const TEXT = "hello";
const PAYLOAD = {
  items: Array.from({ length: 16 }, (_, i) => ({
    id: i,
    sku: `sku-${1000 + i}`,
    name: `Item number ${i}, a product with a name`,
    price: 12.5 + i,
    tags: ["blue", "large", "sale"],
    inStock: i % 3 !== 0,
  })),
  total: 16,
  page: 1,
};
const BIG = new Uint8Array(1024 * 1024).fill(0x78);

let handled = 0;
let errors = 0;
let firstError: string | undefined;
let flushAll: () => Promise<unknown> = () => Promise.resolve();
let stats: () => TracerStats | undefined = () => undefined;

function tracerFor(all: boolean): Tracer {
  const tracer = createTracer({
    serviceName: "bench",
    sender: daemonSender({ address: sink }),
    sampler: all
      ? localSampler({
        version: 2,
        default: { fixed_target: 0, rate: 1 },
        rules: [],
      })
      : undefined,
    onError: (e) => {
      errors++;
      firstError ??= String(e);
    },
  });
  flushAll = () => tracer.flush();
  stats = () => tracer.stats();
  return tracer;
}

function done(): Promise<string> {
  return flushAll().then(() =>
    JSON.stringify({ handled, stats: stats(), errors, firstError, runtime })
  );
}

// --------------------------------------------------------------------- Hono

function honoApp(middleware?: MiddlewareHandler): Hono {
  const app = new Hono();
  app.get("/__done", async (c) => c.body(await done()));
  if (middleware) app.use(middleware);
  app.get("/text", (c) => {
    handled++;
    return c.text(TEXT);
  });
  app.get("/json", (c) => {
    handled++;
    return c.json(PAYLOAD);
  });
  app.get("/big", (c) => {
    handled++;
    return c.body(BIG, 200, { "content-type": "application/octet-stream" });
  });
  return app;
}

// --------------------------------------------------------- a fetch handler

function plain(request: Request): Response {
  const url = request.url;
  const path = url.slice(url.indexOf("/", 8));
  handled++;
  if (path === "/text") {
    return new Response(TEXT, {
      headers: { "content-type": "text/plain; charset=UTF-8" },
    });
  }
  if (path === "/json") {
    return new Response(JSON.stringify(PAYLOAD), {
      headers: { "content-type": "application/json" },
    });
  }
  if (path === "/big") {
    return new Response(BIG, {
      headers: { "content-type": "application/octet-stream" },
    });
  }
  handled--;
  return new Response("not found", { status: 404 });
}

function withDone(handler: Handler): Handler {
  return (request, ...args) =>
    request.url.endsWith("/__done")
      ? done().then((body) => new Response(body))
      : handler(request, ...args);
}

// -------------------------------------------------------------------- peers

async function otelMiddleware(): Promise<MiddlewareHandler> {
  const { NodeTracerProvider } = await import("@opentelemetry/sdk-trace-node");
  const { BatchSpanProcessor } = await import("@opentelemetry/sdk-trace-base");
  const { OTLPTraceExporter } = await import(
    "@opentelemetry/exporter-trace-otlp-http"
  );
  const { AWSXRayPropagator } = await import(
    "@opentelemetry/propagator-aws-xray"
  );
  const { AWSXRayIdGenerator } = await import(
    "@opentelemetry/id-generator-aws-xray"
  );
  const { httpInstrumentationMiddleware } = await import("@hono/otel");
  const provider = new NodeTracerProvider({
    idGenerator: new AWSXRayIdGenerator(),
    spanProcessors: [
      new BatchSpanProcessor(
        new OTLPTraceExporter({ url: `http://${sink}/v1/traces` }),
      ),
    ],
  });
  provider.register({ propagator: new AWSXRayPropagator() });
  flushAll = () => provider.forceFlush();
  return httpInstrumentationMiddleware({ serviceName: "bench" });
}

interface XRaySegment {
  addIncomingRequestData(data: unknown): void;
  http: { close(res: unknown): void };
  close(): void;
}

// deno-lint-ignore no-explicit-any
async function awsXray(): Promise<any> {
  const m = await import("aws-xray-sdk-core");
  const AWSXRay = "default" in m ? m.default : m;
  AWSXRay.setDaemonAddress(`127.0.0.1:${udpPort}`);
  AWSXRay.setContextMissingStrategy(() => {});
  return AWSXRay;
}

async function awsXrayMiddleware(): Promise<MiddlewareHandler> {
  const AWSXRay = await awsXray();
  AWSXRay.enableManualMode();
  const { Segment, middleware } = AWSXRay;
  // Manual mode: one segment per request, continuing the incoming header,
  // with the request and response data the SDK's own middleware records.
  return async (c: Context, next) => {
    const header = c.req.header("x-amzn-trace-id");
    const trace = header
      ? middleware.processHeaders({ headers: { "x-amzn-trace-id": header } })
      : {};
    const segment: XRaySegment = new Segment("bench", trace.root, trace.parent);
    const incoming = (c.env as { incoming: unknown }).incoming;
    const data = new middleware.IncomingRequestData(incoming);
    segment.addIncomingRequestData(data);
    await next();
    segment.http.close({
      statusCode: c.res.status,
      headers: { "content-length": c.res.headers.get("content-length") },
    });
    segment.close();
  };
}

// ----------------------------------------------------------------- Express

async function expressServer(
  traced: boolean,
  edge = false,
): Promise<number> {
  const { default: express } = await import("express");
  const app = express();
  app.get("/__done", async (_req, res) => {
    res.send(await done());
  });
  // deno-lint-ignore no-explicit-any
  let xrayExpress: any;
  if (edge) {
    // xray-edge's own Express middleware, at 100 % like the peer below.
    const { xrayExpress } = await import("xray-edge/node-server");
    app.use(xrayExpress({ tracer: tracerFor(true) }));
  }
  if (traced) {
    const AWSXRay = await awsXray();
    AWSXRay.middleware.setSamplingRules({
      version: 2,
      default: { fixed_target: 0, rate: 1 },
      rules: [],
    });
    const m = await import("aws-xray-sdk-express");
    xrayExpress = "default" in m ? m.default : m;
    app.use(xrayExpress.openSegment("bench"));
  }
  app.get("/text", (_req, res) => {
    handled++;
    res.type("text/plain").send(TEXT);
  });
  app.get("/json", (_req, res) => {
    handled++;
    res.json(PAYLOAD);
  });
  app.get("/big", (_req, res) => {
    handled++;
    res.type("application/octet-stream").send(Buffer.from(BIG.buffer));
  });
  if (traced) app.use(xrayExpress.closeSegment());
  return new Promise((resolve) => {
    const server = app.listen(0, "127.0.0.1", () => {
      resolve((server.address() as { port: number }).port);
    });
  });
}

// ------------------------------------------------------------------ serving

async function serve(handler: Handler): Promise<number> {
  if (runtime === "deno") {
    const deno = g.Deno as {
      serve(
        o: {
          port: number;
          hostname: string;
          onListen(a: { port: number }): void;
        },
        h: Handler,
      ): unknown;
    };
    return new Promise((resolve) => {
      deno.serve({
        port: 0,
        hostname: "127.0.0.1",
        onListen: ({ port }) => resolve(port),
      }, handler);
    });
  }
  if (runtime === "bun") {
    const bun = g.Bun as {
      serve(o: { port: number; hostname: string; fetch: Handler }): {
        port: number;
      };
    };
    return bun.serve({ port: 0, hostname: "127.0.0.1", fetch: handler }).port;
  }
  const { serve } = await import("@hono/node-server");
  return new Promise((resolve) => {
    serve(
      { fetch: handler, port: 0, hostname: "127.0.0.1" },
      (info: { port: number }) => resolve(info.port),
    );
  });
}

const noop: MiddlewareHandler = async (_c, next) => {
  await next();
};

async function start(): Promise<number> {
  switch (variant) {
    case "hono":
      return serve(honoApp().fetch);
    case "noop":
      return serve(honoApp(noop).fetch);
    case "xray-default":
      return serve(honoApp(xray({ tracer: tracerFor(false) })).fetch);
    case "xray-100":
      return serve(honoApp(xray({ tracer: tracerFor(true) })).fetch);
    case "fetch":
      return serve(withDone(plain));
    case "withxray-default":
      return serve(withDone(withXRay(plain, { tracer: tracerFor(false) })));
    case "withxray-100":
      return serve(withDone(withXRay(plain, { tracer: tracerFor(true) })));
    case "otel":
      return serve(honoApp(await otelMiddleware()).fetch);
    case "aws-xray-sdk":
      return serve(honoApp(await awsXrayMiddleware()).fetch);
    case "express":
      return expressServer(false);
    case "express-xray":
      return expressServer(true);
    case "express-xray-edge":
      return expressServer(false, true);
  }
  throw new Error(`Unknown variant '${variant}'`);
}

// The bench stops servers with SIGTERM: exit through process.exit so that
// Node's --cpu-prof writes its profile.
process.on("SIGTERM", () => process.exit(0));

const port = await start();
console.log(`listening ${port}`);
