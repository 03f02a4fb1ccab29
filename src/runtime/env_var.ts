/**
 * One environment variable at a time, read when asked, never prompting: what
 * `createTracer` reads (kept apart from env.ts so edge bundles do not pull in
 * its file reading).
 *
 * @module
 */

/**
 * Whether Deno lets this process read the variable `name` (or all of them)
 * without asking.
 *
 * @internal
 */
// deno-lint-ignore no-explicit-any
export function envGranted(deno: any, variable?: string): boolean {
  return deno.permissions?.querySync?.({ name: "env", variable }).state ===
    "granted";
}

/**
 * One environment variable, read when called: from `Deno.env` where Deno
 * grants it (never prompting), else from `process.env` (Node, Bun, Workers
 * with `nodejs_compat`). Never throws.
 *
 * @param name The variable.
 * @returns Its value, if set and readable.
 *
 * @example
 * ```ts
 * import { envVar } from "./env_var.ts";
 * const name: string | undefined = envVar("AWS_XRAY_TRACING_NAME");
 * ```
 */
export function envVar(name: string): string | undefined {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  try {
    const deno = g.Deno;
    const value = deno?.env
      ? envGranted(deno, name) ? deno.env.get(name) : undefined
      : g.process?.env?.[name];
    return typeof value === "string" ? value : undefined;
  } catch {
    // No permission to read the environment.
  }
}
