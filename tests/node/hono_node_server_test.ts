// Node-only: real HTTP requests to @hono/node-server on 127.0.0.1 (serve()
// and its node:http request listener), through the Hono middleware and the
// fetch-handler wrapper (tests/_incoming_case.ts).
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { type AddressInfo, connect } from "node:net";
import { getRequestListener, serve } from "@hono/node-server";
import { Hono } from "hono";
import { createTracer } from "../../mod.ts";
import { xray } from "../../src/hono.ts";
import { memorySender } from "../../src/testing.ts";
import { rawHeader } from "../../src/_util.ts";
import {
  honoOverRealHttp,
  type ServeFetch,
  withXRayOverRealHttp,
} from "../_incoming_case.ts";
import { abortedRequestsAreRecorded } from "../_abort_case.ts";
import type { RunningServer } from "../_serve_case.ts";

type NodeServer = ReturnType<typeof createServer>;

function running(server: NodeServer): Promise<RunningServer> {
  const listening = () => {
    const { port } = server.address() as AddressInfo;
    return {
      url: `http://127.0.0.1:${port}`,
      close: () =>
        new Promise<void>((done) => {
          server.closeAllConnections();
          server.close(() => done());
        }),
    };
  };
  return new Promise((resolve) => {
    if (server.listening) resolve(listening());
    else server.once("listening", () => resolve(listening()));
  });
}

// @hono/node-server puts its own Request/Response on globalThis (its default,
// kept here as users get it); the rest of this process gets the originals back.
async function keepingGlobals(fn: () => Promise<void>): Promise<void> {
  const { Request, Response } = globalThis;
  try {
    await fn();
  } finally {
    Object.defineProperty(globalThis, "Request", { value: Request });
    Object.defineProperty(globalThis, "Response", { value: Response });
  }
}

// serve({ fetch }) calls fetch(request, { incoming, outgoing }): the
// connection address comes from incoming.socket. A handler that throws is
// answered by an error boundary in front of it, as an app would have one.
const nodeServe: ServeFetch = (fetch) =>
  running(
    serve({
      fetch: (request, env) =>
        fetch(request, env).catch(() =>
          new Response("failed", { status: 500 })
        ),
      port: 0,
      hostname: "127.0.0.1",
    }) as NodeServer,
  );

// A plain node:http server with the node-server request listener as adapter.
const nodeHttp: ServeFetch = (fetch) => {
  const server = createServer(getRequestListener(fetch, {
    errorHandler: () => new Response("failed", { status: 500 }),
  }));
  server.listen(0, "127.0.0.1");
  return running(server);
};

Deno.test("Hono on @hono/node-server: success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream, dynamic naming and SSE over real HTTP", async () => {
  await keepingGlobals(() => honoOverRealHttp(nodeServe));
});

Deno.test("withXRay on @hono/node-server: success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream and dynamic naming over real HTTP", async () => {
  await keepingGlobals(() => withXRayOverRealHttp(nodeServe));
});

Deno.test("withXRay on node:http through the node-server request listener: the same requests and documents", async () => {
  await keepingGlobals(() => withXRayOverRealHttp(nodeHttp));
});

Deno.test("Hono middleware: clients that leave mid-body are recorded as client_aborted, and HEAD ends its segment", async () => {
  await keepingGlobals(() => abortedRequestsAreRecorded(nodeServe));
});

