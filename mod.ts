/**
 * xray-edge: AWS X-Ray tracing on Web standards for Deno, Bun, Node and
 * Cloudflare Workers.
 *
 * @module
 */

export {
  createBatcher,
  emptyStats,
  MAX_BATCH_DOCUMENTS,
  MAX_CONCURRENCY,
  MAX_DOCUMENT_BYTES,
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
export type {
  Batcher,
  DropReason,
  FlushOptions,
  FlushResult,
  Sender,
  SendOptions,
  SendResult,
  TracerStats,
  UnprocessedDocument,
} from "./src/types.ts";
