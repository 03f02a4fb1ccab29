// W4 of `deno task bench` (`--only=export`): documents per second through the
// batcher into a local HTTP sink (daemonSender, and xrayApiSender with SigV4),
// and memory while the sink is down under steady traffic. The producer is
// bench/export.ts in a fresh process per measurement; the sink is
// bench/http/sink.ts on Node, in its own process (so on the other core).

import {
  BENCH,
  Child,
  DIST,
  problemsMarkdown,
  type RunHeader,
  runHeader,
  type Runtime,
  sleep,
} from "./_bench_util.ts";

export interface ThroughputResult {
  runtime: string;
  sender: "daemon" | "api";
  produced: number;
  sent: number;
  seconds: number;
  docsPerSecond: number;
  cpuUsPerDoc: number;
  cpuCores: number;
  dropped: number;
  errors: number;
  firstError?: string;
  sinkDocuments: number;
  /** PutTraceSegments requests the sink answered (batches). */
  sinkRequests: number;
}

export interface OutageSample {
  t: number;
  phase: string;
  heap: number;
  heapAfterGc: number;
  rss: number;
  produced: number;
  queued: number;
  sent: number;
  dropped: number;
}

export interface OutageResult {
  runtime: string;
  rate: number;
  upSeconds: number;
  downSeconds: number;
  samples: OutageSample[];
  produced: number;
  sent: number;
  queued: number;
  retried: number;
  dropped: Record<string, number>;
  droppedTotal: number;
  sinkDocuments: number;
  sinkUnique: number;
  duplicates: number;
  balanced: boolean;
}

export interface ExportResults extends RunHeader {
  kind: "export";
  config: {
    throughputSeconds: number;
    downSeconds: number;
    upSeconds: number;
    rate: number;
    quick: boolean;
  };
  throughput: ThroughputResult[];
  outage: OutageResult[];
  problems: string[];
}

export interface ExportOptions {
  throughputSeconds: number;
  downSeconds: number;
  upSeconds: number;
  rate: number;
  quick: boolean;
  runtimes: Runtime[];
  /** Runtimes the outage runs on (it takes 2 × up + down seconds each). */
  outageRuntimes: string[];
  command: string;
  machine: string;
}

const SCRIPT = new URL("export.mjs", DIST).pathname;

async function sinkCount(url: string): Promise<Record<string, number>> {
  return await (await fetch(`${url}/__count`)).json();
}

