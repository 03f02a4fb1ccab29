/**
 * Which runtime this is, for `service.runtime` / `runtime_version`.
 * Reads globals only when called.
 *
 * @module
 */

/** A runtime name and version. */
export interface RuntimeInfo {
  /** `deno`, `bun`, `node`, `workerd` or `unknown`. */
  runtime: string;
  /** The runtime's version, when it tells. */
  runtimeVersion?: string;
}

/**
 * Detects the runtime.
 *
 * @returns Its name and version.
 */
export function detectRuntime(): RuntimeInfo {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  // In this order: Bun and Deno also have `process.versions.node`.
  const version = (runtime: string, runtimeVersion: unknown) =>
    typeof runtimeVersion === "string" && { runtime, runtimeVersion };
  return g.navigator?.userAgent === "Cloudflare-Workers"
    ? { runtime: "workerd" }
    : version("bun", g.Bun?.version) ||
      version("deno", g.Deno?.version?.deno) ||
      version("node", g.process?.versions?.node) || { runtime: "unknown" };
}
