/**
 * The transport the PutTraceSegments senders use when none is given: the
 * global `fetch` as it is at call time, except on Node for plain `http:`
 * URLs (the daemon, the local collector), where a `node:http` request does
 * the same at a fraction of undici's `fetch` cost per batch (profiles of a
 * traced server put `fetch` at ~20 µs per delivered document). A `fetch`
 * replaced after this module loaded (a test double, an interceptor) is used
 * as it is. Workers bundles get `post.workerd.ts`: always `fetch`.
 *
 * @module
 */

import { detectRuntime } from "./detect.ts";

// deno-lint-ignore no-explicit-any
type Http = any;
let http: Http | undefined;
const original = globalThis.fetch;

/**
 * The fetch to post with when the caller gave none.
 *
 * @returns A fetch-compatible function.
 */
export function defaultFetch(): typeof fetch {
  const current = globalThis.fetch;
  if (current !== original) return current;
  if (http === undefined) {
    http = null;
    try {
      if (detectRuntime().runtime === "node") {
        // deno-lint-ignore no-explicit-any
        http = (globalThis as any).process?.getBuiltinModule?.("node:http") ??
          null;
      }
    } catch {
      // Stay on fetch.
    }
  }
  return http ? nodeFetch : current;
}

// POSTs through node:http when the URL is http:, else through fetch. Only
// what the senders use of the answer: ok, status, headers.get() and text().
function nodeFetch(
  input: RequestInfo | URL,
  init?: RequestInit,
): Promise<Response> {
  const url = String(input);
  if (!url.startsWith("http:")) return original(input, init);
  return new Promise((resolve, reject) => {
    const body = String(init?.body ?? "");
    const request = http.request(url, {
      method: init?.method ?? "GET",
      headers: {
        ...(init?.headers as Record<string, string> | undefined),
        // deno-lint-ignore no-explicit-any
        "content-length": (globalThis as any).Buffer?.byteLength?.(body) ??
          new TextEncoder().encode(body).length,
      },
      signal: init?.signal ?? undefined,
    }, (response: Http) => {
      const chunks: string[] = [];
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => chunks.push(chunk));
      response.on("error", reject);
      // A connection cut mid-body (older Node says so only this way).
      response.on("aborted", () => reject(new Error("response aborted")));
      response.on("end", () => {
        const status: number = response.statusCode;
        const headers = new Headers();
        const raw: string[] = response.rawHeaders;
        for (let i = 0; i + 1 < raw.length; i += 2) {
          headers.append(raw[i], raw[i + 1]);
        }
        const text = chunks.join("");
        resolve({
          ok: status >= 200 && status < 300,
          status,
          headers,
          text: () => Promise.resolve(text),
        } as Response);
      });
    });
    request.on("error", reject);
    request.end(body);
  });
}
