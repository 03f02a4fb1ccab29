import assert from "node:assert/strict";
import { PARENT, ROOT, testTracer } from "./_helpers.ts";
import { expectedRuntime } from "./_runtime.ts";

Deno.test("a segment document carries ids, times, sdk and runtime", async () => {
  const { tracer, clock, flushed } = testTracer();
  const segment = tracer.startSegment("checkout", {
    traceHeader: `Root=${ROOT};Parent=${PARENT};Sampled=1`,
  });
  clock.advance(12.3456);
  segment.end();
  const [doc] = await flushed();
  assert.equal(doc.name, "checkout");
  assert.equal(doc.id, "0000000000000001");
  assert.equal(doc.trace_id, ROOT);
  assert.equal(doc.parent_id, PARENT);
  assert.equal(doc.start_time, 1767225600);
  assert.equal(doc.end_time, 1767225600.012346);
  assert.equal(doc.in_progress, undefined);
  assert.deepEqual(doc.aws.xray, { sdk: "xray-edge", sdk_version: "0.1.0" });
  // The matrix runs this file on Node, Bun and workerd too.
  const expected = expectedRuntime();
  assert.equal(doc.service.runtime, expected.runtime);
  if (expected.versionPrefix === undefined) {
    assert.equal(doc.service.runtime_version, undefined);
  } else {
    assert.ok(doc.service.runtime_version.startsWith(expected.versionPrefix));
  }
  assert.equal(doc.error, undefined);
  assert.equal(doc.fault, undefined);
  assert.equal(doc.annotations, undefined);
  assert.equal(doc.subsegments, undefined);
});

Deno.test("annotate() keeps valid annotations and rejects bad ones whole", async () => {
  const { tracer, errors, flushed } = testTracer();
  const s = tracer.startSegment("a", { sampled: true });
  s.annotate("customer", "c-42").annotate("total", 12.5).annotate("vip", true);
  s.annotate("bad-key", "x");
  s.annotate("", "x");
  s.annotate("k".repeat(501), "x");
  // deno-lint-ignore no-explicit-any
  s.annotate("obj", { a: 1 } as any);
  s.annotate("nan", NaN);
  s.annotate("long", "x".repeat(1001));
  s.end();
  const [doc] = await flushed();
  assert.deepEqual(doc.annotations, {
    customer: "c-42",
    total: 12.5,
    vip: true,
  });
  assert.equal(errors.length, 6);
  assert.ok(errors.every((e) => e.source === "recording"));
  assert.match(errors[0].error.message, /'bad-key'/);
  assert.match(errors[3].error.message, /an object/);
  assert.equal(tracer.stats().rejectedRecordings, 6);
});

Deno.test("annotate() stops at 50 annotations but may overwrite existing keys", async () => {
  const { tracer, errors, flushed } = testTracer();
  const s = tracer.startSegment("a", { sampled: true });
  for (let i = 0; i < 51; i++) s.annotate(`k${i}`, i);
  s.annotate("k0", "again");
  s.end();
  const [doc] = await flushed();
  assert.equal(Object.keys(doc.annotations).length, 50);
  assert.equal(doc.annotations.k0, "again");
  assert.equal(doc.annotations.k50, undefined);
  assert.equal(errors.length, 1);
  assert.match(errors[0].error.message, /50 annotations/);
});

Deno.test("addMetadata() groups by namespace and refuses AWS. namespaces", async () => {
  const { tracer, errors, flushed } = testTracer();
  const s = tracer.startSegment("a", { sampled: true });
  s.addMetadata("cart", { items: [1, 2], total: 3n });
  s.addMetadata("debug", "x", "shop");
  s.addMetadata("nope", 1, "AWS.reserved");
  s.end();
  const [doc] = await flushed();
  assert.deepEqual(doc.metadata, {
    default: { cart: { items: [1, 2], total: "3" } },
    shop: { debug: "x" },
  });
  assert.equal(errors.length, 1);
});

