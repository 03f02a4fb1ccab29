// A tracer wired for tests: fixed clock, sequential ids, in-memory sender,
// and every onError report collected.
import { createTracer, type Tracer, type TracerOptions } from "../mod.ts";
import {
  type FixedClock,
  fixedClock,
  type MemorySender,
  memorySender,
  sequentialIds,
} from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";

export const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
export const PARENT = "53995c3f42cd8ad8";

export interface TestTracer {
  tracer: Tracer;
  sender: MemorySender;
  clock: FixedClock;
  errors: { error: Error; source: string }[];
  /** Flushes, validates every document against the schema, returns them parsed. */
  // deno-lint-ignore no-explicit-any
  flushed(): Promise<any[]>;
}

export function testTracer(options: Partial<TracerOptions> = {}): TestTracer {
  const sender = memorySender();
  const clock = fixedClock();
  const errors: { error: Error; source: string }[] = [];
  const tracer = createTracer({
    serviceName: "test-service",
    sender,
    clock,
    ids: sequentialIds(),
    onError: (error, source) => errors.push({ error, source }),
    ...options,
  });
  return {
    tracer,
    sender,
    clock,
    errors,
    async flushed() {
      await tracer.flush();
      assertValidDocuments(sender.raw);
      return sender.documents;
    },
  };
}
