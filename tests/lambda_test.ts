// matrix: deno,node,bun,deno-npm — Lambda runs on Node-like runtimes; its default UDP sender needs sockets (workerd has none)
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { withXRayLambda } from "../src/lambda.ts";
import { createAsyncContext } from "../src/als.ts";
import { memorySender } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { PARENT, ROOT, testTracer } from "./_helpers.ts";

const ROOT2 = "1-5759e989-000000000000000000000abc";
const PARENT2 = "0123456789abcdef";

function lambdaEnv(header?: string): Record<string, string | undefined> {
  return {
    AWS_LAMBDA_FUNCTION_NAME: "orders",
    _HANDLER: "index.handler",
    _X_AMZN_TRACE_ID: header,
  };
}

Deno.test("withXRayLambda() streams each subsegment under Lambda's segment, re-reading _X_AMZN_TRACE_ID per invocation", async () => {
  const sender = memorySender();
  const env = lambdaEnv(`Root=${ROOT};Parent=${PARENT};Sampled=1`);
  const handler = withXRayLambda(
    async (event: { id: string }, _context: unknown, segment) => {
      await segment.capture("load", async (sub) => {
        sub.annotate("order", event.id);
        await segment.capture("nested", () => 1);
      });
      return { ok: event.id };
    },
    { sender, env: () => env },
  );
  assert.deepEqual(await handler({ id: "a" }, {}), { ok: "a" });
  // Flushed before the handler returned: no flush of our own.
  const first = [...sender.documents];
  env._X_AMZN_TRACE_ID = `Root=${ROOT2};Parent=${PARENT2};Sampled=1`;
  await handler({ id: "b" }, {});
  assertValidDocuments(sender.raw);
  const docs = sender.documents;
  assert.equal(first.length, 3);
  assert.equal(docs.length, 6);
  for (const doc of docs) {
    assert.equal(doc.type, "subsegment");
    assert.equal(doc.in_progress, undefined);
    assert.ok(doc.end_time >= doc.start_time);
  }
  const byName = (trace: string, name: string) =>
    docs.find((d) => d.trace_id === trace && d.name === name);
  const top = byName(ROOT, "## index.handler");
  assert.equal(top.parent_id, PARENT);
  assert.deepEqual(top.annotations, { ColdStart: true });
  assert.equal(byName(ROOT, "load").parent_id, top.id);
  assert.deepEqual(byName(ROOT, "load").annotations, { order: "a" });
  assert.equal(byName(ROOT, "nested").parent_id, top.id);
  const second = byName(ROOT2, "## index.handler");
  assert.equal(second.parent_id, PARENT2);
  assert.deepEqual(second.annotations, { ColdStart: false });
  // The facade itself is never sent.
  assert.equal(docs.some((d) => d.id === PARENT || d.id === PARENT2), false);
});

Deno.test("withXRayLambda() records a thrown error on the handler subsegment, flushes, and rethrows", async () => {
  const sender = memorySender();
  const failure = new Error("payment declined");
  const handler = withXRayLambda(() => {
    throw failure;
  }, {
    sender,
    env: lambdaEnv(`Root=${ROOT};Parent=${PARENT};Sampled=1`),
  });
  await assert.rejects(handler({}, {}), (e) => e === failure);
  assertValidDocuments(sender.raw);
  const [doc] = sender.documents;
  assert.equal(doc.fault, true);
  assert.equal(doc.cause.exceptions[0].message, "payment declined");
});

Deno.test("withXRayLambda() sends nothing unless Lambda's header has Root, Parent and Sampled=1", async () => {
  for (
    const header of [
      undefined,
      `Root=${ROOT};Parent=${PARENT};Sampled=0`,
      `Root=${ROOT};Sampled=1`,
      `Root=${ROOT};Parent=${PARENT};Sampled=?`,
      "garbage",
    ]
  ) {
    const sender = memorySender();
    const handler = withXRayLambda(
      (_e: unknown, _c: unknown, seg) => seg.capture("work", () => 7),
      { sender, env: lambdaEnv(header) },
    );
    assert.equal(await handler({}, {}), 7);
    assert.equal(sender.documents.length, 0, String(header));
  }
});

Deno.test("withXRayLambda() uses a given tracer, records straight under the facade when asked, and sets the ambient context", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const priced = t.tracer.wrap("price", () => 5);
  const handler = withXRayLambda((_e: unknown, _c: unknown, facade) => {
    assert.equal(context.current(), facade);
    return priced();
  }, {
    tracer: t.tracer,
    handlerSubsegment: false,
    env: lambdaEnv(`Root=${ROOT};Parent=${PARENT};Sampled=1`),
  });
  assert.equal(await handler({}, {}), 5);
  const docs = assertValidDocuments(t.sender.raw);
  assert.equal(docs, 1);
  const [doc] = t.sender.documents;
  assert.equal(doc.name, "price");
  assert.equal(doc.parent_id, PARENT);
  assert.equal(doc.trace_id, ROOT);
});

Deno.test("withXRayLambda() rejects a non-function handler", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => withXRayLambda("nope" as any),
    {
      name: "TypeError",
      message:
        "Cannot wrap Lambda handler as it must be a function: current value is string",
    },
  );
});

Deno.test({
  name:
    "withXRayLambda() sends over UDP to AWS_XRAY_DAEMON_ADDRESS by default, before the handler returns",
  // The default sender's socket stays open for the next invocation, as in Lambda.
  sanitizeResources: false,
  async fn() {
    // A daemon stand-in: a real UDP socket on 127.0.0.1 (node:dgram runs on Deno, Node and Bun).
    const daemon = dgram.createSocket("udp4");
    const received: string[] = [];
    let wake: (() => void) | undefined;
    daemon.on("message", (message) => {
      received.push(new TextDecoder().decode(message));
      wake?.();
    });
    await new Promise<void>((resolve) => daemon.bind(0, "127.0.0.1", resolve));
    try {
      const handler = withXRayLambda(
        (_e: unknown, _c: unknown, seg) => seg.capture("work", () => "done"),
        {
          env: {
            ...lambdaEnv(`Root=${ROOT};Parent=${PARENT};Sampled=1`),
            AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}`,
          },
        },
      );
      assert.equal(await handler({}, {}), "done");
      while (received.length < 2) {
        await new Promise<void>((resolve) => wake = resolve);
      }
      const docs = received.map((text) => {
        const [header, body] = text.split("\n");
        assert.equal(header, '{"format":"json","version":1}');
        return body;
      });
      assert.equal(assertValidDocuments(docs), 2);
      const parsed = docs.map((d) => JSON.parse(d));
      assert.deepEqual(parsed.map((d) => d.name).sort(), [
        "## index.handler",
        "work",
      ]);
      for (const d of parsed) assert.equal(d.trace_id, ROOT);
    } finally {
      await new Promise<void>((resolve) => daemon.close(() => resolve()));
    }
  },
});
