/**
 * The error base class and its cross-realm guard.
 *
 * @module
 */

import type { SendResult } from "./types.ts";

const MARK = Symbol.for("xray-edge.error");

/** The base class of errors this library reports or throws on purpose. */
export class XRayError extends Error {
  /** Marks instances across realms and package copies. */
  readonly [MARK] = true;
  /**
   * @param message What went wrong.
   * @param options The standard error options (`cause`).
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "XRayError";
  }
}

/**
 * Tells whether a value is an {@linkcode XRayError}, also across realms and
 * duplicated package copies.
 *
 * @param value Anything.
 * @returns `true` for an XRayError.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isXRayError, XRayError } from "./errors.ts";
 * assert.equal(isXRayError(new XRayError("x")), true);
 * assert.equal(isXRayError(new Error("x")), false);
 * ```
 */
export function isXRayError(value: unknown): value is XRayError {
  return typeof value === "object" && value !== null &&
    (value as Record<symbol, unknown>)[MARK] === true;
}

/** Turns anything thrown into an Error. */
export function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * A failed send, by default one worth trying again: an Error as it is,
 * anything else (a message, or whatever a sender threw) an XRayError's message.
 */
export function failure(
  error: unknown,
  retryable = true,
): Extract<SendResult, { ok: false }> {
  return {
    ok: false,
    retryable,
    error: error instanceof Error ? error : new XRayError(String(error)),
  };
}

/**
 * The error code of an AWS JSON-protocol error answer: the
 * `x-amzn-errortype` header, else the body's `__type` (`code`, `Code`);
 * `aws.protocols#Name:uri` and `Name:uri` both give `Name`. `""` when there
 * is none.
 *
 * @internal
 */
export function awsErrorCode(headers: Headers, body: unknown): string {
  const fields = body as Record<string, unknown> | null | undefined;
  const type = headers.get("x-amzn-errortype") ||
    (fields?.__type ?? fields?.code ?? fields?.Code);
  return typeof type === "string"
    ? type.split(":")[0].split("#").pop()!.trim()
    : "";
}
