/**
 * What servers pass beside the request, read without touching the request
 * or the response where possible: the client's connection address, request
 * headers, and when a response was sent. The incoming-request integrations'
 * only contact with Deno.serve, Bun.serve and `@hono/node-server` specifics.
 * Workers bundles get `server.workerd.ts` instead (package.json `imports`).
 *
 * @module
 */

import { rawHeader, SMALL_BODY, utf8Length } from "../_util.ts";

/**
 * Finds the client's connection address in what runtimes pass beside the
 * request: Deno.serve's `info.remoteAddr`, Bun's `server.requestIP()`,
 * `@hono/node-server`'s `incoming.socket`, or Cloudflare's
 * `CF-Connecting-IP` when the request carries `cf` properties.
 *
 * @param request The request.
 * @param runtimeArg What the server passed beside it (Hono's `c.env`).
 * @returns The address, when found.
 */
export function connectionAddress(
  request: Request,
  runtimeArg: unknown,
): string | undefined {
  // deno-lint-ignore no-explicit-any
  const arg = runtimeArg as any;
  const address = arg?.remoteAddr?.hostname ??
    arg?.requestIP?.(request)?.address ??
    arg?.incoming?.socket?.remoteAddress ??
    ((request as { cf?: unknown }).cf !== undefined
      ? request.headers.get("cf-connecting-ip")
      : undefined);
  if (typeof address === "string") return address;
}

/**
 * A request header, from `@hono/node-server`'s `incoming` message when there
 * is one (its `Request.headers` is built from scratch on first read; the
 * message's `rawHeaders` are read, not its `headers`, which Node builds on
 * first read too), else from the request.
 *
 * @param request The request.
 * @param runtimeArg What the server passed beside it.
 * @param name The header name, in lower case.
 * @returns The value, or null.
 */
export function requestHeader(
  request: Request,
  runtimeArg: unknown,
  name: string,
): string | null {
  // deno-lint-ignore no-explicit-any
  const raw = (runtimeArg as any)?.incoming?.rawHeaders;
  return Array.isArray(raw) ? rawHeader(raw, name) : request.headers.get(name);
}

/**
 * A response header, read without turning `@hono/node-server`'s lightweight
 * Response into a real one (its `headers` getter builds a `Headers` object).
 *
 * @param response The response.
 * @param name The header name, in lower case.
 * @returns The value, or null.
 */
export function responseHeader(
  response: Response,
  name: string,
): string | null {
  const cache = nodeServerCache(response);
  if (!cache) {
    // A Deno.serve Response on Deno's fast path has no header but its
    // content type, and reading `headers` would take it off that path.
    return denoFastBody(response) !== undefined && name !== "content-type"
      ? null
      : response.headers.get(name);
  }
  const headers = cache[2];
  if (headers instanceof Headers) return headers.get(name);
  const entries = Array.isArray(headers)
    ? headers
    : Object.entries(headers ?? {});
  for (const [key, value] of entries) {
    if (String(key).toLowerCase() === name) return String(value);
  }
  return null;
}

/**
 * Registers `done(aborted, length)` to run once the response has been sent
 * or the client went away, `length` being the body length the server wrote,
 * when it knows it.
 */
export type Sent = (done: (aborted: boolean, length?: number) => void) => void;

/**
 * How the runtime tells that a response was sent, without touching the
 * response: `@hono/node-server`'s `outgoing` (a node:http ServerResponse,
 * closed after `finish`, or without it or with its socket errored when the
 * client went away) or Deno.serve's `info.completed` (rejects when the
 * client went away); and whether the server sizes the response's body itself
 * (node-server for anything but a stream). On Bun.serve, which never tells,
 * a body of up to 64 KB held in memory is taken as sent at once, with its
 * size (see {@linkcode bunMemoryBodySize}).
 *
 * @param runtimeArg What the server passed beside the request.
 * @param response The response.
 * @returns The watcher and whether the server sizes the body, or undefined;
 * never throws.
 */
export function sentWatcher(
  runtimeArg: unknown,
  response: Response,
): [Sent, boolean] | undefined {
  try {
    return watcher(runtimeArg, response);
  } catch {
    // Best effort: the body watcher works everywhere.
  }
}