Deno.test("addMetadata() leaves out namespaces with nothing JSON can hold, and metadata with none", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("a", { sampled: true });
  s.addMetadata("f", () => 1, "fns");
  s.addMetadata("u", undefined, "fns");
  s.addMetadata("toJSON", () => "x", "odd");
  s.addMetadata("deep", { a: { b: 1 } }, "kept");
  s.addMetadata("constructor", 1, "kept");
  s.addMetadata("toJSON", () => [1], "list");
  s.end();
  const empty = tracer.startSegment("b", { sampled: true });
  empty.addMetadata("s", Symbol("x"));
  empty.end();
  const [doc, emptyDoc] = await flushed();
  assert.deepEqual(doc.metadata, {
    kept: { deep: { a: { b: 1 } }, constructor: 1 },
  });
  assert.equal("metadata" in emptyDoc, false);
});

Deno.test("setHttpResponse() sets fault for 5xx, throttle and error for 429, error for 4xx", async () => {
  const { tracer, flushed } = testTracer();
  for (const status of [200, 404, 429, 500, 503]) {
    tracer.startSegment("s", { sampled: true }).setHttpResponse({
      status,
      contentLength: 10,
    })
      .end();
  }
  const docs = await flushed();
  const flags = docs.map((
    d,
  ) => [d.http.response.status, !!d.error, !!d.fault, !!d.throttle]);
  assert.deepEqual(flags, [
    [200, false, false, false],
    [404, true, false, false],
    [429, true, false, true],
    [500, false, true, false],
    [503, false, true, false],
  ]);
  assert.equal(docs[0].http.response.content_length, 10);
});

Deno.test("setHttpRequest() strips credentials and cuts long fields to 250 characters", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  s.setHttpRequest({
    method: "POST",
    url: "https://user:secret@api.example.com/pay?x=1",
    userAgent: "u".repeat(300),
    clientIp: "203.0.113.9",
    xForwardedFor: true,
  });
  s.setUser("x".repeat(300));
  s.end();
  const [doc] = await flushed();
  assert.equal(doc.http.request.url, "https://api.example.com/pay?x=1");
  assert.equal(doc.http.request.user_agent.length, 250);
  assert.equal(doc.http.request.client_ip, "203.0.113.9");
  assert.equal(doc.http.request.x_forwarded_for, true);
  assert.equal(doc.user.length, 250);
});

Deno.test("addError() records the exception with parsed frames and sets fault", async () => {
  const { tracer, flushed } = testTracer({ maxStackFrames: 2 });
  const s = tracer.startSegment("s", { sampled: true });
  // Not a tail call: JavaScriptCore (Bun) drops frames of proper tail calls.
  function deep(n: number): number {
    if (n === 0) throw new RangeError("too deep");
    return deep(n - 1) + 1;
  }
  try {
    deep(5);
  } catch (e) {
    s.addError(e, { remote: true });
  }
  s.addError("a string");
  s.end();
  const [doc] = await flushed();
  assert.equal(doc.fault, true);
  const [first, second] = doc.cause.exceptions;
  assert.equal(first.type, "RangeError");
  assert.equal(first.message, "too deep");
  assert.equal(first.remote, true);
  assert.equal(first.stack.length, 2);
  assert.ok(first.truncated > 0);
  assert.equal(first.stack[0].label, "deep");
  assert.match(first.stack[0].path, /segment_test/);
  assert.equal(second.type, "string");
  assert.equal(second.message, "a string");
});

Deno.test("an error seen by a subsegment is referenced by id from its parent", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  const err = new Error("once");
  try {
    s.capture("inner", () => {
      throw err;
    });
  } catch (e) {
    s.addError(e);
  }
  s.end();
  const [doc] = await flushed();
  const sub = doc.subsegments[0];
  assert.equal(sub.fault, true);
  assert.equal(sub.cause.exceptions[0].message, "once");
  assert.equal(doc.cause, sub.cause.exceptions[0].id);
});

