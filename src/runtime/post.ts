/**
 * The transport the PutTraceSegments senders use when none is given: the
 * global `fetch` as it is at call time, except on Node for plain `http:`
 * URLs (the daemon, the local collector), where the request goes out on a
 * kept-alive `node:net` socket, written and read here: with every document
 * of a traced server posted to a local sink, that costs ~3–4 µs of the
 * server's CPU per request against ~5.5–7 through `node:http` and more
 * through undici's `Pool` or `fetch` (docs/performance.md). A `fetch`
 * replaced after this module loaded (a test double, an interceptor) is used
 * as it is. Workers bundles get `post.workerd.ts`: always `fetch`.
 *
 * @module
 */

import { detectRuntime } from "./detect.ts";

// deno-lint-ignore no-explicit-any
type Net = any;
// deno-lint-ignore no-explicit-any
type Socket = any;
let net: Net | undefined;
const original = globalThis.fetch;

/**
 * The fetch to post with when the caller gave none.
 *
 * @returns A fetch-compatible function.
 */
export function defaultFetch(): typeof fetch {
  const current = globalThis.fetch;
  if (current !== original) return current;
  if (net === undefined) {
    net = null;
    try {
      if (detectRuntime().runtime === "node") {
        // deno-lint-ignore no-explicit-any
        net = (globalThis as any).process?.getBuiltinModule?.("node:net") ??
          null;
      }
    } catch {
      // Stay on fetch.
    }
  }
  return net ? nodeFetch : current;
}

// Node's Buffer, there whenever node:net is.
// deno-lint-ignore no-explicit-any
const buffer = (): any => (globalThis as any).Buffer;

/** The most idle connections kept per host (the batcher sends at most 6 at once). */
const MAX_IDLE = 6;

/** The most bytes of status line and headers an answer may have. */
const MAX_HEAD = 65536;

// Idle kept-alive connections by `host:port`, most recent last, each with
// the listener that drops it when the server closes it.
const idle = new Map<string, { socket: Socket; drop: () => void }[]>();

// POSTs over node:net when the URL is http:, else through fetch. Only what
// the senders use of the answer: ok, status, headers.get() and text().
function nodeFetch(
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const url = new URL(String(input));
  const given = init?.headers ?? {};
  const headers = given instanceof Headers
    ? [...given]
    : Object.entries(given as Record<string, string>);
  // Bodies other than text, and anything a request line or header could not
  // carry (fetch refuses that as it should), go to fetch.
  if (
    url.protocol !== "http:" ||
    (init?.body != null && typeof init.body !== "string") ||
    [url.pathname, url.search, ...headers.flat()].some((s) =>
      /[\r\n]/.test(String(s))
    )
  ) return original(input, init);
  const body = (init?.body ?? "") as string;
  let head = `${
    init?.method ?? "GET"
  } ${url.pathname}${url.search} HTTP/1.1\r\nhost: ${url.host}\r\n`;
  for (const [name, value] of headers) {
    if (name.toLowerCase() !== "content-length") {
      head += `${name}: ${value}\r\n`;
    }
  }
  // One UTF-8 write: the head is ASCII.
  return exchange(
    url,
    `${head}content-length: ${buffer().byteLength(body)}\r\n\r\n${body}`,
    init?.signal ?? undefined,
  );
}

// How a connection ends: what drops an idle one from the pool.
const ENDINGS = ["error", "end", "close"];
// What a request listens to on its connection (listeners in this order).
const EVENTS = ["data", ...ENDINGS];

// Sends `request` on an idle connection to the URL's host, or on a new one,
// and reads the answer. A kept-alive connection the server closed meanwhile
// fails before any byte of an answer arrives: the request then goes once
// more, on a new connection.
function exchange(
  url: URL,
  request: string,
  signal: AbortSignal | undefined,
  again = false,
): Promise<Response> {
  const key = url.host;
  const kept = again ? undefined : idle.get(key)?.pop();
  let socket: Socket;
  if (kept) {
    socket = kept.socket;
    for (const event of ENDINGS) socket.off(event, kept.drop);
    socket.ref();
  } else {
    socket = net.connect({
      host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
      port: +url.port || 80,
      noDelay: true,
    });
  }
  return new Promise((resolve, reject) => {
    const answer = responseReader();
    let received = false;
    const listeners = [
      (chunk: Uint8Array): void => {
        received = true;
        try {
          const done = answer.push(chunk);
          if (done) settle(undefined, done);
        } catch (e) {
          settle(e);
        }
      },
      (error: unknown): void => settle(error),
      // Answers delimited by the connection's end finish here; anything
      // else cut short is an error.
      (): void => settle(new Error("socket hang up"), answer.end()),
      (): void => settle(new Error("socket hang up")),
    ];
    function settle(error: unknown, done?: Done): void {
      EVENTS.forEach((event, i) => socket.off(event, listeners[i]));
      signal?.removeEventListener("abort", abort);
      if (done?.reusable) keep(key, socket);
      else socket.destroy();
      if (done) resolve(done.response);
      else if (kept && !received && !signal?.aborted) {
        resolve(exchange(url, request, signal, true));
      } else reject(error);
    }
    function abort(): void {
      settle(signal?.reason ?? new DOMException("Aborted", "AbortError"));
    }
    if (signal?.aborted) return abort();
    signal?.addEventListener("abort", abort);
    EVENTS.forEach((event, i) => socket.on(event, listeners[i]));
    socket.write(request);
  });
}

