// matrix: deno,node,bun,deno-npm — node:http servers (plain, Express, Fastify, Koa) on 127.0.0.1; workerd has no servers
// deno-lint-ignore-file no-explicit-any
// xray-edge/node-server against real node:http, Express 5, Fastify 5 and Koa 3
// apps on 127.0.0.1, driven by fetch.
import assert from "node:assert/strict";
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import Fastify from "fastify";
import Koa from "koa";
import Router from "@koa/router";
import { tracedFetch } from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import {
  segmentOf,
  xrayExpress,
  xrayExpressErrors,
  xrayFastify,
  xrayKoa,
  xrayNodeListener,
} from "../src/node_server.ts";
import { PARENT, ROOT, testTracer } from "./_helpers.ts";
import { serve } from "./_server.ts";

const SAMPLED = `Root=${ROOT};Parent=${PARENT};Sampled=1`;
const TRACE = { "X-Amzn-Trace-Id": SAMPLED };

interface Running {
  url: string;
  /** Resolves once `n` responses (in all) have closed, after the tracing saw each close. */
  closed(n: number): Promise<void>;
  close(): Promise<void>;
}

// Counts closed responses: this 'request' listener is added after the app's,
// so its 'close' listener runs after the one tracing added.
function track(server: Server): Running["closed"] {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  server.on("request", (_req: IncomingMessage, res: ServerResponse) => {
    res.once("close", () => {
      count++;
      for (const w of waiters.filter((w) => w.n <= count)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    });
  });
  return (n) =>
    n <= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => waiters.push({ n, resolve }));
}

async function listen(
  listener: (req: any, res: any) => unknown,
): Promise<Running> {
  const server = createServer(listener);
  await new Promise<void>((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve())
  );
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    closed: track(server),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** Serves `listener` on 127.0.0.1 for `test`, closing the server after. */
async function withServer(
  listener: (req: any, res: any) => unknown,
  test: (server: Running) => Promise<void>,
): Promise<void> {
  const server = await listen(listener);
  try {
    await test(server);
  } finally {
    await server.close();
  }
}

/** An Express app with xrayExpress() as its first middleware. */
function tracedExpress(tracer: ReturnType<typeof testTracer>["tracer"]): any {
  const app = express();
  app.use(xrayExpress({ tracer }));
  return app;
}

Deno.test("xrayNodeListener() records a node:http request: trace header, XFF, status, bytes written", async () => {
  const t = testTracer();
  let same: boolean | undefined;
  await withServer(
    xrayNodeListener((req, res) => {
      same = segmentOf(req) !== undefined;
      segmentOf(req)?.annotate("user", "u-1");
      res.setHeader("content-type", "text/plain");
      res.write("héllo ");
      res.write(new TextEncoder().encode("wörld"));
      res.end("!", "utf8");
    }, { tracer: t.tracer }),
    async (app) => {
      const res = await fetch(`${app.url}/users/42?x=1`, {
        headers: {
          ...TRACE,
          "User-Agent": "probe/1.0",
          "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
        },
      });
      assert.equal(await res.text(), "héllo wörld!");
      assert.equal(res.headers.get("x-amzn-trace-id"), null);
      await app.closed(1);
      const [doc] = await t.flushed();
      assert.equal(same, true);
      assert.equal(doc.name, "test-service");
      assert.equal(doc.trace_id, ROOT);
      assert.equal(doc.parent_id, PARENT);
      assert.deepEqual(doc.http.request, {
        method: "GET",
        url: `${app.url}/users/42?x=1`,
        user_agent: "probe/1.0",
        client_ip: "203.0.113.9",
        x_forwarded_for: true,
      });
      assert.deepEqual(doc.http.response, { status: 200, content_length: 14 });
      assert.deepEqual(doc.annotations, { user: "u-1" });
      assert.equal(doc.end_time !== undefined, true);
      assert.deepEqual(t.errors, []);
    },
  );
});

Deno.test("xrayNodeListener() takes the socket address and names the segment after a matching host", async () => {
  const t = testTracer();
  await withServer(
    xrayNodeListener((_req, res) => res.end(), {
      tracer: t.tracer,
      dynamicNaming: "*.example.com",
    }),
    async (app) => {
      // fetch() may not set Host: node:http's client does.
      for (const host of ["api.example.com:8080", "other.test"]) {
        await new Promise<void>((resolve, reject) => {
          request(
            `${app.url}/`,
            { headers: { ...TRACE, Host: host } },
            (res) => {
              res.resume();
              res.on("end", resolve);
            },
          ).on("error", reject).end();
        });
      }
      await app.closed(2);
      const docs = await t.flushed();
      assert.deepEqual(docs.map((d) => d.name).sort(), [
        "api.example.com",
        "test-service",
      ]);
      const ips = docs.map((d) => d.http.request.client_ip);
      assert.ok(ips.every((ip) => /127\.0\.0\.1/.test(ip)), String(ips));
      assert.ok(
        docs.every((d) => d.http.request.x_forwarded_for === undefined),
      );
    },
  );
});

Deno.test("xrayKoa() takes the client address from the clientIp option, and a throwing one is reported, not thrown", async () => {
  const t = testTracer();
  let calls = 0;
  const app = new Koa();
  app.use(xrayKoa({
    tracer: t.tracer,
    clientIp: (req) => {
      if (calls++ === 1) throw new Error("no address");
      return `from-option ${req.headers["x-real-ip"]}`;
    },
  }));
  app.use((ctx) => {
    ctx.body = "ok";
  });
  await withServer(app.callback(), async (server) => {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/`, {
        headers: { ...TRACE, "X-Real-IP": "198.51.100.7" },
      });
      assert.equal(await res.text(), "ok");
    }
    await server.closed(2);
    const docs = await t.flushed();
    assert.deepEqual(
      docs.map((d) => d.http.request.client_ip ?? null).sort(),
      ["from-option 198.51.100.7", null],
    );
    assert.deepEqual(t.errors.map((e) => e.error.message), ["no address"]);
  });
});

Deno.test("xrayNodeListener() answers Sampled=? and leaves unsampled responses untouched", async () => {
  const t = testTracer({
    sampler: { shouldSample: () => ({ sampled: false }) },
  });
  const untouched: boolean[][] = [];
  await withServer(
    xrayNodeListener((_req, res) => {
      const proto = ServerResponse.prototype;
      untouched.push([
        res.write === proto.write,
        res.end === proto.end,
        res.writeHead === proto.writeHead,
      ]);
      res.end("x");
    }, { tracer: t.tracer }),
    async (app) => {
      const asked = await fetch(`${app.url}/`, {
        headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
      });
      await asked.text();
      assert.equal(
        asked.headers.get("x-amzn-trace-id"),
        `Root=${ROOT};Sampled=0`,
      );
      const plain = await fetch(`${app.url}/`, {
        headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=0` },
      });
      await plain.text();
      assert.equal(plain.headers.get("x-amzn-trace-id"), null);
      await app.closed(2);
      // Asked: only writeHead() keeps the answer; not asked: nothing.
      assert.deepEqual(untouched, [[true, true, false], [true, true, true]]);
      assert.equal((await t.flushed()).length, 0);
    },
  );
});

