// A Worker traced with xray-edge: ALS carries the segment, and the documents
// leave through ctx.waitUntil after the response is returned. Bundled and run
// in workerd by waituntil_test.ts.
import { createTracer, type Sender, TRACE_HEADER } from "../../mod.ts";
import { createAsyncContext } from "../../src/als.ts";

interface Env {
  COLLECTOR: string;
}
interface ExecutionContext {
  waitUntil(promise: Promise<unknown>): void;
}

export default {
  fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const sender: Sender = {
      async send(documents) {
        const response = await fetch(env.COLLECTOR, {
          method: "POST",
          body: JSON.stringify(documents),
        });
        await response.body?.cancel();
        return { ok: true };
      },
    };
    const context = createAsyncContext();
    const tracer = createTracer({ serviceName: "worker", sender, context });
    const segment = tracer.startSegment("worker", {
      traceHeader: request.headers.get(TRACE_HEADER),
    });
    return context.run(segment, async () => {
      await tracer.current()?.capture("work", async () => {
        await new Promise((r) => setTimeout(r, 1));
      });
      segment.setHttpResponse({ status: 200 });
      segment.end();
      ctx.waitUntil(tracer.flush());
      return new Response("ok");
    });
  },
};
