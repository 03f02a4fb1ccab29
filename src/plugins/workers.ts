/**
 * `workersPlugin`: per-request Cloudflare data (colo, country, ray id).
 *
 * @module
 */

import type { Plugin, PluginData } from "../types.ts";
import { compact, str } from "./_fetch.ts";

/**
 * Records, for each request the middleware traces, the Cloudflare data
 * center (`request.cf.colo`), the client's country (`request.cf.country`) and
 * the ray id (`CF-Ray` header) as `aws.cloudflare: { colo, country, ray_id }`.
 * Records nothing for requests without them.
 *
 * @returns The plugin, for `createTracer({ plugins })`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { workersPlugin } from "./workers.ts";
 * const request = new Request("https://w.example/", { headers: { "cf-ray": "8f1a2b3c4d5e6f70-AMS" } });
 * Object.defineProperty(request, "cf", { value: { colo: "AMS", country: "NL" } });
 * assert.deepEqual(workersPlugin().forRequest?.(request), {
 *   aws: { cloudflare: { colo: "AMS", country: "NL", ray_id: "8f1a2b3c4d5e6f70-AMS" } },
 * });
 * ```
 */
export function workersPlugin(): Plugin {
  return {
    name: "workers",
    forRequest(request: Request): PluginData | undefined {
      const cf = (request as { cf?: Record<string, unknown> }).cf;
      const cloudflare = compact({
        colo: str(cf?.colo),
        country: str(cf?.country),
        ray_id: str(request.headers.get("cf-ray")),
      });
      return cloudflare ? { aws: { cloudflare } } : undefined;
    },
  };
}
