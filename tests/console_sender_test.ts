import assert from "node:assert/strict";
import { consoleSender, createTracer } from "../mod.ts";
import { fixedClock, sequentialIds } from "../src/testing.ts";
import { assertValidDocument } from "./_schema.ts";

Deno.test("consoleSender() prints a readable tree of each trace", async () => {
  const lines: string[] = [];
  const tracer = createTracer({
    serviceName: "shop",
    sender: consoleSender({ write: (l) => lines.push(l) }),
    clock: fixedClock(),
    ids: sequentialIds(),
  });
  const s = tracer.startSegment("shop", { sampled: true });
  s.setHttpRequest({ method: "GET", url: "http://shop/cart" });
  s.capture("db", (sub) => sub.annotate("rows", 3));
  s.setHttpResponse({ status: 500 });
  s.end();
  await tracer.flush();
  assert.equal(lines.length, 1);
  const text = lines[0];
  assert.match(text, /^trace 1-6955b900-000000000000000000000001/);
  assert.match(
    text,
    /● shop {2}0\.0 ms \[fault\] GET http:\/\/shop\/cart → 500/,
  );
  assert.match(text, / {2}└ db {2}0\.0 ms \{"rows":3\}/);
});

Deno.test("consoleSender() prints JSON lines that are valid documents", async () => {
  const lines: string[] = [];
  const tracer = createTracer({
    serviceName: "shop",
    sender: consoleSender({ format: "json", write: (l) => lines.push(l) }),
  });
  tracer.startSegment("shop", { sampled: true }).end();
  await tracer.flush();
  assert.equal(lines.length, 1);
  assertValidDocument(lines[0]);
});

Deno.test("consoleSender() rejects an unknown format at construction", () => {
  // deno-lint-ignore no-explicit-any
  assert.throws(() => consoleSender({ format: "xml" as any }), RangeError);
});
