// Bun-only: real HTTP requests to Bun.serve on 127.0.0.1, through the Hono
// middleware and the fetch-handler wrapper (tests/_incoming_case.ts).
import assert from "node:assert/strict";
import { Hono } from "hono";
import { createTracer } from "../../mod.ts";
import { xray } from "../../src/hono.ts";
import { memorySender } from "../../src/testing.ts";
import {
  honoOverRealHttp,
  type ServeFetch,
  withXRayOverRealHttp,
} from "../_incoming_case.ts";
import { abortedRequestsAreRecorded } from "../_abort_case.ts";
import type { ServerFetch } from "../_incoming_app.ts";

interface BunServer {
  port: number;
  stop(closeActive?: boolean): Promise<void> | void;
}
const Bun = (globalThis as unknown as {
  Bun: {
    serve(options: {
      port: number;
      hostname: string;
      fetch: ServerFetch;
      error(error: Error): Response;
    }): BunServer;
  };
}).Bun;

// Bun.serve calls fetch(request, server): the connection address comes from
// server.requestIP(request).
const bunServe: ServeFetch = (fetch) => {
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch,
    // What Bun answers a thrown error with, without its error page.
    error: () => new Response("failed", { status: 500 }),
  });
  return Promise.resolve({
    url: `http://127.0.0.1:${server.port}`,
    close: async () => {
      await server.stop(true);
    },
  });
};

Deno.test("Hono on Bun.serve: success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream, dynamic naming and SSE over real HTTP", async () => {
  await honoOverRealHttp(bunServe);
});

Deno.test("withXRay on Bun.serve: success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream and dynamic naming over real HTTP", async () => {
  await withXRayOverRealHttp(bunServe);
});

Deno.test("Hono middleware: clients that leave mid-body are recorded as client_aborted, and HEAD ends its segment", async () => {
  await abortedRequestsAreRecorded(bunServe);
});

// Bodies Bun holds in memory (up to 64 KB) are handed on as they are, and
// their size recorded; streams and larger bodies are counted as they stream.
// An outer middleware sees whether the response the handler made went out.
Deno.test("Hono on Bun.serve: bodies in memory are passed on untouched with their size; streams and large bodies are counted", async () => {
  const sender = memorySender();
  const tracer = createTracer({ serviceName: "bodies", sender });
  const app = new Hono();
  const made = new Map<string, Response>();
  const untouched = new Map<string, boolean>();
  app.use(async (c, next) => {
    await next();
    untouched.set(c.req.path, c.res === made.get(c.req.path));
  });
  app.use(xray({ tracer }));
  const text = "héllo wörld ✓";
  const big = "x".repeat(70_000);
  const bodies: Record<string, () => BodyInit | null> = {
    "/string": () => text,
    "/empty": () => "",
    "/bytes": () => new Uint8Array([1, 2, 3, 4]),
    "/blob": () => new Blob(["blob!"]),
    "/form": () => new URLSearchParams({ a: "1", b: "two" }),
    "/big": () => big,
    "/stream": () =>
      new ReadableStream({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("chunk one, "));
          controller.enqueue(new TextEncoder().encode("chunk two"));
          controller.close();
        },
      }),
  };
  for (const [path, body] of Object.entries(bodies)) {
    app.get(path, () => {
      const response = new Response(body());
      made.set(path, response);
      return response;
    });
  }
  const server = await bunServe(app.fetch as ServerFetch);
  try {
    const expected: Record<string, [number, boolean]> = {
      "/string": [new TextEncoder().encode(text).byteLength, true],
      "/empty": [0, true],
      "/bytes": [4, true],
      "/blob": [5, true],
      "/form": [9, true],
      "/big": [70_000, false],
      "/stream": [20, false],
    };
    for (const [path, [size, inMemory]] of Object.entries(expected)) {
      const res = await fetch(server.url + path, {
        headers: {
          "X-Amzn-Trace-Id":
            "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        },
      });
      const got = new Uint8Array(await res.arrayBuffer());
      assert.equal(got.byteLength, size, path);
      await tracer.flush();
      const doc = sender.documents.at(-1);
      assert.equal(doc.http.request.url, server.url + path);
      assert.equal(doc.http.response.content_length, size, path);
      // (An empty body prints like a stream in Bun: it is counted.)
      if (path !== "/empty") assert.equal(untouched.get(path), inMemory, path);
    }
  } finally {
    await server.close();
  }
});
