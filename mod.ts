/**
 * xray-edge: AWS X-Ray tracing for Deno, Bun, Node, Cloudflare Workers and
 * Lambda, on Web standards.
 *
 * @example Trace a request
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer, TRACE_HEADER } from "./mod.ts";
 * import { memorySender } from "./src/testing.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "checkout", sender });
 * const request = new Request("https://shop.example/pay", {
 *   headers: { [TRACE_HEADER]: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
 * });
 * const segment = tracer.startSegment("checkout", { traceHeader: request.headers.get(TRACE_HEADER) });
 * await segment.capture("price", () => 42);
 * segment.setHttpResponse({ status: 200 });
 * segment.end();
 * await tracer.flush();
 * assert.equal(sender.documents.length, 1);
 * ```
 *
 * @module
 */

export { createTracer } from "./src/tracer.ts";
export type {
  HeaderGetter,
  Propagator,
  StartSegmentOptions,
  Tracer,
  TracerOptions,
} from "./src/tracer.ts";
export {
  cleanUrl,
  Entity,
  sanitizeName,
  Segment,
  Subsegment,
} from "./src/segment.ts";
export type {
  AddErrorOptions,
  AnnotationValue,
  EntityContext,
  HttpRequestInfo,
  HttpResponseInfo,
  SubsegmentOptions,
} from "./src/segment.ts";
export {
  formatTraceHeader,
  isSegmentId,
  isTraceId,
  parseTraceHeader,
  responseTraceHeader,
  TRACE_HEADER,
} from "./src/trace_header.ts";
export type { TraceHeader } from "./src/trace_header.ts";
export { tracedFetch } from "./src/fetch.ts";
export type {
  CurrentEntitySource,
  FetchFunction,
  ParentSource,
  TracedFetchOptions,
} from "./src/fetch.ts";
export { newSegmentId, newTraceId } from "./src/ids.ts";
export { wildcardMatch } from "./src/wildcard.ts";
export { configFromEnv, parseDaemonAddress } from "./src/config.ts";
export type {
  ContextMissing,
  DaemonAddress,
  EnvConfig,
  HostPort,
} from "./src/config.ts";
export { consoleSender } from "./src/senders/console.ts";
export type { ConsoleSenderOptions } from "./src/senders/console.ts";
export {
  createBatcher,
  emptyStats,
  MAX_BATCH_DOCUMENTS,
  MAX_CONCURRENCY,
} from "./src/batcher.ts";
export type { BatcherOptions } from "./src/batcher.ts";
export { xrayApiSender } from "./src/senders/xray_api.ts";
export type { XRayApiSenderOptions } from "./src/senders/xray_api.ts";
export { daemonSender } from "./src/senders/daemon.ts";
export type { DaemonSenderOptions } from "./src/senders/daemon.ts";
export {
  cachedCredentials,
  credentialChain,
  CredentialsError,
  defaultCredentials,
  fromContainer,
  fromEnv,
  fromInstanceMetadata,
  hasContainerCredentials,
  regionFromEnv,
  staticCredentials,
  toCredentialsProvider,
} from "./src/credentials.ts";
export type {
  AwsCredentials,
  CachedCredentialsOptions,
  ContainerCredentialsOptions,
  CredentialsProvider,
  CredentialsSource,
  DefaultCredentialsOptions,
  Env,
  FetchCredentialsOptions,
  GetCredentialsOptions,
  InstanceMetadataCredentialsOptions,
} from "./src/credentials.ts";
export { DEFAULT_SAMPLING_RULES, localSampler } from "./src/sampling/local.ts";
export type {
  LocalSamplerOptions,
  LocalSamplingDefault,
  LocalSamplingRule,
  LocalSamplingRules,
} from "./src/sampling/local.ts";
export { isXRayError, XRayError } from "./src/errors.ts";
export { MAX_DOCUMENT_BYTES } from "./src/document.ts";
export type { SqlData } from "./src/document.ts";
export type { StackFrame } from "./src/stack.ts";
export { VERSION } from "./src/version.ts";
export type {
  Batcher,
  Clock,
  DropReason,
  ErrorHandler,
  ErrorSource,
  FlushOptions,
  FlushResult,
  IdGenerator,
  Plugin,
  PluginData,
  Sampler,
  SamplingDecision,
  SamplingRequest,
  Sender,
  SendOptions,
  SendResult,
  TracerStats,
  UnprocessedDocument,
} from "./src/types.ts";
