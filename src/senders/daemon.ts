/**
 * A sender for the X-Ray daemon's TCP proxy, the ADOT collector's `awsproxy`
 * extension or a local collector: the same `PutTraceSegments` request as the
 * X-Ray API sender, unsigned, over plain HTTP. The proxy signs and forwards it.
 *
 * @module
 */

import type { Sender } from "../types.ts";
import { type HostPort, parseDaemonAddress, senderAddress } from "../config.ts";
import {
  daemonUrl,
  PUT_TRACE_SEGMENTS_PATH,
  unsignedSender,
} from "./_put_trace_segments.ts";

/** Options for {@linkcode daemonSender}. */
export interface DaemonSenderOptions {
  /**
   * The proxy: `host:port`, `tcp:host:port udp:host:port`, `{ host, port }`,
   * or a base URL such as `http://collector:2000`.
   * @default AWS_XRAY_DAEMON_ADDRESS from `env`, else `127.0.0.1:2000`
   */
  address?: string | HostPort;
  /** The environment to read `AWS_XRAY_DAEMON_ADDRESS` from. */
  env?: Readonly<Record<string, unknown>>;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
}

function url(options: DaemonSenderOptions): URL {
  const address = senderAddress(options.address, options.env, "sender");
  if (address === undefined) return daemonUrl();
  if (typeof address === "object") return daemonUrl(address);
  if (typeof address === "string" && /^https?:\/\//i.test(address.trim())) {
    try {
      return new URL(PUT_TRACE_SEGMENTS_PATH, address.trim());
    } catch {
      throw new RangeError(
        `Cannot create sender as 'address' must be a URL or host:port: current value is ${
          JSON.stringify(address)
        }`,
      );
    }
  }
  return daemonUrl(parseDaemonAddress(String(address)).tcp);
}

/**
 * Creates a sender that posts unsigned batches to a daemon / collector proxy.
 *
 * @param options The proxy address (or an env to read it from).
 * @returns The sender.
 * @throws {RangeError} When the address is malformed.
 *
 * @example Point it at a daemon
 * ```ts
 * import assert from "node:assert/strict";
 * import { daemonSender } from "./daemon.ts";
 * const sender = daemonSender({ env: { AWS_XRAY_DAEMON_ADDRESS: "tcp:10.0.0.5:2000 udp:10.0.0.5:2001" } });
 * assert.equal(typeof sender.send, "function");
 * assert.throws(() => daemonSender({ address: "no-port" }), RangeError);
 * ```
 */
export function daemonSender(options: DaemonSenderOptions = {}): Sender {
  return unsignedSender(url(options), options.fetch);
}
