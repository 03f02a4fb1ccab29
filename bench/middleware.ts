// What the Hono middleware adds per request without the network: one GET
// ("hello", text) answered by Hono through the runtime's own server code,
// without sockets, so that the cost is not buried under the system calls of
// loopback HTTP (which dominate the W2 windows on these machines). Run by
// scripts/bench.ts with the micro part, in a fresh process per runtime:
//
//   <runtime> dist/middleware.mjs [rounds] [requestsPerRound]
//
// - Node: @hono/node-server's request listener with a real IncomingMessage
//   and ServerResponse on a socket that discards what is written; `close` is
//   emitted after `finish`, as Node's HTTP server does.
// - Deno: `app.fetch(request, info)` with Deno.serve's info (`remoteAddr`,
//   and `completed`, resolved once the body was read), the body read whole.
// - Bun: `app.fetch(request, server)` with Bun.serve's `requestIP`, the body
//   read whole.
//
// Variants, each its own Hono app in the same process, interleaved in a
// shuffled order round by round (so that process-to-process differences do
// not land on one variant): no-op (an async middleware that only awaits
// next()), xray() at the default rule, xray() at 100 %. xray-edge is the
// built npm package (bench/node_modules/xray-edge); sampled documents go to a
// sender that only counts them. Prints one JSON line: CPU ns per request of
// every round, by variant.

import process from "node:process";
import { Hono } from "hono";
import { createTracer } from "xray-edge";
import type { SendResult } from "xray-edge";
import { xray } from "xray-edge/hono";
import { runtime as detectRuntime } from "./_runtime.ts";

const VARIANTS = ["no-op", "xray-default", "xray-100"] as const;
type Variant = typeof VARIANTS[number];

const [roundsArg, perRoundArg] = process.argv.slice(2);
const rounds = Number(roundsArg ?? 9);
const perRound = Number(perRoundArg ?? 5000);

const { name: runtime, version } = detectRuntime();
let documents = 0;
let errors = 0;
let lastBytes = 0;

function app(variant: Variant): Hono {
  const app = new Hono();
  if (variant === "no-op") {
    app.use(async (_c, next) => {
      await next();
    });
  } else {
    const tracer = createTracer({
      serviceName: "bench",
      env: false,
      sender: {
        send(docs: string[]): Promise<SendResult> {
          documents += docs.length;
          lastBytes = docs[docs.length - 1].length;
          return Promise.resolve({ ok: true });
        },
      },
      // The default rule, or one that samples every request.
      sampler: variant === "xray-100"
        ? { shouldSample: () => ({ sampled: true, ruleName: "Default" }) }
        : undefined,
      onError: () => {
        errors++;
      },
    });
    app.use(xray({ tracer }));
  }
  app.get("/text", (c) => c.text("hello"));
  return app;
}

const HEADERS = { host: "127.0.0.1:3000", "user-agent": "bench" };

/** One request through `app` the way the runtime's server hands it over. */
async function requester(app: Hono): Promise<() => Promise<void>> {
  if (runtime === "node") {
    const { getRequestListener } = await import("@hono/node-server");
    const { IncomingMessage, ServerResponse } = await import("node:http");
    const { Duplex } = await import("node:stream");
    const listener = getRequestListener(app.fetch);
    const socket = new Duplex({
      read() {},
      write(_chunk, _encoding, done) {
        done();
      },
      writev(_chunks, done) {
        done();
      },
    });
    Object.defineProperty(socket, "remoteAddress", { value: "127.0.0.1" });
    const raw = ["Host", HEADERS.host, "User-Agent", HEADERS["user-agent"]];
    return () => {
      // deno-lint-ignore no-explicit-any
      const req: any = new IncomingMessage(socket as any);
      req.method = "GET";
      req.url = "/text";
      req.httpVersion = "1.1";
      req.httpVersionMajor = req.httpVersionMinor = 1;
      req.rawHeaders = raw;
      req.headers = { ...HEADERS };
      req.complete = true;
      req.push(null);
      const res = new ServerResponse(req);
      // deno-lint-ignore no-explicit-any
      res.assignSocket(socket as any);
      const sent = new Promise<void>((resolve) =>
        res.on("finish", () => {
          // deno-lint-ignore no-explicit-any
          res.detachSocket(socket as any);
          process.nextTick(() => {
            res.emit("close");
            resolve();
          });
        })
      );
      listener(req, res);
      return sent;
    };
  }
  const url = "http://127.0.0.1:3000/text";
  const remoteAddr = { hostname: "127.0.0.1", port: 5555, transport: "tcp" };
  const bunServer = { requestIP: () => ({ address: "127.0.0.1" }) };
  return async () => {
    let sent!: () => void;
    const completed = new Promise<void>((resolve) => sent = resolve);
    const res = await app.fetch(
      new Request(url, { headers: HEADERS }),
      runtime === "bun" ? bunServer : { remoteAddr, completed },
    );
    await res.arrayBuffer();
    sent();
    await completed;
  };
}

// CPU time of this process (all threads: GC and JIT helpers count).
function cpuNs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) * 1000;
}

async function main(): Promise<void> {
  const one: Record<string, () => Promise<void>> = {};
  for (const v of VARIANTS) one[v] = await requester(app(v));
  const run = async (v: Variant, n: number): Promise<number> => {
    const t0 = cpuNs();
    for (let i = 0; i < n; i++) await one[v]();
    return (cpuNs() - t0) / n;
  };
  // Warm up: every variant well past the optimizing compilers' thresholds.
  for (const v of VARIANTS) await run(v, 2 * perRound);
  const ns: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    const order = [...VARIANTS].sort(() => Math.random() - 0.5);
    for (const v of order) (ns[v] ??= []).push(await run(v, perRound));
  }
  console.log(JSON.stringify({
    runtime,
    version,
    perRound,
    ns,
    documents,
    wireBytes: lastBytes,
    errors,
  }));
}

await main();
