/**
 * Outgoing `node:http` / `node:https` requests traced through Node's
 * `diagnostics_channel` (`http.client.request.created` / `.start`,
 * `http.client.request.error`, `http.client.response.finish`): opt-in, and
 * nothing is patched. Works on Node, Bun and Deno; throws a clear error
 * elsewhere.
 *
 * @module
 */

import { setTraceHeaders } from "./_propagation.ts";
import { cleanUrl, type Entity, type Subsegment } from "./segment.ts";
import { TRACE_HEADER } from "./trace_header.ts";
import { XRayError } from "./errors.ts";
import { isParentSource, type ParentSource, resolveParent } from "./_parent.ts";
import {
  type ChannelListener,
  HTTP_CLIENT_CHANNELS,
  httpClientChannels,
} from "./runtime/node_http.ts";

export type { CurrentEntitySource, ParentSource } from "./_parent.ts";

/** Options for {@linkcode traceNodeHttp}. */
export interface TraceNodeHttpOptions {
  /** Decides which URLs receive the `X-Amzn-Trace-Id` header. @default every URL */
  propagate?: (url: URL) => boolean;
  /** Names the subsegment. @default the URL's hostname */
  name?: (url: URL) => string;
  /**
   * Receives problems, such as a runtime that seals headers before tracing
   * can add one (Node before 22.14). @default the parent source's
   * `reportError` (a tracer's `onError`), else a `console.warn` line
   */
  onError?: (error: Error) => void;
}

/** A running subscription; `close()` (or `using`) stops tracing. */
export interface NodeHttpTracing {
  /** Unsubscribes from the channels. Requests in flight are still finished. */
  close(): void;
  /** Same as `close()`. */
  [Symbol.dispose](): void;
}

/** The parts of Node's `ClientRequest` used here. */
interface ClientRequestLike {
  method?: string;
  protocol?: string;
  host?: string;
  path?: string;
  headersSent?: boolean;
  getHeader?(name: string): unknown;
  setHeader?(name: string, value: string): unknown;
  once?(event: string, listener: () => void): unknown;
}

interface ResponseLike {
  statusCode?: number;
  headers?: Record<string, string | string[] | undefined>;
}

function requestUrl(request: ClientRequestLike): URL | undefined {
  const protocol = request.protocol ?? "http:";
  const hostHeader = request.getHeader?.("host");
  const host = typeof hostHeader === "string" && hostHeader
    ? hostHeader
    : request.host;
  if (!host) return undefined;
  try {
    return new URL(`${protocol}//${host}${request.path ?? "/"}`);
  } catch {
    return undefined;
  }
}

function messageOf(value: unknown):
  & { request?: ClientRequestLike }
  & Record<
    string,
    unknown
  > {
  return typeof value === "object" && value !== null
    ? value as Record<string, unknown>
    : {};
}

/**
 * Records every outgoing `node:http` / `node:https` request made while the
 * subscription is open as a `remote` subsegment of `parent` (named by
 * hostname, with method, URL without query or credentials, response status
 * and content length, and the flags the status implies), and adds the
 * subsegment's `X-Amzn-Trace-Id` to the request. Request errors are
 * recorded as remote faults; the request itself is untouched otherwise.
 * Requests without a parent are left alone.
 *
 * The header is added from `http.client.request.created` (Node ≥ 22.14 or
 * 23.2, Bun, Deno). Where only `http.client.request.start` exists (older
 * Node 20 and 22) requests are still recorded but the headers are already
 * sealed: that is reported once through `onError`.
 *
 * @param parent A segment or subsegment, or something with `current()` (a
 * tracer with an ambient context, or the context itself) asked per request.
 * @param options Header propagation, naming, error hook.
 * @returns The subscription; close it to stop.
 * @throws {XRayError} On runtimes without Node's HTTP client channels.
 * @throws {TypeError} When `parent` is neither an entity nor has `current()`.
 *
 * @example Trace node:http calls made under the current segment
 * ```ts
 * import assert from "node:assert/strict";
 * import http from "node:http";
 * import { createTracer } from "../mod.ts";
 * import { createAsyncContext } from "./als.ts";
 * import { memorySender } from "./testing.ts";
 * import { traceNodeHttp } from "./node_http.ts";
 *
 * const server = http.createServer((req, res) => res.end(req.headers["x-amzn-trace-id"]));
 * await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
 * const port = (server.address() as { port: number }).port;
 * const context = createAsyncContext();
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "api", sender, context });
 * using _tracing = traceNodeHttp(tracer);
 * const segment = tracer.startSegment("api", { sampled: true });
 * const body = await context.run(segment, () =>
 *   new Promise<string>((resolve) => {
 *     http.get(`http://127.0.0.1:${port}/items?page=2`, (res) => {
 *       let text = "";
 *       res.on("data", (c) => text += c).on("end", () => resolve(text));
 *     });
 *   }));
 * segment.end();
 * await tracer.flush();
 * await new Promise((r) => server.close(r));
 * const sub = sender.documents[0].subsegments[0];
 * assert.equal(sub.http.request.url, `http://127.0.0.1:${port}/items`);
 * assert.equal(body, `Root=${segment.traceId};Parent=${sub.id};Sampled=1`);
 * ```
 */
