/**
 * `before_exit.ts` for Workers bundles (chosen by the package.json `imports`
 * condition `workerd`): an isolate has no exit to wait for.
 *
 * @module
 */

/**
 * Does nothing on Workers.
 *
 * @param _callback Never run.
 * @returns A function that does nothing.
 */
export function beforeExit(_callback: () => void): () => void {
  return () => {};
}
