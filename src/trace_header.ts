/**
 * The `X-Amzn-Trace-Id` header: a tolerant parser, a formatter and the
 * response-header helper.
 *
 * @module
 */

import { setKey } from "./_util.ts";

/** The X-Ray trace header name. */
export const TRACE_HEADER = "X-Amzn-Trace-Id";

/** The most bytes of extra (non Root/Parent/Sampled) data kept and forwarded. */
export const MAX_TRACE_HEADER_DATA = 256;

/** A parsed `X-Amzn-Trace-Id` header. */
export interface TraceHeader {
  /** The trace id (`Root`), present only when valid. */
  root?: string;
  /** The parent segment id, present only when 16 hex digits. */
  parent?: string;
  /** The upstream decision: `true` (1), `false` (0) or `"requested"` (?). */
  sampled?: boolean | "requested";
  /** Other keys (such as `Lineage`) in arrival order, kept and forwarded. */
  data: Record<string, string>;
}

function isHex(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 97 && code <= 102) ||
    (code >= 65 && code <= 70);
}

function isHexRun(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (!isHex(s.charCodeAt(i))) return false;
  return true;
}

// Printable ASCII without `;` (and without `=` in keys): safe to forward in a header.
function isToken(s: string, allowEquals: boolean): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 59 || (c === 61 && !allowEquals)) {
      return false;
    }
  }
  return true;
}

// The white space String.prototype.trim removes (WhiteSpace and LineTerminator).
function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) || c === 0x2028 || c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f || c === 0x3000 || c === 0xfeff;
}

const ROOT = 1;
const PARENT = 2;
const SAMPLED = 3;
const SELF = 4;

// Case-insensitive ASCII comparison of value[from, from + word.length) with a lower-case word.
function isWordAt(value: string, from: number, word: string): boolean {
  for (let i = 0; i < word.length; i++) {
    if ((value.charCodeAt(from + i) | 32) !== word.charCodeAt(i)) return false;
  }
  return true;
}

// Which of Root, Parent, Sampled, Self the key value[ks, ke) is (0: another key).
function knownKey(value: string, ks: number, ke: number): number {
  switch (ke - ks) {
    case 4:
      return isWordAt(value, ks, "root")
        ? ROOT
        : isWordAt(value, ks, "self")
        ? SELF
        : 0;
    case 6:
      return isWordAt(value, ks, "parent") ? PARENT : 0;
    case 7:
      return isWordAt(value, ks, "sampled") ? SAMPLED : 0;
  }
  return 0;
}

function isTraceIdAt(s: string, at: number): boolean {
  return s.charCodeAt(at) === 49 && s.charCodeAt(at + 1) === 45 &&
    s.charCodeAt(at + 10) === 45 && isHexRun(s, at + 2, at + 10) &&
    isHexRun(s, at + 11, at + 35);
}

/**
 * Tells whether a string is a valid X-Ray trace id: `1-` + 8 hex + `-` + 24 hex.
 *
 * @param value The candidate.
 * @returns `true` when valid.
 */
export function isTraceId(value: string): boolean {
  return value.length === 35 && isTraceIdAt(value, 0);
}

/**
 * Tells whether a string is a valid 16-hex-digit segment id.
 *
 * @param value The candidate.
 * @returns `true` when valid.
 */
export function isSegmentId(value: string): boolean {
  return value.length === 16 && isHexRun(value, 0, 16);
}

/**
 * Parses an `X-Amzn-Trace-Id` value, tolerantly: keys case-insensitive and
 * trimmed, malformed parts skipped, `Self` dropped, unknown keys kept (up to
 * 256 bytes in all). Never throws.
 *
 * @param value The raw header value.
 * @returns The parsed header, or `undefined` when nothing usable remains.
 *
 * @example Root-only and Sampled=? are accepted
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTraceHeader } from "./trace_header.ts";
 * const h = parseTraceHeader("root=1-5759e988-bd862e3fe1be46a994272793; Sampled=?;Lineage=a:1");
 * assert.equal(h?.root, "1-5759e988-bd862e3fe1be46a994272793");
 * assert.equal(h?.sampled, "requested");
 * assert.deepEqual(h?.data, { Lineage: "a:1" });
 * ```
 */
