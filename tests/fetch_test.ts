// matrix: deno,node,bun,deno-npm — node:http / node:net servers on 127.0.0.1 (tests/_server.ts); workerd runs tests/workerd/fetch_test.ts instead
import assert from "node:assert/strict";
import { createTracer, TRACE_HEADER, tracedFetch } from "../mod.ts";
import type { Segment, Tracer } from "../mod.ts";
import { createAsyncContext } from "../src/als.ts";
import {
  fixedClock,
  type MemorySender,
  memorySender,
  sequentialIds,
} from "../src/testing.ts";
import { assertValidDocuments } from "./_schema.ts";
import { resetServer, serve } from "./_server.ts";

const INCOMING =
  "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=a87bd80c:1|68fd508a:5";

function setup(
  context?: ReturnType<typeof createAsyncContext>,
): { tracer: Tracer; sender: MemorySender } {
  const sender = memorySender();
  const tracer = createTracer({
    serviceName: "shop",
    sender,
    clock: fixedClock(),
    ids: sequentialIds(),
    context,
  });
  return { tracer, sender };
}

// deno-lint-ignore no-explicit-any
async function finish(tracer: Tracer, sender: MemorySender): Promise<any[]> {
  await tracer.flush();
  assertValidDocuments(sender.documents);
  return sender.documents;
}

function start(tracer: Tracer, header: string | null = INCOMING): Segment {
  return tracer.startSegment("shop", { traceHeader: header, sampled: true });
}

