// W3C Trace Context next to X-Amzn-Trace-Id (xray-edge/w3c): the spec's
// parsing rules (the cases of the W3C trace-context test suite that apply to
// a single service), incoming precedence and the headers an entity sends.
// Outgoing fetch, AWS SDK and node:http calls: tests/w3c_calls_test.ts.
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createTracer, type Propagator, type TracerOptions } from "../mod.ts";
import { xray } from "../src/hono.ts";
import { withXRay } from "../src/handler.ts";
import {
  formatTraceparent,
  parseTraceparent,
  parseTracestate,
  traceHeadersFor,
  w3c,
} from "../src/w3c.ts";
import { memorySender, sequentialIds } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";

const W3C_TRACE = "0af7651916cd43dd8448eb211c80319c";
const W3C_PARENT = "b7ad6b7169203331";
const TRACEPARENT = `00-${W3C_TRACE}-${W3C_PARENT}-01`;
const XRAY_ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const XRAY =
  `Root=${XRAY_ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1`;

function setup(options: Partial<TracerOptions> = {}) {
  const sender = memorySender();
  const errors: { error: Error; source: string }[] = [];
  const tracer = createTracer({
    serviceName: "api",
    sender,
    ids: sequentialIds(),
    sampler: { shouldSample: () => ({ sampled: true }) },
    propagation: [w3c()],
    onError: (error, source) => errors.push({ error, source }),
    ...options,
  });
  return { tracer, sender, errors };
}

Deno.test("parseTraceparent() follows the W3C Trace Context rules (test-suite cases)", () => {
  const valid: [string, [string, string, number]][] = [
    [TRACEPARENT, [W3C_TRACE, W3C_PARENT, 1]],
    [`00-${W3C_TRACE}-${W3C_PARENT}-00`, [W3C_TRACE, W3C_PARENT, 0]],
    // Unknown flag bits are carried, only bit 0 is read.
    [`00-${W3C_TRACE}-${W3C_PARENT}-09`, [W3C_TRACE, W3C_PARENT, 9]],
    // Optional white space around the value.
    [` \t${TRACEPARENT}\t `, [W3C_TRACE, W3C_PARENT, 1]],
    // A future version: its first four fields, then anything after a "-".
    [`cc-${W3C_TRACE}-${W3C_PARENT}-01`, [W3C_TRACE, W3C_PARENT, 1]],
    [
      `cc-${W3C_TRACE}-${W3C_PARENT}-01-what-the-future-will-be-like`,
      [W3C_TRACE, W3C_PARENT, 1],
    ],
  ];
  for (const [value, [traceId, parentId, flags]] of valid) {
    assert.deepEqual(
      parseTraceparent(value),
      { traceId, parentId, flags },
      value,
    );
  }
  const invalid = [
    "",
    `ff-${W3C_TRACE}-${W3C_PARENT}-01`, // version ff is forbidden
    `00-${W3C_TRACE}-${W3C_PARENT}-01-extra`, // version 00 has exactly 4 fields
    `00-${W3C_TRACE}-${W3C_PARENT}-010`, // overlong
    `cc-${W3C_TRACE}-${W3C_PARENT}-01.what`, // future fields need a "-"
    `00-${"0".repeat(32)}-${W3C_PARENT}-01`, // all-zero trace id
    `00-${W3C_TRACE}-${"0".repeat(16)}-01`, // all-zero parent id
    `00-${W3C_TRACE.toUpperCase()}-${W3C_PARENT}-01`, // upper case
    `00-${W3C_TRACE}-${W3C_PARENT.toUpperCase()}-01`,
    `0A-${W3C_TRACE}-${W3C_PARENT}-01`,
    `00-${W3C_TRACE}-${W3C_PARENT}-0g`, // bad flags
    `00-${W3C_TRACE}-${W3C_PARENT}-1`,
    `0-${W3C_TRACE}-${W3C_PARENT}-01`, // short version
    `00-${W3C_TRACE.slice(1)}-${W3C_PARENT}-01`, // short trace id
    `00-${W3C_TRACE}-${W3C_PARENT.slice(1)}-01`, // short parent id
    `00_${W3C_TRACE}_${W3C_PARENT}_01`, // wrong delimiter
    `00-.${W3C_TRACE.slice(1)}-${W3C_PARENT}-01`, // illegal character
    `${TRACEPARENT}, ${TRACEPARENT}`, // two traceparent headers
  ];
  for (const value of invalid) {
    assert.equal(parseTraceparent(value), undefined, value);
  }
  assert.equal(parseTraceparent(undefined), undefined);
  assert.equal(parseTraceparent(null), undefined);
});

