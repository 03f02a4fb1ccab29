// Edge size budget: bundles three typical Workers apps against the built npm
// package (npm/) with esbuild for the Workers target (platform browser,
// conditions workerd/worker/browser, minified) and prints min and gzip bytes.
//   (a) core + xrayApiSender
//   (b) (a) + Hono middleware (hono itself is left out of the count)
//   (c) (b) + tracedFetch
// Fails when (b) is over 13.5 KB gzip (13,824 bytes) or when any bundle pulls
// a `node:` built-in. The test task runs it; docs/size.md explains the figures.
// A piece that is not in the package yet is reported as missing, and the rows
// that need it say so instead of measuring something else under their name.
//
//   deno run -A scripts/size.ts            # the table and the budget check
//   deno run -A scripts/size.ts --inputs   # also: where each app's bytes go

import * as esbuild from "esbuild";
import { join } from "node:path";
import { ROOT } from "./matrix.ts";

const PKG = join(ROOT, "npm");
const WORK = join(ROOT, ".matrix", "size");
/** The budget for app (b), in gzip bytes. */
export const BUDGET_B_GZIP = 13.5 * 1024;

interface Piece {
  name: string;
  present: () => Promise<boolean>;
}

async function hasExport(dts: string, name: string): Promise<boolean> {
  try {
    const text = await Deno.readTextFile(join(PKG, "dist", dts));
    return new RegExp(`\\b${name}\\b`).test(text);
  } catch {
    return false;
  }
}

const PIECES: Record<string, Piece> = {
  xrayApiSender: {
    name: "xrayApiSender (xray-edge)",
    present: () => hasExport("mod.d.ts", "xrayApiSender"),
  },
  hono: {
    name: "xray (xray-edge/hono)",
    present: async () => {
      const pkg = JSON.parse(
        await Deno.readTextFile(join(PKG, "package.json")),
      );
      return "./hono" in pkg.exports;
    },
  },
  tracedFetch: {
    name: "tracedFetch (xray-edge)",
    present: () => hasExport("mod.d.ts", "tracedFetch"),
  },
};

interface App {
  id: string;
  title: string;
  needs: string[];
  source: string;
}

const SENDER = `xrayApiSender({
  region: env.AWS_REGION,
  credentials: {
    accessKeyId: env.AWS_ACCESS_KEY_ID,
    secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
  },
})`;

const APPS: App[] = [
  {
    id: "core",
    title: "core only (createTracer, console sender), for reference",
    needs: [],
    source:
      `import { createTracer, consoleSender, TRACE_HEADER } from "xray-edge";
export default {
  async fetch(request, env, ctx) {
    const tracer = createTracer({ serviceName: "shop", sender: consoleSender() });
    const segment = tracer.startSegment("shop", { traceHeader: request.headers.get(TRACE_HEADER) });
    segment.setHttpResponse({ status: 200 });
    segment.end();
    ctx.waitUntil(tracer.flush());
    return new Response("ok");
  },
};`,
  },
  {
    id: "a",
    title: "(a) core + xrayApiSender",
    needs: ["xrayApiSender"],
    source:
      `import { createTracer, xrayApiSender, TRACE_HEADER } from "xray-edge";
export default {
  async fetch(request, env, ctx) {
    const tracer = createTracer({ serviceName: "shop", sender: ${SENDER} });
    const segment = tracer.startSegment("shop", { traceHeader: request.headers.get(TRACE_HEADER) });
    segment.setHttpResponse({ status: 200 });
    segment.end();
    ctx.waitUntil(tracer.flush());
    return new Response("ok");
  },
};`,
  },
  {
    id: "b",
    title: "(b) (a) + Hono middleware",
    needs: ["xrayApiSender", "hono"],
    source: `import { Hono } from "hono";
import { createTracer, xrayApiSender } from "xray-edge";
import { xray } from "xray-edge/hono";
const app = new Hono();
app.use(async (c, next) =>
  xray({ tracer: createTracer({ serviceName: "shop", sender: ${
      SENDER.replaceAll("env.", "c.env.")
    } }) })(c, next));
app.get("/", (c) => c.text("ok"));
export default app;`,
  },
  {
    id: "c",
    title: "(c) (b) + tracedFetch",
    needs: ["xrayApiSender", "hono", "tracedFetch"],
    source: `import { Hono } from "hono";
import { createTracer, tracedFetch, xrayApiSender } from "xray-edge";
import { xray } from "xray-edge/hono";
const app = new Hono();
app.use(async (c, next) =>
  xray({ tracer: createTracer({ serviceName: "shop", sender: ${
      SENDER.replaceAll("env.", "c.env.")
    } }) })(c, next));
app.get("/", async (c) => {
  const fetch = tracedFetch(c.get("segment"));
  const upstream = await fetch("https://api.example.com/stock");
  return c.text(await upstream.text());
});
export default app;`,
  },
];