// The middleware reads headers from the node:http message's raw list: names
// in any case, repeated ones joined as Node joins them (X-Forwarded-For) or
// the first kept (Host, User-Agent).
Deno.test("Hono on @hono/node-server: mixed-case and repeated request headers over a raw socket", async () => {
  await keepingGlobals(async () => {
    const sender = memorySender();
    const tracer = createTracer({ serviceName: "raw", sender });
    const app = new Hono();
    app.use(xray({ tracer, dynamicNaming: "*.example" }));
    app.get("/r", (c) => c.text("ok"));
    const server = await nodeServe(async (request, env) =>
      await app.fetch(request, env)
    );
    try {
      const { port } = new URL(server.url);
      const answer = await new Promise<string>((resolve, reject) => {
        const socket = connect(+port, "127.0.0.1");
        let text = "";
        socket.setEncoding("latin1");
        socket.on("data", (d) => text += d);
        socket.on("end", () => resolve(text));
        socket.on("error", reject);
        socket.write(
          "GET /r HTTP/1.1\r\nhOsT: api.example:8080\r\n" +
            "x-AMZN-trace-ID: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?\r\n" +
            "User-Agent: first/1\r\nUSER-AGENT: second/2\r\n" +
            "X-Forwarded-For: 203.0.113.7, 10.0.0.1\r\nx-forwarded-for: 10.0.0.2\r\n" +
            "Connection: close\r\n\r\n",
        );
      });
      assert.match(answer, /^HTTP\/1\.1 200 /);
      assert.match(
        answer,
        /\r\nx-amzn-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\n/i,
      );
      await tracer.flush();
      assert.equal(sender.documents.length, 1);
      const doc = sender.documents[0];
      assert.equal(doc.trace_id, "1-5759e988-bd862e3fe1be46a994272793");
      assert.equal(doc.name, "api.example");
      assert.equal(doc.http.request.user_agent, "first/1");
      assert.equal(doc.http.request.client_ip, "203.0.113.7");
      assert.equal(doc.http.request.x_forwarded_for, true);
    } finally {
      await server.close();
    }
  });
});

// rawHeader() gives what Node's own `headers` object gives, for headers
// Node keeps the first of, joins with "; " (cookie) or ", ", in any case.
Deno.test("rawHeader() reads a node:http request's rawHeaders as its headers object has them", async () => {
  const names = [
    "host",
    "user-agent",
    "content-type",
    "authorization",
    "referer",
    "cookie",
    "x-forwarded-for",
    "x-amzn-trace-id",
    "traceparent",
    "x-custom",
    "x-absent",
  ];
  const seen = new Promise<[Record<string, unknown>, Record<string, unknown>]>(
    (resolve) => {
      const server = createServer((req, res) => {
        const headers = Object.fromEntries(names.map((n) => {
          const v = req.headers[n];
          return [n, Array.isArray(v) ? v.join(", ") : v ?? null];
        }));
        const raw = Object.fromEntries(
          names.map((n) => [n, rawHeader(req.rawHeaders, n)]),
        );
        res.end("ok", () => server.close());
        resolve([raw, headers]);
      }).listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo;
        const socket = connect(port, "127.0.0.1");
        socket.on("data", () => {});
        socket.on("error", () => {});
        socket.write(
          "GET / HTTP/1.1\r\nHost: a.example\r\nhost: b.example\r\n" +
            "User-Agent: one\r\nuser-agent: two\r\n" +
            "Content-Type: text/plain\r\nCONTENT-TYPE: text/html\r\n" +
            "Authorization: x\r\nauthorization: y\r\nReferer: r1\r\nReferer: r2\r\n" +
            "Cookie: a=1\r\ncookie: b=2\r\n" +
            "X-Forwarded-For: 203.0.113.7\r\nx-forwarded-for: 10.0.0.1\r\n" +
            "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793\r\n" +
            "traceparent: 00-a-b-01\r\nTRACEPARENT: 00-c-d-01\r\n" +
            "X-Custom: 1\r\nx-custom: 2\r\nX-CUSTOM: 3\r\n" +
            "Connection: close\r\n\r\n",
        );
      });
    },
  );
  const [raw, headers] = await seen;
  assert.deepEqual(raw, headers);
  assert.equal(raw.host, "a.example");
  assert.equal(raw.cookie, "a=1; b=2");
  assert.equal(raw["x-custom"], "1, 2, 3");
});
