// The incoming-request proof, shared by every runtime's suite: the apps of
// tests/_incoming_app.ts behind a real HTTP server on 127.0.0.1, driven with
// real HTTP requests (node:http client, so the Host header can be set), and
// the delivered documents checked against the schema and field by field for
// success, 404, a thrown error, 429, `Sampled=?`, the incoming Root/Parent,
// Lineage forwarded to a downstream server, dynamic naming and streaming.
//
// The runtime suites give a `ServeFetch` (Deno.serve, Bun.serve,
// @hono/node-server, node:http); the workerd suite drives a Worker with
// `driveHonoApp` / `driveXRayHandler` directly.
import assert from "node:assert/strict";
import http from "node:http";
import { createTracer, TRACE_HEADER, type Tracer } from "../mod.ts";
import { type MemorySender, memorySender } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { expectedRuntime } from "./_runtime.ts";
import type { RunningServer } from "./_serve_case.ts";
import {
  DYNAMIC_HOST,
  DYNAMIC_NAMING,
  honoApp,
  LINEAGE,
  PARENT,
  ROOT,
  SAMPLE_ALL,
  type ServerFetch,
  xrayHandler,
} from "./_incoming_app.ts";

/** Starts a fetch handler on 127.0.0.1 with the runtime's own server. */
export type ServeFetch = (fetch: ServerFetch) => Promise<RunningServer>;

/** An app reachable over HTTP whose delivered documents the test can read. */
export interface AppUnderTest {
  /** Base URL, `http://127.0.0.1:<port>`. */
  url: string;
  /** Resolves with the delivered documents once there are at least `count`. */
  // deno-lint-ignore no-explicit-any
  delivered(count: number): Promise<any[]>;
}

/** A server that records the trace header of each request it gets. */
export interface Downstream extends RunningServer {
  /** `X-Amzn-Trace-Id` of each request, in order. */
  traceHeaders: (string | null)[];
}

/** What differs between runtimes. */
export interface Expectations {
  /** `service.runtime` of the documents. */
  runtime: string;
  /** The tracer's service name (the segment name without dynamic naming). */
  serviceName: string;
  /** The connection address the runtime reports, or `undefined` where it gives none. */
  clientIp: string | undefined;
}

/** A reply as the test client saw it. */
export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const SAMPLED = `Root=${ROOT};Parent=${PARENT};Sampled=1;Lineage=${LINEAGE}`;
const FORWARDED = "203.0.113.50, 10.0.0.1";

/**
 * One GET over a fresh connection (no keep-alive, so servers close cleanly).
 * node:http rather than fetch, as fetch on Node and Deno drops a Host header.
 */
