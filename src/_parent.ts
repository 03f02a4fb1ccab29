// Parent resolution shared by the outgoing-call wrappers (fetch, AWS SDK,
// node:http): an entity given directly, or anything with `current()` (an
// ambient context from `xray-edge/als`, or a tracer with one).
import type { Entity } from "./segment.ts";

/** Something that yields the current entity per call: an ambient context or a tracer. */
export interface CurrentEntitySource {
  /** The current entity, if any. */
  current(): Entity | undefined;
}

/** Where an outgoing call finds its parent: an entity, or a source asked per call. */
export type ParentSource = Entity | CurrentEntitySource;

/** Whether `value` looks like a segment or subsegment (duck-typed across realms). */
export function isEntity(value: unknown): value is Entity {
  return typeof value === "object" && value !== null &&
    typeof (value as Entity).startSubsegment === "function" &&
    typeof (value as Entity).traceHeaderFor === "function";
}

/** Whether `value` can serve as a parent source. */
export function isParentSource(value: unknown): value is ParentSource {
  return isEntity(value) ||
    (typeof value === "object" && value !== null &&
      typeof (value as CurrentEntitySource).current === "function");
}

/**
 * The parent for one call, or `undefined` when the source has none (or
 * throws, as a tracer with `contextMissing: "RUNTIME_ERROR"` does: that
 * error is the caller's policy and is rethrown).
 */
export function resolveParent(source: ParentSource): Entity | undefined {
  if (isEntity(source)) return source;
  const entity = source.current();
  return isEntity(entity) ? entity : undefined;
}
