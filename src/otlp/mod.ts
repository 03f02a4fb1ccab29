/**
 * OTLP export: a sender that turns the tracer's finished X-Ray documents into
 * OTLP/HTTP JSON (`POST /v1/traces`) for X-Ray's OTLP endpoint (signed with
 * SigV4, service `xray`) or any OpenTelemetry collector. It plugs into the
 * tracer like every other sender: same batcher, retries and drop counting.
 * Only apps that import `xray-edge/otlp` carry it.
 *
 * @example Send to X-Ray's OTLP endpoint
 * ```ts
 * import assert from "node:assert/strict";
 * import { createTracer, fromEnv } from "../../mod.ts";
 * import { otlpSender } from "./mod.ts";
 * const env = { AWS_ACCESS_KEY_ID: "AKID", AWS_SECRET_ACCESS_KEY: "secret" };
 * const tracer = createTracer({
 *   serviceName: "checkout",
 *   sender: otlpSender({ region: "us-east-1", credentials: fromEnv(env) }),
 * });
 * assert.equal(typeof tracer.flush, "function");
 * ```
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
import { awsErrorCode, failure, toError } from "../errors.ts";
import { signRequest } from "../_sigv4.ts";
import { isRecord } from "../_util.ts";
import { encodeTraceRequest } from "./_protobuf.ts";
import {
  mapDocument,
  type OtlpSpan,
  type OtlpTraceRequest,
  toRequest,
} from "./_mapping.ts";

export type {
  OtlpAttribute,
  OtlpEvent,
  OtlpResourceSpans,
  OtlpSpan,
  OtlpTraceRequest,
  OtlpValue,
} from "./_mapping.ts";

/** The OTLP/HTTP traces path. */
export const OTLP_TRACES_PATH = "/v1/traces";

/** A resource attribute value. */
export type ResourceValue = string | number | boolean | string[];

/** Options for {@linkcode otlpSender}. */
export interface OtlpSenderOptions {
  /**
   * The OTLP/HTTP traces URL, such as `http://127.0.0.1:4318/v1/traces`. A
   * URL with an empty path gets `/v1/traces`.
   * @default `https://xray.${region}.amazonaws.com/v1/traces` when `region` is given
   */
  url?: string;
  /** Extra request headers (a collector's API key, for example). */
  headers?: Record<string, string>;
  /**
   * The AWS region: requests are signed with SigV4 (service `xray`) for it.
   * Give it (with `credentials`) for X-Ray's OTLP endpoint; leave both out for
   * a collector.
   */
  region?: string;
  /** Keys or a provider (`fromEnv(env)`, `defaultCredentials()`, …); needs `region`. */
  credentials?: CredentialsSource;
  /**
   * Resource attributes added to every span's resource (for example
   * `deployment.environment.name`); they win over the ones derived from the
   * segment.
   */
  resource?: Record<string, ResourceValue>;
  /**
   * The `service.name` of subsegments sent on their own (streamed) before any
   * segment of theirs reached this sender.
   * @default "unknown_service"
   */
  serviceName?: string;
  /**
   * The body format: OTLP/JSON (`application/json`) or protobuf
   * (`application/x-protobuf`). Protobuf is for collectors (unsigned
   * requests); signed requests to X-Ray are sent as JSON.
   * @default "json"
   */
  encoding?: "json" | "protobuf";
  /** The fetch to use. @default globalThis.fetch */
  fetch?: typeof fetch;
  /** The time source for signing. @default Date */
  clock?: Clock;
}

type Attributes = Record<string, unknown>;

