// matrix: deno,node,bun,deno-npm — OpenTelemetry JS's OTLP exporter and our sender post to one node:http receiver (tests/_server.ts); workerd has no servers
// W3C Trace Context is checked against OpenTelemetry JS's own propagators
// both ways (last tests).
// The same request traced twice into one OTLP receiver: once with xray-edge
// and otlpSender, once with OpenTelemetry JS (sdk-trace-base, the AWS X-Ray
// propagator and id generator, exporter-trace-otlp-http), instrumented by
// hand with the semantic-conventions constants. Both must agree on trace
// ids, parent links, names, kinds, status and HTTP attributes, and on the
// X-Ray header they send downstream.
import assert from "node:assert/strict";
import {
  type Context,
  defaultTextMapGetter,
  defaultTextMapSetter,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
} from "@opentelemetry/api";
import {
  BasicTracerProvider,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { AWSXRayPropagator } from "@opentelemetry/propagator-aws-xray";
import { AWSXRayIdGenerator } from "@opentelemetry/id-generator-aws-xray";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { TraceState, W3CTraceContextPropagator } from "@opentelemetry/core";
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from "@opentelemetry/semantic-conventions";
import { createTracer } from "../mod.ts";
import { otlpSender } from "../src/otlp/mod.ts";
import { traceHeadersFor, w3c } from "../src/w3c.ts";
import { memorySender } from "../src/testing.ts";
import { spansOf, startReceiver } from "./_otlp.ts";

const HEADER =
  "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";

/** What one request does, in both SDKs' vocabulary. */
const REQUEST = {
  method: "POST",
  url: "https://shop.example:8443/cart/items?id=7",
  userAgent: "curl/8",
  clientIp: "203.0.113.9",
  status: 200,
};
const DOWNSTREAM = { method: "GET", url: "https://payments.example/charge" };
const ERROR = new TypeError("bad price");

const HTTP_KEYS = [
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_URL_FULL,
  ATTR_URL_SCHEME,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_USER_AGENT_ORIGINAL,
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
];

/** xray-edge: returns the X-Ray header the downstream call carried. */
async function withXrayEdge(url: string, traceHeader?: string) {
  const tracer = createTracer({
    serviceName: "checkout",
    sender: otlpSender({ url }),
    sampler: { shouldSample: () => ({ sampled: true }) },
  });
  const segment = tracer.startSegment("checkout", { traceHeader });
  segment.setHttpRequest({
    method: REQUEST.method,
    url: REQUEST.url,
    userAgent: REQUEST.userAgent,
    clientIp: REQUEST.clientIp,
  });
  const down = segment.startSubsegment("payments.example", {
    namespace: "remote",
  });
  down.setHttpRequest(DOWNSTREAM);
  const sent = down.traceHeaderFor();
  down.setHttpResponse({ status: 503 });
  down.end();
  const local = segment.startSubsegment("price");
  local.addError(ERROR);
  local.end();
  segment.setHttpResponse({ status: REQUEST.status });
  segment.end();
  await tracer.flush();
  return { sent, downId: down.id };
}

/** OpenTelemetry JS, instrumented by hand after the semantic conventions. */
async function withOpenTelemetry(url: string, traceHeader?: string) {
  const provider = new BasicTracerProvider({
    idGenerator: new AWSXRayIdGenerator(),
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: "checkout" }),
    spanProcessors: [new SimpleSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  const tracer = provider.getTracer("interop-scenario");
  const propagator = new AWSXRayPropagator();
  const incoming: Context = traceHeader
    ? propagator.extract(
      ROOT_CONTEXT,
      { "x-amzn-trace-id": traceHeader },
      defaultTextMapGetter,
    )
    : ROOT_CONTEXT;
  const target = new URL(REQUEST.url);
  const server = tracer.startSpan("checkout", {
    kind: SpanKind.SERVER,
    attributes: {
      [ATTR_HTTP_REQUEST_METHOD]: REQUEST.method,
      [ATTR_URL_SCHEME]: target.protocol.slice(0, -1),
      [ATTR_URL_PATH]: target.pathname,
      [ATTR_URL_QUERY]: target.search.slice(1),
      [ATTR_SERVER_ADDRESS]: target.hostname,
      [ATTR_SERVER_PORT]: Number(target.port),
      [ATTR_USER_AGENT_ORIGINAL]: REQUEST.userAgent,
      [ATTR_CLIENT_ADDRESS]: REQUEST.clientIp,
    },
  }, incoming);
  const inServer = trace.setSpan(incoming, server);
  const down = tracer.startSpan("payments.example", {
    kind: SpanKind.CLIENT,
    attributes: {
      [ATTR_HTTP_REQUEST_METHOD]: DOWNSTREAM.method,
      [ATTR_URL_FULL]: DOWNSTREAM.url,
      [ATTR_SERVER_ADDRESS]: "payments.example",
      [ATTR_SERVER_PORT]: 443,
    },
  }, inServer);
  const carrier: Record<string, string> = {};
  propagator.inject(
    trace.setSpan(inServer, down),
    carrier,
    defaultTextMapSetter,
  );
  down.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, 503);
  down.setStatus({ code: SpanStatusCode.ERROR });
  down.end();
  const local = tracer.startSpan(
    "price",
    { kind: SpanKind.INTERNAL },
    inServer,
  );
  local.recordException(ERROR);
  local.setStatus({ code: SpanStatusCode.ERROR, message: ERROR.message });
  local.end();
  server.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, REQUEST.status);
  server.end();
  await provider.forceFlush();
  await provider.shutdown();
  return {
    sent: carrier["x-amzn-trace-id"],
    downId: down.spanContext().spanId,
  };
}

