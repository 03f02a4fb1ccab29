/**
 * X-Ray trace and segment ids from pooled random bytes.
 *
 * @module
 */

import type { Clock, IdGenerator } from "./types.ts";

// Refilled 64 KiB at a time: one getRandomValues call (a system call on some
// runtimes) per 5,000 segment ids.
const POOL_BYTES = 65536;
const HEX: string[] = [];
for (let i = 256; i < 512; i++) HEX.push(i.toString(16).slice(1));

let pool: Uint8Array<ArrayBuffer>;
let offset = POOL_BYTES;

/**
 * `count` random bytes as hex, never all zero (from the pooled bytes).
 *
 * @internal
 */
export function hexBytes(count: number): string {
  if (offset + count > POOL_BYTES) {
    crypto.getRandomValues(pool ??= new Uint8Array(POOL_BYTES));
    offset = 0;
  }
  let out = "";
  let nonZero = 0;
  for (let i = offset; i < offset + count; i++) {
    nonZero |= pool[i];
    out += HEX[pool[i]];
  }
  offset += count;
  // An all-zero id is invalid in X-Ray; draw again (probability 2^-64 or less).
  return nonZero ? out : hexBytes(count);
}

/**
 * A new 16-hex-digit segment id.
 *
 * @returns The id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newSegmentId } from "./ids.ts";
 * assert.match(newSegmentId(), /^[0-9a-f]{16}$/);
 * ```
 */
export function newSegmentId(): string {
  return hexBytes(8);
}

/**
 * A new trace id `1-<8 hex epoch seconds>-<24 hex random>`.
 *
 * @param nowMs The trace's start in epoch milliseconds.
 * @returns The id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { newTraceId } from "./ids.ts";
 * assert.match(newTraceId(0), /^1-00000000-[0-9a-f]{24}$/);
 * ```
 */
export function newTraceId(nowMs: number = Date.now()): string {
  const seconds = Math.floor(nowMs / 1000) >>> 0;
  return "1-" + seconds.toString(16).padStart(8, "0") + "-" + hexBytes(12);
}

/** The default id generator: pooled `crypto.getRandomValues`. */
export const randomIds: IdGenerator = {
  traceId: newTraceId,
  segmentId: newSegmentId,
};

const origin = globalThis.performance?.timeOrigin ?? 0;

/**
 * The default clock: `performance.timeOrigin + performance.now()` (sub-millisecond
 * where the runtime allows), else `Date.now()`.
 */
export const systemClock: Clock = origin > 0
  ? { now: () => origin + performance.now() }
  : { now: Date.now };
