// `deno task demo`: a small traced HTTP service on 127.0.0.1. It serves a few
// requests (success, not found, a failure, an upstream asking `Sampled=?`),
// then prints every X-Ray document it produced as a tree, and one as JSON.
import { consoleSender, createTracer, TRACE_HEADER } from "../mod.ts";

const documents: string[] = [];
const tree = consoleSender({ format: "tree" });
const tracer = createTracer({
  serviceName: "demo-shop",
  sampler: { shouldSample: () => ({ sampled: true, ruleName: "demo-all" }) },
  sender: {
    send(batch) {
      documents.push(...batch);
      return tree.send(batch);
    },
  },
});

async function price(items: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 3));
  return items * 9.5;
}

const server = Deno.serve(
  { hostname: "127.0.0.1", port: 0, onListen() {} },
  async (request) => {
    const url = new URL(request.url);
    const segment = tracer.startSegment("demo-shop", {
      traceHeader: request.headers.get(TRACE_HEADER),
      sampling: { host: url.host, method: request.method, path: url.pathname },
    });
    segment.setHttpRequest({
      method: request.method,
      url: request.url,
      userAgent: request.headers.get("user-agent") ?? undefined,
    });
    let response: Response;
    try {
      if (url.pathname === "/cart") {
        const items = Number(url.searchParams.get("items") ?? 2);
        segment.annotate("items", items);
        const total = await segment.capture("price", async (sub) => {
          sub.addMetadata("rule", "flat 9.50 per item", "pricing");
          return await price(items);
        });
        await segment.capture("inventory", (sub) => {
          sub.setSql({
            databaseType: "SQLite",
            sanitizedQuery: "SELECT stock FROM items WHERE id = ?",
          });
        });
        response = Response.json({ items, total });
      } else if (url.pathname === "/fail") {
        await segment.capture("payment", () => {
          throw new Error("card declined by upstream");
        });
        response = new Response("unreachable");
      } else {
        response = new Response("not found", { status: 404 });
      }
    } catch (error) {
      segment.addError(error);
      response = new Response("internal error", { status: 500 });
    }
    segment.setHttpResponse({ status: response.status });
    response.headers.set(TRACE_HEADER, segment.responseTraceHeader());
    segment.end();
    return response;
  },
);

const base = `http://127.0.0.1:${server.addr.port}`;
console.log(`xray-edge demo: a traced service on ${base}\n`);
for (
  const [path, header] of [
    ["/cart?items=3", null],
    ["/nowhere", null],
    ["/fail", null],
    [
      "/cart?items=1",
      "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?;Lineage=a87bd80c:1",
    ],
  ] as const
) {
  const res = await fetch(base + path, {
    headers: header ? { [TRACE_HEADER]: header } : {},
  });
  await res.body?.cancel();
  console.log(
    `GET ${path} → ${res.status}   ${TRACE_HEADER}: ${
      res.headers.get(TRACE_HEADER)
    }`,
  );
}

console.log("\nTraces (as the console sender prints them):\n");
await tracer.flush();
console.log(
  `\nOne document as sent to X-Ray:\n${
    JSON.stringify(JSON.parse(documents[0]), null, 2)
  }`,
);
const stats = tracer.stats();
console.log(
  `\n${documents.length} documents, ${stats.sent} delivered, dropped: ${
    JSON.stringify(stats.dropped)
  }`,
);
await tracer.shutdown();
await server.shutdown();
