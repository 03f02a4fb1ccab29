/**
 * A sender that calls X-Ray's `PutTraceSegments` directly:
 * `POST /TraceSegments` on `https://xray.<region>.amazonaws.com`, signed with
 * SigV4 (service `xray`) on Web Crypto through `aws4fetch`.
 *
 * @module
 */

import { AwsV4Signer } from "aws4fetch";
import type { Clock, Sender, SendOptions, SendResult } from "../types.ts";
import {
  CredentialsError,
  type CredentialsSource,
  toCredentialsProvider,
} from "../credentials.ts";
import { toError, XRayError } from "../errors.ts";
import {
  CREDENTIAL_CODES,
  interpretResponse,
  networkFailure,
  PUT_TRACE_SEGMENTS_PATH,
  redactor,
  requestBody,
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

function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, "");
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
  if (typeof region !== "string" || !/^[a-z0-9-]{1,64}$/.test(region)) {
    throw new TypeError(
      `Cannot create sender as 'region' must be an AWS region such as us-east-1: current value is ${
        JSON.stringify(region)
      }`,
    );
  }
  if (options.credentials === undefined || options.credentials === null) {
    throw new TypeError(
      "Cannot create sender as 'credentials' is required: pass keys, fromEnv(env) or defaultCredentials()",
    );
  }
  const provider = toCredentialsProvider(options.credentials);
  let url: URL;
  try {
    url = new URL(
      PUT_TRACE_SEGMENTS_PATH,
      options.endpoint ?? `https://xray.${region}.amazonaws.com`,
    );
  } catch {
    throw new TypeError(
      `Cannot create sender as 'endpoint' must be a URL: current value is ${
        JSON.stringify(options.endpoint)
      }`,
    );
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new TypeError(
      `Cannot create sender as 'endpoint' must be an http(s) URL: current value is ${
        JSON.stringify(options.endpoint)
      }`,
    );
  }
  const clock: Clock = options.clock ?? Date;
  let forceRefresh = false;

  return {
    async send(
      documents: string[],
      sendOptions?: SendOptions,
    ): Promise<SendResult> {
      let credentials;
      try {
        credentials = await provider(
          forceRefresh ? { forceRefresh } : undefined,
        );
        forceRefresh = false;
      } catch (e) {
        return {
          ok: false,
          retryable: true,
          // Only our own providers' messages are known to hold no secrets.
          error: new XRayError(
            `Cannot sign the X-Ray request: ${
              e instanceof CredentialsError
                ? e.message
                : `the credentials provider failed (${toError(e).name})`
            }`,
          ),
        };
      }
      const redact = redactor([
        credentials.secretAccessKey,
        credentials.sessionToken,
        credentials.accessKeyId,
      ]);
      try {
        const body = requestBody(documents);
        const signer = new AwsV4Signer({
          method: "POST",
          url: url.href,
          headers: { "content-type": "application/json" },
          body,
          accessKeyId: credentials.accessKeyId,
          secretAccessKey: credentials.secretAccessKey,
          sessionToken: credentials.sessionToken,
          service: "xray",
          region,
          datetime: amzDate(clock.now()),
        });
        const signed = await signer.sign();
        const response = await (options.fetch ?? globalThis.fetch)(
          signed.url,
          {
            method: signed.method,
            headers: signed.headers,
            body,
            signal: sendOptions?.signal,
          },
        );
        const { result, code } = await interpretResponse(
          response,
          documents,
          redact,
          clock.now(),
        );
        if (code !== undefined && CREDENTIAL_CODES.has(code)) {
          forceRefresh = true;
        }
        return result;
      } catch (e) {
        return networkFailure(e, redact);
      }
    },
  };
}
