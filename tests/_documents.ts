// Runtime-neutral pieces for the delivery tests: valid segment documents and
// helpers that need no server (they run on every runtime of the matrix).
import { assertValidDocument } from "./_schema.ts";

const EPOCH = Math.floor(Date.now() / 1000);

/** A small schema-valid segment document with a unique id derived from `n`. */
export function makeDocument(n: number, name = "delivery"): string {
  const id = "a" + n.toString(16).padStart(15, "0");
  const traceTail = n.toString(16).padStart(24, "0").slice(-24);
  const start = EPOCH + (n % 1000) / 1000;
  return JSON.stringify({
    name,
    id,
    trace_id: `1-${EPOCH.toString(16).padStart(8, "0")}-${traceTail}`,
    start_time: start,
    end_time: start + 0.01,
  });
}

/** `count` documents, each checked against the official schema. */
export function makeDocuments(count: number, offset = 0): string[] {
  const docs: string[] = [];
  for (let i = 0; i < count; i++) {
    const doc = makeDocument(offset + i);
    assertValidDocument(doc);
    docs.push(doc);
  }
  return docs;
}

/** The segment id of a document string. */
export function idOf(document: string): string {
  return JSON.parse(document).id;
}

/** Sum of all drop reasons. */
export function totalDropped(dropped: Record<string, number>): number {
  return Object.values(dropped).reduce((a, b) => a + b, 0);
}

/** A sleep that records the delays asked for and waits only `realMs`. */
export function recordingSleep(
  delays: number[],
  realMs = 1,
): (ms: number, signal: AbortSignal) => Promise<void> {
  return (ms, signal) => {
    delays.push(ms);
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const timer = setTimeout(done, realMs);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        resolve();
      }
      signal.addEventListener("abort", done);
    });
  };
}
