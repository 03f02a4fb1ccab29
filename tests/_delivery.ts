// Shared pieces for the delivery tests: valid segment documents and a real
// HTTP sink on 127.0.0.1 that a test scripts (accept, fail, throttle, stall),
// on node:http (tests/_server.ts) so it runs on Deno, Node, Bun and Deno-npm.
export {
  idOf,
  makeDocument,
  makeDocuments,
  recordingSleep,
  totalDropped,
} from "./_documents.ts";
import { idOf } from "./_documents.ts";
import { serve } from "./_server.ts";

/** What the sink should do with one request. */
export type Action =
  | "accept"
  | "reset"
  | "stall"
  | { status: number; body?: unknown; headers?: Record<string, string> }
  | { unprocessed: (docs: string[]) => { Id: string; ErrorCode: string }[] };

/** A real HTTP server that records accepted documents and follows a script. */
export interface Sink {
  url: string;
  port: number;
  /** How often each document id was accepted. */
  accepted: Map<string, number>;
  /** Every request body (document lists), accepted or not. */
  requests: string[][];
  /** Headers of every request. */
  headers: Headers[];
  close(): Promise<void>;
}

/**
 * Starts a sink. `script(n)` picks the action for the n-th request (0-based);
 * documents count as accepted only when the sink answers 200 in full and
 * does not list them as unprocessed.
 */
export async function startSink(
  script: (n: number, docs: string[]) => Action = () => "accept",
  port = 0,
): Promise<Sink> {
  const accepted = new Map<string, number>();
  const requests: string[][] = [];
  const headers: Headers[] = [];
  const stalled = new Set<() => void>();
  let n = 0;
  const server = await serve(async (request) => {
    const body = await request.json();
    const docs: string[] = body.TraceSegmentDocuments;
    requests.push(docs);
    headers.push(request.headers);
    const action = script(n++, docs);
    if (action === "accept") {
      for (const d of docs) {
        const id = idOf(d);
        accepted.set(id, (accepted.get(id) ?? 0) + 1);
      }
      return Response.json({ UnprocessedTraceSegments: [] });
    }
    if (action === "reset") {
      // Headers and half a body, then the stream fails: the connection is
      // cut mid-response.
      const stream = new ReadableStream({
        start(controller): void {
          controller.enqueue(new TextEncoder().encode('{"Unprocessed'));
          setTimeout(() => controller.error(new Error("cut")), 10);
        },
      });
      return new Response(stream, {
        headers: { "content-type": "application/json" },
      });
    }
    if (action === "stall") {
      // Answers only when the sink closes: the client times out first.
      await new Promise<void>((resolve) => {
        stalled.add(resolve);
      });
      return new Response(null, { status: 204 });
    }
    if ("unprocessed" in action) {
      const unprocessed = action.unprocessed(docs);
      const failed = new Set(unprocessed.map((u) => u.Id));
      for (const d of docs) {
        const id = idOf(d);
        if (!failed.has(id)) accepted.set(id, (accepted.get(id) ?? 0) + 1);
      }
      return Response.json({ UnprocessedTraceSegments: unprocessed });
    }
    return new Response(
      action.body === undefined ? null : JSON.stringify(action.body),
      {
        status: action.status,
        headers: { "content-type": "application/json", ...action.headers },
      },
    );
  }, { port });
  return {
    url: server.url,
    port: server.port,
    accepted,
    requests,
    headers,
    close: () => {
      for (const release of stalled) release();
      return server.close();
    },
  };
}

export { freePort } from "./_server.ts";
