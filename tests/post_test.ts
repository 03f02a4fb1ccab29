// matrix: deno,node,bun,deno-npm — node:http test servers (workerd has none)
// The daemon sender's default transport: node:net for http: URLs on Node,
// the global fetch elsewhere; a fetch replaced after the package loaded
// (a test double, an interceptor) is always the one used.
import assert from "node:assert/strict";
import { daemonSender } from "../mod.ts";
import { serve } from "./_server.ts";

Deno.test("daemonSender's default transport delivers, reads answers and errors the same everywhere", async () => {
  const bodies: unknown[] = [];
  let status = 200;
  const server = await serve(async (request) => {
    bodies.push(await request.json());
    return status === 200
      ? Response.json({
        UnprocessedTraceSegments: [{
          Id: "a",
          ErrorCode: "ThrottledException",
          Message: "slow down",
        }],
      })
      : new Response(JSON.stringify({ __type: "InternalFailure" }), {
        status,
        headers: { "retry-after": "2", "x-amzn-errortype": "InternalFailure" },
      });
  });
  try {
    const sender = daemonSender({ address: server.url });
    const docs = ['{"id":"a"}', '{"id":"b"}'];
    assert.deepEqual(await sender.send(docs), {
      ok: true,
      unprocessed: [{
        index: 0,
        errorCode: "ThrottledException",
        retryable: true,
        message: "slow down",
      }],
    });
    assert.deepEqual(bodies[0], { TraceSegmentDocuments: docs });
    status = 503;
    const failed = await sender.send(docs);
    assert.equal(failed.ok, false);
    assert.ok(!failed.ok && failed.retryable);
    assert.ok(!failed.ok && failed.retryAfterMs === 2000);
    assert.match(
      !failed.ok ? failed.error.message : "",
      /HTTP 503 \(InternalFailure\)/,
    );
  } finally {
    await server.close();
  }
  // Nothing listens there any more: refused, with the hint. (On Node the
  // first try may instead find its kept-alive socket cut: "socket hang up",
  // retryable, as the batcher's next try then sees the refusal.)
  const stopped = daemonSender({ address: server.url });
  let refused = await stopped.send(["{}"]);
  if (!refused.ok && /hang up|reset/i.test(refused.error.message)) {
    assert.ok(refused.retryable);
    refused = await stopped.send(["{}"]);
  }
  assert.ok(!refused.ok);
  assert.match(
    !refused.ok ? refused.error.message : "",
    /refused; run an X-Ray daemon or the local collector there/,
  );
});

Deno.test("a fetch replaced after the package loaded carries the daemon sender's requests", async () => {
  const original = globalThis.fetch;
  const seen: string[] = [];
  globalThis.fetch = (input) => {
    seen.push(String(input));
    return Promise.resolve(new Response("{}", { status: 200 }));
  };
  try {
    const sender = daemonSender({ address: "127.0.0.1:9" });
    assert.deepEqual(await sender.send(['{"id":"a"}']), { ok: true });
    assert.deepEqual(seen, ["http://127.0.0.1:9/TraceSegments"]);
  } finally {
    globalThis.fetch = original;
  }
});
