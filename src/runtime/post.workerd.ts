/**
 * `post.ts` for Workers bundles (chosen by the package.json `imports`
 * condition `workerd`): Workers have only `fetch`.
 *
 * @module
 */

/**
 * The global fetch as it is now.
 *
 * @returns `globalThis.fetch`.
 */
export function defaultFetch(): typeof fetch {
  return globalThis.fetch;
}
