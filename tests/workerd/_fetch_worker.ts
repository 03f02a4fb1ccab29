// A Worker bundled by fetch_test.ts and run in workerd through Miniflare:
// tracedFetch inside a real Worker, calling servers the test runs on
// 127.0.0.1. Each request runs one scenario (the path) against `?target=`,
// under a segment continuing the request's X-Amzn-Trace-Id, and answers with
// the documents the tracer delivered plus what the Worker observed.
import { createTracer, TRACE_HEADER, tracedFetch } from "../../mod.ts";
import type { Segment } from "../../mod.ts";
import { memorySender } from "../../src/testing.ts";

type Notes = Record<string, unknown>;

function openSubsegments(segment: Segment): unknown[] {
  const doc = segment.toDocument() as {
    subsegments?: { in_progress?: true }[];
  };
  return (doc.subsegments ?? []).map((s) => s.in_progress ?? false);
}

const scenarios: Record<
  string,
  (segment: Segment, target: string) => Promise<Notes>
> = {
  // 404, 429, 500 and 201 from the test's server: one subsegment each.
  async statuses(segment, target) {
    const fetch = tracedFetch(segment);
    const statuses: number[] = [];
    for (const status of [404, 429, 500, 201]) {
      const response = await fetch(`${target}/status/${status}`);
      await response.body?.cancel();
      statuses.push(response.status);
    }
    return { statuses };
  },
  // The server echoes the trace header it received.
  async headers(segment, target) {
    const response = await tracedFetch(segment)(`${target}/echo?q=1`);
    return { echoed: await response.text() };
  },
  // A redirect followed by the Worker's fetch.
  async redirect(segment, target) {
    const response = await tracedFetch(segment)(`${target}/old`);
    return { body: await response.text(), redirected: response.redirected };
  },
  // A server that drops the connection: the error reaches the caller.
  async reset(segment, target) {
    try {
      await tracedFetch(segment)(`${target}/pay`, {
        method: "POST",
        body: "x",
      });
      return { thrown: null };
    } catch (error) {
      return {
        thrown: {
          name: (error as Error).name,
          message: (error as Error).message,
        },
      };
    }
  },
  // endOn "body": the subsegment stays open until the slow body is read.
  async slow(segment, target) {
    const fetch = tracedFetch(segment, { endOn: "body" });
    const response = await fetch(`${target}/slow`);
    const reader = response.body!.getReader();
    const decoder = new TextDecoder();
    const first = decoder.decode((await reader.read()).value);
    const openAfterFirst = openSubsegments(segment);
    // Tells the server (untraced) to send the rest and end the body.
    await (await globalThis.fetch(`${target}/release`)).text();
    let rest = "";
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += decoder.decode(chunk.value, { stream: true });
    }
    return { first, rest, openAfterFirst, openAtEnd: openSubsegments(segment) };
  },
};

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const scenario = scenarios[url.pathname.slice(1)];
    const target = url.searchParams.get("target");
    if (!scenario || !target) {
      return new Response("no such scenario", { status: 404 });
    }
    const sender = memorySender();
    const errors: string[] = [];
    const tracer = createTracer({
      serviceName: "worker",
      sender,
      onError: (error, source) => errors.push(`${source}: ${error.message}`),
    });
    const segment = tracer.startSegment("worker", {
      traceHeader: request.headers.get(TRACE_HEADER),
      sampled: true,
    });
    const notes = await scenario(segment, target);
    segment.end();
    await tracer.flush();
    return Response.json({ notes, errors, raw: sender.raw });
  },
};
