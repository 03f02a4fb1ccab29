// matrix: deno — starts moto_server through Deno.Command and serves with Deno.serve
// xrayApiSender: the request matches the official AWS SDK's PutTraceSegments
// and carries a SigV4 signature @smithy/signature-v4 computes too; it works
// end to end against moto_server (read back with BatchGetTraces and the AWS
// CLI); and no secret ever leaks into errors.
import assert from "node:assert/strict";
import {
  BatchGetTracesCommand,
  PutTraceSegmentsCommand,
  XRayClient,
} from "@aws-sdk/client-xray";
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/protocol-http";
import { Sha256 } from "@aws-crypto/sha256-js";
import { signRequest } from "../src/_sigv4.ts";
import {
  type AwsCredentials,
  createBatcher,
  type CredentialsProvider,
  xrayApiSender,
} from "../mod.ts";
import {
  freePort,
  idOf,
  makeDocuments,
  recordingSleep,
  startSink,
  totalDropped,
} from "./_delivery.ts";
import { assertValidDocuments } from "./_schema.ts";

const CREDENTIALS = {
  accessKeyId: "AKIDSECRETIDEXAMPLE1",
  secretAccessKey: "sEcReT/K7MDENG+bPxRfiCYEXAMPLEKEY0000001",
  sessionToken: "SeSsIoNtOkEn//////////wEaCXVzLWVhc3QtMSJHMEUCIQD",
};
const REGION = "us-east-1";
const FIXED_TIME = Date.UTC(2026, 10, 23, 12, 36, 0);

interface Captured {
  method: string;
  path: string;
  headers: Headers;
  body: string;
  host: string;
}