/** One measured app. */
export interface SizeRow {
  id: string;
  title: string;
  minBytes?: number;
  gzipBytes?: number;
  nodeBuiltins: string[];
  missing: string[];
}

/** What one input file (a module of ours or a dependency) costs an app. */
export interface InputCost {
  /** The file, relative to node_modules (`xray-edge/dist/src/segment.js`). */
  path: string;
  /** Minified bytes in the bundle (esbuild's `bytesInOutput`). */
  minBytes: number;
  /** How much smaller the gzip of the bundle gets without this file's code. */
  gzipBytes: number;
}

async function gzipSize(bytes: Uint8Array): Promise<number> {
  const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return (await new Response(stream).arrayBuffer()).byteLength;
}

function buildOptions(app: App): esbuild.BuildOptions {
  return {
    stdin: { contents: app.source, resolveDir: WORK, loader: "js" },
    bundle: true,
    write: false,
    minify: true,
    format: "esm",
    target: "es2022",
    platform: "browser",
    conditions: ["workerd", "worker", "browser"],
    nodePaths: [join(ROOT, "node_modules")],
    // hono is the app's own dependency, not ours: leave it out of the count.
    external: ["hono", "hono/*", "node:*"],
    metafile: true,
    logLevel: "error",
  };
}

/**
 * Where an app's bytes go. The app is bundled once more with whitespace kept,
 * so esbuild marks where each input's code starts (`// path` lines); each
 * piece is then minified on its own and joined again, which gives the same
 * code as the real bundle to within a few bytes. An input's gzip cost is how
 * much the gzip of the whole shrinks when its piece is left out: what gzip
 * saves through text repeated across inputs is not counted twice.
 */
