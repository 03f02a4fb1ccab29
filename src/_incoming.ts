/**
 * What the Hono middleware and the fetch-handler wrapper share: one segment
 * per incoming request, from the request to the end of the response body.
 * Private to the package.
 *
 * @module
 */

import type { Tracer } from "./tracer.ts";
import { ANNOTATION_KEY, type Segment } from "./segment.ts";
import { TRACE_HEADER } from "./trace_header.ts";
import { wildcardMatch } from "./wildcard.ts";
import { toError, XRayError } from "./errors.ts";

/** Options shared by `xray()` (Hono) and `withXRay()` (fetch handlers). */
export interface IncomingOptions {
  /** The tracer that creates and delivers the segments. */
  tracer: Tracer;
  /**
   * A host pattern (`*` and `?` wildcards, such as `*.example.com`): when the
   * request's host matches, the segment is named after the host; otherwise
   * after the tracer's service name.
   */
  dynamicNaming?: string;
  /**
   * Flush the tracer when a request's segment ends. Where the runtime hands
   * out a `waitUntil` (Cloudflare Workers) the flush goes to it; elsewhere it
   * runs in the background and never touches the response.
   * @default true where a `waitUntil` exists, false elsewhere (the tracer's batching delivers)
   */
  flush?: boolean;
  /**
   * The annotation key the matched route pattern (`/users/:id`) is recorded
   * under, or `false` to leave it out. Only routers that know the pattern
   * (Hono) record one.
   * @default "http_route"
   */
  routeAnnotation?: string | false;
}

/**
 * What a runtime passes that may have a `waitUntil` method (Workers'
 * `ExecutionContext`); anything else means there is none.
 */
export type WaitUntilHost = unknown;

/** Resolves options given directly or as a function of the runtime's env, once. */
export function lazyOptions<O extends IncomingOptions>(
  options: O | ((env: never) => O),
  what: string,
): (env: unknown) => O {
  const check = (options: O): O => {
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `Cannot create ${what} as options must be an object or a function returning one`,
      );
    }
    const { tracer, dynamicNaming: naming, routeAnnotation: key } = options;
    const bad = (name: string, rule: string, value: unknown): TypeError =>
      new TypeError(
        `Cannot create ${what} as '${name}' must be ${rule}: current value is ${value}`,
      );
    if (
      typeof tracer?.startSegment !== "function" || typeof tracer !== "object"
    ) {
      throw bad(
        "tracer",
        "a tracer from createTracer()",
        tracer === null ? "null" : typeof tracer,
      );
    }
    if (naming !== undefined && (typeof naming !== "string" || !naming)) {
      throw bad(
        "dynamicNaming",
        "a non-empty host pattern",
        JSON.stringify(naming),
      );
    }
    if (
      key !== undefined && key !== false && !ANNOTATION_KEY.test(String(key))
    ) {
      throw bad(
        "routeAnnotation",
        "an annotation key of A-Z, a-z, 0-9 and _",
        `'${key}'`,
      );
    }
    return options;
  };
  if (typeof options === "function") {
    let resolved: O | undefined;
    return (env: unknown): O =>
      resolved ??= check((options as (env: unknown) => O)(env));
  }
  const checked = check(options);
  return (): O => checked;
}

// The host without its port: `[v6]` of `[v6]:port`, `host` of `host:port`;
// anything else (no port, a bare v6 address) as it is.
const HOST = /^(?:\[[^\]]*\]|(?!\[)[^:]*(?=:[^:]*$))/;

/**
 * Finds the client's connection address in what runtimes pass beside the
 * request: Deno.serve's `info.remoteAddr`, Bun's `server.requestIP()`,
 * `@hono/node-server`'s `incoming.socket`, or Cloudflare's
 * `CF-Connecting-IP` when the request carries `cf` properties.
 */
export function connectionAddress(
  request: Request,
  runtimeArg: unknown,
): string | undefined {
  try {
    // deno-lint-ignore no-explicit-any
    const arg = runtimeArg as any;
    const address = arg?.remoteAddr?.hostname ??
      arg?.requestIP?.(request)?.address ??
      arg?.incoming?.socket?.remoteAddress ??
      ((request as { cf?: unknown }).cf !== undefined
        ? request.headers.get("cf-connecting-ip")
        : undefined);
    if (typeof address === "string") return address;
  } catch {
    // Connection details are best effort.
  }
}

