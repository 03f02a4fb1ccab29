/**
 * What the Hono middleware and the fetch-handler wrapper share: one segment
 * per incoming request, from the request to the end of the response body.
 * Private to the package.
 *
 * @module
 */

import type { Tracer } from "./tracer.ts";
import type { Segment } from "./segment.ts";
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

/** A runtime's `waitUntil`, as Workers' `ExecutionContext` has it. */
export type WaitUntil = (promise: Promise<unknown>) => void;

/** Resolves options given directly or as a function of the runtime's env, once. */
export function lazyOptions<O extends IncomingOptions>(
  options: O | ((env: never) => O),
  what: string,
): (env: unknown) => O {
  if (typeof options === "function") {
    let resolved: O | undefined;
    return (env: unknown): O =>
      resolved ??= checkOptions(
        (options as (env: unknown) => O)(env),
        what,
      );
  }
  const checked = checkOptions(options, what);
  return (): O => checked;
}

function checkOptions<O extends IncomingOptions>(options: O, what: string): O {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot create ${what} as options must be an object or a function returning one`,
    );
  }
  const tracer = options.tracer as Partial<Tracer> | undefined;
  if (
    typeof tracer !== "object" || tracer === null ||
    typeof tracer.startSegment !== "function"
  ) {
    throw new TypeError(
      `Cannot create ${what} as 'tracer' must be a tracer from createTracer(): current value is ${
        tracer === null ? "null" : typeof tracer
      }`,
    );
  }
  if (
    options.dynamicNaming !== undefined &&
    (typeof options.dynamicNaming !== "string" ||
      options.dynamicNaming.length === 0)
  ) {
    throw new TypeError(
      `Cannot create ${what} as 'dynamicNaming' must be a non-empty host pattern: current value is ${
        JSON.stringify(options.dynamicNaming)
      }`,
    );
  }
  if (
    options.routeAnnotation !== undefined &&
    options.routeAnnotation !== false &&
    !/^[A-Za-z0-9_]{1,500}$/.test(String(options.routeAnnotation))
  ) {
    throw new TypeError(
      `Cannot create ${what} as 'routeAnnotation' must be an annotation key of A-Z, a-z, 0-9 and _: current value is '${options.routeAnnotation}'`,
    );
  }
  return options;
}

function stripPort(host: string): string {
  if (host.startsWith("[")) {
    const close = host.indexOf("]");
    return close === -1 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(":");
  return colon === -1 || host.indexOf(":", colon + 1) !== -1
    ? host
    : host.slice(0, colon);
}

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
    if (arg !== null && typeof arg === "object") {
      const remote = arg.remoteAddr;
      if (remote && typeof remote.hostname === "string") return remote.hostname;
      if (typeof arg.requestIP === "function") {
        const address = arg.requestIP(request)?.address;
        if (typeof address === "string") return address;
      }
      const socketAddress = arg.incoming?.socket?.remoteAddress;
      if (typeof socketAddress === "string") return socketAddress;
    }
    if ((request as { cf?: unknown }).cf !== undefined) {
      return request.headers.get("cf-connecting-ip") ?? undefined;
    }
  } catch {
    // Connection details are best effort.
  }
  return undefined;
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
  const tracer = options.tracer;
  const headers = request.headers;
  let url: URL | undefined;
  try {
    url = new URL(request.url);
  } catch {
    // A relative or odd URL: record what we have.
  }
  const host = headers.get("host") ?? url?.host ?? "";
  let name = tracer.serviceName;
  if (options.dynamicNaming !== undefined) {
    const hostname = stripPort(host);
    if (hostname && wildcardMatch(options.dynamicNaming, hostname)) {
      name = hostname;
    }
  }
  const segment = tracer.startSegment(name, {
    traceHeader: headers.get(TRACE_HEADER),
    sampling: {
      host,
      method: request.method,
      path: url?.pathname ?? request.url,
    },
  });
  if (!segment.isSampled) return segment;
  const forwarded = headers.get("x-forwarded-for");
  const first = forwarded?.split(",")[0].trim();
  segment.setHttpRequest({
    method: request.method,
    url: request.url,
    userAgent: headers.get("user-agent") ?? undefined,
    clientIp: first || clientAddress,
    xForwardedFor: first ? true : undefined,
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
          `Plugin '${plugin.name}' failed for a request: ${toError(e).message}`,
          { cause: e },
        ),
        "plugin",
      );
    }
  }
  return segment;
}

/** Records a matched route pattern as the configured annotation. */
export function recordRoute(
  options: IncomingOptions,
  segment: Segment,
  route: string | undefined,
): void {
  const key = options.routeAnnotation ?? "http_route";
  if (key !== false && route) segment.annotate(key, route);
}

function afterEnd(
  options: IncomingOptions,
  ended: Promise<void>,
  waitUntil: WaitUntil | undefined,
): void {
  const flush = options.flush ?? waitUntil !== undefined;
  if (!flush) return;
  const tracer = options.tracer;
  const flushed = ended.then(() => tracer.flush()).then(() => {});
  if (waitUntil) {
    try {
      waitUntil(flushed);
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
  waitUntil: WaitUntil | undefined,
): void {
  segment.addError(error);
  segment.setHttpResponse({ status: 500 });
  segment.end();
  afterEnd(options, Promise.resolve(), waitUntil);
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
  waitUntil: WaitUntil | undefined,
): Response {
  const tracer = options.tracer;
  let out = response;
  const status = response.status;
  let declaredLength: number | undefined;
  const lengthHeader = response.headers.get("content-length");
  if (lengthHeader !== null && /^\d+$/.test(lengthHeader.trim())) {
    declaredLength = Number(lengthHeader.trim());
  }
  segment.setHttpResponse({ status, contentLength: declaredLength });
  const body = response.body;
  const watch = segment.isSampled && !segment.isEnded && body !== null &&
    status !== 101 && (response as { webSocket?: unknown }).webSocket == null;
  const answer = segment.incoming?.sampled === "requested";
  if (watch) {
    let resolveEnded!: () => void;
    const ended = new Promise<void>((resolve) => resolveEnded = resolve);
    let counted = 0;
    let finished = false;
    const finish = (error?: unknown): void => {
      if (finished) return;
      finished = true;
      if (error !== undefined) segment.addError(error);
      if (declaredLength === undefined) {
        segment.setHttpResponse({ contentLength: counted });
      }
      segment.end();
      resolveEnded();
    };
    const reader = body.getReader();
    const watched = new ReadableStream<Uint8Array>({
      async pull(controller): Promise<void> {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (e) {
          finish(e);
          controller.error(e);
          return;
        }
        if (chunk.done) {
          finish();
          controller.close();
          return;
        }
        counted += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      },
      cancel(reason): Promise<void> {
        finish();
        return reader.cancel(reason).catch(() => {});
      },
    }, { highWaterMark: 0 });
    out = new Response(watched, {
      status,
      statusText: response.statusText,
      headers: response.headers,
    });
    afterEnd(options, ended, waitUntil);
  } else {
    if (!segment.isEnded) segment.end();
    afterEnd(options, Promise.resolve(), waitUntil);
  }
  if (answer) {
    const value = segment.responseTraceHeader();
    try {
      out.headers.set(TRACE_HEADER, value);
    } catch {
      // Immutable headers (a Response from fetch): copy once.
      try {
        out = new Response(out.body, out);
        out.headers.set(TRACE_HEADER, value);
      } catch (e) {
        tracer.reportError(e, "recording");
      }
    }
  }
  return out;
}
