/**
 * A sender that calls X-Ray's `PutTraceSegments` directly:
 * `POST /TraceSegments` on `https://xray.<region>.amazonaws.com`, signed with
 * SigV4 (service `xray`) on Web Crypto.
 *
 * @module
 */

import type { Clock, Sender, SendOptions, SendResult } from "../types.ts";
import {
  type AwsCredentials,
  CredentialsError,
  type CredentialsSource,
  toCredentialsProvider,
} from "../credentials.ts";
import { failure, toError } from "../errors.ts";
import { signRequest } from "../_sigv4.ts";
import {
  postDocuments,
  PUT_TRACE_SEGMENTS_PATH,
} from "./_put_trace_segments.ts";

/** Options for {@linkcode xrayApiSender}. */
export interface XRayApiSenderOptions {
  /** The AWS region, such as `us-east-1`. */
  region: string;
  /**
   * Keys or a provider (`fromEnv(env)`, `defaultCredentials()`, …). Providers
   * are asked on every request, so give a caching one for network sources.
   */
  credentials: CredentialsSource;
  /**
   * The X-Ray endpoint.
   * @default `https://xray.${region}.amazonaws.com`
   */
  endpoint?: string;
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The time source for signing. @default Date */
  clock?: Clock;
}

/**
 * Creates a sender that signs and posts batches to the X-Ray API.
 *
 * @param options Region, credentials and an optional endpoint.
 * @returns The sender.
 * @throws {TypeError} When `region` or `endpoint` is malformed or
 * `credentials` is missing.
 *
 * @example Create a sender (nothing is sent until `send` is called)
 * ```ts
 * import assert from "node:assert/strict";
 * import { xrayApiSender } from "./xray_api.ts";
 * const sender = xrayApiSender({
 *   region: "us-east-1",
 *   credentials: { accessKeyId: "AKID", secretAccessKey: "secret" },
 * });
 * assert.equal(typeof sender.send, "function");
 * ```
 */
export function xrayApiSender(options: XRayApiSenderOptions): Sender {
  const region = options?.region;
  const invalid = (name: keyof XRayApiSenderOptions, requirement: string) =>
    new TypeError(
      `Cannot create sender as '${name}' must be ${requirement}: current value is ${
        JSON.stringify(options?.[name])
      }`,
    );
  if (typeof region !== "string" || !/^[a-z0-9-]{1,64}$/.test(region)) {
    throw invalid("region", "an AWS region such as us-east-1");
  }
  if (options.credentials == null) {
    throw invalid("credentials", "keys, fromEnv(env) or defaultCredentials()");
  }
  const provider = toCredentialsProvider(options.credentials);
  let parsed: URL | undefined;
  try {
    parsed = new URL(
      PUT_TRACE_SEGMENTS_PATH,
      options.endpoint ?? `https://xray.${region}.amazonaws.com`,
    );
  } catch {
    // Not a URL: refused below with the same message as another scheme.
  }
  if (!parsed || !/^https?:$/.test(parsed.protocol)) {
    throw invalid("endpoint", "an http(s) URL");
  }
  const endpoint = parsed;
  const clock: Clock = options.clock ?? Date;
  let forceRefresh = false;

  return {
    async send(
      documents: string[],
      sendOptions?: SendOptions,
    ): Promise<SendResult> {
      let credentials: AwsCredentials;
      try {
        credentials = await provider(
          forceRefresh ? { forceRefresh } : undefined,
        );
        forceRefresh = false;
      } catch (e) {
        // A CredentialsError's message, with anything key-like (a run of
        // 32 or more base64 characters) redacted: a custom provider's may
        // hold secrets. Other errors are named only.
        return failure(
          `Cannot sign the X-Ray request: ${
            e instanceof CredentialsError
              ? e.message.replace(/[A-Za-z\d/+=]{32,}/g, "[redacted]")
              : `the credentials provider failed (${toError(e).name})`
          }`,
        );
      }
      return postDocuments(
        endpoint,
        documents,
        options.fetch,
        sendOptions,
        clock,
        // Every string field is redacted: keys, token and whatever else a
        // provider attached.
        Object.values(credentials),
        (body) =>
          signRequest(
            credentials,
            region,
            "xray",
            "POST",
            endpoint,
            body,
            clock.now(),
          ),
        () => {
          forceRefresh = true;
        },
      );
    },
  };
}
