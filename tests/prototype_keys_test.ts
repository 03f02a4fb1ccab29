// Keys that Object.prototype also has must stay plain own data in documents
// (the hot paths assign other keys directly, and define these).
import assert from "node:assert/strict";
import { testTracer } from "./_helpers.ts";

Deno.test("annotations named __proto__ or constructor are kept as plain data", async () => {
  const { tracer, errors, flushed } = testTracer();
  const segment = tracer.startSegment("keys", { sampled: true });
  segment.annotate("__proto__", "p");
  segment.annotate("constructor", 1);
  segment.annotate("plain", true);
  const doc = segment.toDocument()!;
  const annotations = doc.annotations as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(annotations), Object.prototype);
  assert.deepEqual(Object.keys(annotations), [
    "__proto__",
    "constructor",
    "plain",
  ]);
  segment.end();
  const [sent] = await flushed();
  assert.equal(
    JSON.stringify(sent.annotations),
    '{"__proto__":"p","constructor":1,"plain":true}',
  );
  assert.deepEqual(errors, []);
});

Deno.test("metadata namespaces and keys named __proto__ or toString are kept as plain data", async () => {
  const { tracer, errors, flushed } = testTracer();
  const segment = tracer.startSegment("keys", { sampled: true });
  segment.addMetadata("__proto__", { toString: 1, hasOwnProperty: 2 });
  segment.addMetadata("toString", "t", "__proto__");
  segment.addMetadata("ok", 3);
  segment.end();
  const [doc] = await flushed();
  assert.equal(
    JSON.stringify(doc.metadata),
    '{"default":{"__proto__":{"toString":1,"hasOwnProperty":2},"ok":3},' +
      '"__proto__":{"toString":"t"}}',
  );
  assert.equal(
    ({} as Record<string, unknown>).toString,
    Object.prototype.toString,
  );
  assert.deepEqual(errors, []);
});

Deno.test("a metadata namespace named like an Object.prototype member starts empty", async () => {
  const { tracer, errors, flushed } = testTracer();
  const segment = tracer.startSegment("keys", { sampled: true });
  segment.addMetadata("a", 1, "toString");
  segment.addMetadata("b", 2, "constructor");
  segment.addMetadata("c", 3, "toString");
  segment.end();
  const [doc] = await flushed();
  assert.equal(
    JSON.stringify(doc.metadata),
    '{"toString":{"a":1,"c":3},"constructor":{"b":2}}',
  );
  assert.deepEqual(errors, []);
});

Deno.test("enumerable keys added to Object.prototype never reach a document", async () => {
  const { tracer, errors, flushed } = testTracer();
  const segment = tracer.startSegment("keys", { sampled: true });
  const sub = segment.startSubsegment("work");
  Object.defineProperty(Object.prototype, "polluted", {
    value: "yes",
    enumerable: true,
    configurable: true,
    writable: true,
  });
  try {
    sub.addMetadata("cart", { items: 1 });
    sub.addMetadata("note", "n", "shop");
    sub.annotate("customer", "c-42");
    sub.end();
    segment.end();
  } finally {
    delete (Object.prototype as Record<string, unknown>).polluted;
  }
  const [doc] = await flushed();
  const text = JSON.stringify(doc);
  assert.equal(text.includes("polluted"), false);
  assert.deepEqual(doc.subsegments[0].metadata, {
    default: { cart: { items: 1 } },
    shop: { note: "n" },
  });
  assert.deepEqual(errors, []);
});