Deno.test("xrayNodeListener() answers Sampled=? with Sampled=1 on a sampled response", async () => {
  const t = testTracer({
    sampler: { shouldSample: () => ({ sampled: true }) },
  });
  await withServer(
    xrayNodeListener((_req, res) => res.end("ok"), { tracer: t.tracer }),
    async (app) => {
      const res = await fetch(`${app.url}/`, {
        headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
      });
      await res.text();
      assert.equal(
        res.headers.get("x-amzn-trace-id"),
        `Root=${ROOT};Sampled=1`,
      );
      await app.closed(1);
      const [doc] = await t.flushed();
      assert.equal(doc.trace_id, ROOT);
    },
  );
});

Deno.test("xrayNodeListener() sets fault on 5xx, error on 4xx, throttle and error on 429", async () => {
  const t = testTracer();
  await withServer(
    xrayNodeListener((req, res) => {
      res.statusCode = Number(req.url!.slice(1));
      res.end();
    }, { tracer: t.tracer }),
    async (app) => {
      for (const status of [503, 404, 429, 201]) {
        await (await fetch(`${app.url}/${status}`, { headers: TRACE })).text();
      }
      await app.closed(4);
      const docs = await t.flushed();
      const flags = Object.fromEntries(
        docs.map((d) => [
          d.http.response.status,
          [d.fault, d.error, d.throttle].map(Boolean),
        ]),
      );
      assert.deepEqual(flags, {
        503: [true, false, false],
        404: [false, true, false],
        429: [false, true, true],
        201: [false, false, false],
      });
    },
  );
});

