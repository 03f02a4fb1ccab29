/**
 * `unref_timer.ts` for Workers bundles (chosen by the package.json `imports`
 * condition `workerd`): Workers timers never keep anything alive.
 *
 * @module
 */

/**
 * Returns the timer as it is.
 *
 * @param timer What `setTimeout` or `setInterval` returned.
 * @returns The same timer.
 */
export function unrefTimer<T>(timer: T): T {
  return timer;
}