function watcher(
  runtimeArg: unknown,
  response: Response,
): [Sent, boolean] | undefined {
  // deno-lint-ignore no-explicit-any
  const arg = runtimeArg as any;
  if (typeof arg?.requestIP === "function") {
    // Bun.serve's server.
    const size = bunMemoryBodySize(response);
    if (size !== undefined && size <= SMALL_BODY) {
      return [(done) => done(false, size), true];
    }
  }
  const outgoing = arg?.outgoing;
  if (typeof outgoing?.once === "function") {
    const socket = outgoing.socket;
    return [
      (done) =>
        outgoing.once("close", () => {
          // Node finishes a response whose bytes are queued on a socket
          // that then fails (the client reset it): that is no delivery.
          const aborted = !outgoing.writableFinished || !!socket?.errored;
          done(aborted, aborted ? undefined : outgoing._contentLength);
        }),
      nodeServerSizes(response),
    ];
  }
  const completed = arg?.completed;
  if (typeof completed?.then === "function") {
    const length = denoBodyLength(response);
    return [
      (done) => completed.then(() => done(false, length), () => done(true)),
      length !== undefined,
    ];
  }
}

// Bun's `inspect` prints a Response's body last: a body held in memory (a
// string, bytes, a Blob, form data) as "Blob (…)", a stream as
// "ReadableStream {…}". Headers print above it, indented further.
const BUN_MEMORY_BODY = "\n  bodyUsed: false,\n  Blob (";

/**
 * The size of a Bun Response's body when Bun holds it in memory, found
 * without reading `body`, which would turn it into a stream and put the
 * response on Bun's slow path (the middleware would then count it through a
 * stream of its own: ~10 µs more CPU per sampled request in Bun.serve,
 * measured). `Bun.inspect` tells a body in memory from a stream, and a clone
 * of one in memory hands its Blob over at once (`Bun.peek`). Anything else,
 * or a Bun that prints responses otherwise, gives undefined: the body is then
 * counted as it streams, as elsewhere.
 */
function bunMemoryBodySize(response: Response): number | undefined {
  const bun = (globalThis as {
    Bun?: { inspect?(value: unknown): string; peek?(value: unknown): unknown };
  }).Bun;
  if (
    typeof bun?.inspect !== "function" || typeof bun.peek !== "function" ||
    !bun.inspect(response).includes(BUN_MEMORY_BODY)
  ) return;
  const blob = bun.peek(response.clone().blob());
  if (blob instanceof Blob) return blob.size;
}

// Deno.serve's Response keeps a string or bytes body where its server finds
// it (the "serve fast" path); reading `body` would turn it into a stream and
// put the response on the slow path. Its symbols are found by description.
const denoKeys: Record<string, SymbolSlot> = {};
function denoKey(response: Response, description: string): unknown {
  return symbolValue(
    response,
    denoKeys[description] ??= {},
    (key) => key.description === description,
  );
}

// The string or bytes body of a Response on Deno's fast path.
function denoFastBody(response: Response): string | Uint8Array | undefined {
  const fast = denoKey(response, "serve fast body");
  if (typeof fast === "string" || fast instanceof Uint8Array) return fast;
}

function denoBodyLength(response: Response): number | undefined {
  const fast = denoFastBody(response);
  if (typeof fast === "string") return utf8Length(fast);
  if (fast) return fast.byteLength;
  // deno-lint-ignore no-explicit-any
  const length = (denoKey(response, "response") as any)?.body?.length;
  if (Number.isInteger(length) && length >= 0) return length;
}

// Whether the body of @hono/node-server's lightweight Response is one the
// server sizes itself (a string, bytes, a Blob or none), found without
// turning it into a real Response (which reading `body` does, and which puts
// the server on its slow stream path): it keeps `[status, body, headers]`
// under a symbol until then.
function nodeServerSizes(response: Response): boolean {
  const cache = nodeServerCache(response);
  return !!cache && typeof cache[1]?.getReader !== "function";
}

// @hono/node-server's `[status, body, headers]` of a lightweight Response
// not yet turned into a real one.
const nodeServerSlot: SymbolSlot = {};
// deno-lint-ignore no-explicit-any
function nodeServerCache(response: Response): any[] | undefined {
  return symbolValue(
    response,
    nodeServerSlot,
    (_key, value) => Array.isArray(value) && value.length === 3,
    // deno-lint-ignore no-explicit-any
  ) as any[] | undefined;
}

/** Where {@linkcode symbolValue} remembers the symbol it found. */
interface SymbolSlot {
  key?: symbol;
}

// The value `response` keeps under the own symbol `match` accepts; the symbol
// is remembered in `slot` (a server's internals use the same one for every
// response), so the next response is asked for it first.
function symbolValue(
  response: Response,
  slot: SymbolSlot,
  match: (key: symbol, value: unknown) => boolean,
): unknown {
  // deno-lint-ignore no-explicit-any
  const r = response as any;
  const known = slot.key;
  if (known && known in r && match(known, r[known])) return r[known];
  for (const key of Object.getOwnPropertySymbols(r)) {
    if (match(key, r[key])) return r[slot.key = key];
  }
}