Deno.test("xrayNodeListener() records a rejected listener and hands the same rejection to its caller", async () => {
  const t = testTracer();
  const boom = new Error("listener failed");
  const wrapped = xrayNodeListener(
    (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
      res.statusCode = 500;
      res.end("sorry");
      return Promise.reject(boom);
    },
    { tracer: t.tracer },
  );
  const caught: unknown[] = [];
  await withServer((req, res) => {
    wrapped(req, res).catch((e) => caught.push(e));
  }, async (app) => {
    const res = await fetch(`${app.url}/`, { headers: TRACE });
    assert.equal(res.status, 500);
    await res.text();
    await app.closed(1);
    const [doc] = await t.flushed();
    assert.deepEqual(caught, [boom]);
    assert.equal(doc.fault, true);
    assert.equal(doc.cause.exceptions[0].message, "listener failed");
  });
});

Deno.test("xrayNodeListener() records a listener's synchronous throw and rethrows it unchanged", async () => {
  const t = testTracer();
  const boom = new TypeError("sync failure");
  const wrapped = xrayNodeListener(
    (_req: IncomingMessage, _res: ServerResponse): void => {
      throw boom;
    },
    { tracer: t.tracer },
  );
  const caught: unknown[] = [];
  await withServer((req, res) => {
    try {
      wrapped(req, res);
    } catch (e) {
      caught.push(e);
      res.statusCode = 500;
      res.end();
    }
  }, async (app) => {
    const res = await fetch(`${app.url}/`, { headers: TRACE });
    assert.equal(res.status, 500);
    await res.text();
    await app.closed(1);
    const [doc] = await t.flushed();
    assert.deepEqual(caught, [boom]);
    assert.equal(doc.fault, true);
    assert.equal(doc.cause.exceptions[0].type, "TypeError");
    assert.deepEqual(doc.http.response, { status: 500, content_length: 0 });
  });
});

Deno.test("xrayNodeListener() annotates client_aborted with the bytes written before the client went away", async () => {
  const t = testTracer();
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  await withServer(
    xrayNodeListener((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first chunk;");
      res.once("close", () => release());
    }, { tracer: t.tracer }),
    async (app) => {
      const controller = new AbortController();
      const res = await fetch(`${app.url}/stream`, {
        headers: TRACE,
        signal: controller.signal,
      });
      const reader = res.body!.getReader();
      const { value } = await reader.read();
      assert.equal(new TextDecoder().decode(value), "first chunk;");
      controller.abort();
      await reader.cancel().catch(() => {});
      await released;
      await app.closed(1);
      const [doc] = await t.flushed();
      assert.equal(doc.annotations.client_aborted, true);
      assert.deepEqual(doc.http.response, { status: 200, content_length: 12 });
    },
  );
});

Deno.test("concurrent requests keep their own segments through the ambient context", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const n = 6;
  let arrived = 0;
  let go!: () => void;
  const all = new Promise<void>((resolve) => (go = resolve));
  await withServer(
    xrayNodeListener(async (req, res) => {
      if (++arrived === n) go();
      await all;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * 5));
      const current = context.current();
      current?.annotate("seen", req.headers["x-req"] as string);
      res.end(String(current === segmentOf(req)));
    }, { tracer: t.tracer }),
    async (app) => {
      const roots = Array.from(
        { length: n },
        (_, i) => `1-5759e988-bd862e3fe1be46a99427279${i}`,
      );
      const bodies = await Promise.all(roots.map(async (root, i) => {
        const res = await fetch(`${app.url}/${i}`, {
          headers: {
            "X-Amzn-Trace-Id": `Root=${root};Sampled=1`,
            "X-Req": String(i),
          },
        });
        return await res.text();
      }));
      assert.deepEqual(bodies, Array(n).fill("true"));
      await app.closed(n);
      const docs = await t.flushed();
      assert.equal(docs.length, n);
      for (const doc of docs) {
        const i = roots.indexOf(doc.trace_id);
        assert.equal(doc.annotations.seen, String(i));
        assert.equal(doc.http.request.url, `${app.url}/${i}`);
      }
    },
  );
});

