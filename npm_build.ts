// Builds the npm package `xray-edge` into npm/ (the `deno task build:npm` task).
//
// - ESM + .d.ts for every source file reachable from the deno.json `exports`
//   map, compiled by TypeScript (run from Deno, no dnt).
// - package.json generated from deno.json: the same `exports` map (one map,
//   never a second hand-kept list), runtime dependencies and optional peer
//   dependencies derived from the bare imports the built files actually hold.
// - README.md and LICENSE copied.
//
// ESM only (see README "npm package and runtime matrix"): Node 20.17+ can require() ESM, and one module
// format means one AsyncLocalStorage instance per process.

import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = dirname(fileURLToPath(import.meta.url));
const OUT = join(ROOT, "npm");
const DIST = join(OUT, "dist");

/** The npm name; deno.json's `name` is the JSR name. */
export const NPM_NAME = "xray-edge";

/** Integration packages: optional peers, never bundled, never installed for the user. */
const PEER_PATTERNS: RegExp[] = [
  /^hono$/,
  /^@aws-sdk\//,
  /^@smithy\//,
  /^pg$/,
  /^postgres$/,
  /^mysql2$/,
  /^mongodb$/,
  /^better-sqlite3$/,
  /^@cloudflare\/workers-types$/,
];

/** Executables: npm `bin` name → source file (compiled with the exports). */
export const BINS: Record<string, string> = {
  // `npx xray-edge collector`: the local collector and trace viewer.
  "xray-edge": "./src/collector/main.ts",
};

interface DenoJson {
  name: string;
  version: string;
  license?: string;
  description?: string;
  exports: Record<string, string>;
  imports?: Record<string, string>;
}

/** Reads deno.json. */
export function readDenoJson(): DenoJson {
  return JSON.parse(Deno.readTextFileSync(join(ROOT, "deno.json")));
}

/** `./src/als.ts` → `./dist/src/als` (no extension). */
function distStem(sourcePath: string): string {
  return "./dist/" + sourcePath.replace(/^\.\//, "").replace(/\.ts$/, "");
}

/** The package.json `exports` map built from deno.json `exports`. */
export function packageExports(
  exports: Record<string, string>,
): Record<string, { types: string; default: string }> {
  const out: Record<string, { types: string; default: string }> = {};
  for (const [subpath, source] of Object.entries(exports)) {
    if (!source.endsWith(".ts")) {
      throw new TypeError(
        `Cannot build the npm package as export '${subpath}' is not a .ts file: current value is '${source}'`,
      );
    }
    const stem = distStem(source);
    out[subpath] = { types: `${stem}.d.ts`, default: `${stem}.js` };
  }
  return out;
}

function packageName(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0];
}

/** Pinned version of a bare name from deno.json imports (`npm:name@1.2.3`). */
function pinnedVersion(
  imports: Record<string, string>,
  name: string,
): string | undefined {
  for (const [key, value] of Object.entries(imports)) {
    const m = value.match(/^npm:(@?[^@]+)@([^/]+)/);
    if (!m) continue;
    if (m[1] === name || key === name || name.startsWith(`${key}/`)) {
      return m[2];
    }
  }
  return undefined;
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(dir)) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* walk(path);
    else yield path;
  }
}

