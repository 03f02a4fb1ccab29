// Deno-only: a response body nobody reads (dropped by the app, or replaced
// by an outer middleware) still ends its segment once it is garbage-collected.
// Runs a child Deno with --expose-gc, as tests cannot force a collection.
import assert from "node:assert/strict";

const CHILD = `
import { Hono } from "hono";
import { createTracer } from "${new URL("../../mod.ts", import.meta.url).href}";
import { xray } from "${new URL("../../src/hono.ts", import.meta.url).href}";
import { memorySender } from "${
  new URL("../../src/testing.ts", import.meta.url).href
}";
const sender = memorySender();
const tracer = createTracer({ serviceName: "unread", sender });
const app = new Hono();
// An outer middleware that throws the traced response away.
app.use("/replaced", async (c, next) => {
  await next();
  c.res = undefined;
  c.res = new Response("replaced");
});
app.use(xray({ tracer }));
app.get("/*", (c) => c.body(new ReadableStream({ pull(ctl) { ctl.enqueue(new Uint8Array(8)); } })));
const headers = { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1" };
async function requests() {
  for (let i = 0; i < 5; i++) await app.request("/dropped/" + i, { headers });
  await (await app.request("/replaced", { headers })).text();
  // Unsampled traffic afterwards, so no temporary still holds the last one.
  const unsampled = { "X-Amzn-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0" };
  for (let i = 0; i < 3; i++) await (await app.request("/x", { headers: unsampled })).body?.cancel();
}
await requests();
for (let i = 0; i < 50 && sender.documents.length < 6; i++) {
  globalThis.gc();
  await new Promise((r) => setTimeout(r, 20));
  await tracer.flush();
}
console.log(JSON.stringify(sender.documents.map((d) => [d.http.request.url, d.annotations])));
`;

Deno.test("xray() ends the segment of a body that is never read, once it is collected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/child.ts`;
    await Deno.writeTextFile(script, CHILD);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "--v8-flags=--expose-gc",
        "--config",
        new URL("../../deno.json", import.meta.url).pathname,
        script,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    const docs = JSON.parse(new TextDecoder().decode(out.stdout));
    assert.equal(docs.length, 6, JSON.stringify(docs));
    for (const [url, annotations] of docs) {
      assert.match(url, /\/(dropped\/\d|replaced)$/);
      assert.equal(annotations.client_aborted, true);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