Deno.test("tracedFetch() nests under the request's segment through the ambient context", async () => {
  const received: (string | null)[] = [];
  const downstream = await serve((req) => {
    received.push(req.headers.get("X-Amzn-Trace-Id"));
    return new Response("from downstream");
  });
  const context = createAsyncContext();
  const t = testTracer({ context });
  const fetchTraced = tracedFetch(t.tracer);
  const app = await listen(xrayNodeListener(async (_req, res) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    const r = await fetchTraced(`${downstream.url}/inventory`);
    res.end(await r.text());
  }, { tracer: t.tracer }));
  try {
    const res = await fetch(`${app.url}/`, { headers: TRACE });
    assert.equal(await res.text(), "from downstream");
    await app.closed(1);
    const [doc] = await t.flushed();
    const [sub] = doc.subsegments;
    assert.equal(sub.namespace, "remote");
    assert.equal(sub.http.response.status, 200);
    assert.equal(received[0], `Root=${ROOT};Parent=${sub.id};Sampled=1`);
    assert.deepEqual(t.errors, []);
  } finally {
    await app.close();
    await downstream.close();
  }
});

Deno.test("xrayExpress() records the route pattern under a mounted router, res.locals.xray and a JSON body handler in context", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const app = tracedExpress(t.tracer);
  app.use(express.json());
  const api = express.Router();
  api.post("/users/:id", (req: any, res: any) => {
    res.locals.xray.annotate("user", req.params.id);
    res.json({ inContext: context.current() === res.locals.xray, ...req.body });
  });
  app.use("/api", api);
  app.use(xrayExpressErrors());
  await withServer(app, async (server) => {
    const res = await fetch(`${server.url}/api/users/7`, {
      method: "POST",
      headers: { ...TRACE, "content-type": "application/json" },
      body: JSON.stringify({ name: "Ann" }),
    });
    const body = await res.text();
    assert.deepEqual(JSON.parse(body), { inContext: true, name: "Ann" });
    await server.closed(1);
    const [doc] = await t.flushed();
    assert.deepEqual(doc.annotations, {
      user: "7",
      http_route: "/api/users/:id",
    });
    assert.equal(doc.http.request.method, "POST");
    assert.equal(doc.http.request.url, `${server.url}/api/users/7`);
    assert.deepEqual(doc.http.response, {
      status: 200,
      content_length: new TextEncoder().encode(body).byteLength,
    });
  });
});

Deno.test("xrayExpress() with xrayExpressErrors() records errors passed to next(err), thrown and rejected, but not a 4xx answer's", async () => {
  const t = testTracer();
  const app = express();
  app.set("env", "test"); // no error logs from Express's final handler
  app.use(xrayExpress({ tracer: t.tracer }));
  app.get(
    "/next",
    (_req: any, _res: any, next: any) => next(new Error("passed")),
  );
  app.get("/throw", () => {
    throw new TypeError("thrown");
  });
  app.get("/reject", async () => {
    await Promise.resolve();
    throw new RangeError("rejected");
  });
  app.get(
    "/missing",
    (_req: any, _res: any, next: any) =>
      next(Object.assign(new Error("no such thing"), { status: 404 })),
  );
  app.use(xrayExpressErrors());
  await withServer(app, async (server) => {
    for (const path of ["/next", "/throw", "/reject", "/missing"]) {
      const res = await fetch(`${server.url}${path}`, { headers: TRACE });
      await res.text();
      assert.equal(res.status, path === "/missing" ? 404 : 500, path);
    }
    await server.closed(4);
    const docs = await t.flushed();
    const byRoute = Object.fromEntries(
      docs.map((d) => [d.annotations.http_route, d]),
    );
    for (
      const [route, type, message] of [
        ["/next", "Error", "passed"],
        ["/throw", "TypeError", "thrown"],
        ["/reject", "RangeError", "rejected"],
      ]
    ) {
      const doc = byRoute[route];
      assert.equal(doc.fault, true, route);
      assert.equal(doc.http.response.status, 500);
      assert.equal(doc.cause.exceptions[0].type, type);
      assert.equal(doc.cause.exceptions[0].message, message);
    }
    const missing = byRoute["/missing"];
    assert.equal(missing.error, true);
    assert.equal(missing.fault, undefined);
    assert.equal(missing.cause, undefined);
  });
});

Deno.test("xrayExpress() answers HEAD with the declared length and leaves unmatched paths without a route", async () => {
  const t = testTracer();
  const app = tracedExpress(t.tracer);
  app.get("/file", (_req: any, res: any) => res.send("twelve bytes"));
  await withServer(app, async (server) => {
    const head = await fetch(`${server.url}/file`, {
      method: "HEAD",
      headers: TRACE,
    });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), "");
    const missing = await fetch(`${server.url}/nope`, { headers: TRACE });
    assert.equal(missing.status, 404);
    await missing.text();
    await server.closed(2);
    const docs = await t.flushed();
    const [h] = docs.filter((d) => d.http.request.method === "HEAD");
    assert.deepEqual(h.http.response, { status: 200, content_length: 12 });
    assert.equal(h.annotations.http_route, "/file");
    const [m] = docs.filter((d) => d.http.response.status === 404);
    assert.equal(m.annotations, undefined);
    assert.equal(m.error, true);
  });
});

