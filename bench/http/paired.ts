// Paired variants in one Node server (`deno task bench --only=paired`): one
// @hono/node-server process serves every variant in turn, switching every
// phase (200 ms), while autocannon (bench/http/load.ts, a second process)
// keeps 20 connections busy. Each phase's main-thread CPU (Linux
// /proc/<pid>/task/<pid>/schedstat; elsewhere the process's CPU) is divided
// by the requests it served, and each variant is compared with the first one
// phase by phase, so the machine's slow phases, which last minutes here, hit
// every variant alike. It resolves about ±1 µs per request where fresh
// processes per variant (the W2 tables) swing by ±20 %. Not a table of
// BENCHMARKS.md: a tool for A/B questions such as "what does a sampled
// request cost at 5 %" (docs/performance.md).
//
//   node bench/dist/http/paired.mjs <seconds> <variant> <variant> ...
//
// Variants: noop; xray-never, xray-5, xray-default, xray-100 (documents
// posted by daemonSender to a sink process that counts them); xray-5-discard
// and xray-100-discard (documents dropped by the sender); express (bare),
// express-noop (a middleware that only calls next()), express-xray-never,
// express-xray-100 and express-xray-100-discard (xrayExpress).

import { Hono } from "hono";
import type { MiddlewareHandler } from "hono";
import { getRequestListener } from "@hono/node-server";
import { createTracer, daemonSender, localSampler } from "xray-edge";
import type { Sampler, Sender } from "xray-edge";
import { xray } from "xray-edge/hono";
import { xrayExpress } from "xray-edge/node-server";
import express from "express";
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import type { AddressInfo } from "node:net";
import process from "node:process";

const PHASE_MS = 200;
// Phases left out at the start (JIT warm-up), per variant.
const WARM_PHASES = 5;

const [secondsArg, ...variants] = process.argv.slice(2);
const dist = new URL("./", import.meta.url);

// Starts a Node child process and waits for the first stdout line matching `re`.
function start(
  script: string,
  args: string[],
  re: RegExp,
): Promise<[ChildProcess, RegExpMatchArray]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    children.push(child);
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      const match = line.match(re);
      if (match) {
        lines.removeAllListeners("line");
        resolve([child, match]);
      }
    });
    child.on("exit", (code) => reject(new Error(`${script} exited ${code}`)));
  });
}

// Child processes, ended when this one ends however it ends.
const children: ChildProcess[] = [];
process.on("exit", () => children.forEach((child) => child.kill()));

const discard: Sender = { send: () => Promise.resolve({ ok: true }) };

function sampler(rate: number): Sampler {
  return localSampler({
    version: 2,
    default: { fixed_target: 0, rate },
    rules: [],
  });
}

// The tracer a variant named `xray-<rule>[-discard]` asks for.
function tracerFor(variant: string, sink: string) {
  const match = /xray-(never|5|default|100)(-discard)?$/.exec(variant);
  if (!match) throw new Error(`Unknown variant '${variant}'`);
  const [, rule, dropped] = match;
  return createTracer({
    serviceName: "bench",
    sender: dropped ? discard : daemonSender({ address: sink }),
    sampler: rule === "default"
      ? undefined
      : sampler(rule === "never" ? 0 : rule === "5" ? 0.05 : 1),
    onError: (e) => console.error(String(e)),
  });
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

function listener(variant: string, sink: string): Listener {
  if (variant.startsWith("express")) {
    const app = express();
    if (variant === "express-noop") app.use((_req, _res, next) => next());
    else if (variant !== "express") {
      app.use(xrayExpress({ tracer: tracerFor(variant, sink) }));
    }
    app.get("/text", (_req, res) => {
      res.type("text/plain").send("hello");
    });
    return app;
  }
  const app = new Hono();
  const middleware: MiddlewareHandler = variant === "noop"
    ? async (_c, next) => await next()
    : xray({ tracer: tracerFor(variant, sink) });
  app.use(middleware);
  app.get("/text", (c) => c.text("hello"));
  return getRequestListener(app.fetch);
}

// The calling thread's CPU time in µs.
function cpuMicros(): number {
  try {
    const path = `/proc/${process.pid}/task/${process.pid}/schedstat`;
    return Number(readFileSync(path, "utf8").split(" ")[0]) / 1000;
  } catch {
    const usage = process.cpuUsage();
    return usage.user + usage.system;
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1];
}

async function main(): Promise<void> {
  if (!variants.length) {
    throw new Error("Usage: paired.mjs <seconds> <variant> <variant> ...");
  }
  const [sink, sinkMatch] = await start(
    new URL("sink.mjs", dist).pathname,
    [],
    /sink (\d+) (\d+)/,
  );
  const listeners = variants.map((variant) =>
    listener(variant, `127.0.0.1:${sinkMatch[1]}`)
  );
  let current = 0;
  let served = 0;
  const server = createServer((req: IncomingMessage, res) => {
    served++;
    listeners[current](req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const phases: number[][] = variants.map(() => []);
  let last = cpuMicros();
  let cycle = 0;
  const timer = setInterval(() => {
    const now = cpuMicros();
    if (served && cycle >= WARM_PHASES) {
      phases[current].push((now - last) / served);
    }
    last = now;
    served = 0;
    current = (current + 1) % listeners.length;
    if (current === 0) cycle++;
  }, PHASE_MS);

  const [load] = await start(
    new URL("load.mjs", dist).pathname,
    [],
    /"ready":true/,
  );
  const { port } = server.address() as AddressInfo;
  const result = await new Promise<string>((resolve) => {
    createInterface({ input: load.stdout! }).once("line", resolve);
    load.stdin!.write(
      JSON.stringify({
        url: `http://127.0.0.1:${port}/text`,
        seconds: Number(secondsArg),
        connections: 20,
      }) + "\n",
    );
  });
  clearInterval(timer);
  load.kill();
  sink.kill();
  server.close();
  server.closeAllConnections();

  const base = phases[0];
  console.log(
    `${JSON.parse(result).requests} requests in ${secondsArg} s; ` +
      `${PHASE_MS} ms phases; main-thread CPU µs per request`,
  );
  for (const [i, variant] of variants.entries()) {
    const own = phases[i];
    const diffs = own.map((x, k) => x - base[k]).filter(Number.isFinite);
    console.log(
      `${variant.padEnd(18)} ${median(own).toFixed(2).padStart(7)} µs` +
        (i
          ? `  ${median(diffs) >= 0 ? "+" : ""}${
            median(diffs).toFixed(2)
          } µs vs ${variants[0]} (median of ${diffs.length} pairs)`
          : "") +
        `  (${own.length} phases)`,
    );
  }
  process.exit(0);
}

await main();
