// `deno task demo`: two small traced HTTP services on 127.0.0.1 — a shop that
// calls an inventory service through tracedFetch. It serves a few requests
// (success, not found, a failure, an upstream asking `Sampled=?` with a
// Lineage entry), then prints every X-Ray document as a tree, and one as JSON.
import {
  consoleSender,
  createTracer,
  type Segment,
  TRACE_HEADER,
  tracedFetch,
  type Tracer,
} from "../mod.ts";

const documents: string[] = [];
const tree = consoleSender({ format: "tree" });
const sender = {
  send(batch: string[]) {
    documents.push(...batch);
    return tree.send(batch);
  },
};
const sampler = {
  shouldSample: () => ({ sampled: true, ruleName: "demo-all" }),
};
const shop = createTracer({ serviceName: "demo-shop", sampler, sender });
const inventory = createTracer({
  serviceName: "demo-inventory",
  sampler,
  sender,
});

/** Serves `handler` on 127.0.0.1 with one segment per request. */
function traced(
  tracer: Tracer,
  handler: (request: Request, segment: Segment) => Promise<Response>,
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      const segment = tracer.startSegment(undefined, {
        traceHeader: request.headers.get(TRACE_HEADER),
        sampling: {
          host: url.host,
          method: request.method,
          path: url.pathname,
        },
      });
      segment.setHttpRequest({
        method: request.method,
        url: request.url,
        userAgent: request.headers.get("user-agent") ?? undefined,
      });
      let response: Response;
      try {
        response = await handler(request, segment);
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
}

const inventoryServer = traced(inventory, async (request, segment) => {
  const lineage = request.headers.get(TRACE_HEADER)?.match(/Lineage=([^;]+)/)
    ?.[1];
  if (lineage) segment.annotate("lineage_seen", lineage);
  await segment.capture("stock lookup", async (sub) => {
    sub.setSql({
      databaseType: "SQLite",
      sanitizedQuery: "SELECT stock FROM items WHERE id = ?",
    });
    await new Promise((r) => setTimeout(r, 2));
  });
  return Response.json({ inStock: true });
});
const inventoryUrl = `http://127.0.0.1:${inventoryServer.addr.port}`;

const shopServer = traced(shop, async (request, segment) => {
  const url = new URL(request.url);
  if (url.pathname === "/cart") {
    const items = Number(url.searchParams.get("items") ?? 2);
    segment.annotate("items", items);
    const total = await segment.capture("price", async (sub) => {
      sub.addMetadata("rule", "flat 9.50 per item", "pricing");
      await new Promise((r) => setTimeout(r, 3));
      return items * 9.5;
    });
    const fetch = tracedFetch(segment); // a remote subsegment + X-Amzn-Trace-Id downstream
    const stock = await (await fetch(`${inventoryUrl}/stock?item=42`)).json();
    return Response.json({ items, total, ...stock });
  }
  if (url.pathname === "/fail") {
    await segment.capture("payment", () => {
      throw new Error("card declined by upstream");
    });
  }
  return new Response("not found", { status: 404 });
});

const base = `http://127.0.0.1:${shopServer.addr.port}`;
console.log(`xray-edge demo: shop on ${base}, inventory on ${inventoryUrl}\n`);
const requests: [string, string | null][] = [
  ["/cart?items=3", null],
  ["/nowhere", null],
  ["/fail", null],
  [
    "/cart?items=1",
    "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?;Lineage=a87bd80c:1",
  ],
];
for (const [path, header] of requests) {
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

console.log(
  "\nTraces, as the console sender prints them (each service sends its own segment):\n",
);
await inventory.flush();
await shop.flush();
const first = JSON.parse(documents.find((d) => d.includes('"demo-shop"'))!);
console.log(
  `\nOne document as sent to X-Ray:\n${JSON.stringify(first, null, 2)}`,
);
const stats = [shop.stats(), inventory.stats()];
console.log(
  `\n${documents.length} documents, ${
    stats[0].sent + stats[1].sent
  } delivered, ${
    stats.reduce((n, s) =>
      n + Object.values(s.dropped).reduce((a, b) => a + b, 0), 0)
  } dropped`,
);
await shop.shutdown();
await inventory.shutdown();
await shopServer.shutdown();
await inventoryServer.shutdown();
