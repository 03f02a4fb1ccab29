/**
 * `xray-edge/udp`: the X-Ray daemon's UDP protocol, one datagram per document
 * prefixed with `{"format":"json","version":1}\n`, on `Deno.listenDatagram`
 * (Deno), `Bun.udpSocket` (Bun) or `node:dgram` (Node, and Deno without the
 * `net` unstable feature). Runtimes without UDP sockets (Cloudflare Workers,
 * browsers) get a clear error when the sender is created; use
 * `daemonSender` or `xrayApiSender` there.
 *
 * @example Send to a daemon on the default address
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpSender } from "./udp.ts";
 * const sender = udpSender({ address: "127.0.0.1:2000" });
 * assert.equal(typeof sender.send, "function");
 * await sender.close?.();
 * ```
 *
 * @module
 */

import type {
  Sender,
  SendOptions,
  SendResult,
  UnprocessedDocument,
} from "./types.ts";
import { type HostPort, parseDaemonAddress, senderAddress } from "./config.ts";
import { toError, XRayError } from "./errors.ts";
import { denoUdpTransport, hasDenoUdp } from "./runtime/udp_deno.ts";
import { bunUdpTransport, hasBunUdp } from "./runtime/udp_bun.ts";
import { hasNodeUdp, nodeUdpTransport } from "./runtime/udp_node.ts";

/** The header the daemon expects before each document. */
export const UDP_HEADER = '{"format":"json","version":1}\n';

/** The largest UDP payload over IPv4. */
export const MAX_DATAGRAM_BYTES = 65_507;

/** A datagram socket as the UDP sender needs it. */
export interface UdpTransport {
  /** Sends one datagram. */
  send(data: Uint8Array, host: string, port: number): Promise<void>;
  /** Closes the socket, if one was opened. */
  close(): Promise<void>;
}

/** Which socket API to use. */
export type UdpRuntime = "deno" | "bun" | "node";

/** Options for {@linkcode udpSender}. */
export interface UdpSenderOptions {
  /**
   * The daemon: `host:port`, `tcp:host:port udp:host:port` or
   * `{ host, port }`.
   * @default AWS_XRAY_DAEMON_ADDRESS from `env`, else `127.0.0.1:2000`
   */
  address?: string | HostPort;
  /** The environment to read `AWS_XRAY_DAEMON_ADDRESS` from. */
  env?: Readonly<Record<string, unknown>>;
  /**
   * Force a socket API instead of detecting one.
   * @default detected: Deno, then Bun, then Node
   */
  runtime?: UdpRuntime;
  /** A socket of your own (tests, custom runtimes). Wins over `runtime`. */
  transport?: UdpTransport;
}

function pickTransport(runtime: UdpRuntime | undefined): UdpTransport {
  const available: Record<UdpRuntime, () => boolean> = {
    deno: hasDenoUdp,
    bun: hasBunUdp,
    node: hasNodeUdp,
  };
  const make: Record<UdpRuntime, () => UdpTransport> = {
    deno: denoUdpTransport,
    bun: bunUdpTransport,
    node: nodeUdpTransport,
  };
  if (runtime !== undefined) {
    if (!(runtime in available)) {
      throw new TypeError(
        `Cannot create UDP sender as 'runtime' must be deno, bun or node: current value is ${
          JSON.stringify(runtime)
        }`,
      );
    }
    if (!available[runtime]()) {
      throw new TypeError(
        `Cannot create UDP sender as this runtime has no ${runtime} UDP sockets: use daemonSender() or xrayApiSender() instead`,
      );
    }
    return make[runtime]();
  }
  for (const name of ["deno", "bun", "node"] as const) {
    if (available[name]()) return make[name]();
  }
  throw new TypeError(
    "Cannot create UDP sender as this runtime has no UDP sockets (Deno, Bun or Node needed; Workers have none): use daemonSender() or xrayApiSender() instead",
  );
}

function udpAddress(options: UdpSenderOptions): HostPort {
  const address = senderAddress(options.address, options.env, "UDP sender") ??
    "127.0.0.1:2000";
  if (typeof address === "object") return address;
  return parseDaemonAddress(String(address)).udp;
}

/**
 * Creates a sender that writes each document as one UDP datagram to an X-Ray
 * daemon (or an ADOT collector's X-Ray receiver). The socket opens on the
 * first send and closes with `close()` (the batcher's `shutdown()`).
 *
 * @param options The daemon address and, optionally, the socket API.
 * @returns The sender.
 * @throws {TypeError} When the runtime has no UDP sockets.
 * @throws {RangeError} When the address is malformed.
 *
 * @example A clear error where no sockets exist
 * ```ts
 * import assert from "node:assert/strict";
 * import { udpSender } from "./udp.ts";
 * assert.throws(() => udpSender({ runtime: "bun" }), /no bun UDP sockets/);
 * ```
 */
export function udpSender(options: UdpSenderOptions = {}): Sender {
  const { host, port } = udpAddress(options);
  const transport = options.transport ?? pickTransport(options.runtime);
  const encoder = new TextEncoder();
  return {
    async send(
      documents: string[],
      sendOptions?: SendOptions,
    ): Promise<SendResult> {
      const unprocessed: UnprocessedDocument[] = [];
      let lastError: Error | undefined;
      let sent = 0;
      for (let index = 0; index < documents.length; index++) {
        if (sendOptions?.signal?.aborted) {
          unprocessed.push({ index, errorCode: "Aborted", retryable: true });
          continue;
        }
        const data = encoder.encode(UDP_HEADER + documents[index]);
        if (data.length > MAX_DATAGRAM_BYTES) {
          unprocessed.push({
            index,
            errorCode: "DatagramTooLarge",
            message:
              `${data.length} bytes is over the ${MAX_DATAGRAM_BYTES} byte UDP limit`,
            retryable: false,
          });
          continue;
        }
        try {
          await transport.send(data, host, port);
          sent++;
        } catch (e) {
          lastError = toError(e);
          unprocessed.push({
            index,
            errorCode: "SocketError",
            message: lastError.message,
            retryable: true,
          });
        }
      }
      if (sent === 0 && lastError) {
        return {
          ok: false,
          retryable: true,
          error: new XRayError(`UDP send failed: ${lastError.message}`, {
            cause: lastError,
          }),
        };
      }
      return unprocessed.length > 0 ? { ok: true, unprocessed } : { ok: true };
    },
    close(): Promise<void> {
      return transport.close();
    },
  };
}
