// Deeply nested subsegments: recording and serialization never recurse on the
// user's depth. Past MAX_DEPTH levels a subsegment is not recorded (reported
// and counted once where the tree is cut); whatever the order of the end()
// calls, nothing throws and every recorded entity reaches a document.
import assert from "node:assert/strict";
import { MAX_DEPTH, type Subsegment } from "../src/segment.ts";
import { testTracer } from "./_helpers.ts";

const LEVELS = 20_000;

// deno-lint-ignore no-explicit-any
function collectIds(doc: any, into: Set<string>): void {
  // A loop over an explicit stack: the documents themselves are deep.
  const stack = [doc];
  while (stack.length) {
    const d = stack.pop();
    into.add(d.id);
    stack.push(...(d.subsegments ?? []));
  }
}

const ORDERS = {
  "innermost first, then the segment": [true, false],
  "the segment first, then innermost first": [true, true],
  "the segment first, then outermost first": [false, true],
} as const;

for (
  const [order, [innermostFirst, segmentFirst]] of Object.entries(ORDERS)
) {
  Deno.test(`${LEVELS} nested subsegments ended ${order}: no throw, every recorded entity sent`, async () => {
    const t = testTracer();
    const segment = t.tracer.startSegment("deep", { sampled: true });
    const subs: Subsegment[] = [];
    let parent: Subsegment | typeof segment = segment;
    for (let i = 0; i < LEVELS; i++) {
      parent = parent.startSubsegment(`level ${i}`);
      subs.push(parent);
    }
    // The ones past the cap are no-ops that still answer.
    const deepest = subs[LEVELS - 1];
    assert.equal(deepest.annotate("k", 1), deepest);
    assert.equal(deepest.toDocument(), undefined);
    assert.equal(typeof deepest.traceHeaderFor(), "string");
    if (segmentFirst) segment.end();
    if (innermostFirst) subs.reverse();
    for (const sub of subs) sub.end();
    if (!segmentFirst) segment.end();
    assert.equal(deepest.isEnded, true);

    const docs = await t.flushed();
    const ids = new Set<string>();
    for (const doc of docs) collectIds(doc, ids);
    assert.ok(ids.has(segment.id), "the segment's document went out");
    for (let i = 0; i < MAX_DEPTH; i++) {
      assert.ok(ids.has(subs[innermostFirst ? LEVELS - 1 - i : i].id));
    }
    // Sent entities: the segment and MAX_DEPTH levels; the rest is the cut.
    assert.equal(ids.size, MAX_DEPTH + 1);
    assert.equal(t.errors.length, 1, t.errors.map((e) => e.error).join());
    assert.equal(t.errors[0].source, "recording");
    assert.match(
      t.errors[0].error.message,
      /'level 255' as it is too deep/,
    );
    const stats = t.tracer.stats();
    assert.equal(stats.rejectedRecordings, 1);
    assert.equal(Object.values(stats.dropped).reduce((a, b) => a + b, 0), 0);
  });
}

Deno.test("capture() nested 1,000 deep returns through the unrecorded levels", async () => {
  const t = testTracer();
  const segment = t.tracer.startSegment("deep", { sampled: true });
  let depth = 0;
  const dive = (sub: Subsegment): number =>
    ++depth < 1000 ? sub.capture("d", dive) : depth;
  assert.equal(segment.capture("d", dive), 1000);
  segment.end();
  const docs = await t.flushed();
  assert.ok(docs.some((d) => d.id === segment.id));
  assert.equal(t.errors.length, 1);
});

Deno.test("MAX_DEPTH levels too large for one document are split, each within 64 KB", async () => {
  // Nothing streamed early: the whole tree goes out when the segment ends.
  const t = testTracer({ streamingThreshold: 10000 });
  const segment = t.tracer.startSegment("deep", { sampled: true });
  const subs: Subsegment[] = [];
  let parent: Subsegment | typeof segment = segment;
  for (let i = 0; i < MAX_DEPTH; i++) {
    parent = parent.startSubsegment(`level ${i}`);
    parent.addMetadata("blob", "x".repeat(1000));
    subs.push(parent);
  }
  for (const sub of subs.reverse()) sub.end(0);
  segment.end();
  const docs = await t.flushed();
  const ids = new Set<string>();
  for (const doc of docs) collectIds(doc, ids);
  assert.equal(ids.size, MAX_DEPTH + 1);
  assert.ok(docs.length > 1);
  assert.deepEqual(t.errors, []);
});

Deno.test("subsegments refused as too deep are reported once per segment", async () => {
  const t = testTracer();
  for (const name of ["one", "two"]) {
    const segment = t.tracer.startSegment(name, { sampled: true });
    let parent: Subsegment | typeof segment = segment;
    for (let i = 0; i < MAX_DEPTH; i++) parent = parent.startSubsegment("d");
    for (let i = 0; i < 100; i++) parent.startSubsegment("too deep").end();
    segment.end();
  }
  await t.flushed();
  assert.equal(t.errors.length, 2);
  assert.equal(t.tracer.stats().rejectedRecordings, 2);
});