export function traceNodeHttp(
  parent: ParentSource,
  options: TraceNodeHttpOptions = {},
): NodeHttpTracing {
  if (!isParentSource(parent)) {
    throw new TypeError(
      "Cannot trace node:http requests as 'parent' must be a segment, a subsegment or have current()",
    );
  }
  const { propagate, name, onError } = options;
  const channels = httpClientChannels();
  const active = new WeakMap<object, Subsegment>();
  let warnedSealed = false;

  const report = (error: Error): void => {
    try {
      if (onError) return onError(error);
      const reporter = (parent as { reportError?: unknown }).reportError;
      if (typeof reporter === "function") {
        return reporter.call(parent, error, "recording");
      }
      console.warn(`xray-edge (node-http): ${error.message}`);
    } catch {
      // Reporting must not reach the request.
    }
  };

  const begin = (request: ClientRequestLike, canInject: boolean): void => {
    let entity: Entity | undefined;
    try {
      entity = resolveParent(parent);
    } catch (error) {
      report(error as Error);
      return;
    }
    if (!entity) return;
    const url = requestUrl(request);
    if (!url) return;
    let subName = url.hostname;
    if (name) {
      try {
        const chosen = name(url);
        if (typeof chosen === "string" && chosen) subName = chosen;
      } catch {
        // Keep the hostname.
      }
    }
    const sub = entity.startSubsegment(subName, { namespace: "remote" });
    sub.setHttpRequest({
      method: (request.method ?? "GET").toUpperCase(),
      url: cleanUrl(url.href, true),
    });
    active.set(request, sub);
    let wanted = true;
    if (propagate) {
      try {
        wanted = propagate(url) === true;
      } catch {
        wanted = false;
      }
    }
    if (!wanted) return;
    if (canInject && !request.headersSent && request.setHeader) {
      try {
        setTraceHeaders(
          sub,
          (name, value) => request.setHeader!(name, value),
          TRACE_HEADER,
        );
      } catch (error) {
        report(error as Error);
      }
    } else if (!warnedSealed) {
      warnedSealed = true;
      report(
        new XRayError(
          `Cannot add ${TRACE_HEADER} to node:http requests as this runtime publishes no '${HTTP_CLIENT_CHANNELS.created}' channel (Node 22.14 or later has it): requests are recorded without propagation`,
        ),
      );
    }
    request.once?.("close", () => {
      const open = active.get(request);
      if (open) {
        active.delete(request);
        open.end();
      }
    });
  };

  const onCreated: ChannelListener = (message) => {
    const request = messageOf(message).request;
    if (request && !active.has(request)) begin(request, true);
  };
  const onStart: ChannelListener = (message) => {
    const request = messageOf(message).request;
    if (request && !active.has(request)) begin(request, false);
  };
  const onRequestError: ChannelListener = (message) => {
    const m = messageOf(message);
    const sub = m.request && active.get(m.request);
    if (!sub) return;
    active.delete(m.request!);
    sub.addError(m.error, { remote: true });
    sub.end();
  };
  const onResponse: ChannelListener = (message) => {
    const m = messageOf(message);
    const sub = m.request && active.get(m.request);
    if (!sub) return;
    active.delete(m.request!);
    const response = m.response as ResponseLike | undefined;
    const raw = response?.headers?.["content-length"];
    const length = typeof raw === "string" && /^\d+$/.test(raw.trim())
      ? Number(raw)
      : undefined;
    sub.setHttpResponse({
      status: response?.statusCode,
      contentLength: length,
    });
    sub.end();
  };

  const listeners: [string, ChannelListener][] = [
    [HTTP_CLIENT_CHANNELS.created, onCreated],
    [HTTP_CLIENT_CHANNELS.start, onStart],
    [HTTP_CLIENT_CHANNELS.error, onRequestError],
    [HTTP_CLIENT_CHANNELS.response, onResponse],
  ];
  for (const [channel, listener] of listeners) {
    channels.subscribe(channel, listener);
  }
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    for (const [channel, listener] of listeners) {
      channels.unsubscribe(channel, listener);
    }
  };
  return { close, [Symbol.dispose]: close };
}
