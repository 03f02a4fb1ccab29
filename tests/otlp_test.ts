// matrix: deno,node,bun,deno-npm — the OTLP receiver is a node:http server (tests/_server.ts); workerd has no servers
// otlpSender: what the tracer records reaches an OTLP/HTTP receiver as JSON
// the official OTLP definitions (@opentelemetry/otlp-transformer's protobuf
// code) decode field by field, mapped to current semantic conventions; X-Ray's
// OTLP endpoint gets a SigV4 signature @smithy/signature-v4 agrees with; and
// the batcher's retries and drop counting work as with the other senders.
import assert from "node:assert/strict";
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/protocol-http";
import { Sha256 } from "@aws-crypto/sha256-js";
import { createTracer, type Sender, type TracerOptions } from "../mod.ts";
import { otlpSender } from "../src/otlp/mod.ts";
import { sequentialIds } from "../src/testing.ts";
import {
  decodeProtobuf,
  type OtlpCall,
  roundTrip,
  spansOf,
  startReceiver,
  withoutDefaults,
} from "./_otlp.ts";

const HEADER =
  "Root=1-5759E988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
const OTEL_TRACE = "5759e988bd862e3fe1be46a994272793";

function tracerFor(
  sender: TracerOptions["sender"],
  options: Partial<TracerOptions> = {},
) {
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "checkout",
    serviceVersion: "1.2.3",
    sender,
    ids: sequentialIds(),
    sampler: { shouldSample: () => ({ sampled: true }) },
    onError: (e) => errors.push(e),
    ...options,
  });
  return { tracer, errors };
}

/** A request with every block: http, annotations, metadata, sql, aws, errors. */
function recordScenario(tracer: ReturnType<typeof tracerFor>["tracer"]) {
  const segment = tracer.startSegment("checkout", { traceHeader: HEADER });
  segment.setHttpRequest({
    method: "POST",
    url: "https://shop.example:8443/cart/items?id=7",
    userAgent: "curl/8",
    clientIp: "203.0.113.9",
  });
  segment.annotate("customer", "c-42").annotate("http_route", "/cart/items");
  segment.annotate("items", 3).annotate("gift", false);
  segment.annotate("ratio", 0.25).annotate("delta", -2);
  segment.addMetadata("cart", { total: 12.5, skus: ["a", "b"] }, "shop");
  segment.setUser("alice");
  const remote = segment.startSubsegment("payments.example", {
    namespace: "remote",
  });
  remote.setHttpRequest({
    method: "GET",
    url: "https://payments.example/charge",
    traced: true,
  });
  remote.setHttpResponse({ status: 503, contentLength: 17 });
  remote.end();
  const db = segment.startSubsegment("orders@db.example", {
    namespace: "remote",
  });
  db.setSql({
    url: "postgresql://db.example:5433/orders",
    databaseType: "PostgreSQL",
    databaseVersion: "16.2",
    sanitizedQuery: "SELECT * FROM orders WHERE id = $1",
    user: "app",
  });
  db.end();
  const aws = segment.startSubsegment("DynamoDB", { namespace: "aws" });
  aws.setAws({
    operation: "GetItem",
    region: "eu-west-1",
    request_id: "REQ1",
    table_name: "carts",
    retries: 0,
  });
  aws.setHttpResponse({ status: 200 });
  aws.end();
  const local = segment.startSubsegment("price");
  local.addError(new TypeError("bad price"));
  local.end();
  segment.setHttpResponse({ status: 200, contentLength: 2 });
  segment.end();
  return segment;
}

