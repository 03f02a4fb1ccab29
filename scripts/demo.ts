// `deno task demo`: two small traced Hono services on 127.0.0.1 — a shop
// that calls an inventory service through tracedFetch — behind the project's
// own `xray()` middleware. It sends them a few requests (success, not found,
// a failure, an upstream asking `Sampled=?` with a Lineage entry), prints
// every X-Ray document as a tree and one as JSON, then keeps both services
// up for you to call (Ctrl-C stops them). `--once` exits after the scripted
// requests.
import { Hono } from "hono";
import {
  consoleSender,
  createTracer,
  TRACE_HEADER,
  tracedFetch,
  type Tracer,
} from "../mod.ts";
import { xray, type XRayVariables } from "../src/hono.ts";

const once = Deno.args.includes("--once");
const documents: string[] = [];
const tree = consoleSender({ format: "tree" });
const sender = {
  send(batch: string[]) {
    documents.push(...batch);
    return tree.send(batch);
  },
};
// Every request is sampled here, so that each one shows up.
const sampler = {
  shouldSample: () => ({ sampled: true, ruleName: "demo-all" }),
};
const shop = createTracer({ serviceName: "demo-shop", sampler, sender });
const inventory = createTracer({
  serviceName: "demo-inventory",
  sampler,
  sender,
});

function serve(app: Hono<{ Variables: XRayVariables }>): Deno.HttpServer {
  return Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    app.fetch,
  );
}

const inventoryApp = new Hono<{ Variables: XRayVariables }>();
inventoryApp.use(xray({ tracer: inventory }));
inventoryApp.get("/stock", async (c) => {
  const lineage = c.req.header(TRACE_HEADER)?.match(/Lineage=([^;]+)/)?.[1];
  if (lineage) c.var.xray.annotate("lineage_seen", lineage);
  await c.var.xray.capture("stock lookup", async (sub) => {
    sub.setSql({
      databaseType: "SQLite",
      sanitizedQuery: "SELECT stock FROM items WHERE id = ?",
    });
    await new Promise((r) => setTimeout(r, 2));
  });
  return c.json({ inStock: true });
});
const inventoryServer = serve(inventoryApp);
const inventoryUrl = `http://127.0.0.1:${
  (inventoryServer.addr as Deno.NetAddr).port
}`;

const shopApp = new Hono<{ Variables: XRayVariables }>();
shopApp.use(xray({ tracer: shop }));
shopApp.get("/cart", async (c) => {
  const segment = c.var.xray;
  const items = Number(c.req.query("items") ?? 2);
  segment.annotate("items", items);
  const total = await segment.capture("price", async (sub) => {
    sub.addMetadata("rule", "flat 9.50 per item", "pricing");
    await new Promise((r) => setTimeout(r, 3));
    return items * 9.5;
  });
  const fetch = tracedFetch(segment); // a remote subsegment + X-Amzn-Trace-Id downstream
  const stock = await (await fetch(`${inventoryUrl}/stock?item=42`)).json();
  return c.json({ items, total, ...stock });
});
shopApp.get("/fail", async (c) => {
  await c.var.xray.capture("payment", () => {
    throw new Error("card declined by upstream");
  });
  return c.text("paid");
});
// Hono logs errors it catches; the trace shows this one.
shopApp.onError((_error, c) => c.text("internal error", 500));
const shopServer = serve(shopApp);

const base = `http://127.0.0.1:${(shopServer.addr as Deno.NetAddr).port}`;
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
const first = documents.find((d) => d.includes('"demo-shop"'));
if (first) {
  console.log(
    `\nOne document as sent to X-Ray:\n${
      JSON.stringify(JSON.parse(first), null, 2)
    }`,
  );
}
const stats = [shop.stats(), inventory.stats()];
const dropped = stats.reduce(
  (n, s) => n + Object.values(s.dropped).reduce((a, b) => a + b, 0),
  0,
);
console.log(
  `\n${documents.length} documents, ${
    stats[0].sent + stats[1].sent
  } delivered, ${dropped} dropped`,
);

async function stop(tracers: Tracer[]): Promise<void> {
  for (const tracer of tracers) await tracer.shutdown();
  await shopServer.shutdown();
  await inventoryServer.shutdown();
}

if (once) {
  await stop([shop, inventory]);
  // The scripted requests make 6 documents (4 shop segments, 2 inventory
  // segments reached through the shop, none lost): anything else is a bug.
  if (documents.length !== 6 || dropped !== 0) {
    console.error(`demo: expected 6 documents and no drops`);
    Deno.exit(1);
  }
} else {
  console.log(
    `\nThe services keep running: try\n  curl '${base}/cart?items=2'\nand each trace prints here within a second. Ctrl-C stops them.`,
  );
  Deno.addSignalListener("SIGINT", async () => {
    await stop([shop, inventory]);
    Deno.exit(0);
  });
}
