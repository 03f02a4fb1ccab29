/**
 * Centralized X-Ray sampling (`xray-edge/sampling`): sampling rules and
 * reservoir quotas from X-Ray over `fetch`, through the X-Ray daemon / an
 * OpenTelemetry collector proxy, or signed to the X-Ray API. Polling is driven
 * lazily from requests and handed to `waitUntil`, so it runs on Cloudflare
 * Workers as well as on servers.
 *
 * @example Centralized sampling behind a daemon, with a Workers-style waitUntil
 * ```ts
 * import assert from "node:assert/strict";
 * import { centralizedSampler } from "./sampling.ts";
 * const sampler = centralizedSampler({
 *   env: { AWS_XRAY_DAEMON_ADDRESS: "tcp:127.0.0.1:2000 udp:127.0.0.1:2000" },
 *   // A stand-in for an unreachable daemon; normally omit `fetch`.
 *   fetch: () => Promise.reject(new TypeError("connection refused")),
 *   onError: (error, source) => assert.equal(source, "sampling"),
 * });
 * const decision = sampler.shouldSample({ host: "shop.example.com", method: "GET", path: "/" });
 * assert.equal(decision.ruleName, "Default"); // the local fallback: 1 request/second + 5 %
 * await sampler.pending(); // what a Worker hands to ctx.waitUntil
 * await sampler.close();
 * ```
 *
 * @module
 */

export {
  centralizedSampler,
  GET_SAMPLING_RULES_PATH,
  GET_SAMPLING_TARGETS_PATH,
  MAX_STATISTICS_PER_CALL,
} from "./sampling/centralized.ts";
export type {
  CentralizedRuleState,
  CentralizedSampler,
  CentralizedSamplerOptions,
} from "./sampling/centralized.ts";