function startCapture(): {
  url: string;
  requests: Captured[];
  close: () => Promise<void>;
} {
  const requests: Captured[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      requests.push({
        method: request.method,
        path: url.pathname,
        headers: request.headers,
        body: await request.text(),
        host: request.headers.get("host") ?? url.host,
      });
      return Response.json({ UnprocessedTraceSegments: [] });
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** Recomputes a captured request's Authorization with @smithy/signature-v4. */
async function smithyAuthorization(
  captured: Captured,
  credentials: AwsCredentials,
): Promise<string> {
  const authorization = captured.headers.get("authorization")!;
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(authorization)![1].split(
    ";",
  );
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    headers[name] = name === "host"
      ? captured.host
      : captured.headers.get(name)!;
  }
  const amzDate = captured.headers.get("x-amz-date")!;
  const signingDate = new Date(
    amzDate.replace(
      /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
      "$1-$2-$3T$4:$5:$6Z",
    ),
  );
  const [hostname, port] = captured.host.split(":");
  const signer = new SignatureV4({
    service: "xray",
    region: REGION,
    credentials: {
      accessKeyId: credentials.accessKeyId,
      secretAccessKey: credentials.secretAccessKey,
      sessionToken: credentials.sessionToken,
    },
    sha256: Sha256,
    applyChecksum: false,
  });
  const signed = await signer.sign(
    new HttpRequest({
      method: captured.method,
      protocol: "http:",
      hostname,
      port: Number(port),
      path: captured.path,
      headers,
      body: captured.body,
    }),
    { signingDate, signableHeaders: new Set(signedHeaders) },
  );
  return signed.headers.authorization;
}

Deno.test("xrayApiSender sends what the AWS SDK's PutTraceSegmentsCommand sends, with a signature @smithy/signature-v4 agrees with", async () => {
  const capture = startCapture();
  const docs = makeDocuments(3);
  const sdk = new XRayClient({
    region: REGION,
    endpoint: capture.url,
    credentials: CREDENTIALS,
    maxAttempts: 1,
  });
  await sdk.send(
    new PutTraceSegmentsCommand({ TraceSegmentDocuments: docs }),
  );
  sdk.destroy();
  const sender = xrayApiSender({
    region: REGION,
    credentials: CREDENTIALS,
    endpoint: capture.url,
    clock: { now: () => FIXED_TIME },
  });
  const result = await sender.send(docs);
  await capture.close();
  assert.deepEqual(result, { ok: true });
  const [fromSdk, ours] = capture.requests;
  assert.equal(ours.method, fromSdk.method);
  assert.equal(ours.method, "POST");
  assert.equal(ours.path, fromSdk.path);
  assert.equal(ours.path, "/TraceSegments");
  assert.equal(ours.body, fromSdk.body);
  assert.deepEqual(JSON.parse(ours.body), { TraceSegmentDocuments: docs });
  assert.equal(
    ours.headers.get("content-type")?.split(";")[0],
    fromSdk.headers.get("content-type")?.split(";")[0],
  );
  assert.equal(
    ours.headers.get("x-amz-security-token"),
    CREDENTIALS.sessionToken,
  );
  assert.equal(ours.headers.get("x-amz-date"), "20261123T123600Z");
  assert.match(
    ours.headers.get("authorization")!,
    /^AWS4-HMAC-SHA256 Credential=AKIDSECRETIDEXAMPLE1\/20261123\/us-east-1\/xray\/aws4_request, SignedHeaders=[a-z0-9;-]*host[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
  );
  // Both requests verify under the reference signer; a wrong key does not.
  assert.equal(
    await smithyAuthorization(fromSdk, CREDENTIALS),
    fromSdk.headers.get("authorization"),
  );
  assert.equal(
    await smithyAuthorization(ours, CREDENTIALS),
    ours.headers.get("authorization"),
  );
  assert.notEqual(
    await smithyAuthorization(ours, {
      ...CREDENTIALS,
      secretAccessKey: "another",
    }),
    ours.headers.get("authorization"),
  );
});

Deno.test("the signer the sender uses reproduces the SigV4 test-suite vectors", async () => {
  // get-vanilla and post-vanilla from the AWS SigV4 test suite.
  const base = {
    accessKeyId: "AKIDEXAMPLE",
    secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    service: "service",
    region: "us-east-1",
    datetime: "20150830T123600Z",
  };
  const vectors = [
    {
      method: "GET",
      signature:
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
    },
    {
      method: "POST",
      signature:
        "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
    },
  ];
  for (const { method, signature } of vectors) {
    const headers = await signRequest(
      base,
      base.region,
      base.service,
      method,
      new URL("https://example.amazonaws.com/"),
      "",
      Date.UTC(2015, 7, 30, 12, 36, 0),
    );
    assert.equal(headers["x-amz-date"], base.datetime);
    assert.equal(
      headers.authorization,
      `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=${signature}`,
    );
  }
});

Deno.test("xrayApiSender defaults to the regional X-Ray endpoint", async () => {
  const urls: string[] = [];
  const sender = xrayApiSender({
    region: "eu-central-1",
    credentials: CREDENTIALS,
    fetch: (input) => {
      urls.push(String(input instanceof Request ? input.url : input));
      return Promise.resolve(Response.json({}));
    },
  });
  assert.deepEqual(await sender.send(makeDocuments(1)), { ok: true });
  assert.deepEqual(urls, [
    "https://xray.eu-central-1.amazonaws.com/TraceSegments",
  ]);
});

Deno.test("xrayApiSender() rejects bad configuration at once", () => {
  assert.throws(
    () => xrayApiSender({ region: "", credentials: CREDENTIALS }),
    TypeError,
  );
  assert.throws(
    () =>
      xrayApiSender({
        region: REGION,
        credentials: undefined as unknown as AwsCredentials,
      }),
    /'credentials' must be keys, fromEnv\(env\) or defaultCredentials\(\): current value is undefined/,
  );
  assert.throws(
    () =>
      xrayApiSender({
        region: REGION,
        credentials: CREDENTIALS,
        endpoint: "ftp://x",
      }),
    /'endpoint' must be an http\(s\) URL/,
  );
  assert.throws(
    () =>
      xrayApiSender({
        region: REGION,
        credentials: CREDENTIALS,
        endpoint: "not a url",
      }),
    /'endpoint' must be an http\(s\) URL: current value is "not a url"/,
  );
  assert.throws(
    () =>
      xrayApiSender({
        region: REGION,
        credentials: { accessKeyId: "", secretAccessKey: "" },
      }),
    TypeError,
  );
});

Deno.test("xrayApiSender refreshes credentials after ExpiredTokenException and delivers once", async () => {
  const sink = await startSink((n) =>
    n === 0
      ? {
        status: 403,
        body: {
          __type: "ExpiredTokenException",
          message: "The security token included in the request is expired",
        },
      }
      : "accept"
  );
  const calls: (boolean | undefined)[] = [];
  const provider: CredentialsProvider = (options) => {
    calls.push(options?.forceRefresh);
    return Promise.resolve(CREDENTIALS);
  };
  const docs = makeDocuments(4);
  const batcher = createBatcher({
    sender: xrayApiSender({
      region: REGION,
      credentials: provider,
      endpoint: sink.url,
    }),
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  const result = await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.deepEqual(result, { sent: 4, dropped: 0, remaining: 0 });
  assert.deepEqual(calls, [undefined, true]);
  for (const d of docs) assert.equal(sink.accepted.get(idOf(d)), 1);
});

Deno.test("credentials, signatures and tokens never reach onError, documents or thrown errors", async () => {
  const secrets = [
    CREDENTIALS.accessKeyId,
    CREDENTIALS.secretAccessKey,
    CREDENTIALS.sessionToken,
  ];
  const signatures: string[] = [];
  // A server that echoes the signed request back in its error message, as
  // InvalidSignatureException does with the canonical request.
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      await request.text();
      const authorization = request.headers.get("authorization") ?? "";
      signatures.push(/Signature=([0-9a-f]+)/.exec(authorization)![1]);
      const echo = [...request.headers].map(([k, v]) => `${k}:${v}`).join(
        "\n",
      );
      return Response.json({
        __type: "InvalidSignatureException",
        message:
          `The request signature we calculated does not match. ${echo} ${CREDENTIALS.secretAccessKey}`,
      }, { status: 403 });
    },
  );
  const port = (server.addr as Deno.NetAddr).port;
  const errors: Error[] = [];
  const docs = makeDocuments(3);
  const onError = (e: Error): void => {
    errors.push(e);
  };
  const batcher = createBatcher({
    sender: xrayApiSender({
      region: REGION,
      credentials: CREDENTIALS,
      endpoint: `http://127.0.0.1:${port}`,
    }),
    onError,
  });
  for (const d of docs) batcher.enqueue(d);
  await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await server.shutdown();
  // Connection refused and a failing provider go through the same scrub.
  const refused = createBatcher({
    sender: xrayApiSender({
      region: REGION,
      credentials: CREDENTIALS,
      endpoint: `http://127.0.0.1:${await freePort()}`,
    }),
    onError,
    maxRetries: 0,
  });
  refused.enqueue(docs[0]);
  await refused.shutdown();
  const failing = createBatcher({
    sender: xrayApiSender({
      region: REGION,
      credentials: () =>
        Promise.reject(
          new Error(`provider failed for ${CREDENTIALS.accessKeyId}`),
        ),
      endpoint: `http://127.0.0.1:${await freePort()}`,
    }),
    onError,
    maxRetries: 0,
  });
  failing.enqueue(docs[0]);
  await failing.shutdown();

  assert.equal(signatures.length, 1);
  assert.equal(errors.length, 3);
  function texts(e: unknown): string[] {
    if (!(e instanceof Error)) return [String(e)];
    return [e.message, String(e.stack), ...texts(e.cause ?? "")];
  }
  const everything = [
    ...errors.flatMap(texts),
    ...docs,
    ...texts(
      (() => {
        try {
          xrayApiSender({ region: "Bad Region", credentials: CREDENTIALS });
        } catch (e) {
          return e;
        }
      })(),
    ),
  ].join("\n");
  assert.match(everything, /HTTP 403/);
  assert.match(everything, /InvalidSignatureException/);
  for (const secret of [...secrets, ...signatures]) {
    assert.equal(everything.includes(secret), false, "a secret leaked");
  }
  assertValidDocuments(docs);
});

Deno.test("a 500 from the X-Ray endpoint is retried with a fresh signature and delivered once", async () => {
  const sink = await startSink((n) => n === 0 ? { status: 500 } : "accept");
  const docs = makeDocuments(7);
  const batcher = createBatcher({
    sender: xrayApiSender({
      region: REGION,
      credentials: CREDENTIALS,
      endpoint: sink.url,
    }),
    sleep: recordingSleep([]),
  });
  for (const d of docs) batcher.enqueue(d);
  await batcher.flush({ timeoutMs: 5000 });
  await batcher.shutdown();
  await sink.close();
  assert.equal(sink.requests.length, 2);
  for (const d of docs) assert.equal(sink.accepted.get(idOf(d)), 1);
  for (const headers of sink.headers) {
    assert.match(headers.get("authorization")!, /^AWS4-HMAC-SHA256 /);
  }
});

Deno.test("xrayApiSender reads error codes, messages, Retry-After and unprocessed documents from the answer", async () => {
  const [a, b] = makeDocuments(2);
  // A third document with the first one's id: the answer's ids match in order.
  const docs = [a, b, a];
  const cases: [() => Response, unknown][] = [
    [
      () =>
        Response.json({ message: "bad" }, {
          status: 400,
          headers: {
            "x-amzn-errortype":
              "InvalidRequestException:http://internal.amazon.com/coral/",
          },
        }),
      {
        ok: false,
        retryable: false,
        message:
          "X-Ray PutTraceSegments failed with HTTP 400 (InvalidRequestException: bad)",
      },
    ],
    [
      () =>
        Response.json({
          __type: "com.amazonaws.xray#ThrottledException",
          Message: "slow down",
        }, { status: 400 }),
      {
        ok: false,
        retryable: true,
        message:
          "X-Ray PutTraceSegments failed with HTTP 400 (ThrottledException: slow down)",
      },
    ],
    [
      () => Response.json({ code: "RequestExpired" }, { status: 403 }),
      {
        ok: false,
        retryable: true,
        message: "X-Ray PutTraceSegments failed with HTTP 403 (RequestExpired)",
      },
    ],
    [
      () => Response.json({ Code: "AccessDenied" }, { status: 403 }),
      {
        ok: false,
        retryable: false,
        message: "X-Ray PutTraceSegments failed with HTTP 403 (AccessDenied)",
      },
    ],
    [
      () =>
        new Response(null, { status: 503, headers: { "retry-after": "1.5" } }),
      {
        ok: false,
        retryable: true,
        message: "X-Ray PutTraceSegments failed with HTTP 503",
        retryAfterMs: 1500,
      },
    ],
    [
      () =>
        new Response("<html>", {
          status: 429,
          headers: {
            "retry-after": new Date(FIXED_TIME + 10_000).toUTCString(),
          },
        }),
      {
        ok: false,
        retryable: true,
        message: "X-Ray PutTraceSegments failed with HTTP 429",
        retryAfterMs: 10_000,
      },
    ],
    [
      () =>
        new Response(null, {
          status: 500,
          headers: { "retry-after": new Date(FIXED_TIME - 5000).toUTCString() },
        }),
      {
        ok: false,
        retryable: true,
        message: "X-Ray PutTraceSegments failed with HTTP 500",
        retryAfterMs: 0,
      },
    ],
    [
      () =>
        new Response(null, { status: 502, headers: { "retry-after": "soon" } }),
      {
        ok: false,
        retryable: true,
        message: "X-Ray PutTraceSegments failed with HTTP 502",
      },
    ],
    [() => new Response("not json"), { ok: true }],
    [() => Response.json({ UnprocessedTraceSegments: [] }), { ok: true }],
    [
      () =>
        Response.json({
          UnprocessedTraceSegments: [
            { Id: idOf(a), ErrorCode: "ThrottledException", Message: "m" },
            { Id: "not-sent", ErrorCode: "InternalFailure" },
            { Id: idOf(a), ErrorCode: "InvalidSegment" },
            { ErrorCode: 5 },
            null,
            { Id: idOf(b), ErrorCode: "ServiceUnavailable" },
          ],
        }),
      {
        ok: true,
        unprocessed: [
          {
            index: 0,
            errorCode: "ThrottledException",
            retryable: true,
            message: "m",
          },
          { index: -1, errorCode: "InternalFailure", retryable: false },
          { index: 2, errorCode: "InvalidSegment", retryable: false },
          { index: -1, errorCode: "Unknown", retryable: false },
          { index: -1, errorCode: "Unknown", retryable: false },
          { index: 1, errorCode: "ServiceUnavailable", retryable: true },
        ],
      },
    ],
    [
      () =>
        new Response(
          new ReadableStream({
            pull(controller) {
              controller.error(new TypeError("connection reset"));
            },
          }),
        ),
      {
        ok: false,
        retryable: true,
        message:
          "X-Ray response body failed at xray.us-east-1.amazonaws.com: TypeError: connection reset",
      },
    ],
  ];
  for (const [respond, expected] of cases) {
    const sender = xrayApiSender({
      region: REGION,
      credentials: CREDENTIALS,
      clock: { now: () => FIXED_TIME },
      fetch: () => Promise.resolve(respond()),
    });
    const result = await sender.send(docs);
    const { error, ...rest } = result as { error?: Error };
    assert.deepEqual(
      error ? { ...rest, message: error.message } : rest,
      expected,
    );
  }
});

// ---- end to end against moto_server ----

async function startMoto(): Promise<
  { url: string; stop: () => Promise<void> }
> {
  const port = await freePort();
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("moto_server", {
      args: ["-H", "127.0.0.1", "-p", String(port)],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (e) {
    throw new Error(
      `moto_server is needed for this test and could not start (${
        (e as Error).name
      }): install it with pip install 'moto[server]'`,
    );
  }
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    try {
      child.kill("SIGTERM");
    } catch {
      // already gone
    }
    await child.status;
  };
  for (let i = 0; i < 150; i++) {
    try {
      const response = await fetch(`${url}/moto-api/`);
      await response.body?.cancel();
      if (response.ok) return { url, stop };
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await stop();
  throw new Error(
    "moto_server did not come up within 15 s: check pip install 'moto[server]'",
  );
}

Deno.test("documents sent by xrayApiSender are accepted by moto and read back with BatchGetTraces and the AWS CLI", async () => {
  const moto = await startMoto();
  try {
    const credentials = {
      accessKeyId: "testing",
      secretAccessKey: "testing",
    };
    const docs = makeDocuments(60, 7000);
    // One malformed document (no end_time, not in progress): moto lists it in
    // UnprocessedTraceSegments and the batcher counts it as rejected.
    const bad = JSON.parse(makeDocuments(1, 9000)[0]);
    delete bad.end_time;
    const errors: Error[] = [];
    const batcher = createBatcher({
      sender: xrayApiSender({
        region: REGION,
        credentials,
        endpoint: moto.url,
      }),
      onError: (e) => errors.push(e),
    });
    for (const d of docs) batcher.enqueue(d);
    batcher.enqueue(JSON.stringify(bad));
    const result = await batcher.flush({ timeoutMs: 10_000 });
    await batcher.shutdown();
    assert.deepEqual(result, { sent: 60, dropped: 1, remaining: 0 });
    const stats = batcher.stats();
    assert.equal(stats.dropped.rejected, 1);
    assert.equal(stats.sent + totalDropped(stats.dropped), 61);
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /MissingParam/);

    const traceIds = [...new Set(docs.map((d) => JSON.parse(d).trace_id))];
    const client = new XRayClient({
      region: REGION,
      endpoint: moto.url,
      credentials,
    });
    const found = new Map<string, string>();
    for (let i = 0; i < traceIds.length; i += 5) {
      const out = await client.send(
        new BatchGetTracesCommand({ TraceIds: traceIds.slice(i, i + 5) }),
      );
      for (const trace of out.Traces ?? []) {
        for (const segment of trace.Segments ?? []) {
          found.set(segment.Id!, segment.Document!);
        }
      }
    }
    client.destroy();
    assert.equal(found.size, 60);
    for (const d of docs) {
      assert.deepEqual(JSON.parse(found.get(idOf(d))!), JSON.parse(d));
    }
    assertValidDocuments([...found.values()]);

    // Once more with the AWS CLI.
    const cli = await new Deno.Command("aws", {
      args: [
        "xray",
        "batch-get-traces",
        "--trace-ids",
        traceIds[0],
        traceIds[1],
        "--endpoint-url",
        moto.url,
        "--region",
        REGION,
        "--output",
        "json",
      ],
      env: {
        AWS_ACCESS_KEY_ID: "testing",
        AWS_SECRET_ACCESS_KEY: "testing",
        AWS_PAGER: "",
      },
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => {
      throw new Error(
        `The AWS CLI is needed for this test (${e.name}): install it with pip install awscli`,
      );
    });
    assert.equal(
      cli.success,
      true,
      new TextDecoder().decode(cli.stderr),
    );
    const out = JSON.parse(new TextDecoder().decode(cli.stdout));
    const cliIds = out.Traces.flatMap((t: { Segments: { Id: string }[] }) =>
      t.Segments.map((s) => s.Id)
    ).sort();
    assert.deepEqual(
      cliIds,
      docs.filter((d) =>
        [traceIds[0], traceIds[1]].includes(JSON.parse(d).trace_id)
      )
        .map(idOf).sort(),
    );
    assert.equal(cliIds.length, 2);
  } finally {
    await moto.stop();
  }
});
