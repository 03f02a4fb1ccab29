/**
 * `elasticBeanstalkPlugin`: environment data from the file Elastic Beanstalk
 * writes for X-Ray.
 *
 * @module
 */

import type { Plugin, PluginData } from "../types.ts";
import { readTextFile } from "../runtime/env.ts";
import { compact, str } from "./_fetch.ts";

/** Where Elastic Beanstalk writes the X-Ray environment file. */
export const ELASTIC_BEANSTALK_CONF =
  "/var/elasticbeanstalk/xray/environment.conf";

/** Options for {@linkcode elasticBeanstalkPlugin}. */
export interface ElasticBeanstalkPluginOptions {
  /** The environment file. @default "/var/elasticbeanstalk/xray/environment.conf" */
  path?: string;
  /** Reads a text file. @default the runtime's file API (`node:fs`) */
  readFile?: (path: string) => Promise<string>;
}

/**
 * Reads `environment.conf` (JSON with `environment_name`, `version_label`,
 * `deployment_id`) into `aws.elastic_beanstalk` and sets the origin
 * `AWS::ElasticBeanstalk::Environment`.
 *
 * @param options File path and reader.
 * @returns The plugin, for `createTracer({ plugins })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { elasticBeanstalkPlugin } from "./elastic_beanstalk.ts";
 * const plugin = elasticBeanstalkPlugin({
 *   readFile: () => Promise.resolve('{"environment_name":"prod","version_label":"v7","deployment_id":12}'),
 * });
 * const data = await plugin.collect?.();
 * assert.deepEqual(data?.aws, {
 *   elastic_beanstalk: { environment_name: "prod", version_label: "v7", deployment_id: 12 },
 * });
 * ```
 */
export function elasticBeanstalkPlugin(
  options: ElasticBeanstalkPluginOptions = {},
): Plugin {
  const path = options.path ?? ELASTIC_BEANSTALK_CONF;
  return {
    name: "elastic_beanstalk",
    async collect(): Promise<PluginData | undefined> {
      const text = await (options.readFile ?? readTextFile)(path);
      const conf = JSON.parse(text);
      if (typeof conf !== "object" || conf === null) {
        throw new Error(`${path} does not hold a JSON object`);
      }
      const id = conf.deployment_id;
      const deploymentId = typeof id === "number"
        ? id
        : typeof id === "string" && /^\d+$/.test(id)
        ? Number(id)
        : undefined;
      const eb = compact({
        environment_name: str(conf.environment_name),
        version_label: str(conf.version_label),
        deployment_id: deploymentId,
      });
      return eb
        ? {
          origin: "AWS::ElasticBeanstalk::Environment",
          aws: { elastic_beanstalk: eb },
        }
        : undefined;
    },
  };
}
