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
