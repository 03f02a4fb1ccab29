// A Worker with centralized sampling, bundled by sampling_test.ts and run in
// workerd through Miniflare. One tracer per isolate, built from env on the
// first request: centralizedSampler (lazy polling, no timers) in front of the
// Hono middleware, whose flush goes to ctx.waitUntil(tracer.flush()) and so
// also carries the sampler's polls. Nothing here polls or flushes by itself.
//
// Test hooks, outside the traced app:
// - `X-Test-Clock-Skew-Ms: <ms>` moves the sampler's clock forward (workerd's
//   clock cannot be advanced from the host, and the test must not sleep 10 s);
// - `GET /__sampler` answers the sampler's rules and the errors it reported,
//   without a sampling decision, so the test can see when a poll has landed.
import { collectorSender } from "./_collector_sender.ts";
import { Hono } from "hono";
import { createTracer, type Tracer } from "../../mod.ts";
import { xray, type XRayVariables } from "../../src/hono.ts";
import {
  type CentralizedSampler,
  centralizedSampler,
} from "../../src/sampling.ts";

type Env = {
  XRAY_ENDPOINT: string;
  COLLECTOR: string;
};

let skewMs = 0;
const errors: string[] = [];
let sampler: CentralizedSampler | undefined;
let tracer: Tracer | undefined;

function tracerFor(env: Env): Tracer {
  sampler ??= centralizedSampler({
    endpoint: env.XRAY_ENDPOINT,
    clock: { now: () => Date.now() + skewMs },
    onError: (e, source) => errors.push(`${source}: ${e.message}`),
  });
  tracer ??= createTracer({
    serviceName: "edge-shop",
    sender: collectorSender(env.COLLECTOR),
    sampler,
    onError: (e, source) => errors.push(`${source}: ${e.message}`),
  });
  return tracer;
}

const app = new Hono<{ Bindings: Env; Variables: XRayVariables }>();
app.use(xray((env: Env) => ({ tracer: tracerFor(env) })));
app.get("*", (c) =>
  c.json({
    sampled: c.var.xray.isSampled,
    ruleName: c.var.xray.ruleName ?? null,
  }));

export default {
  async fetch(req: Request, env: Env, ctx: unknown): Promise<Response> {
    const skew = req.headers.get("x-test-clock-skew-ms");
    if (skew !== null) skewMs = Number(skew);
    if (new URL(req.url).pathname === "/__sampler") {
      tracerFor(env);
      return Response.json({ rules: sampler!.rules(), errors });
    }
    return await app.fetch(req, env, ctx as never);
  },
};