// `scheme://host/path?query`: group 1 the host, group 2 the path. Cheaper
// than `new URL()`, which the request path does not need.
const URL_PARTS = /^[a-z][\w+.-]*:\/\/([^/?#]*)([^?#]*)/i;

/**
 * Starts the segment for one request: name (service name or dynamic),
 * incoming trace header, sampling input, and, when sampled, `http.request`
 * and per-request plugin data.
 */
export function startRequestSegment(
  options: IncomingOptions,
  request: Request,
  clientAddress: string | undefined,
): Segment {
  const { tracer, dynamicNaming } = options;
  const { headers, method, url: href } = request;
  const parts = URL_PARTS.exec(href);
  const host = headers.get("host") ?? parts?.[1] ?? "";
  let name = tracer.serviceName;
  if (dynamicNaming !== undefined) {
    const hostname = host.match(HOST)?.[0] ?? host;
    if (hostname && wildcardMatch(dynamicNaming, hostname)) name = hostname;
  }
  const segment = tracer.startSegment(
    name,
    {
      traceHeader: headers.get(TRACE_HEADER),
      headers,
      sampling: { host, method, path: parts ? parts[2] || "/" : href },
    },
  );
  if (segment.isSampled) {
    const forwarded = headers.get("x-forwarded-for")?.split(",")[0].trim();
    segment.setHttpRequest({
      method,
      url: href,
      userAgent: headers.get("user-agent") ?? undefined,
      clientIp: forwarded || clientAddress,
      xForwardedFor: forwarded ? true : undefined,
    });
    for (const plugin of tracer.plugins) {
      if (typeof plugin.forRequest !== "function") continue;
      try {
        const data = plugin.forRequest(request);
        if (data?.origin) segment.setOrigin(data.origin);
        if (data?.aws) segment.setAws(data.aws);
      } catch (e) {
        tracer.reportError(
          new XRayError(
            `Plugin '${plugin.name}' failed for a request: ${
              toError(e).message
            }`,
            { cause: e },
          ),
          "plugin",
        );
      }
    }
  }
  return segment;
}

// Flushes the tracer once `ended` settles, through `ctx.waitUntil` when there is one.
function afterEnd(
  { flush, tracer }: IncomingOptions,
  ctx: WaitUntilHost,
  ended: Promise<void> = Promise.resolve(),
): void {
  const host = ctx as
    | { waitUntil?(promise: Promise<unknown>): void }
    | undefined;
  const hasWaitUntil = typeof host?.waitUntil === "function";
  if (flush ?? hasWaitUntil) {
    const flushed = ended.then(() => tracer.flush());
    try {
      if (hasWaitUntil) host!.waitUntil!(flushed);
    } catch (e) {
      tracer.reportError(e, "export");
    }
  }
}

/**
 * Ends a request whose handler threw (no response): records the error and
 * status 500, ends the segment and schedules the flush.
 */
export function failRequest(
  options: IncomingOptions,
  segment: Segment,
  error: unknown,
  ctx: WaitUntilHost,
): void {
  segment.addError(error).setHttpResponse({ status: 500 }).end();
  afterEnd(options, ctx);
}

/** The annotation a request whose client went away before the whole body was sent carries. */
export const CLIENT_ABORTED = "client_aborted";

/**
 * Declared bodies up to this size end the segment when the handler returns,
 * where the runtime does not tell when the response was sent.
 */
const SMALL_BODY = 65536;

// Ends the segments of watched bodies that were dropped unsent. The
// callback is made here, not in a request's scope, which it would keep alive.
type End = (aborted: boolean, length: number) => void;
let unsent: FinalizationRegistry<End> | undefined;
const endUnsent = (end: End): void => end(true, 0);

// Calls `done(aborted, length)` once the response has been sent or the
// client went away, `length` being the body length the server wrote, when
// it knows it.
type Sent = (done: (aborted: boolean, length?: number) => void) => void;

/**
 * How the runtime tells that a response was sent, without touching the
 * response: `@hono/node-server`'s `outgoing` (a node:http ServerResponse,
 * closed after `finish`, or without it or with its socket errored when the
 * client went away) or Deno.serve's `info.completed` (rejects when the client went away);
 * and whether the server sizes the response's body itself (node-server for
 * anything but a stream).
 */
function sentWatcher(
  runtimeArg: unknown,
  response: Response,
): [Sent, boolean] | undefined {
  try {
    // deno-lint-ignore no-explicit-any
    const arg = runtimeArg as any;
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
      return [
        (done) => completed.then(() => done(false), () => done(true)),
        false,
      ];
    }
  } catch {
    // Best effort: the body watcher works everywhere.
  }
}

// Whether the body of @hono/node-server's lightweight Response is one the
// server sizes itself (a string, bytes, a Blob or none), found without
// turning it into a real Response (which reading `body` does, and which puts
// the server on its slow stream path): it keeps `[status, body, headers]`
// under a symbol until then.
function nodeServerSizes(response: Response): boolean {
  for (const key of Object.getOwnPropertySymbols(response)) {
    // deno-lint-ignore no-explicit-any
    const cache = (response as any)[key];
    if (Array.isArray(cache) && cache.length === 3) {
      return typeof cache[1]?.getReader !== "function";
    }
  }
  return false;
}

/**
 * Records the response and ends the segment: at once for bodiless answers
 * (HEAD, 1xx, 204, 304) and, where the runtime cannot tell when the response
 * was sent, for declared bodies up to 64 KB; when the runtime tells
 * (@hono/node-server, Deno.serve) for bodies it writes itself; otherwise when
 * the body has been read to the end or cancelled, passing it through chunk
 * by chunk, never buffered, and counting its bytes. A client that went away
 * before the whole body was sent gets the `client_aborted` annotation.
 * Unsampled responses are not touched, except that the `X-Amzn-Trace-Id`
 * header is added when the request said `Sampled=?`.
 *
 * @returns The response to send: the same object, or a copy with the
 * header and the watched body.
 */
export function finishRequest(
  options: IncomingOptions,
  segment: Segment,
  request: Request,
  response: Response,
  ctx: WaitUntilHost,
  runtimeArg?: unknown,
): Response {
  let out = response;
  let ended: Promise<void> | undefined;
  if (!segment.isSampled || segment.isEnded) {
    if (!segment.isEnded) segment.end();
  } else {
    const { status, headers } = response;
    const length = headers.get("content-length") ?? "";
    const declared = /^\s*\d+\s*$/.test(length) ? +length : undefined;
    segment.setHttpResponse({ status });
    // Set until the segment is ended: ending happens once. An aborted
    // response records only the bytes known to have gone out.
    let end: ((aborted?: boolean, length?: number) => void) | undefined;
    ended = new Promise<void>((resolve) => {
      end = (aborted, length): void => {
        if (!end) return;
        end = undefined;
        if (aborted) segment.annotate(CLIENT_ABORTED, true);
        segment.setHttpResponse({
          contentLength: aborted ? length : length ?? declared,
        });
        segment.end();
        resolve();
      };
    });
    let watch: [Sent, boolean] | undefined;
    if (
      request.method === "HEAD" || status < 200 || status === 204 ||
      status === 304 ||
      (response as { webSocket?: unknown }).webSocket != null
    ) end!();
    else if (
      (watch = sentWatcher(runtimeArg, response)) &&
      (declared !== undefined || watch[1])
    ) watch[0](end!);
    else if (!watch && declared !== undefined && declared <= SMALL_BODY) end!();
    else {
      const body = response.body;
      if (!body) end!();
      else {
        let counted = 0;
        // A body nobody reads (dropped, or replaced by an outer middleware)
        // still ends the segment, when it is collected.
        (unsent ??= new FinalizationRegistry(endUnsent)).register(body, end!);
        const reader = body.getReader();
        out = new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller): Promise<void> {
              try {
                const { done, value } = await reader.read();
                if (done) {
                  end?.(false, counted);
                  controller.close();
                } else {
                  counted += value.byteLength;
                  controller.enqueue(value);
                }
              } catch (e) {
                if (end) segment.addError(e);
                end?.(false, counted);
                controller.error(e);
              }
            },
            cancel(reason): Promise<void> {
              end?.(true, counted);
              return reader.cancel(reason).catch(() => {});
            },
          }, { highWaterMark: 0 }),
          response,
        );
      }
    }
  }
  afterEnd(options, ctx, ended);
  if (segment.incoming?.sampled === "requested") {
    const value = segment.responseTraceHeader();
    try {
      try {
        out.headers.set(TRACE_HEADER, value);
      } catch {
        // Immutable headers (a Response from fetch): copy once.
        out = new Response(out.body, out);
        out.headers.set(TRACE_HEADER, value);
      }
    } catch (e) {
      options.tracer.reportError(e, "recording");
    }
  }
  return out;
}
