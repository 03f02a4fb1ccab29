// Junk thrown at every recording call: nothing throws, every document stays
// schema-valid and within 64 KB.
import assert from "node:assert/strict";
import { testTracer } from "./_helpers.ts";

function junkValues(): unknown[] {
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const proto = JSON.parse('{"__proto__": {"x": 1}}');
  return [
    undefined,
    null,
    0,
    -0,
    NaN,
    Infinity,
    1e308,
    12345678901234567890n,
    "",
    "x".repeat(1_000_000),
    "\u0000\n\t{}\ud800",
    true,
    Symbol("s"),
    () => 1,
    class {},
    new Date(NaN),
    new Date(0),
    new Map([[{}, 1]]),
    new Set([cyclic]),
    new Uint8Array(10),
    new Float64Array([NaN]),
    new ArrayBuffer(8),
    new Error("e"),
    cyclic,
    proto,
    [cyclic, [cyclic]],
    Object.create(null),
    new Proxy({}, {
      get() {
        throw new Error("trap");
      },
      ownKeys() {
        throw new Error("trap");
      },
    }),
    { toJSON: () => cyclic },
    Promise.resolve(1),
    new WeakMap(),
    globalThis,
  ];
}

function seeded(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
}

Deno.test("recording calls never throw on junk and documents stay valid", async () => {
  const { tracer, flushed, sender } = testTracer({ onError: () => {} });
  const junk = junkValues();
  const rand = seeded(42);
  const pick = () => junk[Math.floor(rand() * junk.length)];
  // deno-lint-ignore no-explicit-any
  const any = (v: unknown) => v as any;
  for (let round = 0; round < 30; round++) {
    const s = tracer.startSegment(any(pick()), {
      sampled: true,
      traceHeader: any(pick()),
    });
    const entities = [
      s,
      s.startSubsegment(any(pick())),
      s.startSubsegment("x", any(pick())),
    ];
    for (let i = 0; i < 60; i++) {
      const e = entities[Math.floor(rand() * entities.length)];
      const calls = [
        () => e.annotate(any(pick()), any(pick())),
        () => e.addMetadata(any(pick()), pick(), any(pick())),
        () => e.addMetadata("k", pick()),
        () => e.setHttpRequest(any(pick())),
        () =>
          e.setHttpRequest({
            method: any(pick()),
            url: any(pick()),
            userAgent: any(pick()),
          }),
        () => e.setHttpResponse(any(pick())),
        () =>
          e.setHttpResponse({
            status: any(pick()),
            contentLength: any(pick()),
          }),
        () => e.addError(pick(), any(pick())),
        () => e.setSql(any(pick())),
        () => e.setAws(any(pick())),
        () => e.setAws({ key: pick() }),
        () => s.setUser(any(pick())),
        () => e.capture(any(pick()), () => pick()),
        () => e.startSubsegment(any(pick())).end(any(pick())),
        () => e.traceHeaderFor(),
      ];
      calls[Math.floor(rand() * calls.length)]();
    }
    entities[1].end(any(pick()));
    s.end();
  }
  const docs = await flushed();
  assert.ok(docs.length >= 30);
  assert.ok(
    sender.raw.every((d) => new TextEncoder().encode(d).length <= 64 * 1024),
  );
});

Deno.test("incoming headers of random junk never break startSegment", async () => {
  const { tracer, flushed } = testTracer();
  const rand = seeded(9);
  const chars =
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=Sampled?01\u0000\n é";
  for (let i = 0; i < 2000; i++) {
    let h = "";
    for (let j = Math.floor(rand() * 120); j > 0; j--) {
      h += chars[Math.floor(rand() * chars.length)];
    }
    const s = tracer.startSegment("s", { traceHeader: h, sampled: true });
    new Headers({ "x-amzn-trace-id": s.traceHeaderFor() });
    s.end();
  }
  assert.equal((await flushed()).length, 2000);
});
