// The PutTraceSegments wire format shared by the X-Ray API sender and the
// daemon / collector proxy sender: the request body, and how a response (or a
// network failure) becomes a SendResult the batcher can act on.
import type {
  Sender,
  SendOptions,
  SendResult,
  UnprocessedDocument,
} from "../types.ts";
import type { HostPort } from "../config.ts";
import { toError, XRayError } from "../errors.ts";

/** The path of the PutTraceSegments operation. */
export const PUT_TRACE_SEGMENTS_PATH = "/TraceSegments";

/** Error codes (whole-request or per-document) worth sending again. */
const TRANSIENT_CODES = new Set([
  "ThrottledException",
  "ThrottlingException",
  "TooManyRequestsException",
  "RequestLimitExceeded",
  "ProvisionedThroughputExceededException",
  "InternalFailure",
  "InternalError",
  "InternalServerError",
  "InternalServiceError",
  "ServiceUnavailable",
  "ServiceUnavailableException",
  "RequestTimeout",
  "RequestTimeoutException",
]);

/** Whole-request codes that a fresh set of credentials may fix. */
export const CREDENTIAL_CODES = new Set([
  "ExpiredTokenException",
  "ExpiredToken",
  "RequestExpired",
]);

/** Whether an error code names a transient condition. */
export function isTransientCode(code: string): boolean {
  return TRANSIENT_CODES.has(code) || /throttl/i.test(code);
}

/** The JSON body of a PutTraceSegments request. */
export function requestBody(documents: readonly string[]): string {
  return JSON.stringify({ TraceSegmentDocuments: documents });
}

/** Replaces every occurrence of the given secrets with `[redacted]`. */
export type Redact = (text: string) => string;

/** Builds a redactor for the given secret values (empty ones ignored). */
export function redactor(secrets: readonly (string | undefined)[]): Redact {
  const values = secrets.filter((s): s is string =>
    typeof s === "string" && s.length >= 4
  );
  return (text: string): string => {
    let out = text;
    for (const value of values) out = out.split(value).join("[redacted]");
    // Signatures and signed canonical strings are never worth echoing.
    return out.replace(/Signature=[0-9a-f]+/gi, "Signature=[redacted]");
  };
}

/** Parses `Retry-After` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(
  value: string | null,
  nowMs: number,
): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

function errorCode(response: Response, body: unknown): string | undefined {
  const header = response.headers.get("x-amzn-errortype");
  if (header) return header.split(":")[0].trim();
  if (typeof body === "object" && body !== null) {
    const record = body as Record<string, unknown>;
    const type = record.__type ?? record.code ?? record.Code;
    if (typeof type === "string") {
      const name = type.split("#").pop()!.split(":")[0].trim();
      if (name) return name;
    }
  }
  return undefined;
}

function errorMessage(body: unknown): string | undefined {
  if (typeof body === "object" && body !== null) {
    const record = body as Record<string, unknown>;
    const message = record.message ?? record.Message;
    if (typeof message === "string") return message;
  }
  return undefined;
}

function documentId(document: string): string | undefined {
  try {
    const parsed = JSON.parse(document);
    return typeof parsed?.id === "string" ? parsed.id : undefined;
  } catch {
    return undefined;
  }
}

function unprocessedList(
  body: unknown,
  documents: readonly string[],
): UnprocessedDocument[] {
  const list = typeof body === "object" && body !== null
    ? (body as Record<string, unknown>).UnprocessedTraceSegments
    : undefined;
  if (!Array.isArray(list) || list.length === 0) return [];
  const ids = documents.map(documentId);
  const used = new Set<number>();
  const result: UnprocessedDocument[] = [];
  for (const item of list) {
    const record =
      (typeof item === "object" && item !== null ? item : {}) as Record<
        string,
        unknown
      >;
    const id = typeof record.Id === "string" ? record.Id : undefined;
    let index = -1;
    if (id !== undefined) {
      index = ids.findIndex((candidate, i) => candidate === id && !used.has(i));
      if (index >= 0) used.add(index);
    }
    const code = typeof record.ErrorCode === "string"
      ? record.ErrorCode
      : "Unknown";
    const entry: UnprocessedDocument = {
      index,
      errorCode: code,
      retryable: index >= 0 && isTransientCode(code),
    };
    if (typeof record.Message === "string") entry.message = record.Message;
    result.push(entry);
  }
  return result;
}

/** What a failed response told us, besides the SendResult. */
export interface Interpreted {
  /** The result for the batcher. */
  result: SendResult;
  /** The service's error code, when there was one. */
  code?: string;
}

