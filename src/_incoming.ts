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

/**
 * Starts the segment for one request: name (service name or dynamic),
 * incoming trace header, sampling input, `http.request` and per-request
 * plugin data.
 */
export function startRequestSegment(
  options: IncomingOptions,
  request: Request,
  clientAddress: string | undefined,
): Segment {
  const { tracer, dynamicNaming } = options;
  const { headers, method, url: href } = request;
  let url: URL | undefined;
  try {
    url = new URL(href);
  } catch {
    // A relative or odd URL: record what we have.
  }
  const host = headers.get("host") ?? url?.host ?? "";
  let name = tracer.serviceName;
  if (dynamicNaming !== undefined) {
    const hostname = host.match(HOST)?.[0] ?? host;
    if (hostname && wildcardMatch(dynamicNaming, hostname)) name = hostname;
  }
  const segment = tracer.startSegment(
    name,
    {
      traceHeader: headers.get(TRACE_HEADER),
      sampling: { host, method, path: url?.pathname ?? href },
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

/**
 * Records the response and ends the segment, at once for bodiless responses
 * or when the body has been read to the end (or cancelled) otherwise. The
 * body is passed through chunk by chunk, never buffered. Adds the
 * `X-Amzn-Trace-Id` response header when the request said `Sampled=?`.
 *
 * @returns The response to send: the same object, or a copy with the
 * header and the watched body.
 */
export function finishRequest(
  options: IncomingOptions,
  segment: Segment,
  response: Response,
  ctx: WaitUntilHost,
): Response {
  const { status, statusText, headers, body } = response;
  const length = headers.get("content-length") ?? "";
  const declared = /^\s*\d+\s*$/.test(length) ? +length : undefined;
  segment.setHttpResponse({ status, contentLength: declared });
  let out = response;
  let ended: Promise<void> | undefined;
  if (
    segment.isSampled && !segment.isEnded && body && status !== 101 &&
    (response as { webSocket?: unknown }).webSocket == null
  ) {
    let counted = 0;
    // Set until the segment is ended: finishing happens once.
    let resolveEnded: (() => void) | undefined;
    ended = new Promise<void>((resolve) => resolveEnded = resolve);
    const finish = (error?: unknown): void => {
      if (!resolveEnded) return;
      if (error !== undefined) segment.addError(error);
      if (declared === undefined) {
        segment.setHttpResponse({ contentLength: counted });
      }
      segment.end();
      resolveEnded();
      resolveEnded = undefined;
    };
    const reader = body.getReader();
    out = new Response(
      new ReadableStream<Uint8Array>({
        async pull(controller): Promise<void> {
          try {
            const { done, value } = await reader.read();
            if (done) {
              finish();
              controller.close();
            } else {
              counted += value.byteLength;
              controller.enqueue(value);
            }
          } catch (e) {
            finish(e);
            controller.error(e);
          }
        },
        cancel(reason): Promise<void> {
          finish();
          return reader.cancel(reason).catch(() => {});
        },
      }, { highWaterMark: 0 }),
      { status, statusText, headers },
    );
  } else if (!segment.isEnded) segment.end();
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
