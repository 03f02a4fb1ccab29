/**
 * X-Ray trace and segment ids from pooled random bytes.
 *
 * @module
 */

import type { Clock, IdGenerator } from "./types.ts";

const POOL_BYTES = 4096;
const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push((i < 16 ? "0" : "") + i.toString(16));

let pool: Uint8Array<ArrayBuffer> | undefined;
let offset = POOL_BYTES;

function hexBytes(count: number): string {
  if (offset + count > POOL_BYTES) {
    pool ??= new Uint8Array(POOL_BYTES);
    crypto.getRandomValues(pool);
    offset = 0;
  }
  const p = pool!;
  let out = "";
  let nonZero = 0;
  for (let i = 0; i < count; i++) {
    const b = p[offset + i];
    nonZero |= b;
    out += HEX[b];
  }
  offset += count;
  // An all-zero id is invalid in X-Ray; draw again (probability 2^-64 or less).
  return nonZero === 0 ? hexBytes(count) : out;
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

const origin = typeof performance !== "undefined" &&
    typeof performance.timeOrigin === "number"
  ? performance.timeOrigin
  : 0;

/**
 * The default clock: `performance.timeOrigin + performance.now()` (sub-millisecond
 * where the runtime allows), else `Date.now()`.
 */
export const systemClock: Clock =
  origin > 0 && typeof performance.now === "function"
    ? { now: () => origin + performance.now() }
    : { now: () => Date.now() };
