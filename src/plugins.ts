/**
 * Plugins that add environment data to every segment: EC2, ECS, Elastic
 * Beanstalk, Lambda and Deno Deploy (collected once, lazily, on the first
 * segment; failures go to `onError` and are ignored), and Cloudflare Workers
 * (per request, through the Hono middleware or `withXRay`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { denoDeployPlugin } from "./plugins.ts";
 * import { memorySender } from "./testing.ts";
 * const sender = memorySender();
 * const tracer = createTracer({
 *   serviceName: "site",
 *   sender,
 *   plugins: [denoDeployPlugin({ env: { DENO_DEPLOYMENT_ID: "d1" } })],
 * });
 * await tracer.ready();
 * tracer.startSegment("site", { sampled: true }).end();
 * await tracer.flush();
 * assert.equal(sender.documents[0].aws.deno_deploy.deployment_id, "d1");
 * ```
 *
 * @module
 */

export { ec2Plugin } from "./plugins/ec2.ts";
export type { Ec2PluginOptions } from "./plugins/ec2.ts";
export { ecsPlugin } from "./plugins/ecs.ts";
export type { EcsPluginOptions } from "./plugins/ecs.ts";
export {
  ELASTIC_BEANSTALK_CONF,
  elasticBeanstalkPlugin,
} from "./plugins/elastic_beanstalk.ts";
export type { ElasticBeanstalkPluginOptions } from "./plugins/elastic_beanstalk.ts";
export { lambdaPlugin } from "./plugins/lambda.ts";
export type { LambdaPluginOptions } from "./plugins/lambda.ts";
export { workersPlugin } from "./plugins/workers.ts";
export { denoDeployPlugin } from "./plugins/deno_deploy.ts";
export type { DenoDeployPluginOptions } from "./plugins/deno_deploy.ts";
export type { FetchLike } from "./plugins/_fetch.ts";
export type { Env } from "./runtime/env.ts";
