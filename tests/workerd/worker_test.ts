// matrix: deno — drives a real workerd (Miniflare) from the host: Hono and withXRay in a Worker
// The shared incoming-request proof (tests/_incoming_case.ts) against a real
// Worker in workerd (Miniflare): real HTTP requests to workerd's socket on
// 127.0.0.1, a downstream server and a collector on 127.0.0.1, and delivery
// only through ctx.waitUntil (the Worker never flushes itself).
import { bundleWorker } from "./_bundle.ts";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { assertValidDocuments } from "../_schema.ts";
import {
  type AppUnderTest,
  driveHonoApp,
  driveXRayHandler,
  type ServeFetch,
  startDownstream,
} from "../_incoming_case.ts";

const denoServe: ServeFetch = (fetch) => {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    fetch,
  );
  return Promise.resolve({
    url: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  });
};

/**
 * Runs the Worker with `APP` set to `app`, a collector and a downstream on
 * 127.0.0.1, and hands the driver the Worker's own HTTP address.
 */
async function withWorker(
  app: "hono" | "handler",
  drive: (
    worker: AppUnderTest,
    downstream: Awaited<ReturnType<typeof startDownstream>>,
  ) => Promise<void>,
): Promise<void> {
  // deno-lint-ignore no-explicit-any
  const docs: any[] = [];
  let waiter: { n: number; resolve: () => void } | undefined;
  const collector = await denoServe(async (req) => {
    for (const d of JSON.parse(await req.text())) docs.push(JSON.parse(d));
    if (waiter && docs.length >= waiter.n) waiter.resolve();
    return new Response("ok");
  });
  const downstream = await startDownstream(denoServe);
  const mf = new Miniflare({
    modules: true,
    script: await bundleWorker(new URL("./_hono_worker.ts", import.meta.url)),
    compatibilityDate: "2026-07-01",
    compatibilityFlags: ["nodejs_compat"],
    cf: false,
    bindings: {
      APP: app,
      SERVICE: "shop",
      COLLECTOR: collector.url,
      DOWNSTREAM: downstream.url,
    },
  });
  try {
    const url = (await mf.ready).origin;
    const delivered = async (n: number) => {
      if (docs.length < n) {
        let guard: ReturnType<typeof setTimeout> | undefined;
        try {
          await new Promise<void>((resolve, reject) => {
            waiter = { n, resolve };
            guard = setTimeout(
              () => reject(new Error(`only ${docs.length} of ${n} documents`)),
              15000,
            );
          });
        } finally {
          clearTimeout(guard);
          waiter = undefined;
        }
      }
      return docs;
    };
    await drive({ url, delivered }, downstream);
  } finally {
    await mf.dispose();
    await collector.close();
    await downstream.close();
  }
}

Deno.test({
  name:
    "Hono in a Worker (workerd): success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream, dynamic naming and SSE, delivered through ctx.waitUntil",
  // Miniflare keeps internal handles between its own start and dispose.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorker("hono", async (worker, downstream) => {
      await driveHonoApp(worker, downstream, {
        runtime: "workerd",
        serviceName: "shop",
        clientIp: "127.0.0.1",
      });
      const docs = await worker.delivered(8);
      assertValidDocuments(docs);
      // Miniflare's request.cf, read per request by workersPlugin.
      for (const doc of docs) {
        assert.equal(typeof doc.aws.cloudflare.colo, "string");
      }
    });
  },
});

Deno.test({
  name:
    "withXRay in a Worker (workerd): success, 404, thrown error, 429, Sampled=?, continuation, Lineage downstream and dynamic naming, delivered through ctx.waitUntil",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withWorker("handler", async (worker, downstream) => {
      await driveXRayHandler(worker, downstream, {
        runtime: "workerd",
        serviceName: "shop",
        clientIp: "127.0.0.1",
      });
    });
  },
});
