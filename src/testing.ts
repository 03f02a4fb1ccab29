/**
 * Test helpers: an in-memory sender, a fixed clock, sequential ids and a
 * document checker. Meant for tests of applications that use xray-edge.
 *
 * @module
 */

import type { Clock, IdGenerator, Sender, SendResult } from "./types.ts";

/** A sender that keeps every delivered document. */
export interface MemorySender extends Sender {
  /** Every delivered document, parsed, in arrival order (loosely typed for assertions). */
  // deno-lint-ignore no-explicit-any
  readonly documents: any[];
  /** Every delivered document as the JSON text sent. */
  readonly raw: string[];
  /** The sizes of the batches received. */
  readonly batches: number[];
  /** Forgets everything received. */
  clear(): void;
}

/**
 * Creates an in-memory sender.
 *
 * @returns The sender; read `documents` after `tracer.flush()`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { memorySender } from "./testing.ts";
 * const sender = memorySender();
 * await sender.send(['{"name":"a"}']);
 * assert.equal(sender.documents[0].name, "a");
 * ```
 */
export function memorySender(): MemorySender {
  // deno-lint-ignore no-explicit-any
  const documents: any[] = [];
  const raw: string[] = [];
  const batches: number[] = [];
  return {
    documents,
    raw,
    batches,
    send(docs: string[]): Promise<SendResult> {
      batches.push(docs.length);
      for (const d of docs) {
        raw.push(d);
        documents.push(JSON.parse(d));
      }
      return Promise.resolve({ ok: true });
    },
    clear(): void {
      documents.length = 0;
      raw.length = 0;
      batches.length = 0;
    },
  };
}

/** A clock that moves only when told. */
export interface FixedClock extends Clock {
  /** Moves the clock forward. */
  advance(ms: number): void;
  /** Sets the clock. */
  set(ms: number): void;
}

/**
 * A clock fixed at `startMs` (default 2026-01-01T00:00:00Z) that moves only
 * through `advance` / `set`.
 *
 * @param startMs Epoch milliseconds.
 * @returns The clock.
 */
export function fixedClock(startMs = 1767225600000): FixedClock {
  let now = startMs;
  return {
    now: () => now,
    advance(ms: number): void {
      now += ms;
    },
    set(ms: number): void {
      now = ms;
    },
  };
}

/**
 * Ids counted from 1: segment ids `0000000000000001`, …; trace ids
 * `1-<time>-000000000000000000000001`, ….
 *
 * @returns The id generator.
 */
export function sequentialIds(): IdGenerator {
  let segment = 0;
  let trace = 0;
  return {
    segmentId: () => (++segment).toString(16).padStart(16, "0"),
    traceId: (nowMs: number) =>
      "1-" + (Math.floor(nowMs / 1000) >>> 0).toString(16).padStart(8, "0") +
      "-" +
      (++trace).toString(16).padStart(24, "0"),
  };
}

const HEX16 = /^[0-9a-f]{16}$/;
const TRACE = /^1-[0-9a-f]{8}-[0-9a-f]{24}$/;
const NAME = /^[\p{L}\p{N}\p{Z}_.:/%&#=+\-@]{1,200}$/u;
const KEY = /^[A-Za-z0-9_]{1,500}$/;

function checkEntity(
  doc: Record<string, unknown>,
  path: string,
  top: boolean,
  out: string[],
): void {
  if (typeof doc.name !== "string" || !NAME.test(doc.name)) {
    out.push(`${path}.name is invalid`);
  }
  if (typeof doc.id !== "string" || !HEX16.test(doc.id)) {
    out.push(`${path}.id is invalid`);
  }
  if (typeof doc.start_time !== "number") {
    out.push(`${path}.start_time is missing`);
  }
  if (top && (typeof doc.trace_id !== "string" || !TRACE.test(doc.trace_id))) {
    out.push(`${path}.trace_id is invalid`);
  }
  if (doc.end_time === undefined && doc.in_progress !== true) {
    out.push(`${path} has neither end_time nor in_progress`);
  }
  if (doc.end_time !== undefined && doc.in_progress !== undefined) {
    out.push(`${path} has both end_time and in_progress`);
  }
  const annotations = doc.annotations as Record<string, unknown> | undefined;
  if (annotations) {
    for (const [k, v] of Object.entries(annotations)) {
      if (!KEY.test(k)) out.push(`${path}.annotations key '${k}' is invalid`);
      if (
        !(typeof v === "boolean" || typeof v === "number" ||
          (typeof v === "string" && v.length <= 1000))
      ) out.push(`${path}.annotations.${k} has an invalid value`);
    }
  }
  if (typeof doc.user === "string" && doc.user.length > 250) {
    out.push(`${path}.user is too long`);
  }
  const subs = doc.subsegments as Record<string, unknown>[] | undefined;
  subs?.forEach((s, i) =>
    checkEntity(s, `${path}.subsegments[${i}]`, false, out)
  );
}

/**
 * Checks a document against the rules of X-Ray's segment-document schema
 * that matter in practice (ids, names, times, annotations, size).
 *
 * @param document The document, parsed or as JSON text.
 * @returns The problems found; empty when valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateDocument } from "./testing.ts";
 * assert.deepEqual(validateDocument({
 *   name: "a", id: "0000000000000001", trace_id: "1-00000000-000000000000000000000001",
 *   start_time: 1, end_time: 2,
 * }), []);
 * ```
 */
export function validateDocument(document: unknown): string[] {
  const out: string[] = [];
  let doc = document;
  if (typeof doc === "string") {
    if (new TextEncoder().encode(doc).length > 64 * 1024) {
      out.push("document is over 64 KB");
    }
    try {
      doc = JSON.parse(doc);
    } catch {
      return ["document is not JSON"];
    }
  }
  if (typeof doc !== "object" || doc === null) {
    return ["document is not an object"];
  }
  checkEntity(doc as Record<string, unknown>, "$", true, out);
  return out;
}
