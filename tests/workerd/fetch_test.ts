// matrix: deno — drives a real workerd (Miniflare) from the host: tracedFetch inside a Worker against 127.0.0.1 servers
// tracedFetch on workerd. Servers cannot run inside workerd, so this test runs
// them on 127.0.0.1 (tests/_server.ts), starts a Worker (_fetch_worker.ts)
// that calls them through tracedFetch, and reads the documents the Worker's
// tracer delivered back from its response: status codes, the trace header
// with Lineage as the server received it, a redirect, a dropped connection,
// and endOn "body" with a body the server holds back.
import { bundleWorker } from "./_bundle.ts";
import assert from "node:assert/strict";
import { Miniflare } from "miniflare";
import { assertValidDocuments } from "../_schema.ts";
import { resetServer, serve } from "../_server.ts";

const ROOT = "1-5759e988-bd862e3fe1be46a994272793";
const PARENT = "53995c3f42cd8ad8";
const LINEAGE = "a87bd80c:1|68fd508a:5";
const INCOMING = `Root=${ROOT};Parent=${PARENT};Sampled=1;Lineage=${LINEAGE}`;

// deno-lint-ignore no-explicit-any
type Doc = any;

Deno.test({
  name:
    "tracedFetch in a Worker (workerd) against 127.0.0.1 servers: statuses, Lineage header, redirect, reset, endOn body",
  // Miniflare keeps internal handles between its own start and dispose.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const seen: string[] = [];
    let release: (() => void) | undefined;
    const server = await serve((req) => {
      const path = new URL(req.url).pathname;
      const header = req.headers.get("x-amzn-trace-id");
      seen.push(`${path} ${header ?? "-"}`);
      if (path.startsWith("/status/")) {
        const status = Number(path.slice("/status/".length));
        return new Response(`status ${status}`, { status });
      }
      if (path === "/echo") return new Response(header ?? "-");
      if (path === "/old") {
        return new Response(null, {
          status: 302,
          headers: { location: "/new" },
        });
      }
      if (path === "/new") return new Response("moved here");
      if (path === "/slow") {
        const encoder = new TextEncoder();
        return new Response(
          new ReadableStream<Uint8Array>({
            start(controller): void {
              controller.enqueue(encoder.encode("first,"));
              release = () => {
                controller.enqueue(encoder.encode("second"));
                controller.close();
              };
            },
          }),
        );
      }
      if (path === "/release") {
        release?.();
        return new Response("released");
      }
      return new Response("no", { status: 404 });
    });
    const dropping = await resetServer();
    const mf = new Miniflare({
      modules: true,
      script: await bundleWorker(
        new URL("./_fetch_worker.ts", import.meta.url),
      ),
      compatibilityDate: "2026-07-01",
      compatibilityFlags: ["nodejs_compat"],
      cf: false,
    });
    // Runs one scenario in the Worker; returns its notes and the one document.
    const run = async (scenario: string, target = server.url) => {
      seen.length = 0;
      const response = await mf.dispatchFetch(
        `http://worker.local/${scenario}?target=${encodeURIComponent(target)}`,
        { headers: { "X-Amzn-Trace-Id": INCOMING } },
      );
      assert.equal(response.status, 200);
      const body = await response.json() as {
        notes: Doc;
        errors: string[];
        raw: string[];
      };
      assert.deepEqual(body.errors, []);
      const docs = body.raw.map((d) => JSON.parse(d));
      assert.equal(assertValidDocuments(docs), 1);
      const [doc] = docs;
      assert.equal(doc.trace_id, ROOT);
      assert.equal(doc.parent_id, PARENT);
      assert.equal(doc.service.runtime, "workerd");
      return { notes: body.notes, doc };
    };
    const headerFor = (id: string) =>
      `Root=${ROOT};Parent=${id};Sampled=1;Lineage=${LINEAGE}`;
    try {
      await t.step("status codes set error, throttle and fault", async () => {
        const { notes, doc } = await run("statuses");
        assert.deepEqual(notes.statuses, [404, 429, 500, 201]);
        assert.deepEqual(
          doc.subsegments.map((s: Doc) => [
            s.name,
            s.namespace,
            s.http.response.status,
            s.error,
            s.throttle,
            s.fault,
          ]),
          [
            ["127.0.0.1", "remote", 404, true, undefined, undefined],
            ["127.0.0.1", "remote", 429, true, true, undefined],
            ["127.0.0.1", "remote", 500, undefined, undefined, true],
            ["127.0.0.1", "remote", 201, undefined, undefined, undefined],
          ],
        );
        assert.equal(doc.fault, undefined);
      });

      await t.step(
        "the server receives the subsegment's header with the incoming Lineage",
        async () => {
          const { notes, doc } = await run("headers");
          const sub = doc.subsegments[0];
          assert.equal(notes.echoed, headerFor(sub.id));
          assert.deepEqual(seen, [`/echo ${headerFor(sub.id)}`]);
          assert.deepEqual(sub.http, {
            request: { method: "GET", url: `${server.url}/echo` },
            response: { status: 200, content_length: notes.echoed.length },
          });
        },
      );

      await t.step(
        "a followed redirect keeps the requested URL and the header reaches the target",
        async () => {
          const { notes, doc } = await run("redirect");
          assert.deepEqual(notes, { body: "moved here", redirected: true });
          const sub = doc.subsegments[0];
          assert.equal(sub.http.request.url, `${server.url}/old`);
          assert.equal(sub.http.response.status, 200);
          assert.deepEqual(seen, [
            `/old ${headerFor(sub.id)}`,
            `/new ${headerFor(sub.id)}`,
          ]);
        },
      );

      await t.step(
        "a dropped connection is a remote fault and the error reaches the Worker",
        async () => {
          const { notes, doc } = await run("reset", dropping.url);
          assert.ok(notes.thrown, "the fetch should fail");
          const sub = doc.subsegments[0];
          assert.equal(sub.fault, true);
          assert.equal(sub.http.request.method, "POST");
          assert.equal(sub.http.response, undefined);
          assert.equal(sub.cause.exceptions[0].remote, true);
          assert.equal(sub.cause.exceptions[0].message, notes.thrown.message);
          assert.equal(sub.cause.exceptions[0].type, notes.thrown.name);
        },
      );

      await t.step(
        "endOn body keeps the subsegment open until the held-back body ends",
        async () => {
          const { notes, doc } = await run("slow");
          assert.equal(notes.first, "first,");
          assert.equal(notes.rest, "second");
          assert.deepEqual(notes.openAfterFirst, [true]);
          assert.deepEqual(notes.openAtEnd, [false]);
          // Streamed without a Content-Length: the bytes read are counted.
          assert.deepEqual(doc.subsegments[0].http.response, {
            status: 200,
            content_length: 12,
          });
        },
      );
    } finally {
      await mf.dispose();
      await server.close();
      await dropping.close();
    }
  },
});
