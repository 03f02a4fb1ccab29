// One scenario for every runtime's own server (tests/<runtime>/): a traced
// fetch-style handler behind a real HTTP server on 127.0.0.1, with the
// segment carried by AsyncLocalStorage (`xray-edge/als`) across awaits.
import assert from "node:assert/strict";
import { createTracer, TRACE_HEADER } from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import { memorySender } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { expectedRuntime } from "./_runtime.ts";

/** A running server: its base URL and how to stop it. */
export interface RunningServer {
  url: string;
  close(): Promise<void>;
}

/** Starts the runtime's server on 127.0.0.1 with a free port. */
export type StartServer = (
  handler: (request: Request) => Promise<Response>,
) => Promise<RunningServer>;

const TRACES = [
  "1-5759e988-bd862e3fe1be46a994272791",
  "1-5759e988-bd862e3fe1be46a994272792",
  "1-5759e988-bd862e3fe1be46a994272793",
];

/** Three concurrent requests: each handler finds its own segment through ALS. */
export async function concurrentRequestsKeepTheirSegments(
  start: StartServer,
): Promise<void> {
  const sender = memorySender();
  const context = createAsyncContext();
  const tracer = createTracer({ serviceName: "server", sender, context });
  const server = await start((request) => {
    const segment = tracer.startSegment("server", {
      traceHeader: request.headers.get(TRACE_HEADER),
    });
    segment.setHttpRequest({ method: request.method, url: request.url });
    return context.run(segment, async () => {
      await new Promise((r) => setTimeout(r, 5));
      const current = tracer.current();
      await current?.capture("work", async () => {
        await new Promise((r) => setTimeout(r, 1));
      });
      segment.setHttpResponse({ status: 200 });
      segment.end();
      return new Response(current?.traceId ?? "none");
    });
  });
  try {
    const bodies = await Promise.all(TRACES.map(async (root) => {
      const response = await fetch(server.url, {
        headers: { [TRACE_HEADER]: `Root=${root};Sampled=1` },
      });
      return await response.text();
    }));
    assert.deepEqual(bodies, TRACES);
  } finally {
    await server.close();
  }
  await tracer.flush();
  assert.equal(assertValidDocuments(sender.documents), 3);
  // deno-lint-ignore no-explicit-any
  const docs = sender.documents as any[];
  assert.deepEqual(docs.map((d) => d.trace_id).sort(), TRACES);
  const expected = expectedRuntime();
  for (const doc of docs) {
    assert.equal(doc.service.runtime, expected.runtime);
    assert.equal(doc.http.request.method, "GET");
    assert.equal(doc.http.response.status, 200);
    assert.equal(doc.subsegments.length, 1);
    assert.equal(doc.subsegments[0].name, "work");
  }
}
