/**
 * `detect.ts` for Workers bundles (chosen by the package.json `imports`
 * condition `workerd`).
 *
 * @module
 */

import type { RuntimeInfo } from "./detect.ts";

/**
 * The runtime: workerd (it reports no version).
 *
 * @returns `{ runtime: "workerd" }`.
 */
export function detectRuntime(): RuntimeInfo {
  return { runtime: "workerd" };
}
