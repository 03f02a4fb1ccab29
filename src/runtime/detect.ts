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
  if (
    typeof g.navigator?.userAgent === "string" &&
    g.navigator.userAgent === "Cloudflare-Workers"
  ) {
    return { runtime: "workerd" };
  }
  if (typeof g.Bun?.version === "string") {
    return { runtime: "bun", runtimeVersion: g.Bun.version };
  }
  if (typeof g.Deno?.version?.deno === "string") {
    return { runtime: "deno", runtimeVersion: g.Deno.version.deno };
  }
  if (typeof g.process?.versions?.node === "string") {
    return { runtime: "node", runtimeVersion: g.process.versions.node };
  }
  return { runtime: "unknown" };
}
