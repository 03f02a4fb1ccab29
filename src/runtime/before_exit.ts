/**
 * Work to run when the process is about to exit because nothing else is left
 * to do: Node's and Bun's `beforeExit` event (Deno has it too through its
 * `process` global). One listener for every caller, installed on first use;
 * elsewhere (Workers, browsers) nothing happens.
 *
 * @module
 */

const callbacks = new Set<() => void>();
let installed = false;

/**
 * Runs `callback` when the process is about to exit, until the returned
 * function is called. A callback that starts I/O keeps the process alive
 * until that I/O ends.
 *
 * @param callback What to run; its errors are ignored.
 * @returns A function that takes the callback off again.
 *
 * @example
 * ```ts
 * import { beforeExit } from "./before_exit.ts";
 * const off = beforeExit(() => console.log("bye"));
 * off();
 * ```
 */
export function beforeExit(callback: () => void): () => void {
  if (!installed) {
    installed = true;
    try {
      (globalThis as {
        process?: { on?(event: string, listener: () => void): unknown };
      }).process?.on?.("beforeExit", () => {
        for (const run of callbacks) {
          try {
            run();
          } catch {
            // One caller's failure must not stop the others.
          }
        }
      });
    } catch {
      // No process events here.
    }
  }
  callbacks.add(callback);
  return () => callbacks.delete(callback);
}
