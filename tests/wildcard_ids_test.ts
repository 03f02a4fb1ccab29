import assert from "node:assert/strict";
import { newSegmentId, newTraceId, wildcardMatch } from "../mod.ts";
import { sequentialIds } from "../src/testing.ts";

Deno.test("wildcardMatch() handles *, ? and case", () => {
  const cases: [string, string, boolean][] = [
    ["*", "", true],
    ["*", "anything", true],
    ["", "", true],
    ["", "a", false],
    ["a*c", "abbbc", true],
    ["a*c", "abbbd", false],
    ["a?c", "abc", true],
    ["a?c", "ac", false],
    ["*.example.com", "API.Example.com", true],
    ["*.example.com", "example.com", false],
    ["/users/*", "/users/42/orders", true],
    ["GET", "get", true],
    ["*a*b*", "xxaxxbxx", true],
    ["*a*b", "xxaxxbxx", false],
    ["??", "abc", false],
    ["**", "x", true],
  ];
  for (const [p, t, want] of cases) {
    assert.equal(wildcardMatch(p, t), want, `${p} ~ ${t}`);
  }
});

Deno.test("newTraceId() encodes the epoch seconds and 24 random hex digits", () => {
  const id = newTraceId(0x5759e988 * 1000 + 999);
  assert.match(id, /^1-5759e988-[0-9a-f]{24}$/);
  assert.notEqual(newTraceId(), newTraceId());
});

Deno.test("newSegmentId() gives distinct 16-hex ids across pool refills", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const id = newSegmentId();
    assert.match(id, /^[0-9a-f]{16}$/);
    assert.notEqual(id, "0000000000000000");
    seen.add(id);
  }
  assert.equal(seen.size, 2000);
});

Deno.test("sequentialIds() counts from one", () => {
  const ids = sequentialIds();
  assert.equal(ids.segmentId(), "0000000000000001");
  assert.equal(ids.segmentId(), "0000000000000002");
  assert.equal(ids.traceId(16_000), "1-00000010-000000000000000000000001");
});