/**
 * Creates a sender that posts OTLP/HTTP JSON to X-Ray's OTLP endpoint
 * (`region` + `credentials`) or to any OTLP collector (`url` + `headers`).
 *
 * Documents that are not X-Ray documents are answered as unprocessed (and
 * counted as rejected); a collector's `partialSuccess` with rejected spans
 * counts as that many rejected documents, at most the batch. Statuses 408,
 * 429 and 5xx (and network failures) are retried with the batcher's backoff
 * and `Retry-After`.
 *
 * @param options The target and its credentials or headers.
 * @returns The sender.
 * @throws {TypeError} When neither `url` nor `region` is given, `region`
 * is malformed, `credentials` come without `region`, or `url` is not http(s).
 *
 * @example Send to a local OpenTelemetry collector
 * ```ts
 * import assert from "node:assert/strict";
 * import { otlpSender } from "./mod.ts";
 * const sender = otlpSender({
 *   url: "http://127.0.0.1:4318",
 *   headers: { "x-api-key": "k" },
 * });
 * assert.equal(typeof sender.send, "function");
 * assert.throws(() => otlpSender({}), TypeError);
 * ```
 */
export function otlpSender(options: OtlpSenderOptions): Sender {
  const invalid = (name: keyof OtlpSenderOptions, requirement: string) =>
    new TypeError(
      `Cannot create sender as '${name}' must be ${requirement}: current value is ${
        JSON.stringify(options?.[name])
      }`,
    );
  const { region, credentials, headers = {}, resource = {} } = options ?? {};
  if (
    region !== undefined &&
    (typeof region !== "string" || !/^[a-z0-9-]{1,64}$/.test(region))
  ) {
    throw invalid("region", "an AWS region such as us-east-1");
  }
  if (credentials != null && region === undefined) {
    throw invalid("region", "given with 'credentials' (for SigV4)");
  }
  if (region !== undefined && credentials == null) {
    throw invalid("credentials", "keys, fromEnv(env) or defaultCredentials()");
  }
  if (options?.url === undefined && region === undefined) {
    throw invalid("url", "an OTLP/HTTP URL when no 'region' is given");
  }
  let url: URL | undefined;
  try {
    url = new URL(options.url ?? `https://xray.${region}.amazonaws.com`);
    if (url.pathname === "/") url.pathname = OTLP_TRACES_PATH;
  } catch {
    // Refused below.
  }
  if (!url || !/^https?:$/.test(url.protocol) || url.search) {
    throw invalid("url", "an http(s) URL without a query string");
  }
  if (!isRecord(headers)) throw invalid("headers", "an object");
  const encoding = options.encoding ?? "json";
  if (encoding !== "json" && (encoding !== "protobuf" || region)) {
    throw invalid(
      "encoding",
      `"json"${region ? " for signed requests" : ` or "protobuf"`}`,
    );
  }
  const protobuf = encoding === "protobuf";
  const target = url;
  const provider = credentials != null
    ? toCredentialsProvider(credentials)
    : undefined;
  const clock: Clock = options.clock ?? Date;
  const fallback: Attributes = {
    "service.name": options.serviceName ?? "unknown_service",
  };
  // The resource of the latest segment: streamed subsegments of a trace
  // whose segment is not in the batch take it.
  let lastResource: Attributes | undefined;
  let forceRefresh = false;

  function build(
    documents: readonly string[],
  ): { request: OtlpTraceRequest; bad: number[]; spans: number } {
    const bad: number[] = [];
    const mapped = documents.map((text, index) => {
      let result;
      try {
        result = mapDocument(JSON.parse(text));
      } catch {
        // Not JSON.
      }
      if (!result) bad.push(index);
      return result;
    });
    const byTrace = new Map<string, Attributes>();
    for (const m of mapped) {
      if (m?.resource) byTrace.set(m.traceId, lastResource = m.resource);
    }
    const groups: { resource: Attributes; spans: OtlpSpan[] }[] = [];
    let spans = 0;
    for (const m of mapped) {
      if (!m) continue;
      spans += m.spans.length;
      groups.push({
        resource: {
          ...(m.resource ?? byTrace.get(m.traceId) ?? lastResource ??
            fallback),
          ...resource,
        },
        spans: m.spans,
      });
    }
    return { request: toRequest(groups), bad, spans };
  }

  return {
    async send(
      documents: string[],
      sendOptions?: SendOptions,
    ): Promise<SendResult> {
      const { request, bad, spans } = build(documents);
      const unprocessed = bad.map((index) => ({
        index,
        errorCode: "InvalidDocument",
        message: "Not an X-Ray segment or subsegment document",
        retryable: false,
      }));
      if (!spans) return { ok: true, unprocessed };
      let secrets: unknown[] = [];
      let message: string;
      let retryable = true;
      let retryAfterMs = NaN;
      let failed = "request";
      try {
        const body = protobuf
          ? encodeTraceRequest(request)
          : JSON.stringify(request);
        const sent: Record<string, string> = { ...headers };
        if (provider) {
          let keys: AwsCredentials;
          try {
            keys = await provider(forceRefresh ? { forceRefresh } : undefined);
            forceRefresh = false;
          } catch (e) {
            return failure(
              `Cannot sign the OTLP request: ${
                e instanceof CredentialsError
                  ? e.message
                  : `the credentials provider failed (${toError(e).name})`
              }`,
            );
          }
          secrets = Object.values(keys);
          Object.assign(
            sent,
            await signRequest(
              keys,
              region!,
              "xray",
              "POST",
              target,
              body as string,
              clock.now(),
            ),
          );
        }
        sent["content-type"] = protobuf
          ? "application/x-protobuf"
          : "application/json";
        const response = await (options.fetch ?? globalThis.fetch)(
          target.href,
          { method: "POST", headers: sent, body, signal: sendOptions?.signal },
        );
        const { ok, status, headers: answer } = response;
        failed = "response body";
        // Always read to the end (Workers cancel unread bodies).
        const text = await response.text().catch((e) => {
          if (ok) throw e;
          return "";
        });
        let json: Record<string, unknown> | undefined;
        try {
          const parsed = JSON.parse(text);
          if (isRecord(parsed)) json = parsed;
        } catch {
          // Empty, or protobuf / text: the status decides.
        }
        if (ok) {
          const partial = isRecord(json?.partialSuccess)
            ? json.partialSuccess
            : {};
          const rejected = Number(partial.rejectedSpans ?? 0);
          const good = documents.length - bad.length;
          for (let i = 0; i < Math.min(rejected || 0, good); i++) {
            unprocessed.push({
              index: -1,
              errorCode: "RejectedSpans",
              message: `${rejected} of ${spans} spans rejected${
                typeof partial.errorMessage === "string"
                  ? `: ${partial.errorMessage.slice(0, 300)}`
                  : ""
              }`,
              retryable: false,
            });
          }
          return { ok, unprocessed };
        }
        const code = awsErrorCode(answer, json);
        const expired = /^(ExpiredToken(Exception)?|RequestExpired)$/.test(
          code,
        );
        if (expired) forceRefresh = true;
        const detail = [
          code,
          json?.message ?? json?.Message,
        ].filter((v) => typeof v === "string" && v).join(": ").slice(0, 300);
        const retryAfter = answer.get("retry-after");
        if (retryAfter) {
          retryAfterMs = /^\d+(\.\d+)?$/.test(retryAfter)
            ? Math.round(+retryAfter * 1000)
            : Math.max(0, Date.parse(retryAfter) - clock.now());
        }
        message = `OTLP export failed with HTTP ${status}${
          detail ? ` (${detail})` : ""
        }`;
        retryable = status === 408 || status === 429 || status >= 500 ||
          expired;
      } catch (e) {
        const error = toError(e);
        // deno-lint-ignore no-explicit-any
        const cause = (error as any).cause;
        message =
          `OTLP ${failed} failed at ${target.host}: ${error.name}: ${error.message}${
            cause ? ` (${toError(cause).message})` : ""
          }`;
      }
      for (const secret of secrets) {
        if (typeof secret === "string" && secret.length >= 4) {
          message = message.split(secret).join("[redacted]");
        }
      }
      const result = failure(
        message.replace(/Signature=[0-9a-f]+/gi, "Signature=[redacted]"),
        retryable,
      );
      if (retryAfterMs >= 0) result.retryAfterMs = retryAfterMs;
      return result;
    },
  };
}
