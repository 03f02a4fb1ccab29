// matrix: deno,node,bun,deno-npm — node:http / node:net servers on 127.0.0.1 (tests/_server.ts); workerd has no node:http client channels
import assert from "node:assert/strict";
import http from "node:http";
import { createTracer, TRACE_HEADER, type Tracer } from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import { traceNodeHttp } from "../src/node_http.ts";
import { isXRayError } from "../src/errors.ts";
import { detectRuntime } from "../src/runtime/detect.ts";
import {
  fixedClock,
  type MemorySender,
  memorySender,
  sequentialIds,
} from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { resetServer, serve, type TestServer } from "./_server.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const INCOMING =
  `Root=${ROOT};Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1`;

/**
 * Whether this runtime publishes `http.client.request.created`, where the
 * trace header can still be added (Deno, Bun, Node ≥ 22.14 / ≥ 23.2).
 */
function canInject(): boolean {
  const { runtime, runtimeVersion } = detectRuntime();
  if (runtime !== "node") return true;
  const [major, minor] = (runtimeVersion ?? "0.0").split(".").map(Number);
  return major > 23 || (major === 23 && minor >= 2) ||
    (major === 22 && minor >= 14);
}

function setup(): {
  tracer: Tracer;
  sender: MemorySender;
  context: ReturnType<typeof createAsyncContext>;
  errors: Error[];
} {
  const context = createAsyncContext();
  const sender = memorySender();
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "api",
    sender,
    clock: fixedClock(),
    ids: sequentialIds(),
    context,
    onError: (e) => errors.push(e),
  });
  return { tracer, sender, context, errors };
}

/** One node:http request; resolves with status and body, or rejects. */
function request(
  url: string,
  options: http.RequestOptions = {},
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => text += chunk);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** A server that answers with the status in its path and echoes the trace header. */
function echoServer(): Promise<TestServer> {
  return serve((req) => {
    const status = Number(new URL(req.url).pathname.split("/")[1]) || 200;
    return new Response(req.headers.get(TRACE_HEADER) ?? "-", { status });
  });
}

Deno.test("traceNodeHttp() records node:http requests under the ambient segment and sends the header", async () => {
  const server = await echoServer();
  const { tracer, sender, context, errors } = setup();
  const tracing = traceNodeHttp(tracer);
  try {
    const segment = tracer.startSegment("api", { traceHeader: INCOMING });
    const results = await context.run(segment, async () => [
      await request(`${server.url}/200/items?page=2`),
      await request(`${server.url}/404`, { method: "POST" }, "payload"),
      await request(`${server.url}/429`),
      await request(`${server.url}/503`),
    ]);
    segment.end();
    await tracer.flush();
    assertValidDocuments(sender.documents);
    const subs = sender.documents[0].subsegments;
    assert.deepEqual(
      subs.map((s: Record<string, unknown>) => [
        s.name,
        s.namespace,
        s.http,
        s.error,
        s.throttle,
        s.fault,
      ]),
      [
        [
          "127.0.0.1",
          "remote",
          {
            request: { method: "GET", url: `${server.url}/200/items` },
            response: { status: 200, content_length: results[0].body.length },
          },
          undefined,
          undefined,
          undefined,
        ],
        [
          "127.0.0.1",
          "remote",
          {
            request: { method: "POST", url: `${server.url}/404` },
            response: { status: 404, content_length: results[1].body.length },
          },
          true,
          undefined,
          undefined,
        ],
        [
          "127.0.0.1",
          "remote",
          {
            request: { method: "GET", url: `${server.url}/429` },
            response: { status: 429, content_length: results[2].body.length },
          },
          true,
          true,
          undefined,
        ],
        [
          "127.0.0.1",
          "remote",
          {
            request: { method: "GET", url: `${server.url}/503` },
            response: { status: 503, content_length: results[3].body.length },
          },
          undefined,
          undefined,
          true,
        ],
      ],
    );
    if (canInject()) {
      assert.deepEqual(
        results.map((r) => r.body),
        subs.map((s: { id: string }) =>
          `Root=${ROOT};Parent=${s.id};Sampled=1;Lineage=a87bd80c:1`
        ),
      );
      assert.deepEqual(errors, []);
    } else {
      assert.deepEqual(results.map((r) => r.body), ["-", "-", "-", "-"]);
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /http\.client\.request\.created/);
    }
  } finally {
    tracing.close();
    await server.close();
  }
});

