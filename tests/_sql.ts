// What the SQL driver tests share: the subsegments of flushed documents, and
// which of them failed.

// deno-lint-ignore no-explicit-any
type Doc = any;

/** Every subsegment of the documents, in order. */
export function subsOf(docs: Doc[]): Doc[] {
  return docs.flatMap((d) => d.subsegments ?? []);
}

/** The positions of the subsegments marked `fault`. */
export function faultsAt(subs: Doc[]): number[] {
  return subs.flatMap((s, i) => s.fault === true ? [i] : []);
}
