/**
 * Incoming tracing for `node:http` servers: one X-Ray segment per request
 * for a plain `(req, res)` listener ({@linkcode xrayNodeListener}: node:http,
 * Express, Koa's `app.callback()`, Fastify's `serverFactory`), Express
 * middleware ({@linkcode xrayExpress} and {@linkcode xrayExpressErrors}),
 * a Fastify plugin ({@linkcode xrayFastify}) and Koa middleware
 * ({@linkcode xrayKoa}). Same semantics as the Hono middleware: the segment
 * continues the incoming `X-Amzn-Trace-Id`, records the request, the status,
 * the bytes written, the route pattern and the error, and ends when the
 * response has been sent or the client went away. Runs on Node, Bun and
 * Deno's `node:http`.
 *
 * @example A traced node:http server
 * ```ts
 * import assert from "node:assert/strict";
 * import { createServer } from "node:http";
 * import type { AddressInfo } from "node:net";
 * import { createTracer } from "../mod.ts";
 * import { segmentOf, xrayNodeListener } from "./node_server.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "users", sender });
 * const server = createServer(xrayNodeListener((req, res) => {
 *   segmentOf(req)?.annotate("user", "42");
 *   res.end("hi");
 * }, { tracer }));
 * await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
 * const { port } = server.address() as AddressInfo;
 * const res = await fetch(`http://127.0.0.1:${port}/users/42`, {
 *   headers: { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" },
 * });
 * assert.equal(await res.text(), "hi");
 * await new Promise((resolve) => server.close(resolve));
 * await tracer.flush();
 * assert.equal(sender.documents[0].http.response.content_length, 2);
 * assert.equal(sender.documents[0].annotations.user, "42");
 * ```
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { Buffer } from "node:buffer";
import type { Segment } from "./segment.ts";
import { TRACE_HEADER } from "./trace_header.ts";
import { rawHeader } from "./_util.ts";
import {
  CLIENT_ABORTED,
  type IncomingOptions,
  lazyOptions,
  startRequestSegment,
} from "./_incoming.ts";

/** Options for every integration of this module. */
export interface NodeServerOptions extends IncomingOptions {
  /**
   * The client's address when no `X-Forwarded-For` header names one.
   * @default the connection's address (`req.socket.remoteAddress`)
   */
  clientIp?: (req: IncomingMessage) => string | undefined;
}

/** A `node:http` request listener, such as an Express app or Koa's `app.callback()`. */
export type NodeListener = (
  req: IncomingMessage,
  res: ServerResponse,
) => unknown;

