/**
 * JSON-safe conversion of arbitrary values for metadata: cycles cut, BigInt
 * to string, functions and symbols dropped, Dates, Maps, Sets, typed arrays
 * and errors turned into plain JSON.
 *
 * @module
 */

import { setKey } from "./_util.ts";

/** The marker left where a cycle was cut. */
export const CIRCULAR = "[Circular]";

const MAX_DEPTH = 32;

// `seen` holds the objects being converted above this one (made at the first
// object, so primitives cost no allocation).
function convert(value: unknown, seen?: object[], depth = 0): unknown {
  switch (typeof value) {
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return String(value);
    case "object":
      break;
    case "string":
    case "boolean":
      return value;
    default: // undefined, functions and symbols
      return undefined;
  }
  if (value === null) return null;
  if ((seen ??= []).includes(value)) return CIRCULAR;
  if (depth >= MAX_DEPTH) return "[Too deep]";
  seen.push(value);
  try {
    if (value instanceof Date) {
      return Number.isNaN(value.getTime()) ? null : value.toISOString();
    }
    if (Array.isArray(value) || value instanceof Set) {
      return Array.from(value, (v) => convert(v, seen, depth + 1) ?? null);
    }
    if (value instanceof ArrayBuffer || value instanceof DataView) {
      return { byteLength: value.byteLength };
    }
    if (ArrayBuffer.isView(value)) {
      return Array.from(
        value as unknown as ArrayLike<number | bigint>,
        (v) => typeof v === "bigint" ? String(v) : v,
      );
    }
    const out: Record<string, unknown> = value instanceof Error
      ? { name: value.name, message: value.message }
      : {};
    if (value instanceof Map) {
      for (const [k, v] of value) {
        const c = convert(v, seen, depth + 1);
        if (c !== undefined) {
          setKey(
            out,
            typeof k === "string" ? k : String(convert(k, seen, depth + 1)),
            c,
          );
        }
      }
      return out;
    }
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function" && !(value instanceof Error)) {
      try {
        return convert(toJSON.call(value), seen, depth + 1);
      } catch {
        return "[Unserializable]";
      }
    }
    for (const key of Object.keys(value)) {
      let v: unknown;
      try {
        v = (value as Record<string, unknown>)[key];
      } catch {
        v = "[Unreadable]";
      }
      const c = convert(v, seen, depth + 1);
      if (c !== undefined) setKey(out, key, c);
    }
    return out;
  } catch {
    return "[Unserializable]";
  } finally {
    seen.pop();
  }
}

/**
 * Converts any value into one `JSON.stringify` can write without throwing
 * and without losing the structure a reader expects. Never throws.
 *
 * @param value Anything.
 * @returns A JSON-safe value (`undefined` for functions and symbols).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toJsonSafe } from "./metadata.ts";
 * const cyclic: Record<string, unknown> = { n: 1n };
 * cyclic.self = cyclic;
 * assert.deepEqual(toJsonSafe(cyclic), { n: "1", self: "[Circular]" });
 * ```
 */
export function toJsonSafe(value: unknown): unknown {
  return convert(value);
}
