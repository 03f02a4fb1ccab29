/**
 * AWS Lambda handler wrapper: subsegments under the segment Lambda itself
 * records, continued from `_X_AMZN_TRACE_ID`.
 *
 * Lambda writes the function's segment; the SDK only adds subsegments. The
 * wrapper starts a facade segment per invocation (the id and trace Lambda put
 * in `_X_AMZN_TRACE_ID`, read afresh every time; never sent itself), runs the
 * handler inside a `## <handler>` subsegment, streams every finished
 * subsegment as its own document, and awaits the flush before returning.
 *
 * @example A simulated invocation
 * ```ts
 * import assert from "node:assert/strict";
 * import { withXRayLambda } from "./lambda.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const env: Record<string, string> = {
 *   AWS_LAMBDA_FUNCTION_NAME: "orders",
 *   _X_AMZN_TRACE_ID: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
 * };
 * const handler = withXRayLambda(
 *   async (event: { n: number }, _context: unknown, segment) =>
 *     await segment.capture("double", () => event.n * 2),
 *   { sender, env },
 * );
 * assert.equal(await handler({ n: 21 }, {}), 42);
 * assert.deepEqual(sender.documents.map((d) => d.name), ["double", "## handler"]);
 * assert.equal(sender.documents[1].parent_id, "53995c3f42cd8ad8");
 * ```
 *
 * @module
 */

import { createTracer, type Tracer, type TracerOptions } from "./tracer.ts";
import type { Entity } from "./segment.ts";
import type { Sender } from "./types.ts";
import { parseTraceHeader } from "./trace_header.ts";
import { type Env, lambdaTraceHeader, runtimeEnv } from "./runtime/env.ts";
import { udpSender } from "./udp.ts";

/** A Lambda handler that also gets the entity to record under. */
export type TracedLambdaHandler<E, C, R> = (
  event: E,
  context: C,
  segment: Entity,
) => R | Promise<R>;

/** Options for {@linkcode withXRayLambda}. */
export interface LambdaOptions {
  /**
   * The tracer to use. Without one, the wrapper builds its own on the first
   * invocation with `streamingThreshold: 0` from `sender`, `serviceName`,
   * `tracerOptions` and the environment.
   */
  tracer?: Tracer;
  /**
   * Where the built tracer sends documents.
   * @default `udpSender({ env })`: UDP datagrams to `AWS_XRAY_DAEMON_ADDRESS`, the daemon Lambda runs
   */
  sender?: Sender;
  /**
   * The service name of the built tracer.
   * @default `AWS_XRAY_TRACING_NAME`, else `AWS_LAMBDA_FUNCTION_NAME`
   */
  serviceName?: string;
  /** More options for the built tracer (plugins, onError, context, …). */
  tracerOptions?: Omit<TracerOptions, "sender" | "serviceName" | "env">;
  /**
   * The environment, or a function returning it; `_X_AMZN_TRACE_ID` is read
   * from it on every invocation.
   * @default the process environment (and the Node runtime's per-invocation trace id when it has one)
   */
  env?: Env | (() => Env);
  /**
   * The name of the subsegment the handler runs in, or `false` to record
   * straight under the facade.
   * @default "## " + `_HANDLER` (such as `## index.handler`), or "## handler"
   */
  handlerSubsegment?: string | false;
  /**
   * The most time the flush after each invocation may take.
   * @default no limit beyond the sender's own
   */
  flushTimeoutMs?: number;
}

/**
 * Wraps a Lambda handler (`async (event, context) => result`) so each
 * invocation records subsegments under Lambda's own segment. The handler gets
 * a third argument: the subsegment it runs in (or the facade), to `capture`
 * work under. A thrown error is recorded and rethrown. The tracer is flushed,
 * and awaited, before the result goes back to Lambda.
 *
 * @param handler The handler.
 * @param options The tracer or sender, and settings.
 * @returns The wrapped handler, for `export const handler = …`.
 * @throws {TypeError} When `handler` is not a function.
 * @throws {TypeError} On the first invocation, when no service name is found,
 * or no sender is given where the runtime has no UDP sockets.
 *
 * @example Recording nothing when Lambda did not sample
 * ```ts
 * import assert from "node:assert/strict";
 * import { withXRayLambda } from "./lambda.ts";
 * import { memorySender } from "./testing.ts";
 *
 * const sender = memorySender();
 * const handler = withXRayLambda(() => "ok", {
 *   sender,
 *   env: {
 *     AWS_LAMBDA_FUNCTION_NAME: "orders",
 *     _X_AMZN_TRACE_ID: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0",
 *   },
 * });
 * assert.equal(await handler({}, {}), "ok");
 * assert.equal(sender.documents.length, 0);
 * ```
 */
export function withXRayLambda<E, C, R>(
  handler: TracedLambdaHandler<E, C, R>,
  options: LambdaOptions = {},
): (event: E, context: C) => Promise<R> {
  if (typeof handler !== "function") {
    throw new TypeError(
      `Cannot wrap Lambda handler as it must be a function: current value is ${typeof handler}`,
    );
  }
  if (typeof options !== "object" || options === null) {
    throw new TypeError(
      `Cannot wrap Lambda handler as options must be an object`,
    );
  }
  const readEnv: () => Env = typeof options.env === "function"
    ? options.env
    : options.env
    ? () => options.env as Env
    : runtimeEnv;
  const explicitEnv = options.env !== undefined;
  let tracer = options.tracer;
  let coldStart = true;

  function tracerFor(env: Env): Tracer {
    return tracer ??= createTracer({
      ...options.tracerOptions,
      serviceName: options.serviceName ?? env.AWS_XRAY_TRACING_NAME ??
        env.AWS_LAMBDA_FUNCTION_NAME,
      sender: options.sender ?? udpSender({ env }),
      streamingThreshold: 0,
      env,
    });
  }

  return async function xrayLambda(event: E, context: C): Promise<R> {
    const env = readEnv();
    const t = tracerFor(env);
    const raw = explicitEnv ? env._X_AMZN_TRACE_ID : lambdaTraceHeader(env);
    const header = parseTraceHeader(raw);
    // Lambda decides: record only with a full Root, Parent and Sampled=1.
    const sampled = header?.root !== undefined &&
      header.parent !== undefined && header.sampled === true;
    const facade = t.startSegment(t.serviceName, {
      traceHeader: raw,
      facade: true,
      sampled,
    });
    const name = options.handlerSubsegment ??
      "## " + (env._HANDLER || "handler");
    const entity: Entity = name === false
      ? facade
      : facade.startSubsegment(name);
    if (entity !== facade) entity.annotate("ColdStart", coldStart);
    coldStart = false;
    const context_ = t.context;
    try {
      return await (context_
        ? context_.run(entity, () => handler(event, context, entity))
        : handler(event, context, entity));
    } catch (error) {
      if (entity !== facade) entity.addError(error);
      throw error;
    } finally {
      if (entity !== facade) entity.end();
      facade.end();
      await t.flush(
        options.flushTimeoutMs === undefined
          ? undefined
          : { timeoutMs: options.flushTimeoutMs },
      );
    }
  };
}
