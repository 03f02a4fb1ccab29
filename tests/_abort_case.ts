// Clients that go away mid-body, against each runtime's real server: the
// Hono middleware must end every segment and mark it `client_aborted`, never
// as a clean response with the full length. Also HEAD over real HTTP.
import assert from "node:assert/strict";
import { connect } from "node:net";
import { Hono } from "hono";
import { createTracer } from "../mod.ts";
import { xray } from "../src/hono.ts";
import { memorySender } from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import type { ServeFetch } from "./_incoming_case.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const BIG = 16 * 1024 * 1024;

// Sends a raw GET (or HEAD), waits for the first bytes of the answer, and
// cuts the connection (or reads the whole HEAD answer).
function request(url: string, path: string, method = "GET"): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => {
      socket.write(
        `${method} ${path} HTTP/1.1\r\nHost: ${hostname}\r\nX-Amzn-Trace-Id: Root=${ROOT};Sampled=1\r\nConnection: close\r\n\r\n`,
      );
    });
    let head = "";
    socket.on("data", (chunk: Uint8Array) => {
      head += new TextDecoder().decode(chunk);
      if (method === "GET") {
        socket.destroy();
        resolve(head);
      }
    });
    socket.on("end", () => resolve(head));
    socket.on("error", reject);
  });
}

/**
 * Three clients that leave mid-body (a large text body, a large declared
 * body, an endless stream) and one HEAD request: four documents. Those of
 * the `detected` paths are marked `client_aborted` with no more than the
 * bytes that went out; the others (where the runtime takes a whole body at
 * once and does not tell that the client left: Deno) at least end.
 */
export async function abortedRequestsAreRecorded(
  serveFetch: ServeFetch,
  detected: string[] = ["/text", "/declared", "/stream"],
): Promise<void> {
  const sender = memorySender();
  const errors: Error[] = [];
  const tracer = createTracer({
    serviceName: "aborts",
    sender,
    onError: (e) => errors.push(e),
  });
  const app = new Hono();
  app.use(xray({ tracer }));
  app.get("/text", (c) => c.text("x".repeat(BIG)));
  app.get("/declared", () =>
    new Response(new Uint8Array(BIG), {
      headers: { "content-length": String(BIG) },
    }));
  app.get("/stream", (c) =>
    c.body(
      new ReadableStream({
        async pull(controller) {
          await new Promise((r) => setTimeout(r, 5));
          controller.enqueue(new Uint8Array(1024));
        },
      }),
    ));
  app.get("/head", (c) => c.text("not sent"));
  const server = await serveFetch((request, ...rest) =>
    Promise.resolve(app.fetch(request, ...rest))
  );
  try {
    for (const path of ["/text", "/declared", "/stream"]) {
      assert.match(await request(server.url, path), /^HTTP\/1\.1 200/);
    }
    assert.match(await request(server.url, "/head", "HEAD"), /^HTTP\/1\.1 200/);
    // Each segment ends when its server notices the client left.
    const deadline = Date.now() + 10_000;
    while (sender.documents.length < 4 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      await tracer.flush();
    }
  } finally {
    await server.close();
  }
  await tracer.flush();
  assertValidDocuments(sender.raw);
  // deno-lint-ignore no-explicit-any
  const docs = new Map<string, any>(
    // deno-lint-ignore no-explicit-any
    sender.documents.map((d: any) => [new URL(d.http.request.url).pathname, d]),
  );
  assert.deepEqual([...docs.keys()].sort(), [
    "/declared",
    "/head",
    "/stream",
    "/text",
  ]);
  for (const path of detected) {
    const doc = docs.get(path);
    assert.equal(doc.annotations?.client_aborted, true, path);
    assert.equal(doc.http.response.status, 200);
    const sent = doc.http.response.content_length;
    assert.ok(sent === undefined || sent < BIG, `${path}: ${sent} bytes`);
  }
  const head = docs.get("/head");
  assert.equal(head.http.request.method, "HEAD");
  assert.equal(head.annotations?.client_aborted, undefined);
  assert.deepEqual(errors, []);
}
