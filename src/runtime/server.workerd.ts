/**
 * `server.ts` for Workers bundles (chosen by the package.json `imports`
 * condition `workerd`): Workers pass no connection details beside the
 * request and never tell when a response was sent.
 *
 * @module
 */

import type { Sent } from "./server.ts";

/**
 * Cloudflare's `CF-Connecting-IP`, when the request carries `cf` properties.
 *
 * @param request The request.
 * @param _runtimeArg Unused on Workers.
 * @returns The address, when found.
 */
export function connectionAddress(
  request: Request,
  _runtimeArg: unknown,
): string | undefined {
  if ((request as { cf?: unknown }).cf !== undefined) {
    return request.headers.get("cf-connecting-ip") ?? undefined;
  }
}

/**
 * A request header.
 *
 * @param request The request.
 * @param _runtimeArg Unused on Workers.
 * @param name The header name.
 * @returns The value, or null.
 */
export function requestHeader(
  request: Request,
  _runtimeArg: unknown,
  name: string,
): string | null {
  return request.headers.get(name);
}

/**
 * A response header.
 *
 * @param response The response.
 * @param name The header name.
 * @returns The value, or null.
 */
export function responseHeader(
  response: Response,
  name: string,
): string | null {
  return response.headers.get(name);
}

/**
 * Workers never tell when a response was sent.
 *
 * @param _runtimeArg Unused.
 * @param _response Unused.
 * @returns Always undefined.
 */
export function sentWatcher(
  _runtimeArg: unknown,
  _response: Response,
): [Sent, boolean] | undefined {
  return undefined;
}
