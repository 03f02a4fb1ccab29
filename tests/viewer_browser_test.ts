// matrix: deno — drives Debian chromium through playwright-core
//
// The trace viewer in a real browser, asserting what a person sees. The
// documents are real: a Hono "checkout" app and a downstream "inventory"
// server, both traced by xray-edge, plus an untraced "payments" host.
// The page and its read APIs come from the real collector (in memory, no
// UDP), fed on POST /TraceSegments. Screenshots land in .screenshots/
// (git-ignored).
import assert from "node:assert/strict";
import { Hono } from "hono";
import { type Browser, chromium, type Page } from "playwright-core";
import {
  createTracer,
  newTraceId,
  type Subsegment,
  tracedFetch,
} from "../mod.ts";
import { xray, type XRayVariables } from "../src/hono.ts";
import { withXRay } from "../src/handler.ts";
import { memorySender } from "../src/testing.ts";
import { viewerPage } from "../src/collector/viewer.ts";
import { ASSETS, viewerAssetsSource } from "../scripts/build_viewer.ts";
import { CHROMIUM_ARGS, ensureChromium } from "../scripts/chromium.ts";
import { serve } from "./_server.ts";
import { assertValidDocuments } from "./_schema.ts";
import { startCollector } from "../src/collector/server.ts";

const SCREENSHOTS = new URL("../.screenshots/", import.meta.url);

