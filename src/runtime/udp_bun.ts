/**
 * UDP datagrams on Bun through `Bun.udpSocket`.
 *
 * @module
 */

import type { UdpTransport } from "../udp.ts";

interface BunSocket {
  send(data: Uint8Array, port: number, address: string): boolean;
  close(): void;
  unref?(): void;
}

interface BunUdp {
  udpSocket(options: { hostname?: string; port?: number }): Promise<BunSocket>;
}

function bunGlobal(): BunUdp | undefined {
  const bun = (globalThis as { Bun?: Partial<BunUdp> }).Bun;
  return typeof bun?.udpSocket === "function" ? bun as BunUdp : undefined;
}

/**
 * Whether `Bun.udpSocket` is there.
 *
 * @returns `true` on Bun.
 *
 * @example
 * ```ts
 * import { hasBunUdp } from "./udp_bun.ts";
 * console.log(hasBunUdp());
 * ```
 */
export function hasBunUdp(): boolean {
  return bunGlobal() !== undefined;
}

/**
 * A transport on `Bun.udpSocket`; the socket opens on the first send.
 *
 * @returns The transport.
 *
 * @example
 * ```ts
 * import { bunUdpTransport } from "./udp_bun.ts";
 * const transport = bunUdpTransport();
 * await transport.close();
 * ```
 */
export function bunUdpTransport(): UdpTransport {
  let socket: Promise<BunSocket> | undefined;
  return {
    async send(data: Uint8Array, host: string, port: number): Promise<void> {
      const bun = bunGlobal();
      if (!bun) throw new TypeError("Bun.udpSocket is not available");
      socket ??= bun.udpSocket({
        hostname: host.includes(":") ? "::" : "0.0.0.0",
      }).then((s) => {
        s.unref?.();
        return s;
      });
      const s = await socket;
      if (!s.send(data, port, host)) {
        throw new Error("The datagram was not sent (socket back-pressure)");
      }
    },
    async close(): Promise<void> {
      const pending = socket;
      socket = undefined;
      const s = await pending?.catch(() => undefined);
      try {
        s?.close();
      } catch {
        // already closed
      }
    },
  };
}
