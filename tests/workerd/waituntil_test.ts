// matrix: deno — drives a real workerd (Miniflare) from the host to watch ctx.waitUntil deliver after the response
import assert from "node:assert/strict";
import * as esbuild from "esbuild";
import { Miniflare } from "miniflare";
import { assertValidDocuments } from "../_schema.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";

Deno.test("a Worker returns first and delivers its segment through ctx.waitUntil, ALS included", async () => {
  const built = await esbuild.build({
    entryPoints: [new URL("./_worker.ts", import.meta.url).pathname],
    bundle: true,
    write: false,
    format: "esm",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    external: ["node:*"],
    logLevel: "error",
  });
  await esbuild.stop();

  const received = Promise.withResolvers<string[]>();
  const collector = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen() {},
  }, async (request) => {
    received.resolve(JSON.parse(await request.text()));
    return new Response("{}");
  });
  const mf = new Miniflare({
    modules: true,
    script: built.outputFiles[0].text,
    compatibilityDate: "2026-07-01",
    compatibilityFlags: ["nodejs_compat"],
    bindings: { COLLECTOR: `http://127.0.0.1:${collector.addr.port}/` },
    cf: false,
  });
  try {
    const response = await mf.dispatchFetch("http://worker.local/", {
      headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=1` },
    });
    assert.equal(await response.text(), "ok");
    const docs = (await received.promise).map((d) => JSON.parse(d));
    assert.equal(assertValidDocuments(docs), 1);
    assert.equal(docs[0].trace_id, ROOT);
    assert.equal(docs[0].service.runtime, "workerd");
    assert.equal(docs[0].subsegments[0].name, "work");
  } finally {
    await mf.dispose();
    await collector.shutdown();
  }
});