Deno.test("traceNodeHttp() records a reset connection as a remote fault and leaves the error to the caller", async () => {
  const server = await resetServer();
  const { tracer, sender, context } = setup();
  using _tracing = traceNodeHttp(tracer);
  try {
    const segment = tracer.startSegment("api", { sampled: true });
    const error = await context.run(
      segment,
      () => request(`${server.url}/pay`).then(() => undefined, (e) => e),
    );
    assert.ok(error instanceof Error);
    segment.end();
    await tracer.flush();
    assertValidDocuments(sender.documents);
    const sub = sender.documents[0].subsegments[0];
    assert.equal(sub.fault, true);
    assert.equal(sub.http.response, undefined);
    assert.equal(sub.cause.exceptions[0].remote, true);
    assert.equal(sub.cause.exceptions[0].message, error.message);
  } finally {
    await server.close();
  }
});

Deno.test("traceNodeHttp() takes an explicit parent and the propagate and name options", async () => {
  const server = await echoServer();
  const { tracer, sender } = setup();
  const segment = tracer.startSegment("api", { traceHeader: INCOMING });
  const tracing = traceNodeHttp(segment, {
    propagate: (url) => url.pathname.startsWith("/200/internal"),
    name: (url) => `svc ${url.pathname.split("/")[2]}`,
    onError: () => {},
  });
  try {
    const internal = await request(`${server.url}/200/internal`);
    const external = await request(`${server.url}/200/external`);
    segment.end();
    await tracer.flush();
    assertValidDocuments(sender.documents);
    const subs = sender.documents[0].subsegments;
    assert.deepEqual(
      subs.map((s: { name: string }) => s.name),
      ["svc internal", "svc external"],
    );
    assert.equal(external.body, "-");
    if (canInject()) {
      assert.equal(
        internal.body,
        `Root=${ROOT};Parent=${subs[0].id};Sampled=1;Lineage=a87bd80c:1`,
      );
    }
  } finally {
    tracing.close();
    await server.close();
  }
});

Deno.test("traceNodeHttp() leaves requests alone outside a segment and after close()", async () => {
  const server = await echoServer();
  const { tracer, sender, context, errors } = setup();
  const tracing = traceNodeHttp(tracer);
  try {
    const outside = await request(`${server.url}/200`);
    assert.equal(outside.body, "-");
    tracing.close();
    const segment = tracer.startSegment("api", { sampled: true });
    const after = await context.run(
      segment,
      () => request(`${server.url}/200`),
    );
    assert.equal(after.body, "-");
    segment.end();
    await tracer.flush();
    assertValidDocuments(sender.documents);
    assert.equal(sender.documents[0].subsegments, undefined);
    // The tracer's context-missing policy reported the call outside a segment.
    assert.ok(errors.some((e) => /current segment/.test(e.message)));
  } finally {
    tracing.close();
    await server.close();
  }
});

Deno.test("traceNodeHttp() under an unsampled segment sends Sampled=0 and records nothing", async () => {
  const server = await echoServer();
  const { tracer, sender, context } = setup();
  using _tracing = traceNodeHttp(context, { onError: () => {} });
  try {
    const segment = tracer.startSegment("api", {
      traceHeader: `Root=${ROOT};Sampled=0`,
    });
    const result = await context.run(
      segment,
      () => request(`${server.url}/200`),
    );
    segment.end();
    await tracer.flush();
    assert.equal(sender.documents.length, 0);
    if (canInject()) {
      assert.match(
        result.body,
        new RegExp(`^Root=${ROOT};Parent=[0-9a-f]{16};Sampled=0$`),
      );
    }
  } finally {
    await server.close();
  }
});

Deno.test("traceNodeHttp() throws a clear error where the HTTP client channels do not exist", () => {
  const { tracer } = setup();
  // Node 20 has no navigator: give it one for the duration of the test.
  const g = globalThis as { navigator?: { userAgent?: string } };
  const hadNavigator = g.navigator !== undefined;
  if (!hadNavigator) {
    Object.defineProperty(globalThis, "navigator", {
      value: {},
      configurable: true,
      writable: true,
    });
  }
  const original = Object.getOwnPropertyDescriptor(g.navigator, "userAgent");
  Object.defineProperty(g.navigator, "userAgent", {
    value: "Cloudflare-Workers",
    configurable: true,
  });
  try {
    assert.throws(() => traceNodeHttp(tracer), (error: unknown) => {
      assert.ok(isXRayError(error));
      assert.equal(
        (error as Error).message,
        "Cannot trace node:http requests as this runtime (workerd) has no diagnostics_channel 'http.client.*' channels: use Node 20.16 or later, Bun or Deno, or tracedFetch()",
      );
      return true;
    });
  } finally {
    if (original) Object.defineProperty(g.navigator, "userAgent", original);
    else delete g.navigator?.userAgent;
    if (!hadNavigator) delete g.navigator;
  }
  assert.equal(g.navigator?.userAgent === "Cloudflare-Workers", false);
  // deno-lint-ignore no-explicit-any
  assert.throws(() => traceNodeHttp(42 as any), TypeError);
});
