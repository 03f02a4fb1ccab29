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
    const pc = p[pi];
    // A `*` in the pattern is always a wildcard, even facing a `*` in the
    // text. Past the pattern's end `pc` is undefined and matches nothing.
    if (pc === "*") {
      star = pi++;
      mark = ti;
    } else if (pc === "?" || pc === t[ti]) {
      pi++;
      ti++;
    } else if (star < 0) {
      return false;
    } else {
      pi = star + 1;
      ti = ++mark;
    }
  }
  while (p[pi] === "*") pi++;
  return pi === p.length;
}