export async function inputCosts(app: App): Promise<InputCost[]> {
  const result = await esbuild.build({
    ...buildOptions(app),
    minify: false,
    minifyIdentifiers: true,
    minifySyntax: true,
  });
  const text = result.outputFiles![0].text;
  const pieces: { path: string; code: string }[] = [];
  let current = { path: "(bundle prologue)", lines: [] as string[] };
  const flush = async () => {
    const code = (await esbuild.transform(current.lines.join("\n"), {
      minifyWhitespace: true,
      format: "esm",
      target: "es2022",
    })).code;
    pieces.push({ path: current.path, code });
  };
  for (const line of text.split("\n")) {
    const mark = line.match(/^\/\/ (\S+)$/);
    if (mark) {
      await flush();
      current = { path: mark[1].replace(/^.*node_modules\//, ""), lines: [] };
    } else current.lines.push(line);
  }
  await flush();
  const encoder = new TextEncoder();
  const gzipOf = (parts: string[]) => gzipSize(encoder.encode(parts.join("")));
  const whole = await gzipOf(pieces.map((p) => p.code));
  const minBytes: Record<string, number> = {};
  for (const [path, info] of Object.entries(result.metafile!.inputs)) {
    minBytes[path.replace(/^.*node_modules\//, "")] = info.bytes;
  }
  const costs: InputCost[] = [];
  for (const piece of pieces) {
    const rest = pieces.filter((p) => p !== piece).map((p) => p.code);
    costs.push({
      path: piece.path,
      minBytes: encoder.encode(piece.code).byteLength,
      gzipBytes: whole - await gzipOf(rest),
    });
  }
  return costs.sort((x, y) => y.gzipBytes - x.gzipBytes);
}

/** Bundles and measures every app. */
export async function measure(): Promise<SizeRow[]> {
  await Deno.mkdir(join(WORK, "node_modules"), { recursive: true });
  await Deno.remove(join(WORK, "node_modules", "xray-edge")).catch(() => {});
  await Deno.symlink(PKG, join(WORK, "node_modules", "xray-edge"), {
    type: "dir",
  });
  const present: Record<string, boolean> = {};
  for (const [key, piece] of Object.entries(PIECES)) {
    present[key] = await piece.present();
  }
  const rows: SizeRow[] = [];
  for (const app of APPS) {
    const missing = app.needs.filter((n) => !present[n]).map((n) =>
      PIECES[n].name
    );
    if (missing.length) {
      rows.push({ id: app.id, title: app.title, nodeBuiltins: [], missing });
      continue;
    }
    const result = await esbuild.build(buildOptions(app));
    const nodeBuiltins = new Set<string>();
    for (const input of Object.values(result.metafile!.inputs)) {
      for (const imp of input.imports) {
        if (imp.path.startsWith("node:")) nodeBuiltins.add(imp.path);
      }
    }
    const bytes = result.outputFiles![0].contents;
    rows.push({
      id: app.id,
      title: app.title,
      minBytes: bytes.byteLength,
      gzipBytes: await gzipSize(bytes),
      nodeBuiltins: [...nodeBuiltins].sort(),
      missing: [],
    });
  }
  return rows;
}

function kb(n: number | undefined): string {
  return n === undefined ? "—" : `${(n / 1024).toFixed(2)} KB`;
}

if (import.meta.main) {
  const rows = await measure();
  const failures: string[] = [];
  console.log("| app | min | gzip | node: built-ins |");
  console.log("|---|---:|---:|---|");
  for (const row of rows) {
    const builtins = row.missing.length
      ? `not measurable yet: missing ${row.missing.join(", ")}`
      : row.nodeBuiltins.join(", ") || "none";
    console.log(
      `| ${row.title} | ${kb(row.minBytes)} | ${
        kb(row.gzipBytes)
      } | ${builtins} |`,
    );
    if (row.nodeBuiltins.length) {
      failures.push(
        `${row.title} pulls node: built-ins ${row.nodeBuiltins.join(", ")}`,
      );
    }
    if (
      row.id === "b" && row.gzipBytes !== undefined &&
      row.gzipBytes > BUDGET_B_GZIP
    ) {
      failures.push(
        `${row.title} is ${row.gzipBytes} bytes gzip, over the ${BUDGET_B_GZIP}-byte budget`,
      );
    }
  }
  const b = rows.find((r) => r.id === "b");
  if (b?.missing.length) {
    console.log(
      `budget (b) ≤ ${BUDGET_B_GZIP} bytes gzip: not checked yet, (b) needs ${
        b.missing.join(", ")
      }`,
    );
  }
  if (Deno.args.includes("--inputs")) {
    for (const app of APPS) {
      if (rows.find((r) => r.id === app.id)?.missing.length) continue;
      console.log(`\n${app.title}: cost per input, largest first`);
      console.log("| input | min | gzip |\n|---|---:|---:|");
      for (const cost of await inputCosts(app)) {
        console.log(`| ${cost.path} | ${cost.minBytes} | ${cost.gzipBytes} |`);
      }
    }
  }
  await esbuild.stop();
  for (const f of failures) console.log(`FAILED: ${f}`);
  console.log(
    failures.length
      ? "size budget: FAILED"
      : `size budget: ok ((b) ${b?.gzipBytes} of ${BUDGET_B_GZIP} bytes gzip)`,
  );
  Deno.exit(failures.length ? 1 : 0);
}
