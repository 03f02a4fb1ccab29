// The export benchmark (W4 of issue 18), run by scripts/bench_export.ts in a
// fresh Node, Deno or Bun process against the local sink (bench/http/sink.ts):
//
//   <runtime> dist/export.mjs throughput <daemon|api> <sinkPort> <seconds>
//   <runtime> dist/export.mjs outage <sinkPort> <upSeconds> <downSeconds> <docsPerSecond>
//
// throughput: segments (an HTTP server's: request, response, an annotation)
// are ended as fast as the batcher takes them — production pauses while 2,000
// documents wait — through daemonSender, or xrayApiSender (SigV4 with dummy
// keys) at the sink's address. Prints one JSON line: documents delivered per
// second of wall time, process CPU per document, drops.
//
// outage: a steady `docsPerSecond`; after `upSeconds` the sink refuses
// connections for `downSeconds`, then comes back; production goes on for
// `upSeconds` more, then the tracer flushes. Prints a JSON line per second
// (heap, heap after a full GC, RSS, queue, counters) and a final one.

import process from "node:process";
import {
  createTracer,
  daemonSender,
  localSampler,
  xrayApiSender,
} from "xray-edge";
import type { Sender, Tracer } from "xray-edge";

const [mode, ...args] = process.argv.slice(2);

function gc(): void {
  const g = globalThis as Record<string, unknown>;
  const bun = g.Bun as { gc(full: boolean): void } | undefined;
  if (bun) bun.gc(true);
  else if (typeof g.gc === "function") (g.gc as () => void)();
}

let errors = 0;
let firstError: string | undefined;

function tracerFor(sender: Sender): Tracer {
  return createTracer({
    serviceName: "bench",
    sender,
    sampler: localSampler({
      version: 2,
      default: { fixed_target: 0, rate: 1 },
      rules: [],
    }),
    // Drop and failure reports are expected during the outage; count them.
    onError: (e) => {
      errors++;
      firstError ??= String(e);
    },
  });
}

const request = {
  method: "GET",
  url: "https://shop.example.com/api/items/42",
  userAgent: "bench/1.0",
  clientIp: "127.0.0.1",
};
const response = { status: 200, contentLength: 512 };

function one(tracer: Tracer): void {
  const segment = tracer.startSegment("bench");
  segment.setHttpRequest(request);
  segment.annotate("http_route", "/api/items/:id");
  segment.setHttpResponse(response);
  segment.end();
}

const tick = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function dropped(tracer: Tracer): Record<string, number> {
  return tracer.stats().dropped;
}

function droppedTotal(tracer: Tracer): number {
  return Object.values(dropped(tracer)).reduce((a, b) => a + b, 0);
}

async function throughput(
  senderName: string,
  port: string,
  seconds: number,
): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const sender = senderName === "api"
    ? xrayApiSender({
      region: "us-east-1",
      credentials: {
        accessKeyId: "AKIDEXAMPLE",
        secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
      },
      endpoint: base,
    })
    : daemonSender({ address: base });
  const tracer = tracerFor(sender);
  // Warm up (JIT, connections), then measure.
  for (let i = 0; i < 20; i++) {
    for (let j = 0; j < 200; j++) one(tracer);
    await tick();
  }
  await tracer.flush();
  const sent0 = tracer.stats().sent;
  let produced = 0;
  const c0 = cpuUs();
  const t0 = performance.now();
  const until = t0 + seconds * 1000;
  while (performance.now() < until) {
    if (tracer.stats().queued < 2000) {
      for (let i = 0; i < 250; i++) one(tracer);
      produced += 250;
    }
    await tick();
  }
  await tracer.flush();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuUs() - c0;
  const sent = tracer.stats().sent - sent0;
  console.log(JSON.stringify({
    mode,
    sender: senderName,
    produced,
    sent,
    seconds: elapsed,
    docsPerSecond: sent / elapsed,
    cpuUsPerDoc: cpu / Math.max(1, sent),
    cpuCores: cpu / 1e6 / elapsed,
    dropped: droppedTotal(tracer),
    errors,
    firstError,
  }));
}

async function outage(
  port: string,
  upSeconds: number,
  downSeconds: number,
  rate: number,
): Promise<void> {
  const base = `http://127.0.0.1:${port}`;
  const tracer = tracerFor(daemonSender({ address: base }));
  let produced = 0;
  const t0 = performance.now();
  const total = upSeconds + downSeconds + upSeconds;
  let nextSample = 0;
  let wentDown = false;
  while (true) {
    const t = (performance.now() - t0) / 1000;
    if (t >= total) break;
    if (!wentDown && t >= upSeconds) {
      wentDown = true;
      await fetch(`${base}/__down?ms=${downSeconds * 1000}`).then((r) =>
        r.text()
      );
    }
    const due = Math.floor(t * rate);
    while (produced < due) {
      one(tracer);
      produced++;
    }
    if (t >= nextSample) {
      const heap = process.memoryUsage().heapUsed;
      gc();
      const m = process.memoryUsage();
      const s = tracer.stats();
      console.log(JSON.stringify({
        t: Math.round(t),
        phase: t < upSeconds
          ? "up"
          : t < upSeconds + downSeconds
          ? "down"
          : "up again",
        heap,
        heapAfterGc: m.heapUsed,
        rss: m.rss,
        produced,
        queued: s.queued,
        sent: s.sent,
        dropped: droppedTotal(tracer),
      }));
      nextSample += 1;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const flush = await tracer.flush({ timeoutMs: 30_000 });
  const s = tracer.stats();
  console.log(JSON.stringify({
    final: true,
    produced,
    sent: s.sent,
    queued: s.queued,
    retried: s.retried,
    dropped: s.dropped,
    droppedTotal: droppedTotal(tracer),
    flush,
    errors,
    firstError,
  }));
}

if (mode === "throughput") {
  await throughput(args[0], args[1], Number(args[2]));
} else if (mode === "outage") {
  await outage(args[0], Number(args[1]), Number(args[2]), Number(args[3]));
} else {
  throw new Error(`Unknown mode '${mode}': throughput or outage`);
}
// Timers of the batcher are unref'd, but a sender's keep-alive sockets may not be.
process.exit(0);
