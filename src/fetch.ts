/**
 * `tracedFetch`: a `fetch` that records each call as a remote subsegment and
 * propagates `X-Amzn-Trace-Id` downstream. Nothing global is patched.
 *
 * @module
 */

import { setTraceHeaders } from "./_propagation.ts";
import { cleanUrl, type Entity, type Subsegment } from "./segment.ts";
import { TRACE_HEADER } from "./trace_header.ts";
import {
  type CurrentEntitySource,
  isParentSource,
  type ParentSource,
  resolveParent,
} from "./_parent.ts";

export type { CurrentEntitySource, ParentSource };

/** A function with `fetch`'s signature. */
export type FetchFunction = (
  input: RequestInfo | URL,
  init?: RequestInit,
) => Promise<Response>;

/** Options for {@linkcode tracedFetch}. */
export interface TracedFetchOptions {
  /** The `fetch` to call. @default globalThis.fetch, looked up on each call */
  fetch?: FetchFunction;
  /**
   * Decides which URLs receive the `X-Amzn-Trace-Id` header.
   * @default every URL (as the reference SDKs do)
   */
  propagate?: (url: URL) => boolean;
  /** Names the subsegment. @default the URL's hostname */
  name?: (url: URL) => string;
  /**
   * When the subsegment ends: when the response headers arrive, or when the
   * body has been read to the end, failed, or been cancelled. With `"body"`
   * an unread body leaves the subsegment open (`in_progress`).
   * @default "headers"
   */
  endOn?: "headers" | "body";
}

function parseUrl(input: RequestInfo | URL): URL | undefined {
  try {
    if (input instanceof URL) return input;
    const text = typeof input === "string"
      ? input
      : typeof (input as Request)?.url === "string"
      ? (input as Request).url
      : String(input);
    // deno-lint-ignore no-explicit-any
    const base = (globalThis as any).location?.href as string | undefined;
    return new URL(text, base);
  } catch {
    return undefined;
  }
}

function isRequest(input: unknown): input is Request {
  return typeof Request !== "undefined" && input instanceof Request;
}

function contentLength(headers: Headers): number | undefined {
  const raw = headers.get("content-length");
  if (raw === null || !/^\s*\d+\s*$/.test(raw)) return undefined;
  return Number(raw);
}

function subsegmentName(url: URL, name?: (url: URL) => string): string {
  if (name) {
    try {
      const chosen = name(url);
      if (typeof chosen === "string" && chosen.length > 0) return chosen;
    } catch {
      // A failing callback must not break the call: fall back to the host.
    }
  }
  return url.hostname || url.host || url.protocol;
}

function shouldPropagate(
  url: URL,
  propagate?: (url: URL) => boolean,
): boolean {
  if (!propagate) return true;
  try {
    return propagate(url) === true;
  } catch {
    return false;
  }
}

/** Ends `sub` once the body is done, failed or cancelled; never buffers. */
function endWithBody(
  response: Response,
  sub: Subsegment,
  lengthKnown: boolean,
): Response {
  const body = response.body;
  if (body === null) {
    sub.end();
    return response;
  }
  const reader = body.getReader();
  let bytes = 0;
  let finished = false;
  const finish = (error?: unknown): void => {
    if (finished) return;
    finished = true;
    if (error !== undefined) sub.addError(error, { remote: true });
    else if (!lengthKnown) sub.setHttpResponse({ contentLength: bytes });
    sub.end();
  };
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller): Promise<void> {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        finish(error);
        controller.error(error);
        return;
      }
      if (chunk.done) {
        finish();
        controller.close();
      } else {
        bytes += chunk.value.byteLength;
        controller.enqueue(chunk.value);
      }
    },
    cancel(reason): Promise<void> {
      finish();
      return reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
  const wrapped = new Response(stream, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  });
  // A constructed Response cannot carry these; keep what callers read.
  Object.defineProperties(wrapped, {
    url: { value: response.url, enumerable: true },
    redirected: { value: response.redirected, enumerable: true },
    type: { value: response.type, enumerable: true },
  });
  return wrapped;
}