/** Express-style middleware. */
export type NodeMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** Express-style error-handling middleware (four parameters). */
export type NodeErrorMiddleware = (
  error: unknown,
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => void;

/** The parts of a Fastify instance the plugin uses. */
export interface FastifyInstanceLike {
  /** Fastify's `decorateRequest`. */
  decorateRequest(name: string, value: unknown): unknown;
  /** Fastify's `hasRequestDecorator`. */
  hasRequestDecorator?(name: string): boolean;
  /** Fastify's `addHook`. */
  // deno-lint-ignore no-explicit-any
  addHook(name: string, hook: (...args: any[]) => unknown): unknown;
}

/** A Fastify plugin (callback style), for `fastify.register()`. */
export type FastifyPlugin = (
  instance: FastifyInstanceLike,
  options: unknown,
  done: (error?: Error) => void,
) => void;

/** The parts of a Koa context the middleware uses. */
export interface KoaContextLike {
  /** The node:http request. */
  req: IncomingMessage;
  /** The node:http response. */
  res: ServerResponse;
  /** Koa's per-request state: the segment is put at `state.xray`. */
  state?: Record<string, unknown>;
  /** The matched route pattern, as `@koa/router` sets it. */
  _matchedRoute?: unknown;
}

/** Koa middleware. */
export type KoaMiddleware = (
  ctx: KoaContextLike,
  next: () => Promise<unknown>,
) => Promise<void>;

// One request's tracing state.
interface Traced {
  segment: Segment;
  // The error the framework caught, recorded when the answer is a fault.
  failed?: boolean;
  error?: unknown;
  // Reads the route pattern; called when the response ends. (A closure
  // over the request would keep the framework's per-request state, such as
  // Express's `next`, alive with it: see expressRoute.)
  route?: (req: IncomingMessage) => unknown;
  pattern?: unknown;
  // Settles (never rejects) when the listener's promise has.
  settled?: Promise<unknown>;
}

const traced = new WeakMap<object, Traced>();

/**
 * The segment an integration of this module started for a request, for code
 * that has the request but not the segment.
 *
 * @param req The `node:http` request (Express: `req`; Koa: `ctx.req`; Fastify: `request.raw`).
 * @returns Its segment, if the request is being traced.
 */
export function segmentOf(req: IncomingMessage): Segment | undefined {
  return traced.get(req)?.segment;
}

function resolveOptions(
  options: NodeServerOptions,
  what: string,
): NodeServerOptions {
  const opts = lazyOptions<NodeServerOptions>(options, what)(undefined);
  const clientIp = opts.clientIp;
  if (clientIp !== undefined && typeof clientIp !== "function") {
    throw new TypeError(
      `Cannot create ${what} as 'clientIp' must be a function: current value is ${typeof clientIp}`,
    );
  }
  return opts;
}

// The header as one string, as `req.headers` has it (repeated ones joined),
// read without building that object.
function header(req: IncomingMessage, name: string): string | null {
  return rawHeader(req.rawHeaders, name);
}

// What startRequestSegment and per-request plugins read of a Request
// (method, url, headers.get), without building one.
function requestLike(req: IncomingMessage): Request {
  const path = (req as { originalUrl?: string }).originalUrl ?? req.url ?? "/";
  const host = header(req, "host") ?? header(req, ":authority") ?? "localhost";
  const url = /^[a-z][\w+.-]*:\/\//i.test(path)
    ? path
    : `${
      (req.socket as { encrypted?: boolean } | null)?.encrypted
        ? "https"
        : "http"
    }://${host}${path}`;
  return {
    method: req.method ?? "GET",
    url,
    headers: { get: (name: string) => header(req, name.toLowerCase()) },
  } as unknown as Request;
}

// A length given as a header, when it is one.
function declaredLength(value: unknown): number | undefined {
  const text = String(value ?? "");
  return /^\s*\d+\s*$/.test(text) ? +text : undefined;
}

/**
 * Starts (or finds) the segment of a request; for sampled ones, counts the
 * body bytes the response hands to the server and ends the segment when the
 * response closes. Never throws: `undefined` when tracing failed.
 */
function begin(
  opts: NodeServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Traced | undefined {
  const { tracer } = opts;
  try {
    let t = traced.get(req);
    if (t) return t;
    const { clientIp } = opts;
    // `{ incoming }` is what @hono/node-server passes beside a request: the
    // shared code reads the headers and the socket address from it.
    const segment = startRequestSegment(
      opts,
      requestLike(req),
      { incoming: req },
      clientIp && (() => clientIp(req)),
    );
    t = { segment };
    traced.set(req, t);
    const answer = segment.incoming?.sampled === "requested"
      ? segment.responseTraceHeader()
      : undefined;
    if (answer) {
      try {
        res.setHeader(TRACE_HEADER, answer);
      } catch (e) {
        tracer.reportError(e, "recording");
      }
    }
    if (segment.isSampled) watch(opts, t, req, res, answer);
    else {
      segment.end();
      if (answer) wrapWriteHead(res, answer);
    }
    return t;
  } catch (e) {
    tracer.reportError(e, "recording");
  }
}

/**
 * Wraps `res.writeHead` to put the `Sampled=?` answer back when a framework
 * removed it (Koa clears every header before it answers an error) and to
 * see a length given to `writeHead` directly.
 */
function wrapWriteHead(
  res: ServerResponse,
  answer: string | undefined,
  declare?: (length: unknown) => void,
): void {
  // deno-lint-ignore no-explicit-any
  const out = res as any;
  const writeHead = out.writeHead;
  out.writeHead = function xrayWriteHead(
    this: unknown,
    // deno-lint-ignore no-explicit-any
    ...args: any[]
  ): unknown {
    try {
      if (answer && !res.headersSent && !res.hasHeader(TRACE_HEADER)) {
        res.setHeader(TRACE_HEADER, answer);
      }
      const given = args[args.length - 1];
      if (!declare) {
        // Only the answer is wanted.
      } else if (Array.isArray(given)) {
        const flat = given.flat();
        for (let i = 0; i < flat.length - 1; i += 2) {
          if (String(flat[i]).toLowerCase() === "content-length") {
            declare(flat[i + 1]);
          }
        }
      } else if (typeof given === "object" && given !== null) {
        for (const key of Object.keys(given)) {
          if (key.toLowerCase() === "content-length") declare(given[key]);
        }
      }
    } catch {
      // Node will refuse such headers as well.
    }
    return writeHead.apply(this, args);
  };
}

function watch(
  opts: NodeServerOptions,
  t: Traced,
  req: IncomingMessage,
  res: ServerResponse,
  answer: string | undefined,
): void {
  const { segment } = t;
  const socket = res.socket ?? req.socket;
  let counted = 0;
  const count = (chunk: unknown, encoding: unknown): void => {
    if (res.writableEnded) return;
    try {
      if (typeof chunk === "string") {
        counted += Buffer.byteLength(
          chunk,
          typeof encoding === "string" ? encoding as BufferEncoding : "utf8",
        );
      } else if (chunk instanceof Uint8Array) counted += chunk.byteLength;
    } catch {
      // An encoding Node will refuse as well: nothing is written.
    }
  };
  const readRoute = (): void => {
    if (t.route && t.pattern === undefined) {
      try {
        t.pattern = t.route(req) ?? null;
      } catch {
        t.pattern = null;
      }
    }
  };
  // deno-lint-ignore no-explicit-any
  const out = res as any;
  const { write, end } = out;
  // A length given to writeHead() directly, which getHeader() does not see.
  let declared: unknown;
  wrapWriteHead(res, answer, (value) => declared = value);
  // deno-lint-ignore no-explicit-any
  out.write = function xrayWrite(this: unknown, ...args: any[]): unknown {
    count(args[0], args[1]);
    return write.apply(this, args);
  };
  // deno-lint-ignore no-explicit-any
  out.end = function xrayEnd(this: unknown, ...args: any[]): unknown {
    if (!res.writableEnded) {
      if (typeof args[0] !== "function") count(args[0], args[1]);
      // The route the response was made in (Express restores `baseUrl`
      // when a request leaves a mounted router).
      readRoute();
    }
    return end.apply(this, args);
  };
  res.once("close", () => {
    try {
      const endTime = opts.tracer.clock.now();
      // Node finishes a response whose bytes are queued on a socket that
      // then fails (the client reset it): that is no delivery.
      const aborted = !res.writableFinished || !!socket?.errored;
      const sent = res.headersSent;
      const status = res.statusCode;
      const length = req.method === "HEAD" || status < 200 ||
          status === 204 || status === 304
        ? declaredLength(res.getHeader("content-length") ?? declared)
        : counted;
      readRoute();
      const finish = (): void => {
        try {
          const key = opts.routeAnnotation ?? "http_route";
          if (key !== false && typeof t.pattern === "string" && t.pattern) {
            segment.annotate(key, t.pattern);
          }
          // A 4xx answer to an error is the client's error, not a fault.
          if (t.failed && (!sent || status >= 500)) segment.addError(t.error);
          if (sent) segment.setHttpResponse({ status, contentLength: length });
          if (aborted) segment.annotate(CLIENT_ABORTED, true);
          segment.end(endTime);
          if (opts.flush) opts.tracer.flush();
        } catch (e) {
          opts.tracer.reportError(e, "recording");
        }
      };
      // A listener's promise may still reject after the response is out.
      if (t.settled) t.settled.then(finish);
      else finish();
    } catch (e) {
      opts.tracer.reportError(e, "recording");
    }
  });
}

// Runs `fn` with the segment as the ambient context, when the tracer has one.
function inContext<T>(
  opts: NodeServerOptions,
  t: Traced | undefined,
  fn: () => T,
): T {
  const context = opts.tracer.context;
  return t && context ? context.run(t.segment, fn) : fn();
}

function fail(t: Traced | undefined, error: unknown): void {
  if (t) {
    t.failed = true;
    t.error = error;
  }
}

/**
 * Wraps a `node:http` request listener (a plain function, an Express app,
 * Koa's `app.callback()`, the handler Fastify gives its `serverFactory`) so
 * each request gets a segment: named after the tracer's service name (or the
 * host, with `dynamicNaming`), continuing the incoming `X-Amzn-Trace-Id`,
 * with the request (client address from `X-Forwarded-For` or the socket),
 * the status, the body bytes written and an error the listener throws (or
 * its promise rejects with) recorded, ended when the response has been sent
 * or the client went away (`client_aborted` annotation). A request that
 * asked `Sampled=?` gets the answer as a response header. The listener runs
 * with the segment as the tracer's ambient context (when it has one) and
 * finds it with {@linkcode segmentOf}. Unsampled responses are not touched.
 *
 * @param listener The listener.
 * @param options The tracer and settings.
 * @returns The wrapped listener, for `http.createServer()`.
 * @throws {TypeError} When the listener is not a function or `options` has no tracer.
 *
 * @example An Express app as a whole
 * ```ts
 * import { createServer } from "node:http";
 * import express from "express";
 * import { createTracer } from "../mod.ts";
 * import { xrayNodeListener } from "./node_server.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const tracer = createTracer({ serviceName: "shop", sender: memorySender() });
 * const app = express();
 * app.get("/", (_req, res) => res.send("ok"));
 * const server = createServer(xrayNodeListener(app, { tracer }));
 * server.close();
 * ```
 */
export function xrayNodeListener<L extends NodeListener>(
  listener: L,
  options: NodeServerOptions,
): L {
  if (typeof listener !== "function") {
    throw new TypeError(
      `Cannot wrap listener as it must be a function: current value is ${typeof listener}`,
    );
  }
  const opts = resolveOptions(options, "node:http listener");
  return function xrayListener(
    this: unknown,
    req: IncomingMessage,
    res: ServerResponse,
  ): unknown {
    const t = begin(opts, req, res);
    let result: unknown;
    try {
      result = inContext(opts, t, () => listener.call(this, req, res));
    } catch (error) {
      fail(t, error);
      throw error;
    }
    if (t && typeof (result as Promise<unknown>)?.then === "function") {
      const promise = result as Promise<unknown>;
      t.settled = promise.then(undefined, (error) => fail(t, error));
      // The caller gets the same outcome, the rejection included (and
      // reported as unhandled when nobody handles it, as before).
      return promise.then();
    }
    return result;
  } as L;
}

/**
 * Creates Express middleware (tested with Express 5): use it first. Same
 * recording as {@linkcode xrayNodeListener}, plus the
 * matched route pattern (`req.baseUrl` + `req.route.path`) as the
 * `http_route` annotation and the segment at `res.locals.xray`. Add
 * {@linkcode xrayExpressErrors} after the routes to record the errors
 * handlers throw or pass to `next(err)`.
 *
 * @param options The tracer and settings.
 * @returns The middleware.
 * @throws {TypeError} When `options` has no tracer or a bad setting.
 *
 * @example
 * ```ts
 * import express from "express";
 * import { createTracer } from "../mod.ts";
 * import { xrayExpress, xrayExpressErrors } from "./node_server.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const tracer = createTracer({ serviceName: "shop", sender: memorySender() });
 * const app = express();
 * app.use(xrayExpress({ tracer }));
 * app.get("/users/:id", (req, res) => {
 *   res.json({ id: req.params.id });
 * });
 * app.use(xrayExpressErrors());
 * ```
 */
export function xrayExpress(options: NodeServerOptions): NodeMiddleware {
  const opts = resolveOptions(options, "Express middleware");
  return function xrayExpress(req, res, next): void {
    const t = begin(opts, req, res);
    if (t) {
      t.route ??= expressRoute;
      // deno-lint-ignore no-explicit-any
      const locals = (res as any).locals;
      if (typeof locals === "object" && locals !== null) {
        locals.xray = t.segment;
      }
    }
    inContext(opts, t, () => next());
  };
}

// The route an Express request was answered in (`req.baseUrl` +
// `req.route.path`). A function of the request, not a closure made per
// request: one made in the middleware would hold the middleware's `next`
// (Express's router state) for as long as the request lives, which cost
// ~20 µs per unsampled request (an in-process Express harness, and
// `deno task bench --only=paired`).
function expressRoute(req: IncomingMessage): unknown {
  // deno-lint-ignore no-explicit-any
  const r = req as any;
  const path = r.route?.path;
  return typeof path === "string" ? (r.baseUrl ?? "") + path : undefined;
}

/**
 * Creates Express error-handling middleware that records the error on the
 * request's segment (when the answer is a 5xx) and passes it on unchanged:
 * add it after the routes, before your own error handlers.
 *
 * @returns The error middleware.
 */
export function xrayExpressErrors(): NodeErrorMiddleware {
  return function xrayExpressErrors(error, req, _res, next): void {
    fail(traced.get(req), error);
    next(error);
  };
}

/**
 * Creates a Fastify plugin: register it before the routes
 * (`fastify.register(xrayFastify({ tracer }))`). Its hooks apply to the
 * whole app. Same recording as {@linkcode xrayNodeListener}, plus the
 * route pattern (`request.routeOptions.url`) as `http_route`, the error
 * Fastify caught (on a 5xx), and the segment at `request.xray`; handlers
 * and hooks from `preHandler` on run with the segment as the tracer's
 * ambient context.
 *
 * @param options The tracer and settings.
 * @returns The plugin.
 * @throws {TypeError} When `options` has no tracer or a bad setting.
 *
 * @example
 * ```ts
 * import Fastify from "fastify";
 * import { createTracer } from "../mod.ts";
 * import { xrayFastify } from "./node_server.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const tracer = createTracer({ serviceName: "shop", sender: memorySender() });
 * const app = Fastify();
 * await app.register(xrayFastify({ tracer }));
 * app.get("/users/:id", async () => ({ ok: true }));
 * await app.close();
 * ```
 */
export function xrayFastify(options: NodeServerOptions): FastifyPlugin {
  const opts = resolveOptions(options, "Fastify plugin");
  // deno-lint-ignore no-explicit-any
  type Hook = (request: any, reply: any, done: () => void) => void;
  const onRequest: Hook = (request, reply, done) => {
    const t = begin(opts, request.raw, reply.raw);
    if (t) {
      t.route ??= () => request.routeOptions?.url;
      try {
        request.xray = t.segment;
      } catch {
        // A request object that refuses the property: segmentOf() still works.
      }
    }
    inContext(opts, t, done);
  };
  // Body parsing runs outside the context: enter it again for the handler.
  const preHandler: Hook = (request, _reply, done) =>
    inContext(opts, traced.get(request.raw), done);
  const plugin = function xrayFastify(
    instance: FastifyInstanceLike,
    _options: unknown,
    done: (error?: Error) => void,
  ): void {
    if (!instance.hasRequestDecorator?.("xray")) {
      instance.decorateRequest("xray", null);
    }
    instance.addHook("onRequest", onRequest);
    instance.addHook("preHandler", preHandler);
    instance.addHook(
      "onError",
      // deno-lint-ignore no-explicit-any
      (request: any, _reply: unknown, error: unknown, next: () => void) => {
        fail(traced.get(request.raw), error);
        next();
      },
    );
    done();
  };
  // Fastify's own markers (what the fastify-plugin package sets): the hooks
  // apply outside the plugin's scope, under this name.
  Object.assign(plugin, {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "xray-edge",
  });
  return plugin;
}

/**
 * Creates Koa middleware: use it first. Same recording as
 * {@linkcode xrayNodeListener}, plus the route pattern `@koa/router` sets
 * (`ctx._matchedRoute`) as `http_route`, an error the downstream
 * middleware throws (on a 5xx), and the segment at `ctx.state.xray`.
 *
 * @param options The tracer and settings.
 * @returns The middleware.
 * @throws {TypeError} When `options` has no tracer or a bad setting.
 *
 * @example
 * ```ts
 * import Koa from "koa";
 * import { createTracer } from "../mod.ts";
 * import { xrayKoa } from "./node_server.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const tracer = createTracer({ serviceName: "shop", sender: memorySender() });
 * const app = new Koa();
 * app.use(xrayKoa({ tracer }));
 * app.use((ctx) => {
 *   ctx.body = "ok";
 * });
 * ```
 */
export function xrayKoa(options: NodeServerOptions): KoaMiddleware {
  const opts = resolveOptions(options, "Koa middleware");
  return async function xrayKoa(ctx, next): Promise<void> {
    const t = begin(opts, ctx.req, ctx.res);
    if (t) {
      try {
        if (ctx.state) ctx.state.xray = t.segment;
      } catch {
        // segmentOf(ctx.req) still works.
      }
    }
    try {
      await inContext(opts, t, next);
    } catch (error) {
      fail(t, error);
      throw error;
    } finally {
      // The route @koa/router matched, read once the middleware after this
      // one is done (Koa answers after that). Not a route reader kept on the
      // traced request: one holding `ctx` cost ~15 µs per unsampled request
      // (see expressRoute).
      if (t && t.pattern === undefined) t.pattern = ctx._matchedRoute ?? null;
    }
  };
}
