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

function convert(value: unknown, seen: unknown[], depth: number): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return Number.isFinite(value) ? value : String(value);
    case "bigint":
      return value.toString();
    case "undefined":
    case "function":
    case "symbol":
      return undefined;
  }
  if (value === null) return null;
  const obj = value as object;
  if (seen.includes(obj)) return CIRCULAR;
  if (depth >= MAX_DEPTH) return "[Too deep]";
  seen.push(obj);
  try {
    if (obj instanceof Date) {
      return Number.isNaN(obj.getTime()) ? null : obj.toISOString();
    }
    if (Array.isArray(obj)) {
      return obj.map((v) => {
        const c = convert(v, seen, depth + 1);
        return c === undefined ? null : c;
      });
    }
    if (ArrayBuffer.isView(obj)) {
      return obj instanceof DataView
        ? { byteLength: obj.byteLength }
        : Array.from(obj as unknown as ArrayLike<number | bigint>, (v) =>
          typeof v === "bigint" ? v.toString() : v);
    }
    if (obj instanceof ArrayBuffer) return { byteLength: obj.byteLength };
    if (obj instanceof Map) {
      const out: Record<string, unknown> = {};
      for (const [k, v] of obj) {
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
    if (obj instanceof Set) {
      const out: unknown[] = [];
      for (const v of obj) {
        const c = convert(v, seen, depth + 1);
        out.push(c === undefined ? null : c);
      }
      return out;
    }
    const out: Record<string, unknown> = {};
    if (obj instanceof Error) {
      setKey(out, "name", obj.name);
      setKey(out, "message", obj.message);
    }
    const toJSON = (obj as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === "function" && !(obj instanceof Error)) {
      try {
        return convert(toJSON.call(obj), seen, depth + 1);
      } catch {
        return "[Unserializable]";
      }
    }
    for (const key of Object.keys(obj)) {
      let v: unknown;
      try {
        v = (obj as Record<string, unknown>)[key];
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
  return convert(value, [], 0);
}
