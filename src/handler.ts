/**
 * `withXRay`: one X-Ray segment per request for plain fetch handlers —
 * `Deno.serve`, `Bun.serve`, Cloudflare Workers (`export default { fetch }`)
 * and Node through a fetch adapter.
 *
 * @example Deno.serve, Bun.serve or any `(request) => Response` handler
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { withXRay } from "./handler.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "hello", sender });
 * const handler = withXRay((request: Request) => new Response("hi"), { tracer });
 * const res = await handler(new Request("http://localhost/", {
 *   headers: { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
 * }));
 * assert.equal(await res.text(), "hi");
 * await tracer.flush();
 * assert.equal(sender.documents[0].http.response.content_length, 2);
 * ```
 *
 * @module
 */

import type { Segment } from "./segment.ts";
import {
  failRequest,
  finishRequest,
  type IncomingOptions,
  lazyOptions,
  startRequestSegment,
} from "./_incoming.ts";

/** A fetch handler: the request, then whatever the runtime passes (Workers: env, ctx). */
// deno-lint-ignore no-explicit-any
export type FetchHandler<A extends any[] = any[]> = (
  request: Request,
  ...args: A
) => Response | Promise<Response>;

/** A wrapped handler: takes a request and the runtime's arguments, returns a promise. */
export type Wrapped<F> = F extends
  (request: Request, ...args: infer A) => unknown
  ? (request: Request, ...args: A) => Promise<Response>
  : FetchHandler;

/** An object with a `fetch` handler, as Workers' module syntax exports. */
export interface FetchModule {
  /** The request handler. */
  // deno-lint-ignore no-explicit-any
  fetch: FetchHandler<any[]>;
}

/** Options for {@linkcode withXRay}. */
export interface WithXRayOptions extends IncomingOptions {
  /**
   * The client's address when no `X-Forwarded-For` header names one; gets
   * the handler's arguments.
   * @default the connection address where the runtime tells it (Deno.serve info, Bun server, Node server, Workers)
   */
  // deno-lint-ignore no-explicit-any
  clientIp?: (request: Request, ...args: any[]) => string | undefined;
}

const segments = new WeakMap<Request, Segment>();

/**
 * The segment `withXRay` started for a request, for code that has the
 * request but not the segment.
 *
 * @param request The incoming request object the handler received.
 * @returns Its segment, if the request is being traced by `withXRay`.
 */
export function segmentOf(request: Request): Segment | undefined {
  return segments.get(request);
}

/**
 * Wraps a fetch handler (or a Workers module object with `fetch`) so each
 * request gets a segment: named after the tracer's service name (or the host,
 * with `dynamicNaming`), continuing the incoming `X-Amzn-Trace-Id`, with the
 * request, status, response length and a thrown error recorded, ended when the
 * response body has been sent. On Workers the flush goes to `ctx.waitUntil`.
 * The handler finds its segment with {@linkcode segmentOf}, or through the
 * tracer's ambient context when it has one.
 *
 * @param handler The handler, or an object with a `fetch` handler (other members are kept).
 * @param options The tracer and settings, or a function of the first argument
 * after the request (Workers: `env`) that returns them, called once per
 * isolate on the first request.
 * @returns The wrapped handler, or a copy of the object with `fetch` wrapped.
 * @throws {TypeError} When the handler is not a function or `options` has no tracer.
 *
 * @example Workers module syntax with the tracer built from env
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { withXRay } from "./handler.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const worker = withXRay(
 *   { fetch: (_req: Request, _env: { NAME: string }, _ctx: unknown) => new Response("ok") },
 *   (env: { NAME: string }) => ({ tracer: createTracer({ serviceName: env.NAME, sender }) }),
 * );
 * const waits: Promise<unknown>[] = [];
 * const ctx = { waitUntil: (p: Promise<unknown>) => waits.push(p) };
 * const res = await worker.fetch(new Request("https://w.example/", {
 *   headers: { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
 * }), { NAME: "worker" }, ctx);
 * await res.text();
 * await Promise.all(waits);
 * assert.equal(sender.documents[0].name, "worker");
 * ```
 */
export function withXRay<F extends FetchHandler>(
  handler: F,
  // deno-lint-ignore no-explicit-any
  options: WithXRayOptions | ((env: any) => WithXRayOptions),
): Wrapped<F>;
export function withXRay<M extends FetchModule>(
  handler: M,
  // deno-lint-ignore no-explicit-any
  options: WithXRayOptions | ((env: any) => WithXRayOptions),
): Omit<M, "fetch"> & { fetch: Wrapped<M["fetch"]> };
export function withXRay(
  handler: FetchHandler | FetchModule,
  // deno-lint-ignore no-explicit-any
  options: WithXRayOptions | ((env: any) => WithXRayOptions),
): FetchHandler | FetchModule {
  if (typeof handler === "object" && handler !== null) {
    const fetch = (handler as FetchModule).fetch;
    if (typeof fetch !== "function") {
      throw new TypeError(
        `Cannot wrap handler as the object has no 'fetch' function`,
      );
    }
    return { ...handler, fetch: wrap(fetch, options) };
  }
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot wrap handler as it must be a function or an object with 'fetch': current value is ${typeof handler}`,
    );
  }
  return wrap(handler, options);
}

function wrap(
  handler: FetchHandler,
  // deno-lint-ignore no-explicit-any
  options: WithXRayOptions | ((env: any) => WithXRayOptions),
): FetchHandler {
  const resolve = lazyOptions<WithXRayOptions>(options, "handler wrapper");
  return async function xrayHandler(
    this: unknown,
    request: Request,
    // deno-lint-ignore no-explicit-any
    ...args: any[]
  ): Promise<Response> {
    const opts = resolve(args[0]);
    const segment = startRequestSegment(
      opts,
      request,
      args[0],
      opts.clientIp && (() => opts.clientIp!(request, ...args)),
    );
    segments.set(request, segment);
    const ctx = args[1];
    const context = opts.tracer.context;
    let response: Response;
    try {
      response = await (context
        ? context.run(segment, () =>
          handler.call(this, request, ...args))
        : handler.call(this, request, ...args));
    } catch (error) {
      failRequest(opts, segment, error, ctx);
      throw error;
    }
    if (!(response instanceof Response)) {
      // Let the runtime complain about a non-Response as it would unwrapped.
      segment.end();
      return response;
    }
    return finishRequest(opts, segment, request, response, ctx, args[0]);
  };
}
