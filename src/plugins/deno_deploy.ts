/**
 * `denoDeployPlugin`: the Deno Deploy deployment id and region.
 *
 * @module
 */

import type { Plugin, PluginData } from "../types.ts";
import { type Env, runtimeEnv } from "../runtime/env.ts";
import { compact, str } from "./_fetch.ts";

/** Options for {@linkcode denoDeployPlugin}. */
export interface DenoDeployPluginOptions {
  /** The environment. @default the process environment */
  env?: Env;
}

/**
 * Records `DENO_DEPLOYMENT_ID` and `DENO_REGION` as
 * `aws.deno_deploy: { deployment_id, region }`. Collects nothing outside
 * Deno Deploy.
 *
 * @param options The environment.
 * @returns The plugin, for `createTracer({ plugins })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { denoDeployPlugin } from "./deno_deploy.ts";
 * const data = await denoDeployPlugin({
 *   env: { DENO_DEPLOYMENT_ID: "abc123", DENO_REGION: "gcp-europe-west3" },
 * }).collect?.();
 * assert.deepEqual(data?.aws?.deno_deploy, { deployment_id: "abc123", region: "gcp-europe-west3" });
 * ```
 */
export function denoDeployPlugin(
  options: DenoDeployPluginOptions = {},
): Plugin {
  return {
    name: "deno_deploy",
    collect(): PluginData | undefined {
      const env = options.env ?? runtimeEnv();
      const id = str(env.DENO_DEPLOYMENT_ID);
      if (!id) return undefined;
      return {
        aws: {
          deno_deploy: compact({
            deployment_id: id,
            region: str(env.DENO_REGION),
          }),
        },
      };
    },
  };
}
