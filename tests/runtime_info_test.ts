import assert from "node:assert/strict";
import { createTracer } from "../mod.ts";
import { fixedClock, memorySender, sequentialIds } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { expectedRuntime } from "./_runtime.ts";

Deno.test("documents name the runtime and its version they were recorded on", async () => {
  const sender = memorySender();
  const tracer = createTracer({
    serviceName: "runtime-probe",
    sender,
    clock: fixedClock(),
    ids: sequentialIds(),
  });
  tracer.startSegment("probe").end();
  await tracer.flush();
  assert.equal(assertValidDocuments(sender.documents), 1);
  const { service } = sender.documents[0] as {
    service: { runtime: string; runtime_version?: string };
  };
  const expected = expectedRuntime();
  assert.equal(service.runtime, expected.runtime);
  if (expected.versionPrefix === undefined) {
    assert.equal(service.runtime_version, undefined);
  } else {
    assert.ok(
      service.runtime_version?.startsWith(expected.versionPrefix),
      `runtime_version ${service.runtime_version} should start with ${expected.versionPrefix}`,
    );
  }
});
