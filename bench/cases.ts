// The benchmark cases. scripts/bench.ts bundles this file (with xray-edge and
// the peers from bench/node_modules) into one ESM file and runs it once per
// case in a fresh Deno, Node or Bun process:
//
//   <runtime> dist/cases.mjs <case> [rounds] [roundMs] [heapRequests]
//
// It prints one JSON line: the per-operation time of every round (ns), the
// wire bytes one operation produced and, where asked, the heap retained
// after `heapRequests` more operations.

import process from "node:process";
import { runtime } from "./_runtime.ts";
import {
  createTracer,
  formatTraceHeader,
  parseTraceHeader,
  VERSION,
} from "../mod.ts";
import type { Sender, SendResult } from "../mod.ts";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";
import type { TextMapGetter, TextMapSetter } from "@opentelemetry/api";

// Peers are imported only by the case that uses them (esbuild splits them
// into chunks): aws-xray-sdk-core enables async_hooks at import (cls-hooked),
// which would tax every promise of every other case in the same process.
// A CommonJS module imported dynamically has its exports under `default`;
// an ESM one has them on the namespace (and may have an unrelated default).
function cjs<T extends object>(m: T, key: keyof T): T {
  return key in m ? m : (m as { default: T }).default;
}

const peers = {
  awsXray: () => import("aws-xray-sdk-core"),
  awsXrayEmitter: () => import("aws-xray-sdk-core/dist/lib/segment_emitter.js"),
  otelApi: () => import("@opentelemetry/api"),
  otelSdk: () => import("@opentelemetry/sdk-trace-base"),
  otelIds: () => import("@opentelemetry/id-generator-aws-xray"),
  otelPropagator: () => import("@opentelemetry/propagator-aws-xray"),
  otlp: () => import("@opentelemetry/otlp-transformer"),
};

/** One benchmark subject: `run(n)` performs n operations. */
interface Subject {
  run(n: number): void | Promise<void>;
  /** Bytes of wire output the last operation produced (a fairness check). */
  bytes(): number;
}

const SUBSEGMENTS = 10;
const FLUSH_EVERY = 50;
const NAMES: string[] = [];
for (let i = 0; i < SUBSEGMENTS; i++) NAMES.push("work-" + i);
const HEADER =
  "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

// What the application passes as metadata: a small object made per call.
function cart(i: number): Record<string, unknown> {
  return { items: i, sku: "sku-1234", express: true };
}

let sinkLength = 0;
let errors = 0;

// ---------------------------------------------------------------- xray-edge

function xrayEdge(sampled: boolean): Subject {
  let last = "";
  const resolved: Promise<SendResult> = Promise.resolve({ ok: true });
  const sender: Sender = {
    send(documents: string[]): Promise<SendResult> {
      last = documents[documents.length - 1];
      sinkLength += documents.length;
      return resolved;
    },
  };
  const tracer = createTracer({
    serviceName: "bench",
    sender,
    onError: () => {
      errors++;
    },
  });
  const options = { sampled };
  function one(): void {
    const segment = tracer.startSegment("bench", options);
    for (let i = 0; i < SUBSEGMENTS; i++) {
      const sub = segment.startSubsegment(NAMES[i]);
      sub.annotate("customer", "c-42");
      sub.annotate("attempt", i);
      sub.addMetadata("cart", cart(i));
      sub.end();
    }
    segment.end();
  }
  return {
    async run(n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        one();
        if (i % FLUSH_EVERY === FLUSH_EVERY - 1) await tracer.flush();
      }
      await tracer.flush();
    },
    bytes: () => last.length,
  };
}

// -------------------------------------------------------- aws-xray-sdk-core

