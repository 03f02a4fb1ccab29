// Binds a collector to sockets: HTTP through node:http and UDP through
// node:dgram, which Deno, Node and Bun all provide, on the same port number
// like the X-Ray daemon.

import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createSocket, type Socket } from "node:dgram";
import {
  type Collector,
  type CollectorOptions,
  createCollector,
} from "./collector.ts";

/** Options for {@linkcode startCollector}. */
export interface StartCollectorOptions extends CollectorOptions {
  /** The address to listen on (never all interfaces unless asked). @default "127.0.0.1" */
  host?: string;
  /** The TCP and UDP port; 0 picks a free one for both. @default 2000 */
  port?: number;
  /** Whether to take daemon-format UDP datagrams on the same port. @default true */
  udp?: boolean;
}

/** A collector listening on sockets. */
export interface RunningCollector {
  /** The viewer's URL, such as `http://127.0.0.1:2000/`. */
  url: string;
  /** The host it listens on. */
  host: string;
  /** The TCP (and UDP) port. */
  port: number;
  /** Whether UDP datagrams are taken (false when `udp: false`). */
  udp: boolean;
  /** The collector itself (stats, direct fetch). */
  collector: Collector;
  /** Stops listening and closes the database. */
  close(): Promise<void>;
}

function toRequest(
  req: IncomingMessage,
  base: string,
): Request {
  const headers = new Headers();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const v of value) headers.append(key, v);
    } else headers.set(key, value);
  }
  const method = req.method ?? "GET";
  const hasBody = method !== "GET" && method !== "HEAD";
  let stopped = false;
  const body = hasBody
    ? new ReadableStream<Uint8Array>({
      start(controller) {
        req.on("data", (chunk: Uint8Array) => {
          if (!stopped) controller.enqueue(new Uint8Array(chunk));
        });
        req.on("end", () => {
          if (!stopped) controller.close();
        });
        req.on("error", (e) => {
          if (!stopped) controller.error(e);
        });
      },
      cancel() {
        // The handler refused the body (too large): discard the rest unbuffered.
        stopped = true;
        req.removeAllListeners("data");
        req.resume();
      },
    })
    : undefined;
  return new Request(new URL(req.url ?? "/", base), {
    method,
    headers,
    body,
    // Node's fetch needs this for streamed request bodies.
    duplex: "half",
  } as RequestInit);
}

async function respond(
  response: Response,
  res: ServerResponse,
  head: boolean,
): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => {
    headers[key] = value;
  });
  const bytes = head
    ? new Uint8Array()
    : new Uint8Array(await response.arrayBuffer());
  if (response.status === 413) headers.connection = "close";
  headers["content-length"] = String(bytes.byteLength);
  res.writeHead(response.status, headers);
  res.end(bytes);
}

function inUse(
  error: unknown,
  what: string,
  host: string,
  port: number,
): Error {
  if ((error as { code?: string })?.code === "EADDRINUSE") {
    return new Error(
      `Cannot start collector as ${what} ${host}:${port} is in use (an X-Ray daemon or another collector?): choose another port`,
    );
  }
  return error instanceof Error ? error : new Error(String(error));
}

function listenHttp(
  collector: Collector,
  host: string,
  port: number,
): Promise<{ server: ReturnType<typeof createServer>; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      // A client that goes away mid-request must not take the process down.
      req.on("error", () => {});
      res.on("error", () => {});
      const origin = `http://${host.includes(":") ? `[${host}]` : host}`;
      let request: Request;
      try {
        request = toRequest(req, origin);
      } catch {
        res.writeHead(400).end();
        return;
      }
      collector.fetch(request).then(
        (response) => respond(response, res, req.method === "HEAD"),
      ).catch(() => {
        try {
          if (!res.headersSent) res.writeHead(500);
          res.end();
        } catch {
          // The client is gone.
        }
      });
    });
    server.on("clientError", (_e, socket) => {
      try {
        socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
      } catch {
        // Nothing to answer.
      }
    });
    server.once("error", (e) => reject(inUse(e, "TCP", host, port)));
    server.listen(port, host, () => {
      server.removeAllListeners("error");
      const address = server.address();
      resolve({
        server,
        port: typeof address === "object" && address ? address.port : port,
      });
    });
  });
}

function listenUdp(
  collector: Collector,
  host: string,
  port: number,
): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    const fail = (e: unknown) => {
      try {
        socket.close();
      } catch {
        // Never bound.
      }
      reject(inUse(e, "UDP", host, port));
    };
    socket.once("error", fail);
    socket.on("message", (message: Uint8Array) => {
      collector.ingestDatagram(new Uint8Array(message));
    });
    socket.bind(port, host, () => {
      socket.off("error", fail);
      // Later socket errors are not fatal: datagrams just stop arriving.
      socket.on("error", () => {});
      resolve(socket);
    });
  });
}

function closeHttp(server: ReturnType<typeof createServer>): Promise<void> {
  return new Promise((resolve) => {
    // deno-lint-ignore no-explicit-any
    (server as any).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/**
 * Starts a collector on `host:port` (HTTP, and daemon-format UDP on the same
 * port), like the X-Ray daemon but keeping traces locally and serving the
 * viewer at `/`.
 *
 * @param options Address, storage, limits and sampling rules.
 * @returns The running collector; `close()` stops it.
 * @throws {RangeError} When an option or the rules document is invalid.
 * @throws {Error} When the port is taken or the database cannot be opened.
 *
 * @example Start on a free port and stop again
 * ```ts
 * import assert from "node:assert/strict";
 * import { startCollector } from "./server.ts";
 * const running = await startCollector({ port: 0, database: ":memory:" });
 * const stats = await (await fetch(new URL("/stats", running.url))).json();
 * assert.equal(stats.store.traces, 0);
 * await running.close();
 * ```
 */
export async function startCollector(
  options: StartCollectorOptions = {},
): Promise<RunningCollector> {
  const host = options.host ?? "127.0.0.1";
  const port = options.port ?? 2000;
  if (typeof host !== "string" || host === "") {
    throw new RangeError(
      `Cannot start collector as 'host' must be a host name or address: current value is ${
        JSON.stringify(host)
      }`,
    );
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(
      `Cannot start collector as 'port' must be an integer from 0 to 65535: current value is ${
        JSON.stringify(port)
      }`,
    );
  }
  const wantUdp = options.udp ?? true;
  const collector = await createCollector(options);
  try {
    for (let attempt = 0;; attempt++) {
      const { server, port: bound } = await listenHttp(collector, host, port);
      let socket: Socket | undefined;
      if (wantUdp) {
        try {
          socket = await listenUdp(collector, host, bound);
        } catch (e) {
          await closeHttp(server);
          // A free TCP port may have its UDP twin taken: pick another.
          if (port === 0 && attempt < 10) continue;
          throw e;
        }
      }
      // Listening on every interface: the viewer is reached on loopback.
      const reach = host === "0.0.0.0"
        ? "127.0.0.1"
        : host === "::"
        ? "::1"
        : host;
      const shown = reach.includes(":") ? `[${reach}]` : reach;
      return {
        url: `http://${shown}:${bound}/`,
        host,
        port: bound,
        udp: socket !== undefined,
        collector,
        async close(): Promise<void> {
          if (socket) {
            await new Promise<void>((r) => socket!.close(() => r()));
          }
          await closeHttp(server);
          collector.close();
        },
      };
    }
  } catch (e) {
    collector.close();
    throw e;
  }
}
