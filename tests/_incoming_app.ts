// The apps the incoming-request suites drive on every runtime: one Hono app
// behind `xray()` and one plain fetch handler behind `withXRay()`, with the
// same routes. Web-standard only, so the Worker bundle (tests/workerd/) can
// import it as well as the in-process suites (tests/_incoming_case.ts).
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { type Sampler, tracedFetch } from "../mod.ts";
import { xray, type XRayOptions, type XRayVariables } from "../src/hono.ts";
import { segmentOf, withXRay, type WithXRayOptions } from "../src/handler.ts";

/** The incoming trace the requests continue. */
export const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
/** The caller's segment id in the incoming header. */
export const PARENT = "53995c3f42cd8ad8";
/** Lineage data in the incoming header, to be forwarded downstream. */
export const LINEAGE = "a87bd80c:1|68fd508a:5";
/** The `dynamicNaming` pattern the apps use. */
export const DYNAMIC_NAMING = "*.example.com";
/** A host that matches {@linkcode DYNAMIC_NAMING}. */
export const DYNAMIC_HOST = "api.example.com";

/** Samples every request, so `Sampled=?` requests are answered `Sampled=1`. */
export const SAMPLE_ALL: Sampler = {
  shouldSample: () => ({ sampled: true, ruleName: "sample-all" }),
};

/** The downstream URL, given the runtime's first handler argument (Workers: env). */
export type DownstreamUrl = (env: unknown) => string;

/** A fetch handler as servers call it: the request, then runtime arguments. */
export type ServerFetch = (
  request: Request,
  // deno-lint-ignore no-explicit-any
  ...args: any[]
) => Promise<Response>;

/**
 * The Hono app: `/users/:id` (JSON), `/chain` (calls the downstream through
 * `tracedFetch` under the request's segment), `/boom` (throws), `/busy`
 * (429), `/sse` (three server-sent events); anything else is Hono's 404.
 */
export function honoApp(
  // deno-lint-ignore no-explicit-any
  options: XRayOptions | ((env: any) => XRayOptions),
  downstream: DownstreamUrl,
): Hono<{ Variables: XRayVariables }> {
  const app = new Hono<{ Variables: XRayVariables }>();
  app.use(xray(options));
  app.onError((_err, c) => c.text("failed", 500));
  app.get("/users/:id", (c) => c.json({ id: c.req.param("id") }));
  app.get("/chain", async (c) => {
    const response = await tracedFetch(c.var.xray)(downstream(c.env));
    return c.text(`downstream said ${await response.text()}`);
  });
  app.get("/boom", () => {
    throw new Error("kaput");
  });
  app.get("/busy", (c) => c.text("slow down", 429));
  app.get("/sse", (c) =>
    streamSSE(c, async (stream) => {
      for (let i = 0; i < 3; i++) await stream.writeSSE({ data: `n${i}` });
    }));
  return app;
}

/**
 * The plain handler behind `withXRay`: `/ok` and `/ok/*` (text), `/chain` (downstream
 * through `tracedFetch` under `segmentOf(request)`), `/boom` (throws),
 * `/busy` (429); anything else 404.
 */
export function xrayHandler(
  // deno-lint-ignore no-explicit-any
  options: WithXRayOptions | ((env: any) => WithXRayOptions),
  downstream: DownstreamUrl,
): ServerFetch {
  return withXRay(
    // deno-lint-ignore no-explicit-any
    async (request: Request, ...args: any[]): Promise<Response> => {
      const path = new URL(request.url).pathname;
      const segment = segmentOf(request);
      if (path === "/ok" || path.startsWith("/ok/")) {
        segment?.annotate("handled", true);
        return new Response("pong");
      }
      if (path === "/chain" && segment) {
        const response = await tracedFetch(segment)(downstream(args[0]));
        return new Response(`downstream said ${await response.text()}`);
      }
      if (path === "/boom") throw new Error("kaput");
      if (path === "/busy") return new Response("slow down", { status: 429 });
      return new Response("not here", { status: 404 });
    },
    options,
  );
}
