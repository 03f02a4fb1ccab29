/**
 * A sender that prints documents: as JSON lines or as an indented tree.
 *
 * @module
 */

import type { Sender, SendResult } from "../types.ts";

/** Options for {@linkcode consoleSender}. */
export interface ConsoleSenderOptions {
  /** `tree`: one readable line per entity; `json`: one JSON document per line. @default "tree" */
  format?: "tree" | "json";
  /** Where lines go. @default console.log */
  write?: (line: string) => void;
}

interface Doc {
  name?: string;
  id?: string;
  trace_id?: string;
  type?: string;
  start_time?: number;
  end_time?: number;
  in_progress?: boolean;
  error?: boolean;
  fault?: boolean;
  throttle?: boolean;
  namespace?: string;
  http?: {
    request?: { method?: string; url?: string };
    response?: { status?: number };
  };
  annotations?: Record<string, unknown>;
  cause?: { exceptions?: { type?: string; message?: string }[] } | string;
  subsegments?: Doc[];
}

function line(doc: Doc, depth: number): string {
  const ms = doc.end_time !== undefined && doc.start_time !== undefined
    ? `${((doc.end_time - doc.start_time) * 1000).toFixed(1)} ms`
    : "in progress";
  const flags = [
    doc.fault && "fault",
    doc.error && "error",
    doc.throttle && "throttle",
  ]
    .filter(Boolean).join(",");
  const http = doc.http
    ? ` ${doc.http.request?.method ?? ""} ${doc.http.request?.url ?? ""} → ${
      doc.http.response?.status ?? "?"
    }`.replace(/\s+/g, " ")
    : "";
  const notes = doc.annotations ? ` ${JSON.stringify(doc.annotations)}` : "";
  const cause = typeof doc.cause === "object" && doc.cause?.exceptions?.[0]
    ? ` ✗ ${doc.cause.exceptions[0].type}: ${doc.cause.exceptions[0].message}`
    : "";
  const ns = doc.namespace ? ` (${doc.namespace})` : "";
  return `${"  ".repeat(depth)}${
    depth === 0 ? "●" : "└"
  } ${doc.name}${ns}  ${ms}${
    flags ? ` [${flags}]` : ""
  }${http}${notes}${cause}`;
}

function tree(doc: Doc, depth: number, out: string[]): void {
  out.push(line(doc, depth));
  for (const sub of doc.subsegments ?? []) tree(sub, depth + 1, out);
}

/**
 * Creates a sender that prints every document it gets.
 *
 * @param options The format and where to write.
 * @returns The sender.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { consoleSender } from "./console.ts";
 * const lines: string[] = [];
 * const sender = consoleSender({ format: "json", write: (l) => lines.push(l) });
 * await sender.send(['{"name":"a"}']);
 * assert.deepEqual(lines, ['{"name":"a"}']);
 * ```
 */
export function consoleSender(options?: ConsoleSenderOptions): Sender {
  const format = options?.format ?? "tree";
  if (format !== "tree" && format !== "json") {
    throw new RangeError(
      `Cannot create console sender as 'format' must be "tree" or "json": current value is '${format}'`,
    );
  }
  const write = options?.write ?? ((l: string) => console.log(l));
  return {
    send(documents: string[]): Promise<SendResult> {
      try {
        for (const text of documents) {
          if (format === "json") {
            write(text);
            continue;
          }
          const doc = JSON.parse(text) as Doc;
          const out: string[] = [];
          tree(doc, 0, out);
          const head = doc.type === "subsegment" ? "subsegment of" : "trace";
          write(`${head} ${doc.trace_id ?? ""}\n${out.join("\n")}`);
        }
        return Promise.resolve({ ok: true });
      } catch (e) {
        return Promise.resolve({
          ok: false,
          retryable: false,
          error: e instanceof Error ? e : new Error(String(e)),
        });
      }
    },
  };
}