Deno.test("capture() ends the subsegment, returns the value and rethrows unchanged", async () => {
  const { tracer, clock, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  const v = s.capture("sync", () => 7);
  const a = await s.capture("async", async (sub) => {
    clock.advance(5);
    sub.annotate("step", 1);
    await Promise.resolve();
    return "done";
  });
  const boom = new TypeError("boom");
  await assert.rejects(
    s.capture("fails", async () => {
      await Promise.resolve();
      throw boom;
    }),
    (e) => e === boom,
  );
  assert.throws(() =>
    s.capture("throws", () => {
      throw boom;
    }), (e) => e === boom);
  s.end();
  const [doc] = await flushed();
  assert.equal(v, 7);
  assert.equal(a, "done");
  assert.deepEqual(doc.subsegments.map((x: { name: string }) => x.name), [
    "sync",
    "async",
    "fails",
    "throws",
  ]);
  assert.equal(
    Math.round(
      (doc.subsegments[1].end_time - doc.subsegments[1].start_time) * 1e6,
    ),
    5000,
  );
  assert.equal(doc.subsegments[2].fault, true);
  assert.ok(
    doc.subsegments.every((x: { end_time?: number }) =>
      x.end_time !== undefined
    ),
  );
});

Deno.test("subsegments nest to any depth with namespaces", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  const a = s.startSubsegment("a", { namespace: "remote" });
  const b = a.startSubsegment("b", { namespace: "aws" });
  const c = b.startSubsegment("c");
  c.end();
  b.end();
  a.end();
  s.end();
  const [doc] = await flushed();
  const sa = doc.subsegments[0];
  assert.equal(sa.namespace, "remote");
  assert.equal(sa.subsegments[0].namespace, "aws");
  assert.equal(sa.subsegments[0].subsegments[0].name, "c");
  assert.equal(sa.trace_id, undefined);
});

Deno.test("open subsegments are sent in progress, and again on their own when they end", async () => {
  const { tracer, flushed, sender } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  const late = s.startSubsegment("late");
  s.end();
  let docs = await flushed();
  assert.equal(docs[0].subsegments[0].in_progress, true);
  assert.equal(docs[0].subsegments[0].end_time, undefined);
  late.end();
  docs = await flushed();
  assert.equal(sender.documents.length, 2);
  const alone = docs[1];
  assert.equal(alone.type, "subsegment");
  assert.equal(alone.id, late.id);
  assert.equal(alone.parent_id, s.id);
  assert.equal(alone.trace_id, s.traceId);
  assert.equal(typeof alone.end_time, "number");
});

Deno.test("recording after end() is reported and dropped", async () => {
  const { tracer, errors, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  s.end();
  s.annotate("late", 1).addMetadata("late", 1).setHttpResponse({ status: 500 })
    .addFaultFlag();
  s.end();
  const [doc] = await flushed();
  assert.equal(doc.annotations, undefined);
  assert.equal(doc.fault, undefined);
  assert.equal(errors.length, 5);
  assert.match(
    errors[0].error.message,
    /Cannot call annotate\(\) on 's' as it has ended/,
  );
});

Deno.test("explicit flags set error, fault and throttle", async () => {
  const { tracer, flushed } = testTracer();
  tracer.startSegment("s", { sampled: true }).addErrorFlag().addFaultFlag()
    .addThrottleFlag().end();
  const [doc] = await flushed();
  assert.equal(doc.error && doc.fault && doc.throttle, true);
});

Deno.test("setSql() and setAws() write sql and aws blocks", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  s.capture("db", (sub) => {
    sub.setSql({
      url: "postgresql://app:secret@127.0.0.1:5432/shop",
      sanitizedQuery: "SELECT 1",
      databaseType: "PostgreSQL",
      databaseVersion: "15",
      driverVersion: "pg",
      user: "app",
      preparation: "statement",
    });
    sub.setAws({ operation: "GetItem", table_name: "users" });
  });
  s.end();
  const [doc] = await flushed();
  assert.deepEqual(doc.subsegments[0].sql, {
    url: "postgresql://127.0.0.1:5432/shop",
    sanitized_query: "SELECT 1",
    database_type: "PostgreSQL",
    database_version: "15",
    driver_version: "pg",
    user: "app",
    preparation: "statement",
  });
  assert.deepEqual(doc.subsegments[0].aws, {
    operation: "GetItem",
    table_name: "users",
  });
});

Deno.test("traceHeaderFor() names this entity as Parent and forwards incoming data", () => {
  const { tracer } = testTracer();
  const s = tracer.startSegment("s", {
    traceHeader: `Root=${ROOT};Parent=${PARENT};Sampled=1;Lineage=a87bd80c:1`,
  });
  const sub = s.startSubsegment("call");
  assert.equal(
    sub.traceHeaderFor(),
    `Root=${ROOT};Parent=${sub.id};Sampled=1;Lineage=a87bd80c:1`,
  );
  assert.equal(
    s.traceHeaderFor(),
    `Root=${ROOT};Parent=${s.id};Sampled=1;Lineage=a87bd80c:1`,
  );
});

