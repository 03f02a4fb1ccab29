// Node-only: real HTTP requests to @hono/node-server on 127.0.0.1 (serve()
// and its node:http request listener), through the Hono middleware and the
// fetch-handler wrapper (tests/_incoming_case.ts).
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { getRequestListener, serve } from "@hono/node-server";
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
