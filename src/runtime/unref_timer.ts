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
 *
 * @example Unref a timer, then clear it
 * ```ts
 * import { unrefTimer } from "./unref_timer.ts";
 * const timer = setTimeout(() => {}, 1000);
 * unrefTimer(timer);
 * clearTimeout(timer);
 * ```
 */
export function unrefTimer(timer: unknown): void {
  try {
    if (
      typeof timer === "object" && timer !== null &&
      typeof (timer as { unref?: unknown }).unref === "function"
    ) {
      (timer as { unref(): void }).unref();
      return;
    }
    const deno =
      (globalThis as { Deno?: { unrefTimer?: (id: number) => void } })
        .Deno;
    if (typeof timer === "number" && typeof deno?.unrefTimer === "function") {
      deno.unrefTimer(timer);
    }
  } catch {
    // A timer that cannot be unref'd still works; nothing to report.
  }
}
