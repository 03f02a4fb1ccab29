/**
 * A local X-Ray collector: takes documents the way the X-Ray daemon and the
 * X-Ray API do (HTTP `PutTraceSegments`, daemon-format UDP datagrams), keeps
 * them in an embedded SQLite database, serves sampling rules from a local
 * file and answers the read APIs (`GetTraceSummaries`, `BatchGetTraces`,
 * `GetServiceGraph`, `GetTraceGraph`) in the X-Ray API's own shapes, with a
 * trace viewer at `/`. For development and tests, never the production path.
 *
 * Storage uses `node:sqlite` (Deno, Node 22.13+) or `bun:sqlite` (Bun).
 *
 * @example Start a collector and send it a trace
 * ```ts
 * import assert from "node:assert/strict";
 * import { startCollector } from "./mod.ts";
 * import { createTracer, daemonSender } from "../../mod.ts";
 * const collector = await startCollector({ port: 0, database: ":memory:" });
 * const tracer = createTracer({ serviceName: "api", sender: daemonSender({ address: `127.0.0.1:${collector.port}` }) });
 * tracer.startSegment("api").end();
 * await tracer.flush();
 * assert.equal(collector.collector.stats().store.traces, 1);
 * await collector.close();
 * ```
 *
 * @module
 */

export {
  type Collector,
  type CollectorOptions,
  type CollectorStats,
  createCollector,
  MAX_DOCUMENT_BYTES,
} from "./collector.ts";
export {
  type RunningCollector,
  startCollector,
  type StartCollectorOptions,
} from "./server.ts";
export {
  FilterExpressionError,
  parseFilterExpression,
  type TraceFilter,
} from "./filter.ts";
export type {
  AnnotationValue,
  RootCause,
  RootCauseEntity,
  ServiceId,
  TraceHttp,
  TraceSummary,
} from "./_trace.ts";
export type {
  LocalSamplingDefault,
  LocalSamplingRule,
  LocalSamplingRules,
} from "../sampling/local.ts";
export {
  COLLECTOR_USAGE,
  type CollectorCliOptions,
  parseCollectorArgs,
  runCollectorCli,
} from "./cli.ts";
