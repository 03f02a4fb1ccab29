// matrix: deno — imports source modules by path to compare them
// Each Workers variant (src/runtime/x.workerd.ts, picked by the npm
// package's `imports` map under the `workerd` condition) exports the same
// functions as the full module it stands in for, with the same arity, and
// behaves as a Worker needs. (scripts/package_check.ts checks the map.)
import assert from "node:assert/strict";

const dir = new URL("../src/runtime/", import.meta.url);

Deno.test("every Workers variant exports what its full module exports", async () => {
  const variants: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const m = entry.name.match(/^(\w+)\.workerd\.ts$/);
    if (m) variants.push(m[1]);
  }
  assert.deepEqual(variants.sort(), [
    "before_exit",
    "detect",
    "env_var",
    "post",
    "server",
    "unref_timer",
  ]);
  for (const name of variants) {
    const full = await import(new URL(`${name}.ts`, dir).href);
    const edge = await import(new URL(`${name}.workerd.ts`, dir).href);
    const shape = (m: Record<string, unknown>) =>
      Object.entries(m).map(([k, v]) =>
        `${k}:${typeof v}/${typeof v === "function" ? v.length : ""}`
      ).sort();
    assert.deepEqual(shape(edge), shape(full), name);
  }
});

Deno.test("the Workers variants answer as a Worker needs", async () => {
  const server = await import(new URL("server.workerd.ts", dir).href);
  const plain = new Request("https://shop.example.com/", {
    headers: { "cf-connecting-ip": "203.0.113.9", host: "shop.example.com" },
  });
  assert.equal(server.connectionAddress(plain, {}), undefined);
  const fromCloudflare = Object.assign(plain.clone(), { cf: {} });
  assert.equal(
    server.connectionAddress(fromCloudflare, {}),
    "203.0.113.9",
  );
  assert.equal(
    server.requestHeader(plain, undefined, "host"),
    "shop.example.com",
  );
  assert.equal(server.sentWatcher({}, new Response("x")), undefined);
  const { detectRuntime } = await import(
    new URL("detect.workerd.ts", dir).href
  );
  assert.deepEqual(detectRuntime(), { runtime: "workerd" });
  const { envVar } = await import(new URL("env_var.workerd.ts", dir).href);
  assert.equal(envVar("PATH"), undefined);
  const { unrefTimer } = await import(
    new URL("unref_timer.workerd.ts", dir).href
  );
  const timer = setTimeout(() => {}, 10);
  assert.equal(unrefTimer(timer), timer);
  clearTimeout(timer);
  const { beforeExit } = await import(
    new URL("before_exit.workerd.ts", dir).href
  );
  let ran = false;
  beforeExit(() => ran = true)();
  assert.equal(ran, false);
});

Deno.test("responseHeader() reads @hono/node-server's cached headers in every form it keeps", async () => {
  const { responseHeader } = await import(new URL("server.ts", dir).href);
  const lightweight = (headers: unknown) =>
    ({ [Symbol("cache")]: [200, "hello", headers] }) as unknown as Response;
  assert.equal(
    responseHeader(lightweight({ "Content-Length": "5" }), "content-length"),
    "5",
  );
  assert.equal(
    responseHeader(lightweight([["content-length", "7"]]), "content-length"),
    "7",
  );
  assert.equal(
    responseHeader(
      lightweight(new Headers({ "content-length": "9" })),
      "content-length",
    ),
    "9",
  );
  assert.equal(responseHeader(lightweight(undefined), "content-length"), null);
  assert.equal(
    responseHeader(
      new Response("abc", { headers: { "content-length": "3" } }),
      "content-length",
    ),
    "3",
  );
});