export function parseTraceHeader(
  value: string | null | undefined,
): TraceHeader | undefined {
  if (typeof value !== "string" || value.length === 0) return undefined;
  let root: string | undefined;
  let parent: string | undefined;
  let sampled: boolean | "requested" | undefined;
  let data: Record<string, string> | undefined;
  let dataBytes = 0;
  let found = false;
  let start = 0;
  const len = value.length;
  while (start <= len) {
    let end = value.indexOf(";", start);
    if (end === -1) end = len;
    const eq = value.indexOf("=", start);
    if (eq !== -1 && eq < end) {
      // Trimmed bounds of key and value, found without slicing.
      let ks = start;
      let ke = eq;
      while (ks < ke && isSpace(value.charCodeAt(ks))) ks++;
      while (ke > ks && isSpace(value.charCodeAt(ke - 1))) ke--;
      if (ke > ks) {
        let vs = eq + 1;
        let ve = end;
        while (vs < ve && isSpace(value.charCodeAt(vs))) vs++;
        while (ve > vs && isSpace(value.charCodeAt(ve - 1))) ve--;
        const known = knownKey(value, ks, ke);
        if (known === ROOT) {
          if (ve - vs === 35 && isTraceIdAt(value, vs)) {
            root = value.slice(vs, ve).toLowerCase();
            found = true;
          }
        } else if (known === PARENT) {
          if (ve - vs === 16 && isHexRun(value, vs, ve)) {
            parent = value.slice(vs, ve).toLowerCase();
            found = true;
          }
        } else if (known === SAMPLED) {
          if (ve - vs === 1) {
            const c = value.charCodeAt(vs);
            if (c === 49) sampled = true;
            else if (c === 48) sampled = false;
            else if (c === 63) sampled = "requested";
          }
          if (sampled !== undefined) found = true;
        } else if (known !== SELF) {
          const size = ke - ks + ve - vs;
          if (dataBytes + size <= MAX_TRACE_HEADER_DATA) {
            const key = value.slice(ks, ke);
            const val = value.slice(vs, ve);
            if (isToken(key, false) && isToken(val, true)) {
              data ??= {};
              if (!Object.hasOwn(data, key)) {
                setKey(data, key, val);
                dataBytes += size;
                found = true;
              }
            }
          }
        }
      }
    }
    start = end + 1;
  }
  if (!found) return undefined;
  const header: TraceHeader = { data: data ?? {} };
  if (root !== undefined) header.root = root;
  if (parent !== undefined) header.parent = parent;
  if (sampled !== undefined) header.sampled = sampled;
  return header;
}

/**
 * Writes a trace header value: `Root`, `Parent`, `Sampled` (`1`/`0`/`?`), then
 * the extra data, `;`-joined without spaces.
 *
 * @param header The header to write.
 * @returns The header value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTraceHeader } from "./trace_header.ts";
 * assert.equal(
 *   formatTraceHeader({ root: "1-5759e988-bd862e3fe1be46a994272793", sampled: true, data: {} }),
 *   "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
 * );
 * ```
 */
export function formatTraceHeader(header: TraceHeader): string {
  let out = "";
  if (header.root) out = "Root=" + header.root;
  if (header.parent) out += (out ? ";" : "") + "Parent=" + header.parent;
  if (header.sampled !== undefined) {
    out += (out ? ";" : "") + "Sampled=" +
      (header.sampled === "requested" ? "?" : header.sampled ? "1" : "0");
  }
  for (const key in header.data) {
    out += (out ? ";" : "") + key + "=" + header.data[key];
  }
  return out;
}

/**
 * The response header a traced server sends back: `Root=…`, plus
 * `;Sampled=0|1` when the request said `Sampled=?`.
 *
 * @param traceId The trace id of the request's segment.
 * @param sampled The decision taken.
 * @param incoming The parsed request header, if any.
 * @returns The header value.
 */
export function responseTraceHeader(
  traceId: string,
  sampled: boolean,
  incoming?: TraceHeader,
): string {
  return incoming?.sampled === "requested"
    ? "Root=" + traceId + ";Sampled=" + (sampled ? "1" : "0")
    : "Root=" + traceId;
}
