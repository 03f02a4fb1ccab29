// `deno task bench:collector`: the collector figures of issue 13 — documents
// per second ingested over HTTP PutTraceSegments (one collector process, 50
// documents per call, a few calls in flight), and the trace-list latency
// (GetTraceSummaries, first page, with and without a filter) once 10,000
// traces are stored. Prints only; timings are never asserted anywhere.
//
//   deno task bench:collector [--documents=N] [--traces=N] [--concurrency=N]

import { startCollector } from "../src/collector/mod.ts";

function flag(name: string, fallback: number): number {
  const arg = Deno.args.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split("=")[1]) : fallback;
}

const DOCUMENTS = flag("documents", 50_000);
const TRACES = flag("traces", 10_000);
const CONCURRENCY = flag("concurrency", 4);
const T0 = Math.floor(Date.now() / 1000);

function hex(n: number, width: number): string {
  return n.toString(16).padStart(width, "0").slice(-width);
}

/** A realistic small segment: http block, annotations, two subsegments. */
function documentText(n: number): string {
  const start = T0 - (n % 3600);
  return JSON.stringify({
    name: `service-${n % 7}`,
    id: hex(0x1000000 + n, 16),
    trace_id: `1-${hex(T0, 8)}-${hex(n, 24)}`,
    start_time: start,
    end_time: start + 0.05 + (n % 100) / 1000,
    http: {
      request: {
        method: n % 3 ? "GET" : "POST",
        url: `http://shop/items/${n}`,
      },
      response: { status: n % 11 ? 200 : 500 },
    },
    fault: n % 11 ? undefined : true,
    annotations: { customer: `c-${n % 50}`, items: n % 9 },
    subsegments: [
      {
        name: "inventory",
        id: hex(0x2000000 + n, 16),
        start_time: start + 0.01,
        end_time: start + 0.03,
        namespace: "remote",
        http: { response: { status: 200 } },
      },
      {
        name: "price",
        id: hex(0x3000000 + n, 16),
        start_time: start + 0.03,
        end_time: start + 0.04,
      },
    ],
  });
}

async function ingest(url: string, from: number, count: number): Promise<void> {
  let next = from;
  const end = from + count;
  async function worker(): Promise<void> {
    while (next < end) {
      const batch: string[] = [];
      for (let i = 0; i < 50 && next < end; i++) {
        batch.push(documentText(next++));
      }
      const response = await fetch(new URL("/TraceSegments", url), {
        method: "POST",
        body: JSON.stringify({ TraceSegmentDocuments: batch }),
      });
      const body = await response.json();
      if (!response.ok || body.UnprocessedTraceSegments.length > 0) {
        throw new Error(`ingest failed: ${JSON.stringify(body).slice(0, 300)}`);
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

async function listMs(url: string, filter: string): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const started = performance.now();
    const response = await fetch(new URL("/TraceSummaries", url), {
      method: "POST",
      body: JSON.stringify({
        StartTime: T0 - 7200,
        EndTime: T0 + 60,
        FilterExpression: filter,
      }),
    });
    await response.json();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[3];
}

const running = await startCollector({
  port: 0,
  database: ":memory:",
  maxTraces: Math.max(TRACES, DOCUMENTS),
  udp: false,
});
try {
  const started = performance.now();
  await ingest(running.url, 0, DOCUMENTS);
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `ingest: ${DOCUMENTS} documents in ${seconds.toFixed(2)} s = ${
      Math.round(DOCUMENTS / seconds)
    } documents/s (HTTP, 50 per call, ${CONCURRENCY} in flight)`,
  );
} finally {
  await running.close();
}

const listing = await startCollector({
  port: 0,
  database: ":memory:",
  maxTraces: TRACES,
  udp: false,
});
try {
  await ingest(listing.url, 0, TRACES);
  const stored = listing.collector.stats().store.traces;
  for (
    const filter of [
      "",
      'service("service-3") AND http.status = 500',
      'annotation.customer = "c-7" OR responsetime > 0.14',
    ]
  ) {
    console.log(
      `list (${stored} traces stored, first page${
        filter ? `, filter ${filter}` : ""
      }): median ${(await listMs(listing.url, filter)).toFixed(1)} ms`,
    );
  }
} finally {
  await listing.close();
}