Deno.test("parseTracestate() keeps a valid list and drops an invalid one whole", () => {
  assert.equal(parseTracestate("foo=1,bar=2"), "foo=1,bar=2");
  // Optional white space and empty members.
  assert.equal(parseTracestate(" foo=1 ,\t, bar=2 "), "foo=1,bar=2");
  assert.equal(parseTracestate("tenant@sys=a b"), "tenant@sys=a b");
  const thirtyTwo = Array.from({ length: 32 }, (_, i) => `k${i}=v`);
  assert.equal(parseTracestate(thirtyTwo.join(",")), thirtyTwo.join(","));
  for (
    const bad of [
      "foo=1,foo=2", // duplicate key
      [...thirtyTwo, "k32=v"].join(","), // 33 members
      "FOO=1", // upper-case key
      "foo=1=2", // "=" in a value
      "foo", // no value
      "foo=a\u00e9", // not printable ASCII
      "",
    ]
  ) {
    assert.equal(parseTracestate(bad), undefined, bad);
  }
});

Deno.test("formatTraceparent() writes the X-Ray context in W3C form, lower case", () => {
  assert.equal(
    formatTraceparent(
      "Root=1-5759E988-BD862e3fe1be46a994272793;Parent=53995C3F42cd8ad8;Sampled=0",
    ),
    "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-00",
  );
  assert.equal(formatTraceparent(`Root=${XRAY_ROOT};Sampled=1`), undefined);
});

