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

// Printable ASCII without `;`: safe to forward in a header. (A key never
// holds `=`: it ends at the first one.)
const TOKEN = /^[!-:<-~]*$/;
const SPACE = /\s/;

// Whether s[from, to) is `length` hex digits.
function isHexAt(s: string, from: number, to: number, length: number): boolean {
  if (to - from !== length) return false;
  for (; from < to; from++) {
    let c = s.charCodeAt(from);
    if ((c < 48 || c > 57) && ((c |= 32) < 97 || c > 102)) return false;
  }
  return true;
}

// Whether s[from, to) is a trace id: `1-` + 8 hex + `-` + 24 hex.
function isTraceIdAt(s: string, from: number, to: number): boolean {
  return s.charCodeAt(from) === 49 && s.charCodeAt(from + 1) === 45 &&
    s.charCodeAt(from + 10) === 45 && isHexAt(s, from + 2, from + 10, 8) &&
    isHexAt(s, from + 11, to, 24);
}

// The white space String.prototype.trim removes (what `\s` matches).
function isSpace(c: number): boolean {
  return c < 33
    ? c === 32 || (c > 8 && c < 14)
    : c > 127 && SPACE.test(String.fromCharCode(c));
}

// Whether value[from, to) is `word` (lower case) in any ASCII case.
function isKey(value: string, from: number, to: number, word: string): boolean {
  if (to - from !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    if ((value.charCodeAt(from + i) | 32) !== word.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Tells whether a string is a valid X-Ray trace id: `1-` + 8 hex + `-` + 24 hex.
 *
 * @param value The candidate.
 * @returns `true` when valid.
 */
export function isTraceId(value: string): boolean {
  return isTraceIdAt(value, 0, value.length);
}

/**
 * Tells whether a string is a valid 16-hex-digit segment id.
 *
 * @param value The candidate.
 * @returns `true` when valid.
 */
export function isSegmentId(value: string): boolean {
  return isHexAt(value, 0, value.length, 16);
}

/**
 * Parses an `X-Amzn-Trace-Id` value, tolerantly: keys case-insensitive and
 * trimmed, malformed parts skipped, `Self` dropped, unknown keys kept (up to
 * 256 bytes in all), characters past the first 2,048 ignored. Never throws.
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
  if (typeof value !== "string") return undefined;
  let root: string | undefined;
  let parent: string | undefined;
  let sampled: boolean | "requested" | undefined;
  let data: Record<string, string> | undefined;
  let dataBytes = 0;
  let found = false;
  // Only the first 2,048 characters count (a valid header is far shorter):
  // the work stays bounded whatever arrives.
  const len = (value = value.slice(0, 2048)).length;
  for (let start = 0, end, ke = -1; start <= len; start = end + 1) {
    end = value.indexOf(";", start);
    if (end < 0) end = len;
    // The key ends at the next `=`, searched for again only once passed:
    // parts without one would make the search quadratic. (None left:
    // -1 >>> 0, past the end.) Trimming keeps `ke` before the next part.
    if (ke < start) ke = value.indexOf("=", start) >>> 0;
    // Trimmed bounds of key and value, found without slicing.
    let ks = start;
    let vs = ke + 1;
    let ve = end;
    if (ke > end) continue;
    while (ks < ke && isSpace(value.charCodeAt(ks))) ks++;
    while (ke > ks && isSpace(value.charCodeAt(ke - 1))) ke--;
    while (vs < ve && isSpace(value.charCodeAt(vs))) vs++;
    while (ve > vs && isSpace(value.charCodeAt(ve - 1))) ve--;
    if (isKey(value, ks, ke, "root")) {
      if (isTraceIdAt(value, vs, ve)) {
        root = value.slice(vs, ve);
        found = true;
      }
    } else if (isKey(value, ks, ke, "parent")) {
      if (isHexAt(value, vs, ve, 16)) {
        parent = value.slice(vs, ve);
        found = true;
      }
    } else if (isKey(value, ks, ke, "sampled")) {
      const i = ve - vs === 1 ? "10?".indexOf(value[vs]) : -1;
      if (i >= 0) {
        sampled = i > 1 ? "requested" : i === 0;
        found = true;
      }
    } else if (ke > ks && !isKey(value, ks, ke, "self")) {
      const size = ke - ks + ve - vs;
      const key = value.slice(ks, ke);
      const val = value.slice(vs, ve);
      data ??= {};
      if (
        dataBytes + size <= MAX_TRACE_HEADER_DATA && TOKEN.test(key) &&
        TOKEN.test(val) && !Object.hasOwn(data, key)
      ) {
        setKey(data, key, val);
        dataBytes += size;
        found = true;
      }
    }
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
  const { root, parent, sampled } = header;
  let out = root ? "Root=" + root : "";
  if (parent) out += (out && ";") + "Parent=" + parent;
  if (sampled !== undefined) {
    out += (out && ";") + "Sampled=" +
      (sampled === "requested" ? "?" : +sampled);
  }
  for (const key in header.data) {
    out += (out && ";") + key + "=" + header.data[key];
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
  return "Root=" + traceId +
    (incoming?.sampled === "requested" ? ";Sampled=" + +sampled : "");
}