Deno.test("xrayNodeListener() around an Express app and xrayExpress() inside it make one segment", async () => {
  const t = testTracer();
  const app = tracedExpress(t.tracer);
  app.get("/items/:id", (_req: any, res: any) => res.send("item"));
  await withServer(
    xrayNodeListener(app, { tracer: t.tracer }),
    async (server) => {
      await (await fetch(`${server.url}/items/3`, { headers: TRACE })).text();
      await server.closed(1);
      const docs = await t.flushed();
      assert.equal(docs.length, 1);
      assert.equal(docs[0].annotations.http_route, "/items/:id");
    },
  );
});

Deno.test("xrayFastify() records route, request.xray, a thrown error, a 404 and JSON bodies in context", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const app = Fastify();
  await app.register(xrayFastify({ tracer: t.tracer }));
  app.post("/orders/:id", async (request: any) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    request.xray.annotate("order", request.params.id);
    return { inContext: context.current() === request.xray, ...request.body };
  });
  app.get("/fail", () => {
    throw new Error("fastify handler failed");
  });
  app.get("/text", () => "plain text");
  await app.listen({ port: 0, host: "127.0.0.1" });
  const closed = track(app.server);
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  try {
    const res = await fetch(`${url}/orders/9`, {
      method: "POST",
      headers: { ...TRACE, "content-type": "application/json" },
      body: JSON.stringify({ qty: 2 }),
    });
    const orderBody = await res.text();
    assert.deepEqual(JSON.parse(orderBody), { inContext: true, qty: 2 });
    const fail = await fetch(`${url}/fail`, { headers: TRACE });
    assert.equal(fail.status, 500);
    await fail.text();
    const missing = await fetch(`${url}/nope`, { headers: TRACE });
    assert.equal(missing.status, 404);
    await missing.text();
    const head = await fetch(`${url}/text`, { method: "HEAD", headers: TRACE });
    assert.equal(head.status, 200);
    await head.text();
    await closed(4);
    const docs = await t.flushed();
    const [order] = docs.filter((d) => d.http.request.method === "POST");
    assert.deepEqual(order.annotations, {
      order: "9",
      http_route: "/orders/:id",
    });
    assert.equal(order.http.response.status, 200);
    assert.equal(order.http.response.content_length, orderBody.length);
    const [failed] = docs.filter((d) => d.http.response.status === 500);
    assert.equal(failed.fault, true);
    assert.equal(failed.cause.exceptions[0].message, "fastify handler failed");
    assert.equal(failed.annotations.http_route, "/fail");
    const [notFound] = docs.filter((d) => d.http.response.status === 404);
    assert.equal(notFound.error, true);
    assert.equal(notFound.annotations, undefined);
    const [headDoc] = docs.filter((d) => d.http.request.method === "HEAD");
    assert.deepEqual(headDoc.http.response, {
      status: 200,
      content_length: 10,
    });
  } finally {
    await app.close();
  }
});

