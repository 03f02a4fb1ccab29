/**
 * `ecsPlugin`: container data from the ECS task metadata endpoint v4 and the
 * container's host name.
 *
 * @module
 */

import type { Plugin, PluginData } from "../types.ts";
import { type Env, runtimeEnv } from "../runtime/env.ts";
import {
  checkTimeout,
  compact,
  type FetchLike,
  fetchWithin,
  jsonObject,
  str,
} from "./_fetch.ts";

/** Options for {@linkcode ecsPlugin}. */
export interface EcsPluginOptions {
  /**
   * The container metadata endpoint.
   * @default `ECS_CONTAINER_METADATA_URI_V4` from `env`
   */
  endpoint?: string;
  /**
   * The container's host name, recorded as `container`.
   * @default `HOSTNAME` from `env`
   */
  hostname?: string;
  /** The environment. @default the process environment */
  env?: Env;
  /** The deadline of each metadata call, in milliseconds. @default 1000 */
  timeoutMs?: number;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: FetchLike;
}

/**
 * Collects `container` (the host name) and, from the metadata endpoint v4,
 * `container_id`, `container_arn`, and the task's cluster, task ARN, launch
 * type and availability zone; sets the origin `AWS::ECS::Container`. Collects
 * nothing outside ECS (no host name and no endpoint).
 *
 * @param options Endpoint, host name, env, timeout, fetch.
 * @returns The plugin, for `createTracer({ plugins })`.
 * @throws {RangeError} When `timeoutMs` is not a positive number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ecsPlugin } from "./ecs.ts";
 * const data = await ecsPlugin({ hostname: "web-1", env: {} }).collect?.();
 * assert.deepEqual(data, { origin: "AWS::ECS::Container", aws: { ecs: { container: "web-1" } } });
 * ```
 */
export function ecsPlugin(options: EcsPluginOptions = {}): Plugin {
  checkTimeout("ecsPlugin", options.timeoutMs);
  const timeoutMs = options.timeoutMs ?? 1000;
  return {
    name: "ecs",
    async collect(): Promise<PluginData | undefined> {
      const env = options.env ?? runtimeEnv();
      const hostname = options.hostname ?? str(env.HOSTNAME);
      const endpoint = (options.endpoint ??
        str(env.ECS_CONTAINER_METADATA_URI_V4))?.replace(/\/+$/, "");
      let container: Record<string, unknown> = {};
      let task: Record<string, unknown> = {};
      if (endpoint) {
        const fetchFn = options.fetch ?? globalThis.fetch;
        [container, task] = await Promise.all([
          fetchWithin(fetchFn, endpoint, {}, timeoutMs, jsonObject),
          fetchWithin(fetchFn, `${endpoint}/task`, {}, timeoutMs, jsonObject),
        ]);
      }
      const ecs = compact({
        container: hostname,
        container_id: str(container.DockerId),
        container_arn: str(container.ContainerARN),
        cluster: str(task.Cluster),
        task_arn: str(task.TaskARN),
        launch_type: str(task.LaunchType),
        availability_zone: str(task.AvailabilityZone),
      });
      return ecs ? { origin: "AWS::ECS::Container", aws: { ecs } } : undefined;
    },
  };
}
