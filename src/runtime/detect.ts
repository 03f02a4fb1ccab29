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
  if (g.navigator?.userAgent === "Cloudflare-Workers") {
    return { runtime: "workerd" };
  }
  // In this order: Bun and Deno also have `process.versions.node`.
  const found: [string, unknown][] = [
    ["bun", g.Bun?.version],
    ["deno", g.Deno?.version?.deno],
    ["node", g.process?.versions?.node],
  ];
  for (const [runtime, runtimeVersion] of found) {
    if (typeof runtimeVersion === "string") return { runtime, runtimeVersion };
  }
  return { runtime: "unknown" };
}
