/**
 * W3C Trace Context (`traceparent` / `tracestate`) next to `X-Amzn-Trace-Id`,
 * for tracers that opt in with `createTracer({ propagation: [w3c()] })`.
 *
 * - Incoming: a request without a valid `X-Amzn-Trace-Id` `Root` continues
 *   the trace of its `traceparent`; the 32-hex trace id maps to X-Ray's
 *   `1-<8 hex>-<24 hex>` form as AWS's OpenTelemetry propagator maps it, the
 *   parent id becomes `Parent`, the sampled flag `Sampled`. When both headers
 *   are present, X-Ray wins; `tracestate` is kept only when `traceparent`
 *   names the same trace.
 * - Outgoing (`tracedFetch`, `traceNodeHttp`, `captureAWSClient`): both
 *   headers, naming the same trace, parent and decision, plus the incoming
 *   `tracestate` as received; `X-Amzn-Trace-Id` keeps its extra keys
 *   (`Lineage`).
 * - A malformed `traceparent` (unknown or `ff` version, all-zero ids, upper
 *   case hex, wrong length) is ignored, never thrown on.
 *
 * The code lives here, not in the core, so apps that only speak X-Ray do not
 * carry it.
 *
 * @example Continue a W3C trace and send both headers downstream
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { memorySender } from "./testing.ts";
 * import { w3c } from "./w3c.ts";
 * const tracer = createTracer({
 *   serviceName: "checkout",
 *   sender: memorySender(),
 *   propagation: [w3c()],
 * });
 * const headers = new Headers({
 *   traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
 * });
 * const segment = tracer.startSegment("checkout", { headers });
 * assert.equal(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
 * assert.equal(segment.isSampled, true);
 * ```
 *
 * @module
 */

import type { Entity } from "./segment.ts";
import type { HeaderGetter, Propagator } from "./tracer.ts";
import {
  parseTraceHeader,
  TRACE_HEADER,
  type TraceHeader,
} from "./trace_header.ts";
import {
  OUTGOING,
  type OutgoingHeaders,
  setTraceHeaders,
} from "./_propagation.ts";

/** The W3C `traceparent` header name. */
export const TRACEPARENT = "traceparent";
/** The W3C `tracestate` header name. */
export const TRACESTATE = "tracestate";

/** A parsed `traceparent`. */
export interface TraceParent {
  /** The 32-hex trace id. */
  traceId: string;
  /** The 16-hex parent (span) id. */
  parentId: string;
  /** The trace flags byte (bit 0: sampled). */
  flags: number;
}

const TRACEPARENT_V0 =
  /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO = /^0+$/;
// tracestate list members (W3C Trace Context level 1, 3.3.1): a simple or
// multi-tenant key, and a value of printable ASCII without `,` and `=`,
// not ending in a space.
const STATE_MEMBER =
  /^([a-z0-9][_0-9a-z\-*/]{0,255}|[a-z0-9][_0-9a-z\-*/]{0,240}@[a-z][_0-9a-z\-*/]{0,13})=([ !-+\--<>-~]{0,255}[!-+\--<>-~])$/;
const OWS = /^[ \t]+|[ \t]+$/g;

/**
 * Parses a `traceparent` value as the W3C Trace Context spec says: version
 * `00` exactly as specified; a later version (never `ff`) by its first four
 * fields, with anything after them behind a `-`. Never throws.
 *
 * @param value The raw header value.
 * @returns The parsed fields, or `undefined` when malformed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTraceparent } from "./w3c.ts";
 * assert.deepEqual(
 *   parseTraceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
 *   { traceId: "0af7651916cd43dd8448eb211c80319c", parentId: "b7ad6b7169203331", flags: 1 },
 * );
 * assert.equal(parseTraceparent("00-00000000000000000000000000000000-b7ad6b7169203331-01"), undefined);
 * ```
 */
export function parseTraceparent(
  value: string | null | undefined,
): TraceParent | undefined {
  if (typeof value !== "string") return undefined;
  const text = value.replace(OWS, "");
  // Later versions may append fields: only what follows a `-` is allowed.
  const head = text.length > 55 && text[55] === "-" && !text.startsWith("00")
    ? text.slice(0, 55)
    : text;
  const m = TRACEPARENT_V0.exec(head);
  if (!m || m[1] === "ff" || ZERO.test(m[2]) || ZERO.test(m[3])) {
    return undefined;
  }
  return { traceId: m[2], parentId: m[3], flags: parseInt(m[4], 16) };
}

/**
 * Keeps a `tracestate` value when it is a valid list (at most 32 members,
 * keys unique and well-formed); empty members are dropped. Never throws.
 *
 * @param value The raw header value (several headers joined by `,`).
 * @returns The normalized list, or `undefined` when empty or invalid.
 */
export function parseTracestate(
  value: string | null | undefined,
): string | undefined {
  if (typeof value !== "string" || value.length > 8192) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(",")) {
    const member = raw.replace(OWS, "");
    if (!member) continue;
    const m = STATE_MEMBER.exec(member);
    if (!m || keys.has(m[1])) return undefined;
    keys.add(m[1]);
    members.push(member);
  }
  return members.length && members.length <= 32 ? members.join(",") : undefined;
}

