// Bun-only: real HTTP requests to Bun.serve on 127.0.0.1, through the Hono
// middleware and the fetch-handler wrapper (tests/_incoming_case.ts).
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
