// Compiled wildcard patterns for sampling rules: the same answers as
// `wildcardMatch(pattern, text)` without allocating on the hot path. Patterns
// are lower-cased once; ASCII text is compared with on-the-fly case folding;
// text with any non-ASCII character goes to `wildcardMatch` itself (Unicode
// lower-casing can change lengths, e.g. U+0130, or map to ASCII, e.g. U+212A).
import { wildcardMatch } from "../wildcard.ts";

const ANY = 0;
const EXACT = 1;
const PREFIX = 2;
const SUFFIX = 3;
const GENERAL = 4;

/** A pattern prepared for repeated matching. */
export interface Pattern {
  /** One of the shape constants above. */
  readonly kind: number;
  /** The lower-cased literal part (the whole lower-cased pattern for GENERAL). */
  readonly text: string;
  /** The pattern as given, for the non-ASCII path. */
  readonly source: string;
}

/** Prepares `pattern` for {@linkcode matches}. */
export function compilePattern(pattern: string): Pattern {
  const lower = pattern.toLowerCase();
  if (lower.length > 0 && /^\*+$/.test(lower)) {
    return { kind: ANY, text: "*", source: pattern };
  }
  let stars = 0;
  for (let i = 0; i < lower.length; i++) {
    if (lower.charCodeAt(i) === 42) stars++;
  }
  if (!lower.includes("?") && isAscii(lower)) {
    if (stars === 0) return { kind: EXACT, text: lower, source: pattern };
    if (stars === 1 && lower.endsWith("*")) {
      return { kind: PREFIX, text: lower.slice(0, -1), source: pattern };
    }
    if (stars === 1 && lower.startsWith("*")) {
      return { kind: SUFFIX, text: lower.slice(1), source: pattern };
    }
  }
  return { kind: GENERAL, text: lower, source: pattern };
}

/** Whether every UTF-16 unit of `text` is ASCII. */
export function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) > 127) return false;
  }
  return true;
}

/** ASCII lower-casing of one character code. */
function fold(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** Whether `text` at `offset` equals the lower-case ASCII `lower`, ignoring case. */
function sameAt(lower: string, text: string, offset: number): boolean {
  for (let i = 0; i < lower.length; i++) {
    if (lower.charCodeAt(i) !== fold(text.charCodeAt(offset + i))) return false;
  }
  return true;
}

/** `wildcardMatch` for ASCII text against a lower-cased pattern. */
function generalAscii(p: string, t: string): boolean {
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    const pc = pi < p.length ? p.charCodeAt(pi) : -1;
    if (
      pc !== 42 &&
      (pc === 63 /* ? */ || (pc !== -1 && pc === fold(t.charCodeAt(ti))))
    ) {
      pi++;
      ti++;
    } else if (pc === 42 /* * */) {
      star = pi++;
      mark = ti;
    } else if (star !== -1) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.length && p.charCodeAt(pi) === 42) pi++;
  return pi === p.length;
}

/**
 * Whether a compiled pattern matches `text`; `ascii` says whether `text` is
 * all ASCII ({@linkcode isAscii}), computed once per request field.
 */
export function matches(
  pattern: Pattern,
  text: string,
  ascii: boolean,
): boolean {
  if (pattern.kind === ANY) return true;
  if (!ascii) return wildcardMatch(pattern.source, text);
  const lit = pattern.text;
  switch (pattern.kind) {
    case EXACT:
      return text.length === lit.length && sameAt(lit, text, 0);
    case PREFIX:
      return text.length >= lit.length && sameAt(lit, text, 0);
    case SUFFIX:
      return text.length >= lit.length &&
        sameAt(lit, text, text.length - lit.length);
    default:
      return generalAscii(lit, text);
  }
}

/** Whether a compiled pattern matches everything. */
export function isMatchAll(pattern: Pattern): boolean {
  return pattern.kind === ANY;
}

/**
 * Remembers, per combination of up to four low-cardinality request field
 * values (host, method, service name and type), which rules can match on
 * those fields, so a decision scans only those candidates and checks the
 * high-cardinality path there. Lookups allocate nothing; a miss builds one
 * entry. Bounded: when full it starts over.
 */
export interface CandidateCache {
  /** The candidate rule indexes for these field values, if known. */
  get(a: unknown, b: unknown, c: unknown, d: unknown): Int32Array | undefined;
  /** Stores the candidates for these field values. */
  set(a: unknown, b: unknown, c: unknown, d: unknown, value: Int32Array): void;
  /** Forgets everything (the rules changed). */
  clear(): void;
}

type Level = Map<unknown, unknown>;

/** Creates a {@linkcode CandidateCache} holding at most `limit` entries. */
export function candidateCache(limit = 1000): CandidateCache {
  let root: Level = new Map();
  let entries = 0;
  function child(level: Level, key: unknown): Level {
    let next = level.get(key) as Level | undefined;
    if (next === undefined) {
      next = new Map();
      level.set(key, next);
    }
    return next;
  }
  return {
    get(a, b, c, d): Int32Array | undefined {
      const l1 = root.get(a) as Level | undefined;
      if (l1 === undefined) return undefined;
      const l2 = l1.get(b) as Level | undefined;
      if (l2 === undefined) return undefined;
      const l3 = l2.get(c) as Level | undefined;
      if (l3 === undefined) return undefined;
      return l3.get(d) as Int32Array | undefined;
    },
    set(a, b, c, d, value): void {
      if (entries >= limit) {
        root = new Map();
        entries = 0;
      }
      child(child(child(root, a), b), c).set(d, value);
      entries++;
    },
    clear(): void {
      root = new Map();
      entries = 0;
    },
  };
}

/** A request field as a cache key and match input: strings only. */
export function field(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
