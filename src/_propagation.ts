// The link between a tracer's propagators (`propagation: [w3c()]`) and the
// outgoing-call wrappers (fetch, AWS SDK, node:http), kept out of the core:
// a propagator stores its outgoing step on the TraceHeader it returns, under
// a registered symbol, and the root segment keeps that header as `incoming`.
import type { Entity } from "./segment.ts";

/** Where a propagator keeps its outgoing step on a TraceHeader. */
export const OUTGOING: unique symbol = Symbol.for("xray-edge.outgoing");

/**
 * Adds a propagator's headers for an outgoing call, given the
 * `X-Amzn-Trace-Id` value the call carries.
 */
export type OutgoingHeaders = (
  xrayHeader: string,
  set: (name: string, value: string) => void,
) => void;

/** The outgoing step of the tracer that made `entity`, if it has one. */
export function outgoingFor(entity: Entity): OutgoingHeaders | undefined {
  let e = entity as { parent?: unknown; incoming?: unknown };
  while (e.parent) e = e.parent as typeof e;
  const step = (e.incoming as Record<symbol, unknown> | undefined)?.[OUTGOING];
  return typeof step === "function" ? step as OutgoingHeaders : undefined;
}

/**
 * Calls `set` for `X-Amzn-Trace-Id` and every other header the entity's
 * tracer propagates; never throws past the X-Ray header.
 */
export function setTraceHeaders(
  entity: Entity,
  set: (name: string, value: string) => void,
  name: string,
): void {
  const value = entity.traceHeaderFor();
  set(name, value);
  try {
    outgoingFor(entity)?.(value, set);
  } catch {
    // The X-Ray header is out; extra formats are best effort.
  }
}
