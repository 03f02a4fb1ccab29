/**
 * Hono middleware: one X-Ray segment per request, available to handlers as
 * `c.var.xray`.
 *
 * @example A traced Hono app
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createTracer } from "../mod.ts";
 * import { xray, type XRayVariables } from "./hono.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "users", sender });
 * const app = new Hono<{ Variables: XRayVariables }>();
 * app.use(xray({ tracer }));
 * app.get("/users/:id", (c) => {
 *   c.var.xray.annotate("user", c.req.param("id"));
 *   return c.json({ id: c.req.param("id") });
 * });
 *
 * const res = await app.request("/users/42", {
 *   headers: { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
 * });
 * await res.text();
 * await tracer.flush();
 * assert.equal(sender.documents[0].http.response.status, 200);
 * assert.equal(sender.documents[0].annotations.http_route, "/users/:id");
 * ```
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import type { Segment } from "./segment.ts";
import {
  failRequest,
  finishRequest,
  type IncomingOptions,
  lazyOptions,
  startRequestSegment,
  type WaitUntilHost,
} from "./_incoming.ts";

/** Variables the middleware sets: pass to `new Hono<{ Variables: XRayVariables }>()`. */
export type XRayVariables = {
  /** The request's segment. */
  xray: Segment;
};

/** Options for {@linkcode xray}. */
export interface XRayOptions extends IncomingOptions {
  /**
   * The client's address when no `X-Forwarded-For` header names one.
   * @default the connection address where the runtime tells it (Deno, Bun, Node server, Workers)
   */
  clientIp?: (c: Context) => string | undefined;
}

/**
 * Creates the Hono middleware. Each request gets a segment named after the
 * tracer's service name (or its host, with `dynamicNaming`), continuing the
 * incoming `X-Amzn-Trace-Id`. It records the request, the status, the
 * response length, the error Hono caught (`c.error`) and the matched route
 * pattern (as the `http_route` annotation), and ends the segment when the
 * response body has been sent. On Workers the flush goes to
 * `c.executionCtx.waitUntil`.
 *
 * @param options The tracer and settings, or a function of `c.env` that returns them
 * (called once, on the first request: for Workers, whose env exists only per request).
 * @returns The middleware.
 * @throws {TypeError} When `options` has no tracer or a bad setting.
 *
 * @example Dynamic naming
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createTracer } from "../mod.ts";
 * import { xray } from "./hono.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "edge", sender });
 * const app = new Hono();
 * app.use(xray({ tracer, dynamicNaming: "*.example.com" }));
 * app.get("/", (c) => c.text("hi"));
 * const res = await app.request("https://api.example.com/", {
 *   headers: { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
 * });
 * await res.text();
 * await tracer.flush();
 * assert.equal(sender.documents[0].name, "api.example.com");
 * ```
 */
export function xray(
  // deno-lint-ignore no-explicit-any
  options: XRayOptions | ((env: any) => XRayOptions),
): MiddlewareHandler {
  const resolve = lazyOptions<XRayOptions>(options, "Hono middleware");
  // Whether Hono's contexts have an ExecutionContext (Workers and the like):
  // asked once, as Hono throws (and captures a stack) when there is none.
  let hasExecutionCtx: boolean | undefined;
  return async function xray(c, next): Promise<void> {
    const opts = resolve(c.env);
    const request = c.req.raw;
    const segment = startRequestSegment(
      opts,
      request,
      c.env,
      opts.clientIp && (() => opts.clientIp!(c)),
    );
    c.set("xray", segment);
    let ctx: WaitUntilHost;
    if (hasExecutionCtx !== false) {
      try {
        ctx = c.executionCtx;
        hasExecutionCtx = true;
      } catch {
        // Not on Workers: Hono throws without an ExecutionContext.
        hasExecutionCtx = false;
      }
    }
    const context = opts.tracer.context;
    try {
      await (context ? context.run(segment, next) : next());
    } catch (error) {
      // Hono catches Error instances itself; anything else lands here.
      failRequest(opts, segment, error, ctx);
      throw error;
    }
    if (segment.isSampled) {
      const route = c.req.matchedRoutes[c.req.routeIndex];
      const key = opts.routeAnnotation ?? "http_route";
      if (key !== false && route?.path && route.handler !== xray) {
        segment.annotate(key, route.path);
      }
      // An HTTPException answered with a 4xx is the client's error, not a fault.
      if (c.error && c.res.status >= 500) segment.addError(c.error);
    }
    const response = finishRequest(opts, segment, request, c.res, ctx, c.env);
    if (response !== c.res) c.res = response;
  };
}