/** Runs W4 and returns its results. */
export async function runExport(
  options: ExportOptions,
): Promise<ExportResults> {
  const started = performance.now();
  const node = options.runtimes.find((r) => r.name === "node") ??
    { name: "node", command: "node", args: [], version: "" };
  const sink = new Child(node.command, [
    new URL("http/sink.mjs", DIST).pathname,
  ], BENCH);
  const [, port] = (await sink.line()).split(" ");
  const sinkUrl = `http://127.0.0.1:${port}`;
  const throughput: ThroughputResult[] = [];
  const outage: OutageResult[] = [];
  const problems: string[] = [];
  try {
    for (const rt of options.runtimes) {
      for (const sender of ["daemon", "api"] as const) {
        await (await fetch(`${sinkUrl}/__reset`)).text();
        const child = new Child(rt.command, [
          ...rt.args,
          SCRIPT,
          "throughput",
          sender,
          port,
          String(options.throughputSeconds),
        ], BENCH);
        try {
          const r = JSON.parse(
            await child.line(options.throughputSeconds * 1000 + 60_000),
          );
          const c = await sinkCount(sinkUrl);
          const result: ThroughputResult = {
            runtime: rt.name,
            ...r,
            sinkDocuments: c.documents,
            sinkRequests: c.requests,
          };
          throughput.push(result);
          console.log(
            `  ${rt.name.padEnd(4)} ${sender.padEnd(6)} ${
              Math.round(result.docsPerSecond).toString().padStart(7)
            } docs/s  ${
              (c.documents / Math.max(1, c.requests)).toFixed(1)
            } docs/batch  ${result.cpuUsPerDoc.toFixed(1)} µs CPU/doc  ${
              (result.cpuCores * 100).toFixed(0)
            } % of a core${
              result.dropped ? `  ⚠ ${result.dropped} dropped` : ""
            }${result.errors ? `  ⚠ ${result.errors} errors` : ""}`,
          );
          if (result.dropped || result.errors) {
            problems.push(
              `throughput ${rt.name} ${sender}: ${result.dropped} dropped, ${result.errors} errors (${result.firstError})`,
            );
          }
        } catch (e) {
          problems.push(`throughput ${rt.name} ${sender}: ${e}`);
          console.log(`  ${rt.name} ${sender} FAILED: ${e}`);
        } finally {
          await child.stop();
        }
      }
    }
    for (const rt of options.runtimes) {
      if (!options.outageRuntimes.includes(rt.name)) continue;
      await (await fetch(`${sinkUrl}/__reset?ids=1`)).text();
      console.log(
        `  ${rt.name}: ${options.rate} docs/s, sink down for ${options.downSeconds} s …`,
      );
      // (The runtimes' arguments expose the full GC: --expose-gc, Bun.gc.)
      const child = new Child(rt.command, [
        ...rt.args,
        SCRIPT,
        "outage",
        port,
        String(options.upSeconds),
        String(options.downSeconds),
        String(options.rate),
      ], BENCH);
      try {
        const samples: OutageSample[] = [];
        let final: Record<string, unknown> | undefined;
        const limit = (options.upSeconds * 2 + options.downSeconds) * 1000 +
          60_000;
        while (!final) {
          const line = JSON.parse(await child.line(limit));
          if (line.final) final = line;
          else {
            samples.push(line);
            if (line.t % 10 === 0) {
              console.log(
                `    t=${line.t}s ${line.phase.padEnd(8)} heap ${
                  mib(line.heapAfterGc)
                } MiB (${mib(line.heap)} before GC), RSS ${
                  mib(line.rss)
                } MiB, queued ${line.queued}, dropped ${line.dropped}`,
              );
            }
          }
        }
        await sleep(200);
        const c = await sinkCount(sinkUrl);
        const produced = Number(final.produced);
        const sent = Number(final.sent);
        const droppedTotal = Number(final.droppedTotal);
        const queued = Number(final.queued);
        const result: OutageResult = {
          runtime: rt.name,
          rate: options.rate,
          upSeconds: options.upSeconds,
          downSeconds: options.downSeconds,
          samples,
          produced,
          sent,
          queued,
          retried: Number(final.retried),
          dropped: final.dropped as Record<string, number>,
          droppedTotal,
          sinkDocuments: c.documents,
          sinkUnique: c.unique,
          duplicates: c.duplicates,
          balanced: produced === c.unique + droppedTotal + queued &&
            c.documents === sent,
        };
        outage.push(result);
        const flat = flatness(result);
        if (flat) console.log(`    ${flat}`);
        console.log(
          `    produced ${produced} = delivered ${c.unique} + counted drops ${droppedTotal}${
            queued ? ` + still queued ${queued}` : ""
          }: ${
            result.balanced ? "balanced" : "NOT balanced"
          }; ${c.duplicates} duplicates; tracer sent ${sent}`,
        );
        if (!result.balanced || c.duplicates) {
          problems.push(
            `outage ${rt.name}: produced ${produced}, delivered ${c.unique} (+${c.duplicates} duplicates), dropped ${droppedTotal}, queued ${queued}, tracer sent ${sent}`,
          );
        }
      } catch (e) {
        problems.push(`outage ${rt.name}: ${e}`);
        console.log(`  outage ${rt.name} FAILED: ${e}`);
      } finally {
        await child.stop();
      }
    }
  } finally {
    await sink.stop();
  }
  return {
    kind: "export",
    ...runHeader(options.machine, options.runtimes, options.command, started),
    config: {
      throughputSeconds: options.throughputSeconds,
      downSeconds: options.downSeconds,
      upSeconds: options.upSeconds,
      rate: options.rate,
      quick: options.quick,
    },
    throughput,
    outage,
    problems,
  };
}

