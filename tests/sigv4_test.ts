// The SigV4 signer xrayApiSender uses gives the same Authorization header as
// two reference signers, aws4fetch's AwsV4Signer and @smithy/signature-v4 (the
// AWS SDK's), for the same request at fixed dates: with and without a session
// token, across regions, hosts with ports, days (the derived-key cache) and
// bodies with non-ASCII text. It runs on every runtime's own Web Crypto.
import assert from "node:assert/strict";
import { AwsV4Signer } from "aws4fetch";
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/protocol-http";
import { Sha256 } from "@aws-crypto/sha256-js";
import { signRequest } from "../src/_sigv4.ts";
import { type AwsCredentials, xrayApiSender } from "../mod.ts";

const KEYS: AwsCredentials = {
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
};
const SESSION: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLE0000000001",
  secretAccessKey: "sEcReT/K7MDENG+bPxRfiCYEXAMPLEKEY0000001",
  sessionToken:
    "IQoJb3JpZ2luX2VjEOr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+abc/def==",
};

interface Case {
  credentials: AwsCredentials;
  region: string;
  url: string;
  body: string;
  nowMs: number;
}

function amzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[:-]|\.\d{3}/g, "");
}

async function aws4fetchAuthorization(c: Case): Promise<string> {
  const signer = new AwsV4Signer({
    method: "POST",
    url: c.url,
    body: c.body,
    accessKeyId: c.credentials.accessKeyId,
    secretAccessKey: c.credentials.secretAccessKey,
    sessionToken: c.credentials.sessionToken,
    service: "xray",
    region: c.region,
    datetime: amzDate(c.nowMs),
  });
  return (await signer.sign()).headers.get("authorization")!;
}

async function smithyAuthorization(c: Case): Promise<string> {
  const url = new URL(c.url);
  const signer = new SignatureV4({
    service: "xray",
    region: c.region,
    credentials: {
      accessKeyId: c.credentials.accessKeyId,
      secretAccessKey: c.credentials.secretAccessKey,
      sessionToken: c.credentials.sessionToken,
    },
    sha256: Sha256,
    // The SDK also sends x-amz-content-sha256 for X-Ray; we do not (the
    // payload hash is signed either way), as aws4fetch did not.
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: "POST",
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port ? Number(url.port) : undefined,
      path: url.pathname,
      headers: { host: url.host },
      body: c.body,
    }),
    { signingDate: new Date(c.nowMs) },
  );
  return signed.headers.authorization;
}

const BODY = JSON.stringify({
  TraceSegmentDocuments: [
    JSON.stringify({
      name: "shop ünïcødé ✓ 😀",
      id: "70de5b6f19ff9a0a",
      trace_id: "1-581cf771-a006649127e371903a2de979",
      start_time: 1478293361.271,
      end_time: 1478293361.449,
    }),
  ],
});

const CASES: Case[] = [
  {
    credentials: KEYS,
    region: "us-east-1",
    url: "https://xray.us-east-1.amazonaws.com/TraceSegments",
    body: BODY,
    nowMs: Date.UTC(2026, 10, 23, 12, 36, 0),
  },
  {
    credentials: SESSION,
    region: "us-east-1",
    url: "https://xray.us-east-1.amazonaws.com/TraceSegments",
    body: BODY,
    nowMs: Date.UTC(2026, 10, 23, 12, 36, 0),
  },
  // The next day with the same secret: a new signing key.
  {
    credentials: SESSION,
    region: "us-east-1",
    url: "https://xray.us-east-1.amazonaws.com/TraceSegments",
    body: BODY,
    nowMs: Date.UTC(2026, 10, 24, 0, 0, 0, 999),
  },
  // Another region, then back to the first secret (cache switches back).
  {
    credentials: SESSION,
    region: "ap-southeast-2",
    url: "https://xray.ap-southeast-2.amazonaws.com/TraceSegments",
    body: JSON.stringify({ TraceSegmentDocuments: [] }),
    nowMs: Date.UTC(2024, 1, 29, 23, 59, 59, 500),
  },
  {
    credentials: KEYS,
    region: "eu-central-1",
    url: "http://127.0.0.1:4566/TraceSegments",
    body: BODY,
    nowMs: Date.UTC(2026, 0, 1, 0, 0, 0),
  },
  {
    credentials: SESSION,
    region: "us-gov-west-1",
    url: "https://localhost:8443/TraceSegments",
    body: "",
    nowMs: Date.UTC(2000, 0, 1, 0, 0, 0),
  },
];

/** Signs a case's request the way xrayApiSender does. */
function sign(c: Case): Promise<Record<string, string>> {
  return signRequest(
    c.credentials,
    c.region,
    "xray",
    "POST",
    new URL(c.url),
    c.body,
    c.nowMs,
  );
}

Deno.test("signRequest() gives the Authorization aws4fetch and @smithy/signature-v4 give", async () => {
  for (const c of CASES) {
    const headers = await sign(c);
    const expected = await aws4fetchAuthorization(c);
    assert.equal(headers.authorization, expected, c.url);
    assert.equal(await smithyAuthorization(c), expected, c.url);
    assert.equal(headers["x-amz-date"], amzDate(c.nowMs));
    assert.deepEqual(
      Object.keys(headers).sort(),
      c.credentials.sessionToken
        ? ["authorization", "x-amz-date", "x-amz-security-token"]
        : ["authorization", "x-amz-date"],
    );
    assert.equal(headers["x-amz-security-token"], c.credentials.sessionToken);
  }
});

Deno.test("signRequest() signs concurrent requests with different keys and days correctly", async () => {
  // Interleaved on purpose: the derived-key cache holds one entry.
  const cases = [...CASES, ...CASES.slice().reverse()];
  const [ours, expected] = await Promise.all([
    Promise.all(cases.map(sign)),
    Promise.all(cases.map(aws4fetchAuthorization)),
  ]);
  assert.deepEqual(ours.map((h) => h.authorization), expected);
});

Deno.test("xrayApiSender sends the request it signed: aws4fetch signs the same one the same way", async () => {
  const nowMs = Date.UTC(2026, 10, 23, 12, 36, 0);
  for (const credentials of [KEYS, SESSION]) {
    const captured: Request[] = [];
    const sender = xrayApiSender({
      region: "eu-west-1",
      credentials,
      clock: { now: () => nowMs },
      fetch: (input, init) => {
        captured.push(new Request(input, init));
        return Promise.resolve(Response.json({}));
      },
    });
    const documents = JSON.parse(BODY).TraceSegmentDocuments;
    assert.deepEqual(await sender.send(documents), { ok: true });
    const [request] = captured;
    const body = await request.text();
    assert.equal(body, BODY);
    assert.equal(request.method, "POST");
    assert.equal(
      request.url,
      "https://xray.eu-west-1.amazonaws.com/TraceSegments",
    );
    assert.equal(request.headers.get("content-type"), "application/json");
    assert.equal(request.headers.get("x-amz-content-sha256"), null);
    assert.equal(
      request.headers.get("x-amz-security-token"),
      credentials.sessionToken ?? null,
    );
    assert.equal(
      request.headers.get("authorization"),
      await aws4fetchAuthorization({
        credentials,
        region: "eu-west-1",
        url: request.url,
        body,
        nowMs,
      }),
    );
  }
});