/** The collector that serves the page and stores the documents. */
async function startBackend(): Promise<{
  url: string;
  put(documents: string[]): Promise<void>;
  close(): Promise<void>;
}> {
  const running = await startCollector({
    port: 0,
    database: ":memory:",
    udp: false,
  });
  const url = running.url.replace(/\/$/, "");
  return {
    url,
    async put(documents: string[]): Promise<void> {
      const res = await fetch(`${url}/TraceSegments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ TraceSegmentDocuments: documents }),
      });
      const answer = await res.json();
      assert.equal(res.status, 200);
      assert.deepEqual(answer.UnprocessedTraceSegments, []);
    },
    close: () => running.close(),
  };
}

Deno.test("the checked-in viewer bundle is built from the current client source", async () => {
  const current = await Deno.readTextFile(ASSETS);
  assert.ok(
    current === await viewerAssetsSource(),
    "src/collector/_viewer_assets.ts is stale: run `deno run -A scripts/build_viewer.ts`",
  );
});

Deno.test("viewerPage is one self-contained document that loads nothing from elsewhere", () => {
  assert.match(viewerPage, /^<!doctype html>/);
  // No external scripts, styles, images or fonts.
  assert.doesNotMatch(viewerPage, /<(script|link|img)[^>]+(src|href)=/i);
  assert.doesNotMatch(viewerPage, /url\(\s*['"]?(https?:)?\/\//i);
  assert.equal(viewerPage.match(/<script>/g)?.length, 1);
  assert.equal(viewerPage.match(/<\/script>/g)?.length, 1);
});

/** Traffic through real traced services; returns each request's documents. */
async function trafficRig() {
  const checkoutSender = memorySender();
  const inventorySender = memorySender();
  const checkout = createTracer({
    serviceName: "checkout",
    sender: checkoutSender,
  });
  const inventory = createTracer({
    serviceName: "inventory",
    sender: inventorySender,
  });
  const inventoryServer = await serve(
    withXRay((request: Request) => {
      const path = new URL(request.url).pathname;
      return Response.json({ path, inStock: 7 });
    }, { tracer: inventory }),
  );
  const paymentsServer = await serve(() =>
    Response.json({ declined: true }, { status: 402 })
  );

  const app = new Hono<{ Variables: XRayVariables }>();
  app.use(xray({ tracer: checkout }));
  app.get("/cart/:id", async (c) => {
    const segment = c.var.xray;
    segment.annotate("customer", "c-42");
    segment.annotate("items", 3);
    segment.addMetadata("cart", { lines: [{ sku: "A-1", qty: 3 }] }, "shop");
    await segment.capture("price", async (price) => {
      await price.capture("query carts", (query) => {
        query.setSql({
          url: "sqlite:carts.db",
          databaseType: "SQLite",
          sanitizedQuery: "SELECT * FROM carts WHERE id = ?",
        });
      });
      const res = await tracedFetch(price)(`${inventoryServer.url}/stock/A-1`);
      await res.text();
    });
    const dynamo = segment.startSubsegment("DynamoDB", { namespace: "aws" });
    dynamo.setAws({
      operation: "GetItem",
      region: "us-east-1",
      table_name: "carts",
    });
    dynamo.end();
    return c.json({ id: c.req.param("id"), total: 42 });
  });
  app.post("/pay", async (c) => {
    const pay = tracedFetch(c.var.xray, { name: () => "payments.example" });
    const res = await pay(`${paymentsServer.url}/charge`, { method: "POST" });
    await res.text();
    throw new Error("card declined");
  });
  app.get("/limited", (c) => c.text("slow down", 429));
  const openJobs: Subsegment[] = [];
  app.get("/slow", (c) => {
    // Left open on purpose: the document carries it as in progress.
    openJobs.push(c.var.xray.startSubsegment("background job"));
    return c.text("accepted", 202);
  });

  let seen = { checkout: 0, inventory: 0 };
  /** The documents delivered since the last call, schema-checked. */
  const newDocuments = async (wantInventory: number): Promise<string[]> => {
    await checkout.flush();
    // The inventory segment ends as its response finishes: wait for it.
    for (
      let i = 0;
      i < 200 && inventorySender.raw.length < seen.inventory + wantInventory;
      i++
    ) {
      await inventory.flush();
      await new Promise((r) => setTimeout(r, 10));
    }
    const docs = [
      ...checkoutSender.raw.slice(seen.checkout),
      ...inventorySender.raw.slice(seen.inventory),
    ];
    seen = {
      checkout: checkoutSender.raw.length,
      inventory: inventorySender.raw.length,
    };
    assertValidDocuments(docs);
    return docs;
  };
  return {
    /** Sends one sampled request and returns the new documents (schema-checked). */
    async request(path: string, method = "GET"): Promise<string[]> {
      const res = await app.request(path, {
        method,
        headers: { "X-Amzn-Trace-Id": `Root=${newTraceId()};Sampled=1` },
      });
      await res.text();
      return await newDocuments(path.startsWith("/cart") ? 1 : 0);
    },
    /** Ends the open background jobs: their completed documents. */
    async finishJobs(): Promise<string[]> {
      for (const job of openJobs.splice(0)) job.end();
      return await newDocuments(0);
    },
    async close() {
      await checkout.shutdown();
      await inventory.shutdown();
      await inventoryServer.close();
      await paymentsServer.close();
    },
  };
}

async function waitForRows(page: Page, n: number): Promise<void> {
  await page.waitForFunction(
    (n) => document.querySelectorAll("tr.trace-row").length === n,
    n,
  );
}

/** The waterfall row of an entity by its visible name. */
function wfRow(page: Page, name: string) {
  return page.locator(".wf-row", {
    has: page.locator(".entity-name", { hasText: name }),
  }).first();
}

Deno.test("the viewer shows live traces, filters, a waterfall and a service map in Chromium", async () => {
  const executablePath = await ensureChromium();
  const rig = await trafficRig();
  const backend = await startBackend();
  let browser: Browser | undefined;
  try {
    await backend.put(await rig.request("/cart/42"));
    await backend.put(await rig.request("/pay", "POST"));

    browser = await chromium.launch({ executablePath, args: CHROMIUM_ARGS });
    const page = await browser.newPage({
      viewport: { width: 1400, height: 900 },
    });
    const pageErrors: string[] = [];
    const elsewhere: string[] = [];
    page.on("pageerror", (e) => pageErrors.push(String(e)));
    page.on("request", (r) => {
      if (!r.url().startsWith(backend.url)) elsewhere.push(r.url());
    });
    await page.goto(backend.url);
    await waitForRows(page, 2);

    // The list fills as traffic arrives, newest first, without a reload.
    await backend.put(await rig.request("/limited"));
    await backend.put(await rig.request("/slow"));
    await waitForRows(page, 4);
    const first = page.locator("tr.trace-row").first();
    assert.match(await first.locator("td.url").innerText(), /\/slow$/);

    const cart = page.locator("tr.trace-row", {
      has: page.locator("td.url", { hasText: "/cart/42" }),
    });
    assert.equal(await cart.locator("td.service").innerText(), "checkout");
    assert.equal(await cart.locator("td.method").innerText(), "GET");
    assert.equal(await cart.locator("td.status").innerText(), "200");
    assert.match(await cart.locator("td.duration").innerText(), /\d ms$/);
    const chips = await cart.locator("td.annotations").innerText();
    assert.match(chips, /customer=c-42/);
    assert.match(chips, /items=3/);
    const pay = page.locator("tr.trace-row", {
      has: page.locator("td.url", { hasText: "/pay" }),
    });
    assert.equal(await pay.locator("td.status").innerText(), "500");
    const payId = await pay.getAttribute("data-trace-id");
    assert.ok(payId);
    assert.equal(
      await page.locator("tr.trace-row", {
        has: page.locator("td.url", { hasText: "/limited" }),
      }).locator(".badge.throttle").innerText(),
      "429",
    );

    // A filter narrows the list; a bad one shows the collector's message.
    await page.fill("#filter", 'annotation.customer = "c-42"');
    await page.press("#filter", "Enter");
    await waitForRows(page, 1);
    assert.match(
      await page.locator("tr.trace-row td.url").innerText(),
      /\/cart\/42/,
    );
    await page.fill("#filter", "http.status >>> 5");
    await page.press("#filter", "Enter");
    await page.locator("#filter-error").waitFor({ state: "visible" });
    // The collector's own message, as the API answers it.
    const rejected = await fetch(`${backend.url}/GetTraceSummaries`, {
      method: "POST",
      body: JSON.stringify({
        StartTime: 0,
        EndTime: Date.now() / 1000,
        FilterExpression: "http.status >>> 5",
      }),
    });
    const problem = await rejected.json();
    assert.equal(rejected.status, 400);
    assert.equal(problem.__type, "InvalidRequestException");
    assert.match(problem.message, /Invalid filter expression/);
    assert.equal(
      await page.locator("#filter-error").innerText(),
      problem.message,
    );
    assert.equal(await page.getAttribute("#filter", "aria-invalid"), "true");
    await page.fill("#filter", "");
    await page.press("#filter", "Enter");
    await waitForRows(page, 4);
    assert.equal(await page.locator("#filter-error").isVisible(), false);

    // A click opens the waterfall with nested bars.
    await cart.click();
    await wfRow(page, "query carts").waitFor();
    const depth = async (name: string) =>
      Number(await wfRow(page, name).getAttribute("data-depth"));
    assert.equal(await depth("checkout"), 0);
    assert.equal(await depth("price"), 1);
    assert.equal(await depth("query carts"), 2);
    assert.equal(await depth("DynamoDB"), 1);
    // The downstream service's own segment hangs under the call that made it.
    assert.ok(await depth("inventory") > await depth("price"));
    assert.match(
      await wfRow(page, "price").locator(".bar-label").innerText(),
      /\d ms$/,
    );

    // A subtree folds and unfolds.
    await wfRow(page, "price").locator("button.toggle").click();
    await wfRow(page, "query carts").waitFor({ state: "detached" });
    assert.equal(await wfRow(page, "inventory").count(), 0);
    assert.equal(await wfRow(page, "DynamoDB").count(), 1);
    await wfRow(page, "price").locator("button.toggle").click();
    await wfRow(page, "inventory").waitFor();

    // A click on a bar shows its details.
    await wfRow(page, "checkout").locator(".bar").click();
    const annotations = page.locator("#entity-panel table.annotations");
    await annotations.waitFor();
    const annotationText = await annotations.innerText();
    assert.match(annotationText, /customer\s+c-42/);
    assert.match(annotationText, /items\s+3/);
    assert.match(
      await page.locator("#entity-panel section.metadata").innerText(),
      /A-1/,
    );
    assert.match(
      await page.locator("#entity-panel section.http").innerText(),
      /"status": 200/,
    );
    await wfRow(page, "query carts").locator(".bar").click();
    assert.match(
      await page.locator("#entity-panel section.sql").innerText(),
      /SELECT \* FROM carts WHERE id = \?/,
    );
    await wfRow(page, "DynamoDB").locator(".bar").click();
    assert.match(
      await page.locator("#entity-panel section.aws").innerText(),
      /"table_name": "carts"/,
    );
    await Deno.mkdir(SCREENSHOTS, { recursive: true });
    await page.screenshot({
      path: new URL("viewer-trace.png", SCREENSHOTS).pathname,
    });

    // Faults are red and carry their exception stack.
    await pay.click();
    await wfRow(page, "payments.example").waitFor();
    await wfRow(page, "checkout").locator(".bar.fault").click();
    const exceptions = page.locator("#entity-panel section.exceptions");
    await exceptions.waitFor();
    assert.match(await exceptions.innerText(), /Error: card declined/);
    assert.ok(await exceptions.locator("ol.stack li").count() > 0);
    assert.equal(
      await wfRow(page, "payments.example").locator(".bar.error").count(),
      1,
      "the 402 from payments is an error (orange)",
    );

    // An open subsegment is drawn as in progress.
    await page.locator("tr.trace-row", {
      has: page.locator("td.url", { hasText: "/slow" }),
    }).click();
    await wfRow(page, "background job").waitFor();
    assert.equal(
      await wfRow(page, "background job").locator(".bar.in-progress").count(),
      1,
    );
    assert.equal(
      await wfRow(page, "background job").locator(".bar-label").innerText(),
      "in progress",
    );
    // When it ends, the open trace updates in place.
    const finished = await rig.finishJobs();
    assert.equal(JSON.parse(finished[0]).type, "subsegment");
    await backend.put(finished);
    await page.locator(".wf-row .bar.in-progress").waitFor({
      state: "detached",
    });
    assert.match(
      await wfRow(page, "background job").locator(".bar-label").innerText(),
      /\d ms$/,
    );

    // The service map: services and remote hosts as nodes, calls as edges.
    await page.click("nav button[data-tab=map]");
    const node = (name: string) =>
      page.locator(`#map g.node[data-name="${name}"]`);
    await node("payments.example").waitFor();
    for (const name of ["checkout", "inventory", "DynamoDB"]) {
      assert.equal(await node(name).count(), 1, `node ${name}`);
    }
    assert.match(
      (await node("checkout").textContent()) ?? "",
      /4 req · 25% err · 25% fault/,
    );
    assert.match(
      (await node("payments.example").textContent()) ?? "",
      /1 req · 100% err · 0% fault.*avg \d/,
    );
    for (const target of ["inventory", "payments.example", "DynamoDB"]) {
      assert.equal(
        await page.locator(
          `#map g.edge[data-from="checkout"][data-to="${target}"] path`,
        ).count(),
        1,
        `edge checkout → ${target}`,
      );
    }
    await page.screenshot({
      path: new URL("viewer-map.png", SCREENSHOTS).pathname,
    });

    // Clicking a node lists the traces through it.
    await node("inventory").click();
    await waitForRows(page, 1);
    assert.equal(await page.inputValue("#filter"), 'service("inventory")');

    // The view lives in the URL: a link reopens the same filter and trace.
    const link = `${backend.url}/#filter=fault&trace=${payId}`;
    await page.goto("about:blank");
    await page.goto(link);
    await waitForRows(page, 1);
    assert.equal(await page.inputValue("#filter"), "fault");
    await wfRow(page, "payments.example").waitFor();
    assert.equal(await page.textContent("#detail-id"), payId);

    assert.deepEqual(pageErrors, []);
    assert.deepEqual(elsewhere, [], "the page loaded nothing from elsewhere");
  } finally {
    await browser?.close();
    await backend.close();
    await rig.close();
  }
});
