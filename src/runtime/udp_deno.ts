/**
 * UDP datagrams on Deno through `Deno.listenDatagram` (needs the `net`
 * unstable feature: `--unstable-net` or `"unstable": ["net"]`).
 *
 * @module
 */

import type { UdpTransport } from "../udp.ts";

interface DenoDatagramConn {
  send(
    data: Uint8Array,
    address: { transport: "udp"; hostname: string; port: number },
  ): Promise<number>;
  close(): void;
}

interface DenoUdp {
  listenDatagram(options: {
    transport: "udp";
    hostname: string;
    port: number;
  }): DenoDatagramConn;
}

function denoGlobal(): DenoUdp | undefined {
  const deno = (globalThis as { Deno?: Partial<DenoUdp> }).Deno;
  return typeof deno?.listenDatagram === "function"
    ? deno as DenoUdp
    : undefined;
}

/**
 * Whether `Deno.listenDatagram` is there.
 *
 * @returns `true` on Deno with the `net` unstable feature.
 *
 * @example
 * ```ts
 * import { hasDenoUdp } from "./udp_deno.ts";
 * console.log(hasDenoUdp());
 * ```
 */
export function hasDenoUdp(): boolean {
  return denoGlobal() !== undefined;
}

/**
 * A transport on `Deno.listenDatagram`; the socket opens on the first send.
 *
 * @returns The transport.
 *
 * @example
 * ```ts
 * import { denoUdpTransport } from "./udp_deno.ts";
 * const transport = denoUdpTransport();
 * await transport.close();
 * ```
 */
export function denoUdpTransport(): UdpTransport {
  let conn: DenoDatagramConn | undefined;
  return {
    async send(data: Uint8Array, host: string, port: number): Promise<void> {
      const deno = denoGlobal();
      if (!deno) throw new TypeError("Deno.listenDatagram is not available");
      conn ??= deno.listenDatagram({
        transport: "udp",
        hostname: host.includes(":") ? "::" : "0.0.0.0",
        port: 0,
      });
      await conn.send(data, { transport: "udp", hostname: host, port });
    },
    close(): Promise<void> {
      try {
        conn?.close();
      } catch {
        // already closed
      }
      conn = undefined;
      return Promise.resolve();
    },
  };
}
