/**
 * Wildcard matching as X-Ray sampling rules and dynamic naming use it.
 *
 * @module
 */

/**
 * Tells whether `text` matches `pattern`, where `*` matches any run of
 * characters (including none) and `?` exactly one. Case-insensitive.
 *
 * @param pattern The pattern, such as `*.example.com`.
 * @param text The text to test.
 * @returns `true` when the whole text matches.
 *
 * @example Matching hosts
 * ```ts
 * import assert from "node:assert/strict";
 * import { wildcardMatch } from "./wildcard.ts";
 * assert.equal(wildcardMatch("*.example.com", "API.example.com"), true);
 * assert.equal(wildcardMatch("/users/?", "/users/42"), false);
 * ```
 */
export function wildcardMatch(pattern: string, text: string): boolean {
  if (pattern === "*") return true;
  const p = pattern.toLowerCase();
  const t = text.toLowerCase();
  let pi = 0;
  let ti = 0;
  let star = -1;
  let mark = 0;
  while (ti < t.length) {
    const pc = p.charCodeAt(pi);
    // A `*` in the pattern is always a wildcard, even facing a `*` in the text.
    if (
      pi < p.length && pc !== 42 &&
      (pc === 63 /* ? */ || pc === t.charCodeAt(ti))
    ) {
      pi++;
      ti++;
    } else if (pi < p.length && pc === 42 /* * */) {
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
