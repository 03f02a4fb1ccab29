/**
 * UDP datagrams through `node:dgram` (Node, and Deno / Bun's Node
 * compatibility). The module is imported on the first send, so merely
 * importing this file loads nothing.
 *
 * @module
 */

import { detectRuntime } from "./detect.ts";
import type { UdpTransport } from "../udp.ts";

interface NodeSocket {
  send(
    data: Uint8Array,
    port: number,
    host: string,
    callback: (error: Error | null) => void,
  ): void;
  close(callback?: () => void): void;
  unref(): void;
}

/**
 * Whether this looks like a runtime with `node:dgram` (Node or Bun).
 *
 * @returns `true` when `process.versions.node` is set.
 *
 * @example
 * ```ts
 * import { hasNodeUdp } from "./udp_node.ts";
 * console.log(hasNodeUdp());
 * ```
 */
export function hasNodeUdp(): boolean {
  // Workers with nodejs_compat have `process.versions.node` but no node:dgram.
  if (detectRuntime().runtime === "workerd") return false;
  const proc = (globalThis as { process?: { versions?: { node?: unknown } } })
    .process;
  return typeof proc?.versions?.node === "string";
}

/**
 * A transport on a `node:dgram` socket (unref'd, so it never keeps the
 * process alive); the socket opens on the first send.
 *
 * @returns The transport.
 *
 * @example
 * ```ts
 * import { nodeUdpTransport } from "./udp_node.ts";
 * const transport = nodeUdpTransport();
 * await transport.close();
 * ```
 */
export function nodeUdpTransport(): UdpTransport {
  let socket: Promise<NodeSocket> | undefined;
  async function open(ipv6: boolean): Promise<NodeSocket> {
    const dgram = await import("node:dgram");
    const s = dgram.createSocket(
      ipv6 ? "udp6" : "udp4",
    ) as unknown as NodeSocket;
    s.unref();
    return s;
  }
  return {
    async send(data: Uint8Array, host: string, port: number): Promise<void> {
      socket ??= open(host.includes(":"));
      const s = await socket;
      await new Promise<void>((resolve, reject) => {
        s.send(data, port, host, (error) => error ? reject(error) : resolve());
      });
    },
    async close(): Promise<void> {
      const pending = socket;
      socket = undefined;
      if (!pending) return;
      const s = await pending.catch(() => undefined);
      if (!s) return;
      await new Promise<void>((resolve) => {
        try {
          s.close(() => resolve());
        } catch {
          resolve();
        }
      });
    },
  };
}
