/**
 * Access to Node's `diagnostics_channel` (Node, Bun, Deno) for outgoing
 * `node:http` / `node:https` tracing. Resolved only when called, through
 * `process.getBuiltinModule`, so importing this file does nothing on any
 * runtime.
 *
 * @module
 */

import { XRayError } from "../errors.ts";
import { detectRuntime } from "./detect.ts";

/** A channel listener. */
export type ChannelListener = (message: unknown, name: string | symbol) => void;

/** The two calls used from `node:diagnostics_channel`. */
export interface DiagnosticsChannels {
  /** Subscribes `listener` to the named channel. */
  subscribe(name: string, listener: ChannelListener): void;
  /** Removes `listener` from the named channel. */
  unsubscribe(name: string, listener: ChannelListener): void;
}

/** The channels Node's HTTP client publishes to. */
export const HTTP_CLIENT_CHANNELS = {
  /** Published from the `ClientRequest` constructor (Node ≥ 22.14 / 23.2, Bun, Deno): headers can still be set. */
  created: "http.client.request.created",
  /** Published when the request has been sent (Node ≥ 20): headers are sealed. */
  start: "http.client.request.start",
  /** Published when the request fails. */
  error: "http.client.request.error",
  /** Published when the response headers arrive. */
  response: "http.client.response.finish",
} as const;

/**
 * The runtime's `diagnostics_channel`, where its HTTP client publishes to it.
 *
 * @returns The channels.
 * @throws {XRayError} On runtimes without `node:diagnostics_channel` or whose
 * `node:http` client does not publish (Cloudflare Workers, browsers).
 */
export function httpClientChannels(): DiagnosticsChannels {
  const { runtime } = detectRuntime();
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  let dc: DiagnosticsChannels | undefined;
  if (runtime === "node" || runtime === "bun" || runtime === "deno") {
    try {
      dc = typeof proc?.getBuiltinModule === "function"
        ? proc.getBuiltinModule("node:diagnostics_channel")
        : undefined;
    } catch {
      dc = undefined;
    }
  }
  if (
    typeof dc?.subscribe !== "function" ||
    typeof dc?.unsubscribe !== "function"
  ) {
    throw new XRayError(
      `Cannot trace node:http requests as this runtime (${runtime}) has no diagnostics_channel 'http.client.*' channels: use Node 20.16 or later, Bun or Deno, or tracedFetch()`,
    );
  }
  return dc;
}
