// matrix: deno,node,bun,deno-npm — downstream servers on node:http (tests/_server.ts); workerd has no servers
// W3C Trace Context on outgoing calls: tracedFetch, captureAWSClient and
// traceNodeHttp send traceparent (and the incoming tracestate) next to
// X-Amzn-Trace-Id, naming the same trace, parent and decision.
import assert from "node:assert/strict";
import http from "node:http";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { createTracer, tracedFetch, type TracerOptions } from "../mod.ts";
import { captureAWSClient } from "../src/aws_sdk.ts";
import { traceNodeHttp } from "../src/node_http.ts";
import { createAsyncContext } from "../src/als.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import { w3c } from "../src/w3c.ts";
import { memorySender, sequentialIds } from "../src/testing.ts";
import { serve } from "./_server.ts";

const W3C_TRACE = "0af7651916cd43dd8448eb211c80319c";
const W3C_PARENT = "b7ad6b7169203331";
const TRACEPARENT = `00-${W3C_TRACE}-${W3C_PARENT}-01`;

function setup(options: Partial<TracerOptions> = {}) {
  const sender = memorySender();
  const tracer = createTracer({
    serviceName: "api",
    sender,
    ids: sequentialIds(),
    sampler: { shouldSample: () => ({ sampled: true }) },
    propagation: [w3c()],
    ...options,
  });
  return { tracer, sender };
}

/** A server that echoes the trace headers it got, as JSON. */
function echoServer() {
  return serve((request) =>
    Response.json({
      xray: request.headers.get("x-amzn-trace-id"),
      traceparent: request.headers.get("traceparent"),
      tracestate: request.headers.get("tracestate"),
    })
  );
}

Deno.test("tracedFetch sends both headers, consistent, with tracestate and Lineage kept", async () => {
  const server = await echoServer();
  try {
    const { tracer, sender } = setup();
    const segment = tracer.startSegment("api", {
      traceHeader: "Root=1-bad;Lineage=a87bd80c:1",
      headers: new Headers({
        traceparent: TRACEPARENT,
        tracestate: "vendor=x,other=y",
      }),
    });
    const fetch = tracedFetch(segment);
    const got = await (await fetch(server.url, {
      headers: { traceparent: "00-stale", tracestate: "stale=1" },
    })).json();
    segment.end();
    await tracer.flush();
    const sub = sender.documents[0].subsegments[0];
    assert.deepEqual(got, {
      xray:
        `Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=${sub.id};Sampled=1;Lineage=a87bd80c:1`,
      traceparent: `00-${W3C_TRACE}-${sub.id}-01`,
      tracestate: "vendor=x,other=y",
    });
  } finally {
    await server.close();
  }
});

Deno.test("captureAWSClient sends both headers on AWS SDK calls", async () => {
  const seen: Record<string, string | null>[] = [];
  const server = await serve((request) => {
    seen.push({
      xray: request.headers.get("x-amzn-trace-id"),
      traceparent: request.headers.get("traceparent"),
    });
    return Response.json({ TableNames: [] }, {
      headers: { "content-type": "application/x-amz-json-1.0" },
    });
  });
  try {
    const { tracer, sender } = setup();
    const segment = tracer.startSegment("api", {
      headers: new Headers({ traceparent: TRACEPARENT }),
    });
    const client = captureAWSClient(
      new DynamoDBClient({
        region: "eu-west-1",
        endpoint: server.url,
        credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
        maxAttempts: 1,
      }),
      { parent: segment },
    );
    await client.send(new ListTablesCommand({}));
    client.destroy();
    segment.end();
    await tracer.flush();
    const sub = sender.documents[0].subsegments[0];
    assert.equal(sub.aws.operation, "ListTables");
    assert.deepEqual(seen, [{
      xray:
        `Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=${sub.id};Sampled=1`,
      traceparent: `00-${W3C_TRACE}-${sub.id}-01`,
    }]);
  } finally {
    await server.close();
  }
});

/** Whether this runtime lets traceNodeHttp add headers (see node_http_test.ts). */
function canInject(): boolean {
  const { runtime, runtimeVersion } = detectRuntime();
  if (runtime !== "node") return true;
  const [major, minor] = (runtimeVersion ?? "0.0").split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 2) ||
    (major === 22 && minor >= 14);
}

Deno.test("traceNodeHttp sends both headers on node:http requests", async () => {
  const server = await echoServer();
  const context = createAsyncContext();
  const { tracer, sender } = setup({ context });
  const tracing = traceNodeHttp(tracer, { onError: () => {} });
  try {
    const segment = tracer.startSegment("api", {
      headers: new Headers({
        traceparent: TRACEPARENT,
        tracestate: "vendor=x",
      }),
    });
    const body = await context.run(
      segment,
      () =>
        new Promise<string>((resolve, reject) => {
          http.get(server.url, (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk) => text += chunk);
            res.on("end", () => resolve(text));
          }).on("error", reject);
        }),
    );
    segment.end();
    await tracer.flush();
    const sub = sender.documents[0].subsegments[0];
    assert.deepEqual(
      JSON.parse(body),
      canInject()
        ? {
          xray:
            `Root=1-0af76519-16cd43dd8448eb211c80319c;Parent=${sub.id};Sampled=1`,
          traceparent: `00-${W3C_TRACE}-${sub.id}-01`,
          tracestate: "vendor=x",
        }
        : { xray: null, traceparent: null, tracestate: null },
    );
  } finally {
    tracing.close();
    await server.close();
  }
});