Deno.test("unsampled segments keep real ids, propagate Sampled=0 and send nothing", async () => {
  const { tracer, sender, errors } = testTracer();
  const s = tracer.startSegment("s", { traceHeader: `Root=${ROOT};Sampled=0` });
  assert.equal(s.isSampled, false);
  assert.match(s.id, /^[0-9a-f]{16}$/);
  const sub = s.startSubsegment("x");
  sub.annotate("bad key", 1).addMetadata("k", 1).setHttpResponse({
    status: 500,
  });
  assert.equal(sub.traceHeaderFor(), `Root=${ROOT};Parent=${sub.id};Sampled=0`);
  assert.equal(s.capture("c", () => 3), 3);
  sub.end();
  s.end();
  assert.equal(s.toDocument(), undefined);
  await tracer.flush();
  assert.equal(sender.documents.length, 0);
  assert.equal(errors.length, 0);
});

Deno.test("toDocument() is a snapshot with in_progress while open", () => {
  const { tracer } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  const sub = s.startSubsegment("x");
  const open = s.toDocument()!;
  assert.equal(open.in_progress, true);
  const subDoc = sub.toDocument()!;
  assert.equal(subDoc.type, "subsegment");
  assert.equal(subDoc.parent_id, s.id);
});

Deno.test("setAws() keeps what the value held when it was called, JSON-safe", async () => {
  const { tracer, flushed } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  const fields: Record<string, unknown> = { count: 10n, when: new Date(0) };
  fields.self = fields;
  s.setAws(fields);
  fields.count = "changed later";
  s.end();
  const [doc] = await flushed();
  assert.deepEqual(doc.aws.count, "10");
  assert.equal(doc.aws.when, "1970-01-01T00:00:00.000Z");
  assert.equal(doc.aws.self, "[Circular]");
});

Deno.test("unsampled entities make their ids only when asked for, once", () => {
  let made = 0;
  const { tracer } = testTracer({
    ids: {
      traceId: () => `1-00000000-${String(++made).padStart(24, "0")}`,
      segmentId: () => String(++made).padStart(16, "0"),
    },
  });
  const s = tracer.startSegment("s", { sampled: false });
  const sub = s.startSubsegment("work");
  assert.equal(made, 0);
  assert.equal(s.id, "0000000000000001");
  assert.equal(s.id, "0000000000000001");
  assert.equal(s.traceId, "1-00000000-000000000000000000000002");
  assert.equal(sub.traceId, s.traceId);
  assert.equal(
    sub.traceHeaderFor(),
    "Root=1-00000000-000000000000000000000002;Parent=0000000000000003;Sampled=0",
  );
  assert.equal(made, 3);
  // A sampled segment has both from the start; a continued trace keeps its root.
  const sampled = tracer.startSegment("s", { sampled: true });
  assert.equal(made, 5);
  assert.equal(sampled.traceId, "1-00000000-000000000000000000000004");
  const continued = tracer.startSegment("s", {
    traceHeader: `Root=${ROOT};Sampled=0`,
  });
  assert.equal(continued.traceId, ROOT);
  assert.equal(made, 5);
});

Deno.test("toDocument() is a snapshot of the HTTP blocks: later recordings do not change it", () => {
  const { tracer } = testTracer();
  const s = tracer.startSegment("s", { sampled: true });
  s.setHttpRequest({ method: "GET", url: "https://example.com/a" });
  s.setHttpResponse({ status: 200 });
  const before = s.toDocument()!;
  s.setHttpRequest({ method: "POST" });
  s.setHttpResponse({ status: 500, contentLength: 3 });
  assert.deepEqual(before.http, {
    request: { method: "GET", url: "https://example.com/a" },
    response: { status: 200 },
  });
  assert.deepEqual(s.toDocument()!.http, {
    request: { method: "POST", url: "https://example.com/a" },
    response: { status: 500, content_length: 3 },
  });
});