async function awsXraySdk(): Promise<Subject> {
  const AWSXRay = (await peers.awsXray()).default;
  const SegmentEmitter = (await peers.awsXrayEmitter()).default;
  // The SDK sends each finished segment over UDP; keep its own wire text
  // (protocol header + segment.format()) and skip only the socket.
  const emitter = SegmentEmitter as {
    send(segment: { format(): string }): void;
  };
  let last = "";
  emitter.send = function send(segment: { format(): string }): void {
    last = '{"format":"json","version":1}\n' + segment.format();
    sinkLength += last.length;
  };
  AWSXRay.enableManualMode();
  AWSXRay.setContextMissingStrategy(() => {});
  return {
    run(n: number): void {
      for (let r = 0; r < n; r++) {
        const segment = new AWSXRay.Segment("bench");
        for (let i = 0; i < SUBSEGMENTS; i++) {
          const sub = segment.addNewSubsegment(NAMES[i]);
          sub.addAnnotation("customer", "c-42");
          sub.addAnnotation("attempt", i);
          sub.addMetadata("cart", cart(i));
          sub.close();
        }
        segment.close();
      }
    },
    bytes: () => last.length,
  };
}

// ------------------------------------------------------------ OpenTelemetry

async function openTelemetry(sampled: boolean): Promise<Subject> {
  const { ROOT_CONTEXT, trace: otelTrace } = cjs(
    await peers.otelApi(),
    "ROOT_CONTEXT",
  );
  const {
    AlwaysOffSampler,
    AlwaysOnSampler,
    BasicTracerProvider,
    BatchSpanProcessor,
  } = cjs(await peers.otelSdk(), "BatchSpanProcessor");
  const { AWSXRayIdGenerator } = cjs(
    await peers.otelIds(),
    "AWSXRayIdGenerator",
  );
  const { JsonTraceSerializer } = cjs(
    await peers.otlp(),
    "JsonTraceSerializer",
  );
  let bytes = 0;
  let spanCount = 0;
  const exporter: SpanExporter = {
    export(spans: ReadableSpan[], done): void {
      const body = JsonTraceSerializer.serializeRequest(spans);
      bytes += body?.length ?? 0;
      spanCount += spans.length;
      sinkLength += body?.length ?? 0;
      done({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
  };
  const processor = new BatchSpanProcessor(exporter);
  const provider = new BasicTracerProvider({
    idGenerator: new AWSXRayIdGenerator(),
    sampler: sampled ? new AlwaysOnSampler() : new AlwaysOffSampler(),
    spanProcessors: [processor],
  });
  const tracer = provider.getTracer("bench");
  function one(): void {
    const root = tracer.startSpan("bench", undefined, ROOT_CONTEXT);
    const parent = otelTrace.setSpan(ROOT_CONTEXT, root);
    for (let i = 0; i < SUBSEGMENTS; i++) {
      const span = tracer.startSpan(NAMES[i], undefined, parent);
      span.setAttribute("customer", "c-42");
      span.setAttribute("attempt", i);
      // OTel attributes hold no objects: the X-Ray exporters write metadata as JSON text.
      span.setAttribute("cart", JSON.stringify(cart(i)));
      span.end();
    }
    root.end();
  }
  return {
    async run(n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        one();
        if (i % FLUSH_EVERY === FLUSH_EVERY - 1) await processor.forceFlush();
      }
      await processor.forceFlush();
    },
    // Bytes per request: an OTLP export carries many requests' spans.
    bytes: () => Math.round(bytes / spanCount * (SUBSEGMENTS + 1)) || 0,
  };
}

// -------------------------------------------------------------------- floor

// The cheapest honest way to produce the same wire bytes as xray-edge, written
// by hand for this one shape: ids as hex from a pool of random bytes refilled
// 4 KiB at a time (crypto.getRandomValues) through a byte-to-hex table, the
// same clock (time origin + performance.now(), microseconds), plain object
// literals already in wire shape with the same fields in the same order, and
// one JSON.stringify of the whole document, handed on the way xray-edge's
// case hands its documents to a sender: collected in an array, passed on and
// awaited every 50 requests. No validation, no entity state kept across
// calls, no queue limits or counters, no sampling decision.
const HEX: string[] = [];
for (let i = 256; i < 512; i++) HEX.push(i.toString(16).slice(1));
const POOL = new Uint8Array(4096);
let poolAt = POOL.length;

function randomHex(bytes: number): string {
  if (poolAt + bytes > POOL.length) {
    crypto.getRandomValues(POOL);
    poolAt = 0;
  }
  let out = "";
  for (let i = 0; i < bytes; i++) out += HEX[POOL[poolAt++]];
  return out;
}

const ORIGIN = performance.timeOrigin;
const seconds = () => (ORIGIN + performance.now()) / 1000;

function floor(): Subject {
  let last = "";
  const aws = { xray: { sdk: "xray-edge", sdk_version: VERSION } };
  const rt = runtime();
  const service = { runtime: rt.name, runtime_version: rt.version };
  let batch: string[] = [];
  const resolved = Promise.resolve();
  function send(): Promise<void> {
    if (batch.length > 0) {
      last = batch[batch.length - 1];
      sinkLength += batch.length;
      batch = [];
    }
    return resolved;
  }
  function one(): void {
    const start = seconds();
    const subsegments: unknown[] = [];
    const segment = {
      name: "bench",
      id: randomHex(8),
      start_time: start,
      trace_id: "1-" + Math.floor(start).toString(16) + "-" + randomHex(12),
      end_time: 0,
      aws,
      service,
      subsegments,
    };
    for (let i = 0; i < SUBSEGMENTS; i++) {
      subsegments.push({
        name: NAMES[i],
        id: randomHex(8),
        start_time: seconds(),
        end_time: seconds(),
        annotations: { customer: "c-42", attempt: i },
        metadata: { default: { cart: cart(i) } },
      });
    }
    segment.end_time = seconds();
    batch.push(JSON.stringify(segment));
  }
  return {
    async run(n: number): Promise<void> {
      for (let i = 0; i < n; i++) {
        one();
        if (i % FLUSH_EVERY === FLUSH_EVERY - 1) await send();
      }
      await send();
    },
    bytes: () => last.length,
  };
}

// ------------------------------------------------------------ trace header

function headerSubject(roundtrip: (value: string) => string): Subject {
  let last = "";
  return {
    run(n: number): void {
      for (let i = 0; i < n; i++) {
        last = roundtrip(HEADER);
        sinkLength += last.length;
      }
    },
    bytes: () => last.length,
  };
}

function headerXrayEdge(): Subject {
  return headerSubject((value) => formatTraceHeader(parseTraceHeader(value)!));
}

async function headerOtel(): Promise<Subject> {
  const { context: otelContext } = cjs(await peers.otelApi(), "context");
  const { AWSXRAY_TRACE_ID_HEADER, AWSXRayPropagator } = cjs(
    await peers.otelPropagator(),
    "AWSXRayPropagator",
  );
  const propagator = new AWSXRayPropagator();
  const getter: TextMapGetter<Record<string, string>> = {
    get: (carrier, key) => carrier[key],
    keys: (carrier) => Object.keys(carrier),
  };
  const setter: TextMapSetter<Record<string, string>> = {
    set: (carrier, key, value) => {
      carrier[key] = value;
    },
  };
  const incoming = { [AWSXRAY_TRACE_ID_HEADER]: HEADER };
  return headerSubject(() => {
    const ctx = propagator.extract(otelContext.active(), incoming, getter);
    const outgoing: Record<string, string> = {};
    propagator.inject(ctx, outgoing, setter);
    return outgoing[AWSXRAY_TRACE_ID_HEADER];
  });
}

async function headerAwsXraySdk(): Promise<Subject> {
  const AWSXRay = (await peers.awsXray()).default;
  const utils = AWSXRay.utils as unknown as {
    processTraceData(value: string): Record<string, string>;
  };
  return headerSubject((value) => {
    const d = utils.processTraceData(value);
    return "Root=" + d.root + ";Parent=" + d.parent + ";Sampled=" + d.sampled;
  });
}

function headerFloor(): Subject {
  // Hand-rolled: split on ';' and '=', then join the known keys back.
  return headerSubject((value) => {
    let root = "";
    let parent = "";
    let sampled = "";
    for (const part of value.split(";")) {
      const [key, val] = part.split("=");
      if (key === "Root") root = val;
      else if (key === "Parent") parent = val;
      else if (key === "Sampled") sampled = val;
    }
    return "Root=" + root + ";Parent=" + parent + ";Sampled=" + sampled;
  });
}

// ------------------------------------------------------------------ runner

const CASES: Record<string, () => Subject | Promise<Subject>> = {
  "request/xray-edge": () => xrayEdge(true),
  "request/aws-xray-sdk-core": awsXraySdk,
  "request/opentelemetry": () => openTelemetry(true),
  "request/floor": floor,
  "header/xray-edge": headerXrayEdge,
  "header/aws-xray-sdk-core": headerAwsXraySdk,
  "header/opentelemetry": headerOtel,
  "header/floor": headerFloor,
  "unsampled/xray-edge": () => xrayEdge(false),
  "unsampled/opentelemetry": () => openTelemetry(false),
};

function collectGarbage(): void {
  const g = globalThis as Record<string, unknown>;
  const bun = g.Bun as { gc(full: boolean): void } | undefined;
  for (let i = 0; i < 4; i++) {
    if (bun) bun.gc(true);
    else if (typeof g.gc === "function") (g.gc as () => void)();
    else throw new Error("Cannot collect garbage: run with --expose-gc");
  }
}

// CPU time of this process (all its threads: GC and JIT helpers count), not
// wall time: on a shared machine other processes steal the CPU, and wall
// time then measures the neighbours.
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function timed(subject: Subject, n: number): Promise<number> {
  const t0 = cpuMs();
  await subject.run(n);
  return cpuMs() - t0;
}

async function main(): Promise<void> {
  const [name, roundsArg, roundMsArg, heapArg] = process.argv.slice(2);
  const make = CASES[name];
  if (!make) {
    throw new Error(
      `Unknown case '${name}': one of ${Object.keys(CASES).join(", ")}`,
    );
  }
  const rounds = Number(roundsArg ?? 9);
  const roundMs = Number(roundMsArg ?? 150);
  const heapRequests = Number(heapArg ?? 0);
  const subject = await make();

  // Warm up (grow n until one batch takes a tenth of a round, then keep
  // running for two rounds' worth), then calibrate on warm code.
  let n = 1;
  while (await timed(subject, n) < roundMs / 10) n *= 2;
  const warmUntil = cpuMs() + roundMs * 2;
  while (cpuMs() < warmUntil) await timed(subject, n);
  const perRound = Math.max(
    1,
    Math.round(n * roundMs / await timed(subject, n)),
  );

  // One full GC before the rounds, none between them: a forced full GC
  // shrinks the young generation, and the next round would pay for growing
  // it again. Steady-state collection is part of the cost measured.
  collectGarbage();
  const nsPerOp: number[] = [];
  for (let r = 0; r < rounds; r++) {
    nsPerOp.push((await timed(subject, perRound)) * 1e6 / perRound);
  }

  // Retained heap: after one unmeasured chunk, a full GC and a heap reading
  // after each of 6 chunks of `heapRequests / 6` operations. The median of
  // the pairwise slopes (Theil-Sen; bytes per operation) × 100,000 is what
  // stays behind per 100,000 operations: one reading's noise (V8 heap pages,
  // code caches; tens of KiB) cannot move it the way it moves a single
  // before/after difference.
  let retainedPer100k: number | undefined;
  if (heapRequests > 0) {
    const chunks = 6;
    const chunk = Math.ceil(heapRequests / chunks);
    const ys: number[] = [];
    await subject.run(chunk);
    collectGarbage();
    ys.push(process.memoryUsage().heapUsed);
    for (let c = 1; c <= chunks; c++) {
      await subject.run(chunk);
      collectGarbage();
      ys.push(process.memoryUsage().heapUsed);
    }
    const slopes: number[] = [];
    for (let i = 0; i < ys.length; i++) {
      for (let j = i + 1; j < ys.length; j++) {
        slopes.push((ys[j] - ys[i]) / ((j - i) * chunk));
      }
    }
    slopes.sort((x, y) => x - y);
    retainedPer100k = Math.round(
      slopes[Math.floor(slopes.length / 2)] * 100_000,
    );
    if (process.env.BENCH_DEBUG) console.error(ys.map((y) => y - ys[0]));
  }

  const sorted = [...nsPerOp].sort((a, b) => a - b);
  console.log(JSON.stringify({
    case: name,
    runtime: runtime(),
    perRound,
    nsPerOp,
    medianNs: sorted[Math.floor(sorted.length / 2)],
    wireBytes: subject.bytes(),
    retainedPer100k,
    heapRequests,
    sink: sinkLength > 0,
    errors,
  }));
}

await main();