Deno.test("xrayNodeListener() traces Fastify through its serverFactory", async () => {
  const t = testTracer();
  const app = Fastify({
    serverFactory: (handler) =>
      createServer(xrayNodeListener(handler, { tracer: t.tracer })),
  });
  app.get("/ping", (request) => {
    segmentOf(request.raw)?.annotate("via", "factory");
    return "pong";
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const closed = track(app.server);
  const { port } = app.server.address() as AddressInfo;
  try {
    const res = await fetch(`http://127.0.0.1:${port}/ping`, {
      headers: TRACE,
    });
    assert.equal(await res.text(), "pong");
    await closed(1);
    const [doc] = await t.flushed();
    assert.deepEqual(doc.annotations, { via: "factory" });
    assert.deepEqual(doc.http.response, { status: 200, content_length: 4 });
  } finally {
    await app.close();
  }
});

Deno.test("xrayKoa() records @koa/router's route, ctx.state.xray, a thrown error, in context", async () => {
  const context = createAsyncContext();
  const t = testTracer({ context });
  const app = new Koa();
  app.silent = true;
  app.use(xrayKoa({ tracer: t.tracer }));
  const router = new Router({ prefix: "/v1" });
  router.get("/carts/:id", async (ctx: any) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    ctx.state.xray.annotate("cart", ctx.params.id);
    ctx.body = { inContext: context.current() === ctx.state.xray };
  });
  router.get("/boom", () => {
    throw new Error("koa handler failed");
  });
  app.use(router.routes());
  await withServer(app.callback(), async (server) => {
    const res = await fetch(`${server.url}/v1/carts/5`, { headers: TRACE });
    const cartBody = await res.text();
    assert.deepEqual(JSON.parse(cartBody), { inContext: true });
    const boom = await fetch(`${server.url}/v1/boom`, { headers: TRACE });
    assert.equal(boom.status, 500);
    await boom.text();
    await server.closed(2);
    const docs = await t.flushed();
    const [cart] = docs.filter((d) => d.http.response.status === 200);
    assert.deepEqual(cart.annotations, {
      cart: "5",
      http_route: "/v1/carts/:id",
    });
    assert.equal(cart.http.response.content_length, cartBody.length);
    const [failed] = docs.filter((d) => d.http.response.status === 500);
    assert.equal(failed.fault, true);
    assert.equal(failed.cause.exceptions[0].message, "koa handler failed");
    assert.equal(failed.annotations.http_route, "/v1/boom");
  });
});

Deno.test("xrayKoa() keeps the Sampled=? answer on an error response (Koa clears headers)", async () => {
  const t = testTracer({
    sampler: { shouldSample: () => ({ sampled: true }) },
  });
  const app = new Koa();
  app.silent = true;
  app.use(xrayKoa({ tracer: t.tracer }));
  app.use(() => {
    throw new Error("down");
  });
  await withServer(app.callback(), async (server) => {
    const res = await fetch(`${server.url}/`, {
      headers: { "X-Amzn-Trace-Id": `Root=${ROOT};Sampled=?` },
    });
    assert.equal(res.status, 500);
    await res.text();
    assert.equal(res.headers.get("x-amzn-trace-id"), `Root=${ROOT};Sampled=1`);
    await server.closed(1);
    const [doc] = await t.flushed();
    assert.equal(doc.cause.exceptions[0].message, "down");
  });
});

Deno.test("xrayNodeListener() wraps Koa's app.callback() as a whole", async () => {
  const t = testTracer();
  const app = new Koa();
  app.use((ctx: { body: unknown; status: number }) => {
    ctx.status = 202;
    ctx.body = "accepted";
  });
  await withServer(
    xrayNodeListener(app.callback(), { tracer: t.tracer }),
    async (server) => {
      const res = await fetch(`${server.url}/jobs`, { headers: TRACE });
      assert.equal(await res.text(), "accepted");
      await server.closed(1);
      const [doc] = await t.flushed();
      assert.deepEqual(doc.http.response, { status: 202, content_length: 8 });
    },
  );
});

Deno.test("xrayNodeListener() with flush: true delivers each segment once it has ended", async () => {
  // No background timer: only the listener's flush delivers.
  const t = testTracer({ batch: { flushIntervalMs: 0 } });
  await withServer(
    xrayNodeListener((_req, res) => res.end("ok"), {
      tracer: t.tracer,
      flush: true,
    }),
    async (app) => {
      await (await fetch(`${app.url}/`, { headers: TRACE })).text();
      await app.closed(1);
      for (let i = 0; i < 2000 && t.sender.raw.length === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      assert.equal(t.sender.raw.length, 1);
    },
  );
});

Deno.test("the factories refuse bad configuration with a clear message", () => {
  const { tracer } = testTracer();
  assert.throws(
    () => xrayExpress({} as any),
    {
      name: "TypeError",
      message:
        "Cannot create Express middleware as 'tracer' must be a tracer from createTracer(): current value is undefined",
    },
  );
  assert.throws(
    () => xrayNodeListener("app" as any, { tracer }),
    {
      name: "TypeError",
      message:
        "Cannot wrap listener as it must be a function: current value is string",
    },
  );
  assert.throws(
    () => xrayKoa({ tracer, clientIp: "x" as any }),
    {
      name: "TypeError",
      message:
        "Cannot create Koa middleware as 'clientIp' must be a function: current value is string",
    },
  );
  assert.throws(
    () => xrayFastify({ tracer, routeAnnotation: "bad key" }),
    /Cannot create Fastify plugin as 'routeAnnotation' must be/,
  );
});