Deno.test("w3c(): a request with only traceparent continues the W3C trace (ids mapped as AWS's propagator does)", async () => {
  const { tracer, sender } = setup();
  const segment = tracer.startSegment("api", {
    headers: new Headers({ traceparent: TRACEPARENT, tracestate: "vendor=x" }),
  });
  assert.equal(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  segment.end();
  await tracer.flush();
  assertValidDocuments(sender.documents);
  assert.equal(sender.documents[0].parent_id, W3C_PARENT);
  assert.equal(
    sender.documents[0].trace_id,
    "1-0af76519-16cd43dd8448eb211c80319c",
  );
  // The sampled flag decides: 00 records nothing.
  const unsampled = tracer.startSegment("api", {
    headers: new Headers({ traceparent: `00-${W3C_TRACE}-${W3C_PARENT}-00` }),
  });
  assert.equal(unsampled.isSampled, false);
  assert.equal(
    traceHeadersFor(unsampled).traceparent,
    `00-${W3C_TRACE}-${unsampled.id}-00`,
  );
});

Deno.test("w3c(): X-Ray wins when both headers are present; tracestate only follows a traceparent of the same trace", () => {
  const { tracer } = setup();
  // They disagree: X-Ray's trace, and the other trace's tracestate dropped.
  const a = tracer.startSegment("api", {
    traceHeader: XRAY,
    headers: new Headers({ traceparent: TRACEPARENT, tracestate: "vendor=x" }),
  });
  assert.equal(a.traceId, XRAY_ROOT);
  assert.deepEqual(traceHeadersFor(a), {
    "X-Amzn-Trace-Id":
      `Root=${XRAY_ROOT};Parent=${a.id};Sampled=1;Lineage=a87bd80c:1`,
    traceparent: `00-5759e988bd862e3fe1be46a994272793-${a.id}-01`,
  });
  // They agree: X-Ray's fields, W3C's tracestate kept; W3C fills a missing Parent.
  const b = tracer.startSegment("api", {
    traceHeader: `Root=${XRAY_ROOT.toUpperCase()}`,
    headers: new Headers({
      traceparent: `00-5759e988bd862e3fe1be46a994272793-${W3C_PARENT}-01`,
      tracestate: "vendor=x",
    }),
  });
  assert.equal(b.traceId, XRAY_ROOT.toUpperCase());
  assert.equal(b.incoming?.parent, W3C_PARENT);
  assert.equal(b.isSampled, true);
  assert.deepEqual(traceHeadersFor(b), {
    "X-Amzn-Trace-Id":
      `Root=${XRAY_ROOT.toUpperCase()};Parent=${b.id};Sampled=1`,
    traceparent: `00-5759e988bd862e3fe1be46a994272793-${b.id}-01`,
    tracestate: "vendor=x",
  });
  // An X-Ray header without a valid Root: W3C gives the context, X-Ray's
  // extra keys stay.
  const c = tracer.startSegment("api", {
    traceHeader: "Root=1-bad;Lineage=a87bd80c:1",
    headers: new Headers({ traceparent: TRACEPARENT }),
  });
  assert.equal(c.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  assert.equal(
    traceHeadersFor(c)["X-Amzn-Trace-Id"],
    `Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=${c.id};Sampled=1;Lineage=a87bd80c:1`,
  );
});

Deno.test("w3c(): a malformed traceparent is ignored (new trace with the time prefix), never thrown on", () => {
  const { tracer, errors } = setup({ ids: undefined });
  const before = Math.floor(Date.now() / 1000);
  const segment = tracer.startSegment("api", {
    headers: new Headers({
      traceparent: `00-${W3C_TRACE.toUpperCase()}-${W3C_PARENT}-01`,
      tracestate: "vendor=x",
    }),
  });
  assert.notEqual(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  assert.ok(parseInt(segment.traceId.slice(2, 10), 16) >= before);
  const headers = traceHeadersFor(segment);
  // A new trace: both formats name it, no foreign tracestate.
  assert.equal(
    headers.traceparent,
    `00-${segment.traceId.slice(2).replace("-", "")}-${segment.id}-01`,
  );
  assert.equal(headers.tracestate, undefined);
  const throwing = {
    get(): string {
      throw new Error("broken headers");
    },
  };
  assert.doesNotThrow(() => tracer.startSegment("api", { headers: throwing }));
  assert.deepEqual(errors, []);
});

Deno.test("without w3c() the tracer ignores traceparent and sends only X-Amzn-Trace-Id", () => {
  const { tracer } = setup({ propagation: undefined });
  const segment = tracer.startSegment("api", {
    headers: new Headers({ traceparent: TRACEPARENT }),
  });
  assert.notEqual(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  assert.deepEqual(Object.keys(traceHeadersFor(segment)), ["X-Amzn-Trace-Id"]);
});

Deno.test("w3c() also reads headers through a function from lower-case names (raw node:http headers)", () => {
  const { tracer } = setup();
  const raw: Record<string, string> = {
    traceparent: TRACEPARENT,
    tracestate: "vendor=x",
  };
  const segment = tracer.startSegment("api", { headers: (name) => raw[name] });
  assert.equal(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  assert.equal(traceHeadersFor(segment).tracestate, "vendor=x");
});

Deno.test("w3c({ inject: false }) reads traceparent but sends only X-Amzn-Trace-Id", () => {
  const { tracer } = setup({ propagation: [w3c({ inject: false })] });
  const segment = tracer.startSegment("api", {
    headers: new Headers({ traceparent: TRACEPARENT }),
  });
  assert.equal(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  assert.deepEqual(Object.keys(traceHeadersFor(segment)), ["X-Amzn-Trace-Id"]);
  assert.equal(
    tracer.startSegment("api", { headers: new Headers() }).incoming,
    undefined,
  );
});

Deno.test("a propagator that throws is reported and skipped", () => {
  const broken: Propagator = () => {
    throw new Error("broken propagator");
  };
  const { tracer, errors } = setup({ propagation: [broken, w3c()] });
  const segment = tracer.startSegment("api", {
    headers: new Headers({ traceparent: TRACEPARENT }),
  });
  assert.equal(segment.traceId, "1-0af76519-16cd43dd8448eb211c80319c");
  assert.deepEqual(
    errors.map((e) => [e.source, e.error.message]),
    [["config", "broken propagator"]],
  );
});

Deno.test("Hono and withXRay read traceparent from the request", async () => {
  const { tracer, sender } = setup();
  const app = new Hono();
  app.use(xray({ tracer }));
  app.get("/", (c) => c.text("ok"));
  const res = await app.request("/", { headers: { traceparent: TRACEPARENT } });
  assert.equal(await res.text(), "ok");
  const handler = withXRay(() => new Response("ok"), { tracer });
  const answer = await handler(
    new Request("http://api.example/", {
      headers: { traceparent: TRACEPARENT },
    }),
  );
  assert.equal(await answer.text(), "ok");
  await tracer.flush();
  assertValidDocuments(sender.documents);
  assert.deepEqual(
    sender.documents.map((d) => [d.trace_id, d.parent_id]),
    [
      ["1-0af76519-16cd43dd8448eb211c80319c", W3C_PARENT],
      ["1-0af76519-16cd43dd8448eb211c80319c", W3C_PARENT],
    ],
  );
});
