import assert from "node:assert/strict";
import { createAsyncContext } from "../src/als.ts";
import { testTracer } from "./_helpers.ts";

Deno.test("createAsyncContext() keeps concurrent requests apart across awaits", async () => {
  const context = createAsyncContext();
  const { tracer, flushed } = testTracer({ context });
  const work = tracer.wrap("work", async (label: string) => {
    await new Promise((r) => setTimeout(r, 2));
    tracer.current()?.annotate("label", label);
  });
  await Promise.all(["a", "b", "c"].map((label) => {
    const s = tracer.startSegment(label, { sampled: true });
    return context.run(s, async () => {
      await work(label);
      assert.equal(context.current(), s);
      s.end();
    });
  }));
  const docs = await flushed();
  assert.equal(docs.length, 3);
  for (const d of docs) {
    assert.equal(d.subsegments[0].annotations.label, d.name);
  }
});

Deno.test("tracer.current() reports a missing context according to the policy", () => {
  const context = createAsyncContext();
  const { tracer, errors } = testTracer({ context });
  assert.equal(tracer.current(), undefined);
  assert.equal(errors[0].source, "context");
});