// Keeps a connection for the next request, unref'd so it never holds the
// process open; one the server closes leaves the pool.
function keep(key: string, socket: Socket): void {
  let pool = idle.get(key);
  if (!pool) idle.set(key, pool = []);
  if (pool.length >= MAX_IDLE || socket.destroyed) return socket.destroy();
  const entry = {
    socket,
    drop: (): void => {
      pool!.splice(pool!.indexOf(entry) >>> 0, 1);
      socket.destroy();
    },
  };
  for (const event of ENDINGS) socket.on(event, entry.drop);
  socket.unref();
  pool.push(entry);
}

/** A complete answer, and whether its connection can take another request. */
interface Done {
  response: Response;
  reusable: boolean;
}

/**
 * Reads an HTTP/1.x answer from the bytes as they arrive: the status line
 * and headers, interim 1xx answers skipped, then a body delimited by
 * `Content-Length`, by chunked transfer coding, or by the connection's end.
 * `push` and `end` return the answer once it is complete; they throw on
 * what is not HTTP.
 */
function responseReader(): {
  push(chunk: Uint8Array): Done | undefined;
  end(): Done | undefined;
} {
  const Buffer = buffer();
  let pending = Buffer.alloc(0);
  let status = 0;
  // Header values by lower-case name (repeated ones joined with ", "): all
  // the senders read is `get()`.
  let headers: Map<string, string> | undefined;
  let reusable = false;
  // Body bytes still to come (Content-Length), -1 for chunked, -2 until
  // the connection ends.
  let remaining = 0;
  const body: Uint8Array[] = [];
  const done = (): Done => ({
    response: {
      ok: status >= 200 && status < 300,
      status,
      headers: {
        get: (name: string) => headers!.get(name.toLowerCase()) ?? null,
      },
      text: () => Promise.resolve(Buffer.concat(body).toString("utf8")),
    } as unknown as Response,
    reusable: reusable && !pending.length,
  });
  // Reads the status line and headers; false until they are all there.
  const readHead = (): boolean => {
    for (;;) {
      const at = pending.indexOf("\r\n\r\n");
      if (at < 0) {
        if (pending.length > MAX_HEAD) {
          throw new Error("HTTP answer head too large");
        }
        return false;
      }
      const [line, ...fields] = pending.subarray(0, at).toString("latin1")
        .split("\r\n");
      pending = pending.subarray(at + 4);
      const match = /^HTTP\/1\.([01]) (\d{3})/.exec(line);
      if (!match) throw new Error(`Not an HTTP answer: ${line.slice(0, 100)}`);
      status = +match[2];
      if (status < 200) continue;
      headers = new Map();
      for (const field of fields) {
        const colon = field.indexOf(":");
        if (colon > 0) {
          const name = field.slice(0, colon).trim().toLowerCase();
          const value = field.slice(colon + 1).trim();
          const known = headers.get(name);
          headers.set(name, known === undefined ? value : `${known}, ${value}`);
        }
      }
      const length = headers.get("content-length");
      remaining = status === 204 || status === 304
        ? 0
        : /chunked/i.test(headers.get("transfer-encoding") ?? "")
        ? -1
        : length !== undefined && /^\d+$/.test(length)
        ? +length
        : -2;
      reusable = match[1] === "1" && remaining !== -2 &&
        !/close/i.test(headers.get("connection") ?? "");
      return true;
    }
  };
  // Reads chunked body bytes; true once the last chunk and trailers are in.
  const readChunks = (): boolean => {
    for (;;) {
      const eol = pending.indexOf("\r\n");
      if (eol < 0) return false;
      const size = parseInt(
        pending.subarray(0, eol).toString("latin1").split(";")[0],
        16,
      );
      if (!(size >= 0)) throw new Error("Bad chunk size in HTTP answer");
      if (size === 0) {
        // Trailers, if any, then an empty line.
        const rest = pending.subarray(eol + 2);
        const end = rest.indexOf("\r\n") === 0 ? 0 : rest.indexOf("\r\n\r\n");
        if (end < 0) return false;
        pending = rest.subarray(end + (end ? 4 : 2));
        return true;
      }
      if (pending.length < eol + 2 + size + 2) return false;
      body.push(pending.subarray(eol + 2, eol + 2 + size));
      pending = pending.subarray(eol + 2 + size + 2);
    }
  };
  return {
    push(chunk) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      if (!headers && !readHead()) return;
      if (remaining === -1) return readChunks() ? done() : undefined;
      if (remaining === -2) {
        body.push(pending);
        pending = Buffer.alloc(0);
        return;
      }
      const take = pending.subarray(0, remaining);
      body.push(take);
      remaining -= take.length;
      pending = pending.subarray(take.length);
      if (!remaining) return done();
    },
    end() {
      if (headers && remaining === -2) return done();
    },
  };
}