const SPECIFIER =
  /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)(["'])([^"'\n]+)\1/g;

/** Rewrites relative `.ts` specifiers to `.js` and collects the bare ones. */
function rewriteSpecifiers(text: string, bare: Set<string>): string {
  // Bare names count only in code, not in JSDoc examples.
  const code = text.replace(/\/\*[\s\S]*?\*\//g, "").replace(
    /^\s*\/\/.*$/gm,
    "",
  );
  for (const m of code.matchAll(SPECIFIER)) {
    const spec = m[2];
    if (!spec.startsWith(".") && !spec.startsWith("node:")) {
      bare.add(packageName(spec));
    }
  }
  return text.replace(SPECIFIER, (whole, quote: string, spec: string) => {
    if (spec.startsWith(".")) {
      if (spec.endsWith(".ts") && !spec.endsWith(".d.ts")) {
        return whole.replace(
          `${quote}${spec}${quote}`,
          `${quote}${spec.slice(0, -3)}.js${quote}`,
        );
      }
      return whole;
    }
    return whole;
  });
}

/**
 * Points relative imports of a runtime module that has a Workers variant at
 * its `#runtime/<name>` entry in the package's `imports` map.
 */
function variantImports(
  file: string,
  text: string,
  variants: string[],
): string {
  return text.replace(SPECIFIER, (whole, quote: string, spec: string) => {
    if (!spec.startsWith(".")) return whole;
    const target = relative(DIST, join(dirname(file), spec));
    const m = target.match(/^src\/runtime\/(\w+)\.js$/);
    return m && variants.includes(m[1])
      ? whole.replace(
        `${quote}${spec}${quote}`,
        `${quote}#runtime/${m[1]}${quote}`,
      )
      : whole;
  });
}

async function runTsc(entries: string[]): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "xray-edge-build-" });
  try {
    const tsconfig = {
      compilerOptions: {
        target: "es2022",
        module: "esnext",
        moduleResolution: "bundler",
        lib: ["esnext", "dom", "dom.iterable"],
        types: ["node"],
        typeRoots: [join(ROOT, "node_modules", "@types")],
        strict: true,
        declaration: true,
        allowImportingTsExtensions: true,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: true,
        skipLibCheck: true,
        removeComments: false,
        newLine: "lf",
        rootDir: ROOT,
        outDir: DIST,
      },
      // The executables are compiled with the entry points.
      files: [...entries, ...Object.values(BINS)].map((e) => join(ROOT, e)),
    };
    const config = join(tmp, "tsconfig.json");
    await Deno.writeTextFile(config, JSON.stringify(tsconfig, null, 2));
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", tsc, "-p", config],
      cwd: ROOT,
      env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) +
      new TextDecoder().decode(out.stderr);
    if (!out.success) {
      throw new Error(`TypeScript failed to build the npm package:\n${text}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Builds npm/ and returns the generated package.json. */
export async function buildNpm(): Promise<Record<string, unknown>> {
  const deno = readDenoJson();
  const imports = deno.imports ?? {};
  await Deno.remove(OUT, { recursive: true }).catch(() => {});
  await Deno.mkdir(DIST, { recursive: true });

  // Make sure the TypeScript package is present (deno.lock pins it).
  await new Deno.Command(Deno.execPath(), {
    args: ["install", "--quiet"],
    cwd: ROOT,
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).output();

  // Runtime modules with a Workers variant (`src/runtime/x.workerd.ts`):
  // the package's `imports` map picks it under the `workerd` condition
  // (wrangler and esbuild for Workers set it), so Workers bundles leave out
  // what only long-running servers use. Deno and JSR use the full modules.
  const variants: string[] = [];
  for await (const entry of Deno.readDir(join(ROOT, "src", "runtime"))) {
    const m = entry.name.match(/^(\w+)\.workerd\.ts$/);
    if (m) variants.push(m[1]);
  }
  variants.sort();
  await runTsc([
    ...Object.values(deno.exports),
    ...variants.map((v) => `./src/runtime/${v}.workerd.ts`),
  ]);

  const bareJs = new Set<string>();
  const bareTypes = new Set<string>();
  for await (const file of walk(DIST)) {
    if (!file.endsWith(".js") && !file.endsWith(".d.ts")) continue;
    const text = await Deno.readTextFile(file);
    // Generated browser bundles (the viewer's script, as one string) import
    // nothing; their text only looks like code to the specifier scan.
    if (text.startsWith("// Generated by scripts/")) continue;
    const bare = file.endsWith(".d.ts") ? bareTypes : bareJs;
    let rewritten = rewriteSpecifiers(text, bare);
    if (file.endsWith(".js") && !file.endsWith(".workerd.js")) {
      rewritten = variantImports(file, rewritten, variants);
    }
    if (rewritten !== text) await Deno.writeTextFile(file, rewritten);
  }

  const dependencies: Record<string, string> = {};
  const peerDependencies: Record<string, string> = {};
  const peerDependenciesMeta: Record<string, { optional: true }> = {};
  for (const name of [...new Set([...bareJs, ...bareTypes])].sort()) {
    const version = pinnedVersion(imports, name);
    if (!version) {
      throw new TypeError(
        `Cannot build the npm package as '${name}' is imported by src but not pinned in deno.json imports`,
      );
    }
    if (PEER_PATTERNS.some((p) => p.test(name))) {
      peerDependencies[name] = `^${version.split(".")[0]}`;
      peerDependenciesMeta[name] = { optional: true };
    } else if (bareJs.has(name)) {
      dependencies[name] = `^${version}`;
    } else {
      // Only the types refer to it (e.g. @types/*): nothing to install at run time.
      throw new TypeError(
        `Cannot build the npm package as the published types import '${name}', which is neither a peer nor a runtime dependency`,
      );
    }
  }

  const pkg: Record<string, unknown> = {
    name: NPM_NAME,
    version: deno.version,
    description: deno.description ??
      "AWS X-Ray tracing for Deno, Bun, Node.js and Cloudflare Workers, on Web standards",
    license: deno.license ?? "MIT",
    keywords: [
      "aws",
      "x-ray",
      "xray",
      "tracing",
      "cloudflare-workers",
      "deno",
      "bun",
      "hono",
    ],
    type: "module",
    sideEffects: false,
    exports: packageExports(deno.exports),
    imports: Object.fromEntries(variants.map((v) => [`#runtime/${v}`, {
      workerd: `./dist/src/runtime/${v}.workerd.js`,
      default: `./dist/src/runtime/${v}.js`,
    }])),
    files: ["dist"],
    engines: { node: ">=20" },
  };
  pkg.bin = Object.fromEntries(
    Object.entries(BINS).map(([name, source]) => [
      name,
      `${distStem(source)}.js`,
    ]),
  );
  if (Object.keys(dependencies).length) pkg.dependencies = dependencies;
  if (Object.keys(peerDependencies).length) {
    pkg.peerDependencies = peerDependencies;
    pkg.peerDependenciesMeta = peerDependenciesMeta;
  }
  await Deno.writeTextFile(
    join(OUT, "package.json"),
    JSON.stringify(pkg, null, 2) + "\n",
  );

  await Deno.copyFile(join(ROOT, "LICENSE"), join(OUT, "LICENSE"));
  try {
    await Deno.copyFile(join(ROOT, "README.md"), join(OUT, "README.md"));
  } catch {
    await Deno.writeTextFile(
      join(OUT, "README.md"),
      `# ${NPM_NAME}\n\n${pkg.description}\n`,
    );
  }
  return pkg;
}

if (import.meta.main) {
  const started = performance.now();
  const pkg = await buildNpm();
  let files = 0;
  for await (const _ of walk(OUT)) files++;
  console.log(
    `Built ${pkg.name}@${pkg.version} into ${
      relative(ROOT, OUT)
    }/ (${files} files, ${
      Object.keys(pkg.exports as object).length
    } entry points) in ${Math.round(performance.now() - started)} ms`,
  );
}