/** A trace's spans as names → comparable facts (span ids replaced by names). */
// deno-lint-ignore no-explicit-any
function facts(spans: any[]) {
  const names = new Map(spans.map((s) => [s.spanId, s.name]));
  return Object.fromEntries(spans.map((s) => [s.name, {
    traceId: s.traceId,
    parent: names.get(s.parentSpanId) ?? s.parentSpanId,
    kind: s.kind,
    status: s.status?.code ?? 0,
    statusMessage: s.status?.message,
    exceptions: (s.events ?? []).filter((e: { name: string }) =>
      e.name === "exception"
    ).length,
    service: s.resource["service.name"],
    http: Object.fromEntries(
      HTTP_KEYS.filter((k) => k in s.attrs).map((k) => [k, s.attrs[k]]),
    ),
  }]));
}

Deno.test("xray-edge with otlpSender and OpenTelemetry JS agree on a traced request continued from X-Amzn-Trace-Id", async () => {
  const receiver = await startReceiver();
  try {
    const ours = await withXrayEdge(receiver.url, HEADER);
    const oursCalls = receiver.calls.length;
    const theirs = await withOpenTelemetry(receiver.url, HEADER);
    assert.equal(oursCalls, 1);
    assert.ok(receiver.calls.length > oursCalls);
    const ourSpans = spansOf(
      receiver.calls.slice(0, oursCalls).map((c) => c.json),
    );
    const theirSpans = spansOf(
      receiver.calls.slice(oursCalls).map((c) => c.json),
    );
    assert.equal(ourSpans.length, 3);
    assert.equal(theirSpans.length, 3);
    const expected = facts(theirSpans);
    assert.deepEqual(facts(ourSpans), expected);
    // Not vacuous: the facts hold what the scenario set.
    assert.equal(expected.checkout.traceId, "5759e988bd862e3fe1be46a994272793");
    assert.equal(expected.checkout.parent, "53995c3f42cd8ad8");
    assert.equal(expected["payments.example"].parent, "checkout");
    assert.equal(expected["payments.example"].status, 2);
    assert.equal(expected.price.exceptions, 1);
    assert.equal(Object.keys(expected.checkout.http).length, 9);
    // The X-Ray header sent downstream: same form, each naming its own span.
    assert.equal(
      ours.sent,
      theirs.sent.replace(theirs.downId, ours.downId),
    );
  } finally {
    await receiver.close();
  }
});

Deno.test("xray-edge and OpenTelemetry JS's X-Ray id generator both start new traces with the time prefix", async () => {
  const receiver = await startReceiver();
  try {
    const before = Math.floor(Date.now() / 1000);
    await withXrayEdge(receiver.url);
    await withOpenTelemetry(receiver.url);
    const after = Math.floor(Date.now() / 1000);
    const spans = spansOf(receiver.calls.map((c) => c.json));
    const roots = spans.filter((s) => s.name === "checkout");
    assert.equal(roots.length, 2);
    for (const root of roots) {
      assert.equal(root.parentSpanId ?? "", "");
      const seconds = parseInt(root.traceId.slice(0, 8), 16);
      assert.ok(seconds >= before && seconds <= after, root.traceId);
    }
    assert.notEqual(roots[0].traceId, roots[1].traceId);
  } finally {
    await receiver.close();
  }
});

Deno.test("w3c() and OpenTelemetry JS's W3C and X-Ray propagators read each other's headers", () => {
  const tracer = createTracer({
    serviceName: "api",
    sender: memorySender(),
    sampler: { shouldSample: () => ({ sampled: true }) },
    propagation: [w3c()],
  });
  const w3cPropagator = new W3CTraceContextPropagator();
  for (const traceFlags of [1, 0]) {
    // OpenTelemetry → xray-edge.
    const upstream = {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      traceFlags,
      traceState: new TraceState("vendor=x,other=y"),
    };
    const carrier: Record<string, string> = {};
    w3cPropagator.inject(
      trace.setSpanContext(ROOT_CONTEXT, upstream),
      carrier,
      defaultTextMapSetter,
    );
    const segment = tracer.startSegment("api", {
      headers: new Headers(carrier),
    });
    assert.equal(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
    assert.equal(segment.incoming?.parent, upstream.spanId);
    assert.equal(segment.isSampled, traceFlags === 1);
    // xray-edge → OpenTelemetry: both headers name this segment.
    const sent = traceHeadersFor(segment);
    for (
      const [propagator, key] of [
        [w3cPropagator, "traceparent"],
        [new AWSXRayPropagator(), "X-Amzn-Trace-Id"],
      ] as const
    ) {
      assert.ok(sent[key], key);
      const context = trace.getSpanContext(
        propagator.extract(
          ROOT_CONTEXT,
          Object.fromEntries(
            Object.entries(sent).map(([k, v]) => [k.toLowerCase(), v]),
          ),
          defaultTextMapGetter,
        ),
      );
      assert.equal(context?.traceId, upstream.traceId, key);
      assert.equal(context?.spanId, segment.id, key);
      assert.equal(context?.traceFlags, traceFlags, key);
    }
    assert.equal(sent.tracestate, "vendor=x,other=y");
  }
});
