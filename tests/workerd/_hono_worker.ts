// A Worker bundled by worker_test.ts and run in workerd through Miniflare:
// the shared apps of tests/_incoming_app.ts (the Hono app behind the
// middleware when env.APP is "hono", else the plain handler behind withXRay),
// sharing one tracer per isolate built from env on the first request and
// delivering only through ctx.waitUntil.
import { collectorSender } from "./_collector_sender.ts";
import { createTracer, type Tracer } from "../../mod.ts";
import { workersPlugin } from "../../src/plugins.ts";
import {
  DYNAMIC_NAMING,
  honoApp,
  SAMPLE_ALL,
  xrayHandler,
} from "../_incoming_app.ts";

type Env = {
  APP: "hono" | "handler";
  COLLECTOR: string;
  SERVICE: string;
  DOWNSTREAM: string;
};

let tracer: Tracer | undefined;
function options(env: Env): { tracer: Tracer; dynamicNaming: string } {
  tracer ??= createTracer({
    serviceName: env.SERVICE,
    sender: collectorSender(env.COLLECTOR),
    plugins: [workersPlugin()],
    sampler: SAMPLE_ALL,
    onError: (e, source) => console.log(`xray-edge ${source}: ${e.message}`),
  });
  return { tracer, dynamicNaming: DYNAMIC_NAMING };
}

const downstream = (env: unknown): string => (env as Env).DOWNSTREAM;
const app = honoApp(options, downstream);
const plain = xrayHandler(options, downstream);

export default {
  async fetch(req: Request, env: Env, ctx: unknown): Promise<Response> {
    if (env.APP === "hono") return await app.fetch(req, env, ctx as never);
    try {
      return await plain(req, env, ctx);
    } catch {
      // The Worker's own error boundary: withXRay has recorded and rethrown.
      return new Response("failed", { status: 500 });
    }
  },
};
