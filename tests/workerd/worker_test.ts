// matrix: deno — drives a real workerd (Miniflare) from the host: Hono and withXRay in a Worker
// workerd-only: the Hono middleware and withXRay inside a real Worker
// (Miniflare), flushing through ctx.waitUntil to a collector on 127.0.0.1.
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { fileURLToPath } from "node:url";
import { assertValidDocuments } from "../_schema.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT = "53995c3f42cd8ad8";

async function bundle(): Promise<string> {
  try {
    const out = await esbuild.build({
      entryPoints: [
        fileURLToPath(new URL("./_hono_worker.ts", import.meta.url)),
      ],
      bundle: true,
      format: "esm",
      platform: "neutral",
      mainFields: ["module", "main"],
      conditions: ["workerd", "worker", "browser"],
      external: ["node:*"],
      write: false,
      logLevel: "silent",
    });
    return out.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}

Deno.test({
  name:
    "a Worker in workerd traces Hono and plain handlers and delivers through ctx.waitUntil",
  // Miniflare keeps internal handles between its own start and dispose.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // deno-lint-ignore no-explicit-any
    const docs: any[] = [];
    let waiter: { n: number; resolve: () => void } | undefined;
    const collector = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (req) => {
        for (const d of JSON.parse(await req.text())) docs.push(JSON.parse(d));
        if (waiter && docs.length >= waiter.n) waiter.resolve();
        return new Response("ok");
      },
    );
    const downstreamHeaders: (string | null)[] = [];
    const downstream = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (req) => {
        downstreamHeaders.push(req.headers.get("X-Amzn-Trace-Id"));
        return new Response("from downstream");
      },
    );
    const mf = new Miniflare({
      modules: true,
      script: await bundle(),
      compatibilityDate: "2026-07-01",
      compatibilityFlags: ["nodejs_compat"],
      cf: false,
      bindings: {
        SERVICE: "edge-worker",
        COLLECTOR: `http://127.0.0.1:${collector.addr.port}/`,
        DOWNSTREAM: `http://127.0.0.1:${downstream.addr.port}/`,
      },
    });
    try {
      const waitFor = async (n: number): Promise<void> => {
        if (docs.length >= n) return;
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
      };
      const ok = await mf.dispatchFetch("https://api.example.com/users/7", {
        headers: {
          "X-Amzn-Trace-Id":
            `Root=${ROOT};Parent=${PARENT};Sampled=1;Lineage=a87bd80c:1`,
          "X-Forwarded-For": "203.0.113.50",
        },
      });
      assert.deepEqual(await ok.json(), { id: "7", body: "from downstream" });
      // No flush was asked for here: only the worker's waitUntil delivers.
      await waitFor(1);
      const boom = await mf.dispatchFetch("https://api.example.com/boom", {
        headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=1` },
      });
      assert.equal(boom.status, 500);
      await boom.text();
      const asked = await mf.dispatchFetch("https://api.example.com/plain", {
        headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
      });
      assert.equal(asked.status, 429);
      assert.equal(
        asked.headers.get("X-Amzn-Trace-Id"),
        `Root=${ROOT};Sampled=1`,
      );
      await asked.text();
      await waitFor(3);
    } finally {
      await mf.dispose();
      await collector.shutdown();
      await downstream.shutdown();
    }
    assertValidDocuments(docs);
    const [ok, boom] = docs;
    assert.equal(ok.name, "edge-worker");
    assert.equal(ok.trace_id, ROOT);
    assert.equal(ok.parent_id, PARENT);
    assert.equal(ok.http.request.client_ip, "203.0.113.50");
    assert.equal(ok.annotations.http_route, "/users/:id");
    assert.equal(ok.service.runtime, "workerd");
    const sub = ok.subsegments[0];
    assert.equal(
      downstreamHeaders[0],
      `Root=${ROOT};Parent=${sub.id};Sampled=1;Lineage=a87bd80c:1`,
    );
    assert.equal(boom.fault, true);
    assert.equal(boom.cause.exceptions[0].message, "worker boom");
    const plain = docs[2];
    assert.equal(plain.trace_id, ROOT);
    assert.equal(plain.throttle, true);
    assert.equal(plain.annotations, undefined);
    assert.equal(plain.aws.xray.sampling_rule_name, "worker");
    // Miniflare's request.cf, read per request by workersPlugin.
    assert.equal(typeof ok.aws.cloudflare.colo, "string");
  },
});