/**
 * Reads a PutTraceSegments response to the end (always: Workers cancel
 * responses whose bodies are left unread) and classifies it.
 */
export async function interpretResponse(
  response: Response,
  documents: readonly string[],
  redact: Redact,
  nowMs: number,
): Promise<Interpreted> {
  let text = "";
  try {
    text = await response.text();
  } catch (e) {
    if (response.ok) {
      return {
        result: {
          ok: false,
          retryable: true,
          error: new XRayError(
            `X-Ray response body failed: ${redact(toError(e).message)}`,
          ),
        },
      };
    }
  }
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  if (response.ok) {
    const unprocessed = unprocessedList(body, documents);
    return {
      result: unprocessed.length > 0 ? { ok: true, unprocessed } : { ok: true },
    };
  }
  const code = errorCode(response, body);
  const message = errorMessage(body);
  const status = response.status;
  const retryable = status === 429 || status === 408 || status >= 500 ||
    (code !== undefined &&
      (isTransientCode(code) || CREDENTIAL_CODES.has(code)));
  const detail = [code, message].filter(Boolean).join(": ").slice(0, 300);
  const error = new XRayError(
    redact(
      `X-Ray PutTraceSegments failed with HTTP ${status}${
        detail ? ` (${detail})` : ""
      }`,
    ),
  );
  const result: SendResult = { ok: false, retryable, error };
  const retryAfterMs = parseRetryAfter(
    response.headers.get("retry-after"),
    nowMs,
  );
  if (retryAfterMs !== undefined) result.retryAfterMs = retryAfterMs;
  return { result, code };
}

/** A transport failure (connection refused, reset, abort) as a SendResult. */
export function networkFailure(error: unknown, redact: Redact): SendResult {
  const e = toError(error);
  return {
    ok: false,
    retryable: true,
    error: new XRayError(
      redact(`X-Ray request failed: ${e.name}: ${e.message}`),
    ),
  };
}

/** A host and port for a URL (IPv6 in brackets). */
export function formatHost(address: HostPort): string {
  return address.host.includes(":") && !address.host.startsWith("[")
    ? `[${address.host}]:${address.port}`
    : `${address.host}:${address.port}`;
}

/**
 * The PutTraceSegments URL of a daemon / collector proxy at a parsed TCP
 * address, or at the daemon's default 127.0.0.1:2000.
 */
export function daemonUrl(
  address: HostPort = { host: "127.0.0.1", port: 2000 },
): URL {
  return new URL(PUT_TRACE_SEGMENTS_PATH, `http://${formatHost(address)}`);
}

/**
 * The sender behind `daemonSender`: unsigned POSTs of PutTraceSegments
 * batches to `url`. The tracer's default sender is this at `daemonUrl()`,
 * without the parsing of every address form `daemonSender` accepts.
 */
export function unsignedSender(url: URL, fetchFn?: typeof fetch): Sender {
  const redact = redactor([]);
  return {
    async send(
      documents: string[],
      sendOptions?: SendOptions,
    ): Promise<SendResult> {
      try {
        const response = await (fetchFn ?? globalThis.fetch)(url.href, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: requestBody(documents),
          signal: sendOptions?.signal,
        });
        return (await interpretResponse(
          response,
          documents,
          redact,
          Date.now(),
        )).result;
      } catch (e) {
        return networkFailure(e, redact);
      }
    },
  };
}
