// A minimal AWS Signature Version 4 (AWS4-HMAC-SHA256) signer on Web Crypto
// (crypto.subtle HMAC-SHA256 and SHA-256, TextEncoder), for the requests this
// package signs: a POST of a JSON body to a fixed API path such as
// /TraceSegments. Region and service are given, never guessed from the URL.
//
// Signed headers are host, x-amz-date and, with a session token,
// x-amz-security-token: what aws4fetch signed for these requests, minus
// content-type. No x-amz-content-sha256 header is sent (aws4fetch sends it
// only for S3; the payload hash is part of the signature either way).
//
// Limits, by design: the URL's path is used as is, so it must need no SigV4
// escaping (the paths we sign are plain letters), and its query string must
// be empty (the URLs we sign have none).
import type { AwsCredentials } from "./credentials.ts";

// The last derived signing key and what it was derived from (the scope, which
// names date, region and service, and the secret): one entry is all a process
// signing with one set of keys needs, and it cannot grow. Only derived keys
// are kept, never a pending promise: on Workers a promise must not be awaited
// by a request other than the one that created it.
let cachedFor: string | undefined;
let cachedKey: BufferSource | undefined;

function bytes(text: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(text);
}

function hex(buffer: ArrayBuffer): string {
  return Array.from(
    new Uint8Array(buffer),
    (byte) => (byte + 256).toString(16).slice(1),
  ).join("");
}

async function hmac(key: BufferSource, text: string): Promise<ArrayBuffer> {
  return crypto.subtle.sign(
    "HMAC",
    await crypto.subtle.importKey(
      "raw",
      key,
      { name: "HMAC", hash: "SHA-256" },
      false,
      ["sign"],
    ),
    bytes(text),
  );
}

async function sha256Hex(text: string): Promise<string> {
  return hex(await crypto.subtle.digest("SHA-256", bytes(text)));
}

/**
 * Signs a request with SigV4.
 *
 * @param credentials The keys (and session token) to sign with.
 * @param region The region, such as `us-east-1`.
 * @param service The signing name, such as `xray`.
 * @param method The HTTP method, upper case.
 * @param url The URL (path needing no escaping, no query string).
 * @param body The request body.
 * @param nowMs The signing time, in epoch milliseconds.
 * @returns The headers to send: `x-amz-date`, `x-amz-security-token` when
 * there is a session token, and `authorization`.
 */
export async function signRequest(
  credentials: AwsCredentials,
  region: string,
  service: string,
  method: string,
  url: URL,
  body: string,
  nowMs: number,
): Promise<Record<string, string>> {
  // 20261123T123600Z
  const amzDate = new Date(nowMs).toISOString().replace(/[:-]|\.\d{3}/g, "");
  const scope = `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
  // The signed headers, in order; host is signed but left to fetch to send.
  const headers: Record<string, string> = {
    host: url.host,
    "x-amz-date": amzDate,
  };
  if (credentials.sessionToken) {
    headers["x-amz-security-token"] = credentials.sessionToken;
  }
  const signedHeaders = Object.keys(headers).join(";");
  // Without the newline after the last one (the template adds it).
  const canonicalHeaders = Object.entries(headers).map((entry) =>
    entry.join(":")
  ).join("\n");
  delete headers.host;
  // The scope ends at its first "/aws4_request" (region and service hold no
  // "/"), so scope + secret names one pair.
  const keyFor = scope + credentials.secretAccessKey;
  if (keyFor !== cachedFor) {
    // kSigning: HMAC chained over the scope's parts, from "AWS4" + secret.
    let key: BufferSource = bytes("AWS4" + credentials.secretAccessKey);
    for (const part of scope.split("/")) key = await hmac(key, part);
    cachedFor = keyFor;
    cachedKey = key;
  }
  const signature = hex(
    await hmac(
      cachedKey!,
      `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${await sha256Hex(
        `${method}\n${url.pathname}\n\n${canonicalHeaders}\n\n${signedHeaders}\n${await sha256Hex(
          body,
        )}`,
      )}`,
    ),
  );
  headers.authorization =
    `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return headers;
}
