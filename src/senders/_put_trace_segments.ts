// The PutTraceSegments wire format shared by the X-Ray API sender and the
// daemon / collector proxy sender: the request body, and how a response (or a
// network failure) becomes a SendResult the batcher can act on.
import type {
  Clock,
  Sender,
  SendOptions,
  SendResult,
  UnprocessedDocument,
} from "../types.ts";
import type { HostPort } from "../config.ts";
import { awsErrorCode, failure, toError } from "../errors.ts";
import { defaultFetch } from "../runtime/post.ts";

/** The path of the PutTraceSegments operation. */
export const PUT_TRACE_SEGMENTS_PATH = "/TraceSegments";

/**
 * Error codes (whole-request or per-document) worth sending again, besides
 * any code with "throttl" in it: TooManyRequestsException,
 * RequestLimitExceeded, ProvisionedThroughputExceededException,
 * InternalFailure, InternalError, InternalServerError, InternalServiceError,
 * ServiceUnavailable(Exception) and RequestTimeout(Exception).
 */
const TRANSIENT_CODE =
  /^(TooManyRequestsException|RequestLimitExceeded|ProvisionedThroughputExceededException|Internal(Failure|(Server|Service)?Error)|(ServiceUnavailable|RequestTimeout)(Exception)?)$/;

/** Whether an error code names a transient condition. */
export function isTransientCode(code: string): boolean {
  return TRANSIENT_CODE.test(code) || /throttl/i.test(code);
}

/** Whole-request error codes that a fresh set of credentials may fix. */
const EXPIRED_CODE = /^(ExpiredToken(Exception)?|RequestExpired)$/;

type Fields = Record<string, unknown>;

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/**
 * POSTs one batch as JSON to `url` and classifies the answer; never throws.
 * `secrets` (the string fields of the credentials; short ones ignored) are replaced
 * with `[redacted]` in error messages, as are signatures. `sign` gives the
 * headers to add (when it throws, that is reported like a network failure);
 * `onExpired` is called when the service said the credentials expired.
 *
 * The response is always read to the end (Workers cancel responses whose
 * bodies are left unread).
 */
export async function postDocuments(
  url: URL,
  documents: readonly string[],
  // When not given: the global fetch as it is at call time (node:net for
  // http: URLs on Node, see runtime/post.ts).
  fetchFn: typeof fetch = defaultFetch(),
  sendOptions: SendOptions | undefined,
  clock: Clock,
  secrets: readonly unknown[] = [],
  sign?: (body: string) => Promise<Record<string, string>>,
  onExpired?: () => void,
): Promise<SendResult> {
  // What a thrown error is reported as: the request (connection refused,
  // reset, abort, signing) or reading the body of a 2xx answer.
  let failed = "request";
  let message: string;
  let retryable = true;
  let retryAfterMs = NaN;
  try {
    const body = JSON.stringify({ TraceSegmentDocuments: documents });
    const headers = sign ? await sign(body) : {};
    headers["content-type"] = "application/json";
    const response = await fetchFn(url.href, {
      method: "POST",
      headers,
      body,
      signal: sendOptions?.signal,
    });
    const { ok, status, headers: answer } = response;
    failed = "response body";
    // A body that fails to arrive only matters on success; otherwise the
    // status decides.
    const text = await response.text().catch((e) => {
      if (ok) throw e;
      return "";
    });
    // Read through `?.`: JSON's null has no fields, other values none of these.
    let json: Fields | undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // No body, or not JSON: the status decides.
    }
    if (ok) {
      const list = json?.UnprocessedTraceSegments;
      if (!Array.isArray(list) || !list.length) return { ok };
      // Each document's `id`; one that was matched is cleared, so duplicate
      // ids in the answer match successive documents.
      const ids: unknown[] = documents.map((document) => {
        try {
          return JSON.parse(document).id;
        } catch {
          return undefined;
        }
      });
      return {
        ok,
        unprocessed: list.map((record?: Fields): UnprocessedDocument => {
          // NaN is found nowhere: an answer without an Id matches no document.
          const index = ids.indexOf(stringOrUndefined(record?.Id) ?? NaN);
          if (index >= 0) ids[index] = undefined;
          const errorCode = stringOrUndefined(record?.ErrorCode) ?? "Unknown";
          const entry: UnprocessedDocument = {
            index,
            errorCode,
            retryable: index >= 0 && isTransientCode(errorCode),
          };
          const message = stringOrUndefined(record?.Message);
          if (message !== undefined) entry.message = message;
          return entry;
        }),
      };
    }
    const code = awsErrorCode(answer, json);
    const expired = EXPIRED_CODE.test(code);
    if (expired) onExpired?.();
    const detail = [code, stringOrUndefined(json?.message ?? json?.Message)]
      .filter(Boolean).join(": ");
    // Retry-After: seconds, or an HTTP date (NaN when it is neither).
    // (Headers hand out values with the surrounding whitespace stripped.)
    const retryAfter = answer.get("retry-after");
    if (retryAfter) {
      retryAfterMs = /^\d+(\.\d+)?$/.test(retryAfter)
        ? Math.round(+retryAfter * 1000)
        : Math.max(0, Date.parse(retryAfter) - clock.now());
    }
    message = `X-Ray PutTraceSegments failed with HTTP ${status}${
      detail ? ` (${detail})` : ""
    }`;
    retryable = status === 429 || status === 408 || status >= 500 ||
      expired || isTransientCode(code);
  } catch (e) {
    const error = toError(e);
    // deno-lint-ignore no-explicit-any
    const cause = (error as any).cause;
    const detail = `${error.name}: ${error.message}${
      cause ? ` (${toError(cause).message})` : ""
    }`;
    message = `X-Ray ${failed} failed at ${url.host}: ${detail}`;
    // Node says ECONNREFUSED, Deno "Connection refused", Bun's code ConnectionRefused.
    if (!sign && /refused/i.test(detail + (error as { code?: string }).code)) {
      message +=
        `: connection refused; run an X-Ray daemon or the local collector there, or set AWS_XRAY_DAEMON_ADDRESS`;
    }
  }
  for (const secret of secrets) {
    if (typeof secret === "string" && secret.length >= 4) {
      message = message.split(secret).join("[redacted]");
    }
  }
  // Signatures and signed canonical strings are never worth echoing. Cut
  // only once redacted: a cut secret would no longer be found.
  const result = failure(
    message.replace(/Signature=[0-9a-f]+/gi, "Signature=[redacted]").slice(
      0,
      500,
    ),
    retryable,
  );
  if (retryAfterMs >= 0) result.retryAfterMs = retryAfterMs;
  return result;
}

/**
 * The PutTraceSegments URL of a daemon / collector proxy at a parsed TCP
 * address (IPv6 in brackets), or at the daemon's default 127.0.0.1:2000.
 */
export function daemonUrl(
  { host, port }: HostPort = { host: "127.0.0.1", port: 2000 },
): URL {
  return new URL(
    PUT_TRACE_SEGMENTS_PATH,
    `http://${
      host.includes(":") && !host.startsWith("[") ? `[${host}]` : host
    }:${port}`,
  );
}

/**
 * The sender behind `daemonSender`: unsigned POSTs of PutTraceSegments
 * batches to `url`. The tracer's default sender is this at `daemonUrl()`,
 * without the parsing of every address form `daemonSender` accepts.
 */
export function unsignedSender(url: URL, fetchFn?: typeof fetch): Sender {
  return {
    send: (documents, sendOptions) =>
      postDocuments(url, documents, fetchFn, sendOptions, Date),
  };
}
