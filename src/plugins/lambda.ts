/**
 * `lambdaPlugin`: the Lambda function's name, version and region.
 *
 * @module
 */

import type { Plugin, PluginData } from "../types.ts";
import { type Env, runtimeEnv } from "../runtime/env.ts";
import { compact, str } from "./_fetch.ts";

/** Options for {@linkcode lambdaPlugin}. */
export interface LambdaPluginOptions {
  /** The environment. @default the process environment */
  env?: Env;
}

/**
 * Records `AWS_LAMBDA_FUNCTION_NAME`, `AWS_LAMBDA_FUNCTION_VERSION` and
 * `AWS_REGION` as `aws.lambda: { function_name, function_version, region }`.
 * Sets no origin: in Lambda the function's segment is Lambda's own.
 * Collects nothing outside Lambda.
 *
 * @param options The environment.
 * @returns The plugin, for `createTracer({ plugins })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lambdaPlugin } from "./lambda.ts";
 * const data = await lambdaPlugin({
 *   env: { AWS_LAMBDA_FUNCTION_NAME: "orders", AWS_LAMBDA_FUNCTION_VERSION: "3", AWS_REGION: "eu-west-1" },
 * }).collect?.();
 * assert.deepEqual(data?.aws?.lambda, { function_name: "orders", function_version: "3", region: "eu-west-1" });
 * ```
 */
export function lambdaPlugin(options: LambdaPluginOptions = {}): Plugin {
  return {
    name: "lambda",
    collect(): PluginData | undefined {
      const env = options.env ?? runtimeEnv();
      const name = str(env.AWS_LAMBDA_FUNCTION_NAME);
      if (!name) return undefined;
      return {
        aws: {
          lambda: compact({
            function_name: name,
            function_version: str(env.AWS_LAMBDA_FUNCTION_VERSION),
            region: str(env.AWS_REGION),
          }),
        },
      };
    },
  };
}
