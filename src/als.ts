/**
 * Ambient context on `AsyncLocalStorage` (Deno, Node, Bun, and Workers with
 * `nodejs_compat`): an opt-in layer over the explicit API.
 *
 * @module
 */

import { AsyncLocalStorage } from "node:async_hooks";
import type { Entity, EntityContext } from "./segment.ts";

/** An ambient context: give it to `createTracer({ context })`. */
export interface AsyncContext extends EntityContext {
  /** Runs `fn` with `entity` as the current entity. */
  run<T>(entity: Entity, fn: () => T): T;
  /** The current entity, if any. */
  current(): Entity | undefined;
}

/**
 * Creates an ambient context backed by `AsyncLocalStorage`.
 *
 * @returns The context.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { createAsyncContext } from "./als.ts";
 * import { memorySender } from "./testing.ts";
 * const context = createAsyncContext();
 * const tracer = createTracer({ serviceName: "api", sender: memorySender(), context });
 * const segment = tracer.startSegment("api", { sampled: true });
 * await context.run(segment, async () => {
 *   await Promise.resolve();
 *   assert.equal(context.current(), segment);
 * });
 * assert.equal(context.current(), undefined);
 * ```
 */
export function createAsyncContext(): AsyncContext {
  const storage = new AsyncLocalStorage<Entity>();
  return {
    run<T>(entity: Entity, fn: () => T): T {
      return storage.run(entity, fn);
    },
    current(): Entity | undefined {
      return storage.getStore();
    },
  };
}
