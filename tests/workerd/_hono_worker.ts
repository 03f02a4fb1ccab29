// A Worker bundled by worker_test.ts and run in workerd through Miniflare:
// a Hono app behind the middleware and a plain fetch handler behind withXRay,
// sharing one tracer per isolate built from env on the first request.
import { Hono } from "hono";
import { createTracer, type Sender, type Tracer } from "../../mod.ts";
import { xray, type XRayVariables } from "../../src/hono.ts";
import { withXRay } from "../../src/handler.ts";
import { workersPlugin } from "../../src/plugins.ts";

type Env = { COLLECTOR: string; SERVICE: string; DOWNSTREAM: string };

// Delivers batches to the test's collector on 127.0.0.1 over fetch.
function collectorSender(url: string): Sender {
  return {
    async send(documents) {
      const res = await fetch(url, {
        method: "POST",
        body: JSON.stringify(documents),
      });
      await res.body?.cancel();
      return res.ok
        ? { ok: true }
        : { ok: false, retryable: false, error: new Error(`${res.status}`) };
    },
  };
}

let tracer: Tracer | undefined;
function options(env: Env): { tracer: Tracer } {
  tracer ??= createTracer({
    serviceName: env.SERVICE,
    sender: collectorSender(env.COLLECTOR),
    plugins: [workersPlugin()],
    // Decides Sampled=? requests: trace them all, deterministically.
    sampler: { shouldSample: () => ({ sampled: true, ruleName: "worker" }) },
    onError: (e, source) => console.log(`xray-edge ${source}: ${e.message}`),
  });
  return { tracer };
}

const app = new Hono<{ Bindings: Env; Variables: XRayVariables }>();
app.use(xray(options));
app.onError((_err, c) => c.text("failed", 500));
app.get("/users/:id", async (c) => {
  const body = await c.var.xray.capture("downstream", async (sub) => {
    const res = await fetch(c.env.DOWNSTREAM, {
      headers: { "X-Amzn-Trace-Id": sub.traceHeaderFor() },
    });
    sub.setHttpResponse({ status: res.status });
    return await res.text();
  }, { namespace: "remote" });
  return c.json({ id: c.req.param("id"), body });
});
app.get("/boom", () => {
  throw new Error("worker boom");
});

const plain = withXRay(
  (_req: Request, _env: Env, _ctx: unknown) =>
    new Response("plain", { status: 429 }),
  options,
);

export default {
  fetch(req: Request, env: Env, ctx: unknown): Response | Promise<Response> {
    return new URL(req.url).pathname === "/plain"
      ? plain(req, env, ctx)
      : app.fetch(req, env, ctx as never);
  },
};