Deno.test("otlpSender posts OTLP/JSON the official OTLP definitions decode field by field", async () => {
  const receiver = await startReceiver();
  try {
    const { tracer, errors } = tracerFor(otlpSender({ url: receiver.url }));
    recordScenario(tracer);
    const result = await tracer.flush();
    assert.deepEqual(result, { sent: 1, dropped: 0, remaining: 0 });
    assert.deepEqual(errors, []);
    assert.equal(receiver.calls.length, 1);
    const call = receiver.calls[0];
    assert.equal(call.path, "/v1/traces");
    assert.equal(call.headers.get("content-type"), "application/json");
    // Every field survives verify → encode → decode in the official code.
    assert.deepEqual(
      withoutDefaults(roundTrip(call.json)),
      withoutDefaults(call.json),
    );
    assert.equal(
      roundTrip(call.json).resourceSpans[0].scopeSpans[0].spans.length,
      5,
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender with encoding protobuf sends what the official definitions decode to the JSON body's content", async () => {
  const receiver = await startReceiver();
  try {
    const json = otlpSender({ url: receiver.url });
    const protobuf = otlpSender({ url: receiver.url, encoding: "protobuf" });
    // The same documents through both encodings.
    const both: Sender = {
      async send(documents, options) {
        const result = await json.send(documents, options);
        const second = await protobuf.send(documents, options);
        return result.ok ? second : result;
      },
    };
    const { tracer, errors } = tracerFor(both);
    recordScenario(tracer);
    assert.deepEqual(await tracer.flush(), {
      sent: 1,
      dropped: 0,
      remaining: 0,
    });
    assert.deepEqual(errors, []);
    const [asJson, asProtobuf] = receiver.calls;
    assert.equal(
      asProtobuf.headers.get("content-type"),
      "application/x-protobuf",
    );
    const decoded = decodeProtobuf(asProtobuf.bytes);
    assert.deepEqual(
      withoutDefaults(decoded),
      withoutDefaults(roundTrip(asJson.json)),
    );
    assert.equal(decoded.resourceSpans[0].scopeSpans[0].spans.length, 5);
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender maps segments, subsegments and their blocks to semantic conventions", async () => {
  const receiver = await startReceiver();
  try {
    const { tracer } = tracerFor(otlpSender({
      url: receiver.url,
      resource: { "deployment.environment.name": "test" },
    }));
    const segment = recordScenario(tracer);
    await tracer.flush();
    const spans = spansOf(receiver.calls.map((c) => c.json));
    const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
    const server = byName.checkout;
    // Ids: the X-Ray trace id as AWS's propagator maps it (lower case), the
    // incoming Parent as the remote parent.
    for (const span of spans) assert.equal(span.traceId, OTEL_TRACE);
    assert.equal(server.spanId, segment.id);
    assert.equal(server.parentSpanId, "53995c3f42cd8ad8");
    assert.equal(server.flags, 0x301);
    assert.equal(server.kind, 2);
    assert.deepEqual(server.status, { code: 0 });
    assert.equal(
      BigInt(server.endTimeUnixNano) >= BigInt(server.startTimeUnixNano),
      true,
    );
    assert.match(server.startTimeUnixNano, /^\d{16,}000$/);
    assert.deepEqual(server.resource, {
      "service.name": "checkout",
      "service.version": "1.2.3",
      "process.runtime.name": server.resource["process.runtime.name"],
      ...(server.resource["process.runtime.version"] === undefined ? {} : {
        "process.runtime.version": server.resource["process.runtime.version"],
      }),
      "telemetry.sdk.name": "xray-edge",
      "telemetry.sdk.version": server.resource["telemetry.sdk.version"],
      "telemetry.sdk.language": server.resource["telemetry.sdk.language"],
      "deployment.environment.name": "test",
    });
    assert.deepEqual(server.attrs, {
      "http.request.method": "POST",
      "server.address": "shop.example",
      "server.port": 8443,
      "url.scheme": "https",
      "url.path": "/cart/items",
      "url.query": "id=7",
      "user_agent.original": "curl/8",
      "client.address": "203.0.113.9",
      "http.response.status_code": 200,
      "http.response.body.size": 2,
      "enduser.id": "alice",
      customer: "c-42",
      http_route: "/cart/items",
      items: 3,
      gift: false,
      ratio: 0.25,
      delta: -2,
      "aws.xray.annotations": [
        "customer",
        "http_route",
        "items",
        "gift",
        "ratio",
        "delta",
      ],
      "http.route": "/cart/items",
      "aws.xray.metadata.shop": '{"cart":{"total":12.5,"skus":["a","b"]}}',
    });
    const remote = byName["payments.example"];
    assert.equal(remote.kind, 3);
    assert.equal(remote.parentSpanId, segment.id);
    assert.equal(remote.flags, 0x101);
    assert.deepEqual(remote.status, { code: 2 });
    assert.deepEqual(remote.attrs, {
      "http.request.method": "GET",
      "url.full": "https://payments.example/charge",
      "server.address": "payments.example",
      "server.port": 443,
      "aws.xray.traced": true,
      "http.response.status_code": 503,
      "http.response.body.size": 17,
    });
    assert.deepEqual(byName["orders@db.example"].attrs, {
      "db.system.name": "postgresql",
      "db.query.text": "SELECT * FROM orders WHERE id = $1",
      "server.address": "db.example",
      "server.port": 5433,
      "db.namespace": "orders",
      "aws.xray.sql.url": "postgresql://db.example:5433/orders",
      "aws.xray.sql.database_version": "16.2",
      "aws.xray.sql.user": "app",
    });
    const dynamo = byName.DynamoDB;
    assert.equal(dynamo.kind, 3);
    assert.deepEqual(dynamo.attrs, {
      "http.response.status_code": 200,
      "rpc.system": "aws-api",
      "rpc.service": "DynamoDB",
      "rpc.method": "GetItem",
      "cloud.region": "eu-west-1",
      "aws.request_id": "REQ1",
      "aws.dynamodb.table_names": ["carts"],
      "aws.xray.retries": 0,
    });
    const price = byName.price;
    assert.equal(price.kind, 1);
    assert.deepEqual(price.status, { code: 2, message: "bad price" });
    assert.equal(price.events.length, 1);
    const event = price.events[0];
    assert.equal(event.name, "exception");
    assert.equal(event.timeUnixNano, price.endTimeUnixNano);
    const eventAttrs = Object.fromEntries(
      event.attributes.map((
        a: { key: string; value: { stringValue: string } },
      ) => [
        a.key,
        a.value.stringValue,
      ]),
    );
    assert.equal(eventAttrs["exception.type"], "TypeError");
    assert.equal(eventAttrs["exception.message"], "bad price");
    assert.match(
      eventAttrs["exception.stacktrace"],
      /^TypeError: bad price\n {4}at /,
    );
    assert.match(eventAttrs["aws.xray.exception.id"], /^[0-9a-f]{16}$/);
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender gives streamed subsegments their segment's resource and skips what is still in progress", async () => {
  const receiver = await startReceiver();
  try {
    const { tracer } = tracerFor(otlpSender({ url: receiver.url }), {
      streamingThreshold: 0,
    });
    const segment = tracer.startSegment("worker");
    const open = segment.startSubsegment("slow");
    const done = segment.startSubsegment("quick");
    done.end();
    segment.end();
    await tracer.flush();
    let spans = spansOf(receiver.calls.map((c) => c.json));
    // "slow" is open: left out until it ends.
    assert.deepEqual(spans.map((s) => s.name).sort(), ["quick", "worker"]);
    open.end();
    await tracer.flush();
    spans = spansOf(receiver.calls.map((c) => c.json));
    const slow = spans.find((s) => s.name === "slow");
    assert.equal(slow.parentSpanId, segment.id);
    assert.equal(slow.resource["service.name"], "worker");
    assert.equal(spans.filter((s) => s.name === "quick").length, 1);
    for (const call of receiver.calls) {
      assert.deepEqual(
        withoutDefaults(roundTrip(call.json)),
        withoutDefaults(call.json),
      );
    }
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender retries 503 and 429 (Retry-After), drops 400 and counts rejected spans", async () => {
  const answers = [
    new Response("busy", { status: 503 }),
    new Response("slow down", { status: 429, headers: { "retry-after": "0" } }),
    Response.json({}),
    Response.json({ code: 3, message: "bad span" }, { status: 400 }),
    Response.json({
      partialSuccess: { rejectedSpans: "1", errorMessage: "too old" },
    }),
  ];
  const receiver = await startReceiver((n) => answers[n]);
  try {
    const { tracer, errors } = tracerFor(otlpSender({ url: receiver.url }), {
      batch: { backoffBaseMs: 1, maxBackoffMs: 1 },
    });
    tracer.startSegment("a").end();
    assert.deepEqual(await tracer.flush(), {
      sent: 1,
      dropped: 0,
      remaining: 0,
    });
    assert.equal(tracer.stats().retried, 2);
    tracer.startSegment("b").end();
    assert.deepEqual(await tracer.flush(), {
      sent: 0,
      dropped: 1,
      remaining: 0,
    });
    assert.match(errors.at(-1)!.message, /HTTP 400 \(bad span\)/);
    tracer.startSegment("c").end();
    assert.deepEqual(await tracer.flush(), {
      sent: 0,
      dropped: 1,
      remaining: 0,
    });
    assert.match(errors.at(-1)!.message, /rejected 1/);
    assert.equal(tracer.stats().dropped.rejected, 2);
    assert.equal(receiver.calls.length, 5);
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender answers documents that are not X-Ray documents as unprocessed", async () => {
  const receiver = await startReceiver();
  try {
    const sender = otlpSender({ url: receiver.url });
    const result = await sender.send(["not json", '{"name":"x"}']);
    assert.deepEqual(
      result.ok && result.unprocessed?.map((u) => [u.index, u.retryable]),
      [[0, false], [1, false]],
    );
    assert.equal(receiver.calls.length, 0);
  } finally {
    await receiver.close();
  }
});

const CREDENTIALS = {
  accessKeyId: "AKIDOTLPEXAMPLE00001",
  secretAccessKey: "sEcReT/OTLPxRfiCYEXAMPLEKEY000000000001",
  sessionToken: "SeSsIoNtOkEnOTLP//////////wEaCXVzLWVhc3QtMSJHMEUCIQD",
};

/** Recomputes a captured request's Authorization with @smithy/signature-v4. */
async function smithyAuthorization(call: OtlpCall): Promise<string> {
  const authorization = call.headers.get("authorization")!;
  const signed = /SignedHeaders=([^,]+)/.exec(authorization)![1].split(";");
  const headers: Record<string, string> = {};
  for (const name of signed) headers[name] = call.headers.get(name)!;
  const [hostname, port] = headers.host.split(":");
  const date = call.headers.get("x-amz-date")!.replace(
    /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/,
    "$1-$2-$3T$4:$5:$6Z",
  );
  const signer = new SignatureV4({
    service: "xray",
    region: "eu-central-1",
    credentials: CREDENTIALS,
    sha256: Sha256,
    applyChecksum: false,
  });
  const request = await signer.sign(
    new HttpRequest({
      method: "POST",
      protocol: "http:",
      hostname,
      port: Number(port),
      path: call.path,
      headers,
      body: call.text,
    }),
    { signingDate: new Date(date), signableHeaders: new Set(signed) },
  );
  return request.headers.authorization;
}

Deno.test("otlpSender signs for X-Ray's OTLP endpoint with SigV4 (service xray), as @smithy/signature-v4 does", async () => {
  const receiver = await startReceiver((n) =>
    n === 0
      ? Response.json({
        message: "The security token included in the request is expired",
      }, {
        status: 403,
        headers: { "x-amzn-errortype": "ExpiredTokenException" },
      })
      : Response.json({})
  );
  try {
    const refreshed: boolean[] = [];
    const { tracer, errors } = tracerFor(
      otlpSender({
        region: "eu-central-1",
        credentials: (o) => {
          refreshed.push(o?.forceRefresh === true);
          return Promise.resolve(CREDENTIALS);
        },
        url: receiver.url,
        headers: { "x-extra": "1" },
      }),
      { batch: { backoffBaseMs: 1, maxBackoffMs: 1 } },
    );
    tracer.startSegment("signed").end();
    assert.deepEqual(await tracer.flush(), {
      sent: 1,
      dropped: 0,
      remaining: 0,
    });
    assert.deepEqual(refreshed, [false, true]);
    assert.deepEqual(errors, []);
    const call = receiver.calls[1];
    assert.equal(call.headers.get("x-extra"), "1");
    assert.equal(
      call.headers.get("x-amz-security-token"),
      CREDENTIALS.sessionToken,
    );
    assert.match(
      call.headers.get("authorization")!,
      /^AWS4-HMAC-SHA256 Credential=AKIDOTLPEXAMPLE00001\/\d{8}\/eu-central-1\/xray\/aws4_request, /,
    );
    assert.equal(
      call.headers.get("authorization"),
      await smithyAuthorization(call),
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender never puts credentials or signatures in error reports", async () => {
  const receiver = await startReceiver(() =>
    Response.json({ message: `denied ${CREDENTIALS.secretAccessKey}` }, {
      status: 400,
    })
  );
  try {
    const { tracer, errors } = tracerFor(otlpSender({
      region: "eu-central-1",
      credentials: CREDENTIALS,
      url: receiver.url,
    }));
    tracer.startSegment("x").end();
    await tracer.flush();
    assert.equal(errors.length, 1);
    assert.match(errors[0].message, /denied \[redacted\]/);
    assert.doesNotMatch(errors[0].message, /sEcReT/);
  } finally {
    await receiver.close();
  }
});

Deno.test("otlpSender defaults to X-Ray's OTLP endpoint for a region and refuses bad configuration", async () => {
  const urls: string[] = [];
  const sender = otlpSender({
    region: "ap-south-1",
    credentials: CREDENTIALS,
    fetch: (input) => {
      urls.push(String(input));
      return Promise.resolve(Response.json({}));
    },
  });
  const { tracer } = tracerFor(sender);
  tracer.startSegment("x").end();
  await tracer.flush();
  assert.deepEqual(urls, ["https://xray.ap-south-1.amazonaws.com/v1/traces"]);
  assert.equal(
    (() => {
      try {
        otlpSender({ url: "ftp://x" });
      } catch (e) {
        return (e as Error).message;
      }
    })(),
    `Cannot create sender as 'url' must be an http(s) URL without a query string: current value is "ftp://x"`,
  );
  assert.throws(() => otlpSender({}), TypeError);
  assert.throws(
    () => otlpSender({ region: "Bad Region", credentials: CREDENTIALS }),
    TypeError,
  );
  assert.throws(
    () => otlpSender({ url: "http://x", credentials: CREDENTIALS }),
    TypeError,
  );
  assert.throws(() => otlpSender({ region: "us-east-1" }), TypeError);
  assert.throws(
    () =>
      otlpSender({
        region: "us-east-1",
        credentials: CREDENTIALS,
        encoding: "protobuf",
      }),
    /'encoding' must be "json" for signed requests/,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => otlpSender({ url: "http://x", encoding: "xml" as any }),
    /'encoding' must be "json" or "protobuf": current value is "xml"/,
  );
});
