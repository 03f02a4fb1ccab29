/**
 * Lets a background timer not keep the process alive, where the runtime has
 * such a notion (Node and Bun timers have `unref()`, Deno has
 * `Deno.unrefTimer`). Elsewhere (Workers, browsers) it does nothing.
 *
 * @module
 */

/**
 * Marks a timer as not keeping the process alive, if the runtime can.
 *
 * @param timer What `setTimeout` or `setInterval` returned.
 * @returns The same timer, so a call can wrap `setTimeout(…)`.
 *
 * @example Unref a timer, then clear it
 * ```ts
 * import { unrefTimer } from "./unref_timer.ts";
 * const timer = unrefTimer(setTimeout(() => {}, 1000));
 * clearTimeout(timer);
 * ```
 */
export function unrefTimer<T>(timer: T): T {
  try {
    // Node and Bun: a Timeout object; Deno: a number id.
    (timer as { unref?: () => unknown }).unref?.() ??
      (globalThis as { Deno?: { unrefTimer?: (id: T) => void } }).Deno
        ?.unrefTimer?.(timer);
  } catch {
    // A timer that cannot be unref'd still works; nothing to report.
  }
  return timer;
}
