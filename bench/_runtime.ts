// Which runtime a bench process runs on, and its version (shared by the
// micro cases, the middleware part and the HTTP servers; esbuild bundles it
// into each).
import process from "node:process";

/** The runtime's name (`deno`, `node` or `bun`) and version. */
export function runtime(): { name: "deno" | "node" | "bun"; version: string } {
  const g = globalThis as Record<string, unknown>;
  const bun = g.Bun as { version: string } | undefined;
  if (bun) return { name: "bun", version: bun.version };
  const deno = g.Deno as { version: { deno: string } } | undefined;
  if (deno) return { name: "deno", version: deno.version.deno };
  return { name: "node", version: process.versions.node };
}
