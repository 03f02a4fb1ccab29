// Real HTTP servers on 127.0.0.1 for the tests, on node:http and node:net so
// the same suites run on Deno, Node, Bun and Deno-as-npm-consumer (workerd
// has no servers: its suites drive a Worker from the host instead).
//
// `serve(handler)` takes a fetch-style handler. Bodies the handler returns
// whole (strings, bytes) go out with Content-Length, as Deno.serve and
// Bun.serve send them; bodies still being produced are streamed chunk by
// chunk (chunked encoding), a stream that errors cuts the connection, and a
// client that goes away cancels the stream.
import {
  createServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createTcpServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/** A running test server. */
export interface TestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The port. */
  port: number;
  /** Stops the server, cuts open connections and waits until it has. */
  close(): Promise<void>;
}

/** A fetch-style request handler. */
export type Handler = (request: Request) => Response | Promise<Response>;

async function readBody(req: IncomingMessage): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of req) chunks.push(chunk as Uint8Array);
  return concat(chunks);
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

async function toRequest(
  req: IncomingMessage,
  signal: AbortSignal,
): Promise<Request> {
  const headers = new Headers();
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i], req.rawHeaders[i + 1]);
  }
  const method = req.method ?? "GET";
  const body = method === "GET" || method === "HEAD"
    ? undefined
    : await readBody(req);
  return new Request(`http://${req.headers.host}${req.url}`, {
    method,
    headers,
    body: body?.byteLength ? body as Uint8Array<ArrayBuffer> : undefined,
    signal,
  });
}

const NOT_YET = Symbol("not yet");

/** The next chunk if the body has it ready now, else NOT_YET. */
async function readyNow<T>(pending: Promise<T>): Promise<T | typeof NOT_YET> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      pending,
      new Promise<typeof NOT_YET>((resolve) => {
        timer = setTimeout(() => resolve(NOT_YET), 0);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

async function send(response: Response, res: ServerResponse): Promise<void> {
  const headers: Record<string, string> = {};
  response.headers.forEach((value, key) => headers[key] = value);
  if (response.body === null) {
    res.writeHead(response.status, headers);
    res.end();
    return;
  }
  const reader = response.body.getReader();
  const ready: Uint8Array[] = [];
  let next = reader.read();
  for (;;) {
    const chunk = await readyNow(next);
    if (chunk === NOT_YET) break;
    if (chunk.done) {
      // A whole body: send it with its length.
      const body = concat(ready);
      headers["content-length"] ??= String(body.byteLength);
      res.writeHead(response.status, headers);
      res.end(body);
      return;
    }
    ready.push(chunk.value);
    next = reader.read();
  }
  res.writeHead(response.status, headers);
  res.flushHeaders();
  for (const chunk of ready) res.write(chunk);
  res.on("close", () => {
    // The client went away before the end: stop producing.
    if (!res.writableFinished) reader.cancel().catch(() => {});
  });
  for (;;) {
    let chunk: ReadableStreamReadResult<Uint8Array>;
    try {
      chunk = await next;
    } catch {
      // The body failed mid-way: cut the connection.
      res.destroy();
      return;
    }
    if (chunk.done) break;
    if (res.destroyed) return;
    res.write(chunk.value);
    next = reader.read();
  }
  res.end();
}

function listening(
  server: {
    listen(port: number, host: string, cb: () => void): unknown;
    address(): unknown;
    once(event: "error", listener: (error: Error) => void): unknown;
  },
  port = 0,
): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Options for {@linkcode serve}. */
export interface ServeOptions {
  /** The port to listen on; 0 (the default) picks a free one. */
  port?: number;
}

/** Starts `handler` on 127.0.0.1, with a free port unless one is given. */
export async function serve(
  handler: Handler,
  options: ServeOptions = {},
): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    const aborted = new AbortController();
    res.on("close", () => aborted.abort());
    (async () => {
      const response = await handler(await toRequest(req, aborted.signal));
      await send(response, res);
    })().catch((error) => {
      // A handler that throws: answer 500 (or cut a response under way).
      if (res.headersSent) res.destroy();
      else {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(error));
      }
    });
  });
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  const port = await listening(server, options.port);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/**
 * A TCP server that reads each request and closes the connection without
 * answering, so clients see a connection reset / closed connection.
 */
export async function resetServer(): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const server = createTcpServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("data", () => socket.destroy());
  });
  const port = await listening(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      }),
  };
}

/** A port nobody listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const server = createTcpServer();
  const port = await listening(server);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