export function get(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: "GET",
      headers: { connection: "close", ...headers },
      agent: false,
    }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk) => body += chunk);
      res.on(
        "end",
        () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Starts a downstream server that answers `ok` and records trace headers. */
export async function startDownstream(serve: ServeFetch): Promise<Downstream> {
  const traceHeaders: (string | null)[] = [];
  const server = await serve((request) => {
    traceHeaders.push(request.headers.get(TRACE_HEADER));
    return Promise.resolve(new Response("ok"));
  });
  return { ...server, traceHeaders };
}

/** Flushes until `count` documents have been delivered to the memory sender. */
export function deliveredFrom(
  tracer: Tracer,
  sender: MemorySender,
): AppUnderTest["delivered"] {
  return async (count) => {
    // A segment ends when the server has sent the last body chunk, which can
    // be a moment after the client has read it.
    for (let i = 0; i < 500; i++) {
      await tracer.flush();
      if (sender.documents.length >= count) return sender.documents;
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(
      `Only ${sender.documents.length} of ${count} documents were delivered`,
    );
  };
}

// deno-lint-ignore no-explicit-any
type Doc = any;

function byPath(docs: Doc[]): Map<string, Doc> {
  const map = new Map<string, Doc>();
  for (const doc of docs) {
    const path = new URL(doc.http.request.url).pathname;
    assert.equal(map.has(path), false, `two documents for ${path}`);
    map.set(path, doc);
  }
  return map;
}

function flags(doc: Doc): Record<string, unknown> {
  return { error: doc.error, throttle: doc.throttle, fault: doc.fault };
}

const NO_FLAGS = { error: undefined, throttle: undefined, fault: undefined };

/** Checks what every document of a scenario shares. */
function checkCommon(docs: Doc[], expect: Expectations): void {
  for (const doc of docs) {
    assert.equal(doc.trace_id, ROOT);
    assert.equal(doc.service.runtime, expect.runtime);
    assert.equal(doc.http.request.method, "GET");
    assert.equal(doc.in_progress, undefined);
    const path = new URL(doc.http.request.url).pathname;
    if (path.endsWith("/named") || path === "/users/9") {
      assert.equal(doc.name, DYNAMIC_HOST);
      assert.equal(new URL(doc.http.request.url).hostname, DYNAMIC_HOST);
      assert.equal(doc.http.request.client_ip, "203.0.113.50");
      assert.equal(doc.http.request.x_forwarded_for, true);
    } else {
      assert.equal(doc.name, expect.serviceName);
      assert.equal(doc.http.request.client_ip, expect.clientIp);
      assert.equal(doc.http.request.x_forwarded_for, undefined);
    }
  }
}

/** Checks the call to the downstream: a remote subsegment and its header. */
function checkChain(doc: Doc, downstream: Downstream): void {
  assert.equal(doc.parent_id, PARENT);
  assert.equal(doc.subsegments.length, 1);
  const sub = doc.subsegments[0];
  assert.equal(sub.name, "127.0.0.1");
  assert.equal(sub.namespace, "remote");
  assert.equal(sub.http.response.status, 200);
  assert.equal(new URL(sub.http.request.url).hostname, "127.0.0.1");
  // The subsegment's header, with the incoming Lineage carried on.
  assert.deepEqual(downstream.traceHeaders, [
    `Root=${ROOT};Parent=${sub.id};Sampled=1;Lineage=${LINEAGE}`,
  ]);
}

/**
 * Sends the Hono requests to `app` and checks the eight documents it
 * delivers. The app is `honoApp(...)` with `dynamicNaming: DYNAMIC_NAMING`
 * and `SAMPLE_ALL`; `downstream` is where its `/chain` route calls.
 */
export async function driveHonoApp(
  app: AppUnderTest,
  downstream: Downstream,
  expect: Expectations,
): Promise<void> {
  const sampled = { [TRACE_HEADER]: SAMPLED, "user-agent": "xray-edge-test" };
  const ok = await get(app.url, "/users/7", sampled);
  assert.equal(ok.status, 200);
  assert.deepEqual(JSON.parse(ok.body), { id: "7" });
  assert.equal((await get(app.url, "/missing", sampled)).status, 404);
  const boom = await get(app.url, "/boom", sampled);
  assert.deepEqual([boom.status, boom.body], [500, "failed"]);
  assert.equal((await get(app.url, "/busy", sampled)).status, 429);
  const asked = await get(app.url, "/users/8", {
    [TRACE_HEADER]: `Root=${ROOT};Sampled=?`,
  });
  assert.equal(asked.status, 200);
  assert.equal(asked.headers["x-amzn-trace-id"], `Root=${ROOT};Sampled=1`);
  // A request that did not ask gets no trace header back.
  assert.equal(ok.headers["x-amzn-trace-id"], undefined);
  const chain = await get(app.url, "/chain", sampled);
  assert.equal(chain.body, "downstream said ok");
  const named = await get(app.url, "/users/9", {
    host: DYNAMIC_HOST,
    "x-forwarded-for": FORWARDED,
    [TRACE_HEADER]: `Root=${ROOT};Sampled=1`,
  });
  assert.equal(named.status, 200);
  const sse = await get(app.url, "/sse", sampled);
  assert.equal(sse.body.match(/data: n\d/g)?.length, 3);

  const docs = await app.delivered(8);
  assert.equal(assertValidDocuments(docs), 8);
  checkCommon(docs, expect);
  const doc = byPath(docs);

  const users = doc.get("/users/7");
  assert.equal(users.parent_id, PARENT);
  assert.equal(users.http.request.user_agent, "xray-edge-test");
  assert.equal(users.annotations.http_route, "/users/:id");
  assert.deepEqual(users.http.response, {
    status: 200,
    content_length: ok.body.length,
  });
  assert.deepEqual(flags(users), NO_FLAGS);

  const missing = doc.get("/missing");
  assert.equal(missing.http.response.status, 404);
  assert.deepEqual(flags(missing), { ...NO_FLAGS, error: true });

  const thrown = doc.get("/boom");
  assert.equal(thrown.http.response.status, 500);
  assert.deepEqual(flags(thrown), { ...NO_FLAGS, fault: true });
  assert.equal(thrown.cause.exceptions[0].message, "kaput");
  assert.equal(thrown.annotations.http_route, "/boom");

  const busy = doc.get("/busy");
  assert.equal(busy.http.response.status, 429);
  assert.deepEqual(flags(busy), { ...NO_FLAGS, error: true, throttle: true });

  const decided = doc.get("/users/8");
  assert.equal(decided.parent_id, undefined);
  assert.equal(decided.aws.xray.sampling_rule_name, "sample-all");

  checkChain(doc.get("/chain"), downstream);
  assert.equal(doc.get("/chain").annotations.http_route, "/chain");

  assert.equal(doc.get("/users/9").annotations.http_route, "/users/:id");

  const stream = doc.get("/sse");
  assert.equal(stream.annotations.http_route, "/sse");
  // Streamed without a Content-Length: the bytes sent are counted.
  assert.deepEqual(stream.http.response, {
    status: 200,
    content_length: new TextEncoder().encode(sse.body).byteLength,
  });
}

/**
 * Sends the plain-handler requests to `app` (`xrayHandler(...)` with
 * `dynamicNaming: DYNAMIC_NAMING` and `SAMPLE_ALL`, behind a server that
 * answers a thrown error with 500) and checks the seven documents.
 */
export async function driveXRayHandler(
  app: AppUnderTest,
  downstream: Downstream,
  expect: Expectations,
): Promise<void> {
  const sampled = { [TRACE_HEADER]: SAMPLED, "user-agent": "xray-edge-test" };
  const ok = await get(app.url, "/ok", sampled);
  assert.deepEqual([ok.status, ok.body], [200, "pong"]);
  assert.equal((await get(app.url, "/missing", sampled)).status, 404);
  assert.equal((await get(app.url, "/boom", sampled)).status, 500);
  assert.equal((await get(app.url, "/busy", sampled)).status, 429);
  const asked = await get(app.url, "/ok/asked", {
    [TRACE_HEADER]: `Root=${ROOT};Sampled=?`,
  });
  assert.equal(asked.headers["x-amzn-trace-id"], `Root=${ROOT};Sampled=1`);
  assert.equal(ok.headers["x-amzn-trace-id"], undefined);
  const chain = await get(app.url, "/chain", sampled);
  assert.equal(chain.body, "downstream said ok");
  const named = await get(app.url, "/ok/named", {
    host: DYNAMIC_HOST,
    "x-forwarded-for": FORWARDED,
    [TRACE_HEADER]: `Root=${ROOT};Sampled=1`,
  });
  assert.equal(named.body, "pong");

  const docs = await app.delivered(7);
  assert.equal(assertValidDocuments(docs), 7);
  checkCommon(docs, expect);
  const doc = byPath(docs);

  const pong = doc.get("/ok");
  assert.equal(pong.parent_id, PARENT);
  assert.equal(pong.http.request.user_agent, "xray-edge-test");
  assert.deepEqual(pong.annotations, { handled: true });
  assert.deepEqual(pong.http.response, { status: 200, content_length: 4 });
  assert.deepEqual(flags(pong), NO_FLAGS);

  const missing = doc.get("/missing");
  assert.equal(missing.http.response.status, 404);
  assert.deepEqual(flags(missing), { ...NO_FLAGS, error: true });

  const thrown = doc.get("/boom");
  assert.equal(thrown.http.response.status, 500);
  assert.deepEqual(flags(thrown), { ...NO_FLAGS, fault: true });
  assert.equal(thrown.cause.exceptions[0].message, "kaput");

  const busy = doc.get("/busy");
  assert.deepEqual(flags(busy), { ...NO_FLAGS, error: true, throttle: true });

  const decided = doc.get("/ok/asked");
  assert.equal(decided.parent_id, undefined);
  assert.equal(decided.aws.xray.sampling_rule_name, "sample-all");

  checkChain(doc.get("/chain"), downstream);
  assert.deepEqual(doc.get("/ok/named").annotations, { handled: true });
}

interface InProcess {
  tracer: Tracer;
  delivered: AppUnderTest["delivered"];
  expect: Expectations;
}

function inProcess(clientIp: string | undefined): InProcess {
  const sender = memorySender();
  const tracer = createTracer({
    serviceName: "shop",
    sender,
    sampler: SAMPLE_ALL,
  });
  return {
    tracer,
    delivered: deliveredFrom(tracer, sender),
    expect: {
      runtime: expectedRuntime().runtime,
      serviceName: "shop",
      clientIp,
    },
  };
}

/**
 * The Hono app on this runtime's server, downstream included.
 *
 * @param serve Starts a handler with the runtime's server.
 * @param clientIp The connection address the runtime should report.
 */
export async function honoOverRealHttp(
  serve: ServeFetch,
  clientIp: string | undefined = "127.0.0.1",
): Promise<void> {
  const { tracer, delivered, expect } = inProcess(clientIp);
  const downstream = await startDownstream(serve);
  try {
    const app = honoApp(
      { tracer, dynamicNaming: DYNAMIC_NAMING },
      () => downstream.url,
    );
    const server = await serve((request, env, ctx) =>
      Promise.resolve(app.fetch(request, env, ctx))
    );
    try {
      await driveHonoApp({ url: server.url, delivered }, downstream, expect);
    } finally {
      await server.close();
    }
  } finally {
    await downstream.close();
  }
}

/**
 * The `withXRay` handler on this runtime's server, downstream included.
 * `serve` must answer a handler that throws with a 500, as runtimes do.
 *
 * @param serve Starts a handler with the runtime's server.
 * @param clientIp The connection address the runtime should report.
 */
export async function withXRayOverRealHttp(
  serve: ServeFetch,
  clientIp: string | undefined = "127.0.0.1",
): Promise<void> {
  const { tracer, delivered, expect } = inProcess(clientIp);
  const downstream = await startDownstream(serve);
  try {
    const handler = xrayHandler(
      { tracer, dynamicNaming: DYNAMIC_NAMING },
      () => downstream.url,
    );
    const server = await serve(handler);
    try {
      await driveXRayHandler(
        { url: server.url, delivered },
        downstream,
        expect,
      );
    } finally {
      await server.close();
    }
  } finally {
    await downstream.close();
  }
}