/**
 * Returns a function with `fetch`'s signature that records every call as a
 * `remote` subsegment of `parent` (named by hostname, with `http.request`
 * method and URL without query or credentials, `http.response` status and
 * content length, and the flags the status implies) and sends the
 * subsegment's `X-Amzn-Trace-Id` downstream. Network errors are recorded as
 * remote faults and rethrown unchanged. The caller's `Request` and headers
 * are never changed, and bodies are never buffered.
 *
 * @param parent A segment or subsegment, or something with `current()` (an
 * ambient context from `xray-edge/als`, or a tracer that has one), asked on
 * each call. Calls without a parent go through untraced.
 * @param options The `fetch` to wrap, which URLs get the header, naming, and
 * when the subsegment ends.
 * @returns The traced `fetch`.
 * @throws {TypeError} When `parent` is neither an entity nor has `current()`,
 * or an option has the wrong type.
 *
 * @example Trace a call
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer, tracedFetch } from "../mod.ts";
 * import { memorySender } from "./testing.ts";
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "shop", sender });
 * const segment = tracer.startSegment("shop", { sampled: true });
 * let seen: string | null = null;
 * const fetch = tracedFetch(segment, {
 *   fetch: (input, init) => {
 *     seen = new Headers(init?.headers).get("x-amzn-trace-id");
 *     return Promise.resolve(new Response("ok", { status: 200 }));
 *   },
 * });
 * const response = await fetch("https://api.example.com/pay?card=4111");
 * assert.equal(await response.text(), "ok");
 * segment.end();
 * await tracer.flush();
 * const sub = sender.documents[0].subsegments[0];
 * assert.equal(sub.name, "api.example.com");
 * assert.equal(sub.http.request.url, "https://api.example.com/pay");
 * assert.equal(seen, `Root=${segment.traceId};Parent=${sub.id};Sampled=1`);
 * ```
 */
export function tracedFetch(
  parent: ParentSource,
  options: TracedFetchOptions = {},
): FetchFunction {
  if (!isParentSource(parent)) {
    throw new TypeError(
      "Cannot create traced fetch as 'parent' must be a segment, a subsegment or have current()",
    );
  }
  const { fetch: inner, propagate, name, endOn = "headers" } = options;
  for (
    const [key, value] of [["fetch", inner], ["propagate", propagate], [
      "name",
      name,
    ]] as const
  ) {
    if (value !== undefined && typeof value !== "function") {
      throw new TypeError(
        `Cannot create traced fetch as '${key}' must be a function: current value is ${typeof value}`,
      );
    }
  }
  if (endOn !== "headers" && endOn !== "body") {
    throw new RangeError(
      `Cannot create traced fetch as 'endOn' must be "headers" or "body": current value is '${
        String(endOn)
      }'`,
    );
  }
  const call = (input: RequestInfo | URL, init?: RequestInit) =>
    (inner ?? globalThis.fetch)(input, init);

  return async function tracedFetchCall(
    input: RequestInfo | URL,
    init?: RequestInit,
  ): Promise<Response> {
    const entity: Entity | undefined = resolveParent(parent);
    const url = entity ? parseUrl(input) : undefined;
    if (!entity || !url) return call(input, init);

    const sub = entity.startSubsegment(subsegmentName(url, name), {
      namespace: "remote",
    });
    const method = (init?.method ??
      (isRequest(input) ? input.method : "GET")).toUpperCase();
    sub.setHttpRequest({ method, url: cleanUrl(url.href, true) });

    let callInit = init;
    if (shouldPropagate(url, propagate)) {
      const headers = new Headers(
        init?.headers ?? (isRequest(input) ? input.headers : undefined),
      );
      setTraceHeaders(sub, (k, v) => headers.set(k, v), TRACE_HEADER);
      callInit = { ...init, headers };
    }

    let response: Response;
    try {
      response = await call(input, callInit);
    } catch (error) {
      sub.addError(error, { remote: true });
      sub.end();
      throw error;
    }
    const length = contentLength(response.headers);
    sub.setHttpResponse({ status: response.status, contentLength: length });
    if (endOn === "body") {
      return endWithBody(response, sub, length !== undefined);
    }
    sub.end();
    return response;
  };
}
