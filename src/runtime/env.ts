/**
 * Runtime adapters for the environment and local files: the only place the
 * incoming-request integrations and plugins touch `process`, `Deno` or
 * `node:fs`. Nothing runs at import.
 *
 * @module
 */

import { envGranted } from "./env_var.ts";

/** Environment variables, as a plain record. */
export type Env = Record<string, string | undefined>;

/**
 * The process environment: `Deno.env.toObject()` when Deno grants reading
 * all of it, else `process.env` (Node, Bun), else an empty record (Workers,
 * browsers, Deno without `--allow-env`). Never throws, never prompts.
 *
 * @returns The environment.
 */
export function runtimeEnv(): Env {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  try {
    const deno = g.Deno;
    if (deno?.env) {
      return envGranted(deno) ? deno.env.toObject() : {};
    }
    const env = g.process?.env;
    if (env && typeof env === "object") return env as Env;
  } catch {
    // No permission to read the environment.
  }
  return {};
}

/**
 * The trace header of the current Lambda invocation: the Node runtime's
 * per-invocation store (`awslambda.InvokeStore`, used when one process
 * serves concurrent invocations) when present, else `_X_AMZN_TRACE_ID`.
 *
 * @param env The environment to fall back to.
 * @returns The raw header value, if any.
 */
export function lambdaTraceHeader(env: Env): string | undefined {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  try {
    const fromStore = g.awslambda?.InvokeStore?.getXRayTraceId?.();
    if (typeof fromStore === "string" && fromStore.length > 0) {
      return fromStore;
    }
  } catch {
    // Fall back to the environment.
  }
  return env._X_AMZN_TRACE_ID;
}

/**
 * Reads a UTF-8 text file through the runtime's file API (`node:fs`, which
 * Deno, Bun and Node all provide), loaded only when first called.
 *
 * @param path The file path.
 * @returns The file's text.
 */
export async function readTextFile(path: string): Promise<string> {
  const fs = await import("node:fs/promises");
  return await fs.readFile(path, "utf8");
}
