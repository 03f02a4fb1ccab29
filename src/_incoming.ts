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
import { SMALL_BODY } from "./_util.ts";
import {
  connectionAddress,
  requestHeader,
  responseHeader,
  sentWatcher,
} from "./runtime/server.ts";

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

// `scheme://host/path?query`: group 1 the host, group 2 the path. Cheaper
// than `new URL()`, which the request path does not need.
const URL_PARTS = /^[a-z][\w+.-]*:\/\/([^/?#]*)([^?#]*)/i;

/**
 * Starts the segment for one request: name (service name or dynamic),
 * incoming trace header, sampling input, and, when sampled, `http.request`
 * (the client address from `clientIp`, else from what the server passed
 * beside the request) and per-request plugin data.
 */
export function startRequestSegment(
  options: IncomingOptions,
  request: Request,
  runtimeArg: unknown,
  clientIp?: () => string | undefined,
): Segment {
  const { tracer, dynamicNaming } = options;
  const { method, url: href } = request;
  const header = (name: string) => requestHeader(request, runtimeArg, name);
  const parts = URL_PARTS.exec(href);
  const host = header("host") ?? parts?.[1] ?? "";
  let name = tracer.serviceName;
  if (dynamicNaming !== undefined) {
    const hostname = host.match(HOST)?.[0] ?? host;
    if (hostname && wildcardMatch(dynamicNaming, hostname)) name = hostname;
  }
  const segment = tracer.startSegment(
    name,
    {
      traceHeader: header("x-amzn-trace-id"),
      // For the tracer's propagation (W3C traceparent); names in lower case.
      headers: header,
      sampling: {
        serviceName: name,
        host,
        method,
        path: parts ? parts[2] || "/" : href,
      },
    },
  );
  if (segment.isSampled) {
    let address: string | undefined;
    try {
      address = clientIp ? clientIp() : connectionAddress(request, runtimeArg);
    } catch (e) {
      tracer.reportError(e, "recording");
    }
    const forwarded = header("x-forwarded-for")?.split(",")[0].trim();
    segment.setHttpRequest({
      method,
      url: href,
      userAgent: header("user-agent") ?? undefined,
      clientIp: forwarded || address,
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

// A `waitUntil` host, when `ctx` is one.
const waitUntilHost = (ctx: WaitUntilHost) =>
  typeof (ctx as { waitUntil?: unknown } | undefined)?.waitUntil === "function"
    ? ctx as { waitUntil(promise: Promise<unknown>): void }
    : undefined;

// Flushes the tracer once `ended` settles, through `ctx.waitUntil` when
// there is one; nothing without a flush to do.
function afterEnd(
  { flush, tracer }: IncomingOptions,
  ctx: WaitUntilHost,
  ended: Promise<void> = Promise.resolve(),
): void {
  const host = waitUntilHost(ctx);
  if (flush ?? host) {
    const flushed = ended.then(() => tracer.flush());
    try {
      host?.waitUntil(flushed);
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

// Ends the segments of watched bodies that were dropped unsent. The
// callback is made here, not in a request's scope, which it would keep alive.
type End = (aborted: boolean, length: number) => void;
let unsent: FinalizationRegistry<End> | undefined;
const endUnsent = (end: End): void => end(true, 0);

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
    const status = response.status;
    const length = responseHeader(response, "content-length") ?? "";
    const declared = /^\s*\d+\s*$/.test(length) ? +length : undefined;
    segment.setHttpResponse({ status });
    // What a flush waits for, made only when there is a flush to do.
    let resolve: (() => void) | undefined;
    if (options.flush ?? waitUntilHost(ctx)) {
      ended = new Promise<void>((r) => resolve = r);
    }
    // Set until the segment is ended: ending happens once. An aborted
    // response records only the bytes known to have gone out.
    let end: ((aborted?: boolean, length?: number) => void) | undefined = (
      aborted,
      length,
    ): void => {
      if (!end) return;
      end = undefined;
      if (aborted) segment.annotate(CLIENT_ABORTED, true);
      segment.setHttpResponse({
        contentLength: aborted ? length : length ?? declared,
      });
      segment.end();
      resolve?.();
    };
    const watch = sentWatcher(runtimeArg, response);
    if (
      request.method === "HEAD" || status < 200 || status === 204 ||
      status === 304 ||
      (response as { webSocket?: unknown }).webSocket != null
    ) end!();
    else if (watch && (declared !== undefined || watch[1])) watch[0](end!);
    else if (!watch && declared !== undefined && declared <= SMALL_BODY) end!();
    else {
      const body = response.body;
      if (!body) end!();
      else {
        let counted = 0;
        const reader = body.getReader();
        // A body nobody reads (dropped, or replaced by an outer middleware)
        // still ends the segment, when it is collected. The reader, not the
        // body: workerd collects a body's JS object while its reader reads.
        (unsent ??= new FinalizationRegistry(endUnsent)).register(reader, end!);
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