Deno.test("tracedFetch() records a remote subsegment named by hostname with request and response", async () => {
  const server = await serve(() => new Response("hello", { status: 200 }));
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment);
    const response = await fetch(`${server.url}/items/7?token=secret#frag`);
    assert.equal(await response.text(), "hello");
    segment.end();
    const [doc] = await finish(tracer, sender);
    const sub = doc.subsegments[0];
    assert.equal(sub.name, "127.0.0.1");
    assert.equal(sub.namespace, "remote");
    assert.deepEqual(sub.http, {
      request: { method: "GET", url: `${server.url}/items/7` },
      response: { status: 200, content_length: 5 },
    });
    assert.equal(sub.error, undefined);
    assert.equal(sub.fault, undefined);
    assert.ok(typeof sub.end_time === "number");
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() sets error, throttle and fault flags from 404, 429 and 500", async () => {
  const server = await serve((req) => {
    const status = Number(new URL(req.url).pathname.slice(1));
    return new Response(`status ${status}`, { status });
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment);
    for (const status of [404, 429, 500, 201]) {
      const response = await fetch(`${server.url}/${status}`);
      assert.equal(response.status, status);
      await response.body?.cancel();
    }
    segment.end();
    const [doc] = await finish(tracer, sender);
    const flags = doc.subsegments.map((s: Record<string, unknown>) => ({
      status: (s.http as { response: { status: number } }).response.status,
      error: s.error,
      throttle: s.throttle,
      fault: s.fault,
    }));
    assert.deepEqual(flags, [
      { status: 404, error: true, throttle: undefined, fault: undefined },
      { status: 429, error: true, throttle: true, fault: undefined },
      { status: 500, error: undefined, throttle: undefined, fault: true },
      { status: 201, error: undefined, throttle: undefined, fault: undefined },
    ]);
    // A plain response does not make the segment itself an error.
    assert.equal(doc.fault, undefined);
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() sends the subsegment's trace header with the incoming Lineage", async () => {
  const seen: (string | null)[] = [];
  const server = await serve((req) => {
    seen.push(req.headers.get(TRACE_HEADER));
    return new Response("ok");
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const response = await tracedFetch(segment)(server.url);
    await response.text();
    segment.end();
    const [doc] = await finish(tracer, sender);
    const sub = doc.subsegments[0];
    assert.deepEqual(seen, [
      `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=${sub.id};Sampled=1;Lineage=a87bd80c:1|68fd508a:5`,
    ]);
    assert.equal(doc.parent_id, "53995c3f42cd8ad8");
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() follows redirects, keeps the requested URL and propagates to the target", async () => {
  const seen: string[] = [];
  const server = await serve((req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${path} ${req.headers.get(TRACE_HEADER) ?? "-"}`);
    if (path === "/old") {
      return new Response(null, {
        status: 302,
        headers: { location: "/new" },
      });
    }
    return new Response("moved here");
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment);
    const followed = await fetch(`${server.url}/old`);
    assert.equal(await followed.text(), "moved here");
    assert.equal(followed.redirected, true);
    const manual = await fetch(`${server.url}/old`, { redirect: "manual" });
    await manual.body?.cancel();
    assert.equal(manual.status, 302);
    segment.end();
    const [doc] = await finish(tracer, sender);
    const [first, second] = doc.subsegments;
    assert.equal(first.http.request.url, `${server.url}/old`);
    assert.equal(first.http.response.status, 200);
    assert.equal(second.http.response.status, 302);
    assert.equal(second.error, undefined);
    const header = (id: string) =>
      `Root=1-5759e988-bd862e3fe1be46a994272793;Parent=${id};Sampled=1;Lineage=a87bd80c:1|68fd508a:5`;
    assert.deepEqual(seen, [
      `/old ${header(first.id)}`,
      `/new ${header(first.id)}`,
      `/old ${header(second.id)}`,
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() records a reset connection as a remote fault and rethrows the same error", async () => {
  const server = await resetServer();
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    let original: unknown;
    const fetch = tracedFetch(segment, {
      fetch: async (input, init) => {
        try {
          return await globalThis.fetch(input, init);
        } catch (error) {
          original = error;
          throw error;
        }
      },
    });
    let thrown: unknown;
    try {
      await fetch(`${server.url}/pay`, { method: "POST", body: "x" });
    } catch (error) {
      thrown = error;
    }
    assert.ok(original instanceof Error, "the connection should fail");
    assert.equal(thrown, original);
    segment.end();
    const [doc] = await finish(tracer, sender);
    const sub = doc.subsegments[0];
    assert.equal(sub.fault, true);
    assert.equal(sub.http.request.method, "POST");
    assert.equal(sub.http.response, undefined);
    const [exception] = sub.cause.exceptions;
    assert.equal(exception.remote, true);
    assert.equal(exception.message, (original as Error).message);
    assert.equal(exception.type, (original as Error).name);
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() never records URL credentials", async () => {
  const { tracer, sender } = setup();
  const segment = start(tracer);
  const fetch = tracedFetch(segment, {
    fetch: () => Promise.resolve(new Response("ok")),
  });
  const response = await fetch("https://user:hunter2@api.example.com/a?b=c");
  await response.text();
  segment.end();
  const [doc] = await finish(tracer, sender);
  assert.equal(
    doc.subsegments[0].http.request.url,
    "https://api.example.com/a",
  );
  assert.ok(!JSON.stringify(doc).includes("hunter2"));
});

Deno.test("tracedFetch() leaves the caller's Request and headers untouched", async () => {
  const seen: { header: string | null; custom: string | null; body: string }[] =
    [];
  const server = await serve(async (req) => {
    seen.push({
      header: req.headers.get(TRACE_HEADER),
      custom: req.headers.get("x-custom"),
      body: await req.text(),
    });
    return new Response("ok");
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment);
    const request = new Request(`${server.url}/orders`, {
      method: "POST",
      headers: { "x-custom": "1" },
      body: "order=7",
    });
    // Runtimes differ on whether a string body adds content-type up front
    // (Bun adds it later): compare with what the Request had before the call.
    const before = [...request.headers.keys()].sort();
    assert.ok(before.includes("x-custom"));
    const response = await fetch(request);
    await response.text();
    assert.equal(request.headers.get(TRACE_HEADER), null);
    assert.deepEqual([...request.headers.keys()].sort(), before);

    const headers = new Headers({ "x-custom": "2" });
    const init = { method: "PUT", headers, body: "b" };
    const second = await fetch(`${server.url}/orders`, init);
    await second.text();
    assert.equal(init.headers, headers);
    assert.deepEqual([...headers.keys()], ["x-custom"]);

    segment.end();
    const [doc] = await finish(tracer, sender);
    assert.deepEqual(
      doc.subsegments.map((s: { http: { request: unknown } }) =>
        s.http.request
      ),
      [
        { method: "POST", url: `${server.url}/orders` },
        { method: "PUT", url: `${server.url}/orders` },
      ],
    );
    assert.deepEqual(seen.map((s) => [s.custom, s.body]), [["1", "order=7"], [
      "2",
      "b",
    ]]);
    assert.deepEqual(
      seen.map((s) => s.header?.split(";")[1]),
      doc.subsegments.map((s: { id: string }) => `Parent=${s.id}`),
    );
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() honours the propagate and name options", async () => {
  const seen: (string | null)[] = [];
  const server = await serve((req) => {
    seen.push(req.headers.get(TRACE_HEADER));
    return new Response("ok");
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment, {
      propagate: (url) => url.pathname.startsWith("/internal"),
      name: (url) => `svc ${url.pathname.split("/")[1]}`,
    });
    for (const path of ["/internal/a", "/public/b"]) {
      await (await fetch(server.url + path)).text();
    }
    segment.end();
    const [doc] = await finish(tracer, sender);
    assert.deepEqual(
      doc.subsegments.map((s: { name: string }) => s.name),
      ["svc internal", "svc public"],
    );
    assert.equal(seen[0]?.includes(`Parent=${doc.subsegments[0].id}`), true);
    assert.equal(seen[1], null);
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() under an unsampled segment sends Sampled=0 and records nothing", async () => {
  const seen: (string | null)[] = [];
  const server = await serve((req) => {
    seen.push(req.headers.get(TRACE_HEADER));
    return new Response("ok");
  });
  try {
    const { tracer, sender } = setup();
    const segment = tracer.startSegment("shop", {
      traceHeader: "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
    });
    assert.equal(segment.isSampled, false);
    await (await tracedFetch(segment)(server.url)).text();
    segment.end();
    await tracer.flush();
    assert.equal(sender.documents.length, 0);
    assert.match(
      seen[0] ?? "",
      /^Root=1-5759e988-bd862e3fe1be46a994272793;Parent=[0-9a-f]{16};Sampled=0$/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() with endOn body ends the subsegment only when a slow body is done", async () => {
  let push: ((text: string) => void) | undefined;
  let close: (() => void) | undefined;
  const server = await serve(() => {
    const body = new ReadableStream<Uint8Array>({
      start(controller): void {
        const encoder = new TextEncoder();
        push = (text) => controller.enqueue(encoder.encode(text));
        close = () => controller.close();
      },
    });
    return new Response(body, { headers: { "content-type": "text/plain" } });
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment, { endOn: "body" });
    const pending = fetch(`${server.url}/stream`);
    // The handler has run once headers can arrive; send the first part.
    const waitForHandler = async () => {
      while (!push) await new Promise((r) => setTimeout(r, 1));
    };
    await waitForHandler();
    push!("first,");
    const response = await pending;
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const first = await reader.read();
    assert.equal(decoder.decode(first.value), "first,");
    // Part of the body read, the rest not yet sent: still open.
    let sub = segment.toDocument()!.subsegments as Record<string, unknown>[];
    assert.equal(sub[0].in_progress, true);
    assert.equal(sub[0].end_time, undefined);
    push!("second");
    close!();
    let rest = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += decoder.decode(chunk.value);
    }
    assert.equal(rest, "second");
    sub = segment.toDocument()!.subsegments as Record<string, unknown>[];
    assert.equal(sub[0].in_progress, undefined);
    assert.equal(typeof sub[0].end_time, "number");
    assert.equal(response.url, `${server.url}/stream`);
    segment.end();
    const [doc] = await finish(tracer, sender);
    // Chunked: no content-length header, so the bytes read are recorded.
    assert.deepEqual(doc.subsegments[0].http.response, {
      status: 200,
      content_length: 12,
    });
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() with endOn body ends the subsegment when the body is cancelled", async () => {
  let cancelled = false;
  const server = await serve(() => {
    const body = new ReadableStream<Uint8Array>({
      start(controller): void {
        controller.enqueue(new TextEncoder().encode("part"));
      },
      cancel(): void {
        cancelled = true;
      },
    });
    return new Response(body);
  });
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    const fetch = tracedFetch(segment, { endOn: "body" });
    const response = await fetch(server.url);
    let sub = segment.toDocument()!.subsegments as Record<string, unknown>[];
    assert.equal(sub[0].in_progress, true);
    await response.body!.cancel("not needed");
    sub = segment.toDocument()!.subsegments as Record<string, unknown>[];
    assert.equal(typeof sub[0].end_time, "number");
    segment.end();
    const [doc] = await finish(tracer, sender);
    assert.equal(doc.subsegments[0].fault, undefined);
    // Let the server notice the cancelled stream before it closes.
    while (!cancelled) await new Promise((r) => setTimeout(r, 1));
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() with endOn headers returns the runtime's own Response unread", async () => {
  const server = await serve(() => new Response("payload"));
  try {
    const { tracer, sender } = setup();
    const segment = start(tracer);
    let inner: Response | undefined;
    const fetch = tracedFetch(segment, {
      fetch: async (
        input,
        init,
      ) => (inner = await globalThis.fetch(input, init)),
    });
    const response = await fetch(server.url);
    assert.equal(response, inner);
    assert.equal(response.bodyUsed, false);
    const sub = segment.toDocument()!.subsegments as Record<string, unknown>[];
    assert.equal(typeof sub[0].end_time, "number");
    assert.equal(await response.text(), "payload");
    segment.end();
    await finish(tracer, sender);
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() resolves the parent per call from an ambient context", async () => {
  const server = await serve(() => new Response("ok"));
  try {
    const context = createAsyncContext();
    const { tracer, sender } = setup(context);
    const fetch = tracedFetch(context);
    const segment = start(tracer);
    await context.run(segment, async () => {
      await segment.capture("checkout", (sub) =>
        context.run(sub, async () => {
          await (await fetch(server.url)).text();
        }));
    });
    // Outside any segment the call goes through untraced.
    assert.equal(await (await fetch(server.url)).text(), "ok");
    segment.end();
    const [doc] = await finish(tracer, sender);
    assert.equal(doc.subsegments.length, 1);
    const checkout = doc.subsegments[0];
    assert.equal(checkout.name, "checkout");
    assert.equal(checkout.subsegments[0].name, "127.0.0.1");
    assert.equal(checkout.subsegments[0].namespace, "remote");
  } finally {
    await server.close();
  }
});

Deno.test("tracedFetch() rejects a parent that is neither an entity nor a context", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => tracedFetch({} as any),
    {
      name: "TypeError",
      message:
        "Cannot create traced fetch as 'parent' must be a segment, a subsegment or have current()",
    },
  );
  const { tracer } = setup();
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => tracedFetch(tracer.startSegment(), { endOn: "never" as any }),
    RangeError,
  );
});
