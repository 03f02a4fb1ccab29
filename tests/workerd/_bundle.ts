// Bundles a Worker entry for workerd (Miniflare) the way Workers builds do:
// ESM, browser-ish conditions, node: built-ins left to nodejs_compat.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";

/** Bundles `entry` (a URL next to the calling test) into one Worker script. */
export async function bundleWorker(entry: URL): Promise<string> {
  try {
    const out = await esbuild.build({
      entryPoints: [fileURLToPath(entry)],
      bundle: true,
      format: "esm",
      platform: "neutral",
      mainFields: ["module", "main"],
      conditions: ["workerd", "worker", "browser"],
      external: ["node:*"],
      write: false,
      logLevel: "silent",
    });
    return out.outputFiles[0].text;
  } finally {
    await esbuild.stop();
  }
}