/** Heap after GC over the second half of the outage: flat means the queue cap holds. */
function flatness(o: OutageResult): string | undefined {
  const start = o.upSeconds + o.downSeconds / 2;
  const end = o.upSeconds + o.downSeconds;
  const heaps = o.samples.filter((s) => s.t >= start && s.t < end)
    .map((s) => s.heapAfterGc);
  const rss = o.samples.filter((s) => s.t >= start && s.t < end)
    .map((s) => s.rss);
  if (heaps.length < 2) return undefined;
  return `Second half of the outage (${heaps.length} samples): heap after GC ${
    mib(Math.min(...heaps))
  }–${mib(Math.max(...heaps))} MiB, RSS ${mib(Math.min(...rss))}–${
    mib(Math.max(...rss))
  } MiB.`;
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

/** The W4 section of BENCHMARKS.md. */
export function exportMarkdown(r: ExportResults): string {
  const versions = Object.entries(r.versions).map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const lines: string[] = [
    "## Export (W4)",
    "",
    `\`${r.command}\` on ${
      r.date.slice(0, 10)
    }: ${r.machine}; ${versions}; took ${r.seconds} s.`,
    "",
    "### Documents per second into a local HTTP sink",
    "",
    `A fresh producer process per row ends server segments (request, response,`,
    `an annotation; 100 % sampled) as fast as the batcher takes them for`,
    `${r.config.throughputSeconds} s (production pauses while 2,000 documents`,
    "wait), default batcher settings (50 documents a batch, 2 requests in",
    "flight); the sink is another process (Node) that parses every batch.",
    "docs/s counts documents delivered per second of wall time (warm-up",
    "excluded); docs per batch is what the sink received per request (warm-up",
    "included); CPU is the producer's (segment, serialization, batching,",
    "`fetch`): well under one core means delivery waits rather than works.",
    "Target ≥ 50,000 docs/s through `daemonSender`.",
    "",
    "| runtime | sender | docs/s | docs per batch | CPU µs/doc | producer CPU | dropped | |",
    "|---|---|--:|--:|--:|--:|--:|:-:|",
  ];
  for (const t of r.throughput) {
    const ok = t.sender === "daemon"
      ? (t.docsPerSecond >= 50_000 ? "✅" : "❌")
      : "";
    lines.push(
      `| ${t.runtime} | ${
        t.sender === "daemon" ? "daemonSender" : "xrayApiSender (SigV4)"
      } | ${Math.round(t.docsPerSecond)} | ${
        (t.sinkDocuments / Math.max(1, t.sinkRequests)).toFixed(1)
      } | ${t.cpuUsPerDoc.toFixed(1)} | ${
        (t.cpuCores * 100).toFixed(0)
      } % of a core | ${t.dropped} | ${ok} |`,
    );
  }
  lines.push("");
  for (const o of r.outage) {
    lines.push(
      `### Sink down for ${o.downSeconds} s at ${o.rate} docs/s (${o.runtime})`,
      "",
      `Steady production of ${o.rate} documents/s through \`daemonSender\`; after ${o.upSeconds} s`,
      `the sink refuses connections for ${o.downSeconds} s, then accepts again;`,
      `production stops ${o.upSeconds} s later and the tracer flushes. Heap after a`,
      "full GC (and as found, before it) and RSS, every 5 s:",
      "",
      "| t (s) | sink | heap MiB | heap before GC MiB | RSS MiB | queued | dropped |",
      "|--:|---|--:|--:|--:|--:|--:|",
    );
    for (const s of o.samples.filter((s) => s.t % 5 === 0)) {
      lines.push(
        `| ${s.t} | ${s.phase} | ${mib(s.heapAfterGc)} | ${mib(s.heap)} | ${
          mib(s.rss)
        } | ${s.queued} | ${s.dropped} |`,
      );
    }
    const flat = flatness(o);
    if (flat) lines.push("", flat);
    const drops = Object.entries(o.dropped).filter(([, n]) => n > 0)
      .map(([k, n]) => `${k} ${n}`).join(", ") || "none";
    lines.push(
      "",
      `Produced ${o.produced} = delivered ${o.sinkUnique} + counted drops ${o.droppedTotal} (${drops})${
        o.queued ? ` + ${o.queued} still queued` : ""
      }: ${
        o.balanced ? "✅ every document accounted for" : "❌ unbalanced"
      }; ` +
        `${o.duplicates} duplicates at the sink ${
          o.duplicates === 0 ? "✅" : "❌"
        }; ` +
        `${o.retried} documents sent again after failures.`,
      "",
    );
  }
  lines.push(...problemsMarkdown(r.problems));
  return lines.join("\n");
}