/**
 * The X-Ray trace id of a W3C trace id: `1-` + the first 8 hex digits + `-`
 * + the other 24 (what AWS's OpenTelemetry propagator does).
 *
 * @param traceId 32 hex digits.
 * @returns The X-Ray trace id.
 */
export function toXRayTraceId(traceId: string): string {
  return `1-${traceId.slice(0, 8)}-${traceId.slice(8)}`;
}

/**
 * The `traceparent` for an `X-Amzn-Trace-Id` value that has `Root` and
 * `Parent` (lower-cased: W3C ids are lower case).
 *
 * @param header The X-Ray header value, such as `entity.traceHeaderFor()`.
 * @returns The `traceparent` value, or `undefined` without Root or Parent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTraceparent } from "./w3c.ts";
 * assert.equal(
 *   formatTraceparent("Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"),
 *   "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01",
 * );
 * ```
 */
export function formatTraceparent(header: string): string | undefined {
  const h = parseTraceHeader(header);
  if (!h?.root || !h.parent) return undefined;
  return `00-${
    (h.root.slice(2, 10) + h.root.slice(11)).toLowerCase()
  }-${h.parent.toLowerCase()}-0${h.sampled === true ? 1 : 0}`;
}

/** Options for {@linkcode w3c}. */
export interface W3CPropagatorOptions {
  /**
   * Send `traceparent` / `tracestate` on outgoing calls too.
   * @default true
   */
  inject?: boolean;
}

/**
 * The W3C Trace Context propagator for `createTracer({ propagation })`.
 *
 * Incoming: when the X-Ray header has no valid `Root`, a valid
 * `traceparent` gives Root, Parent and Sampled (the X-Ray header's other
 * keys, such as `Lineage`, are kept). When both are present, X-Ray wins;
 * `tracestate` is kept only when `traceparent` names the same trace id.
 * Outgoing: `traceparent` from the X-Ray header sent (same trace, parent and
 * decision) and `tracestate` as received.
 *
 * @param options Whether to inject on outgoing calls.
 * @returns The propagator.
 */
export function w3c(options: W3CPropagatorOptions = {}): Propagator {
  const inject = options.inject !== false;
  return function w3cPropagator(
    header: TraceHeader | undefined,
    headers: HeaderGetter | undefined,
  ): TraceHeader | undefined {
    let parent: TraceParent | undefined;
    let state: string | undefined;
    const get = (name: string) =>
      typeof headers === "function" ? headers(name) : headers?.get(name);
    try {
      parent = parseTraceparent(get(TRACEPARENT));
      if (parent) state = parseTracestate(get(TRACESTATE));
    } catch {
      // A headers object that throws counts as no headers.
    }
    // Nothing to add: the X-Ray header (or its absence) stands.
    if (!parent && !inject) return header;
    const out: TraceHeader = header ?? { data: {} };
    if (parent && !out.root) {
      out.root = toXRayTraceId(parent.traceId);
      out.parent = parent.parentId;
      out.sampled = (parent.flags & 1) === 1;
    } else if (parent) {
      if (toXRayTraceId(parent.traceId) === out.root!.toLowerCase()) {
        // They agree: X-Ray's fields win, W3C fills what X-Ray left out.
        out.parent ??= parent.parentId;
        out.sampled ??= (parent.flags & 1) === 1;
      } else {
        // X-Ray won and names another trace: that tracestate is not ours.
        state = undefined;
      }
    }
    if (inject) {
      const outgoing: OutgoingHeaders = (value, set) => {
        const traceparent = formatTraceparent(value);
        if (traceparent) {
          set(TRACEPARENT, traceparent);
          if (state) set(TRACESTATE, state);
        }
      };
      (out as unknown as Record<symbol, unknown>)[OUTGOING] = outgoing;
    }
    return out;
  };
}

/**
 * All the trace headers an outgoing call from `entity` should carry:
 * `X-Amzn-Trace-Id` and, when its tracer uses `w3c()`, `traceparent` and
 * `tracestate`.
 *
 * @param entity The segment or subsegment making the call.
 * @returns Header names and values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer } from "../mod.ts";
 * import { memorySender } from "./testing.ts";
 * import { traceHeadersFor, w3c } from "./w3c.ts";
 * const tracer = createTracer({ serviceName: "a", sender: memorySender(), propagation: [w3c()] });
 * const segment = tracer.startSegment("a", {
 *   traceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
 * });
 * const headers = traceHeadersFor(segment);
 * assert.equal(headers.traceparent, `00-5759e988bd862e3fe1be46a994272793-${segment.id}-01`);
 * ```
 */
export function traceHeadersFor(entity: Entity): Record<string, string> {
  const out: Record<string, string> = {};
  setTraceHeaders(entity, (name, value) => out[name] = value, TRACE_HEADER);
  return out;
}
