// The cross-runtime test matrix: the `Deno.test` suites in tests/ compiled with
// esbuild against the built npm package (npm/, `deno task build:npm`) and run
// on Node 20, Node 22, Bun, Deno consuming the npm package, and workerd
// (through Miniflare).
//
//   deno run -A scripts/matrix.ts [node20|node22|bun|deno-npm|workerd ...]
//   deno run -A scripts/matrix.ts --plan      # where each file runs, and why
//
// Which files run where is explicit:
// - tests/*_test.ts run everywhere (`deno test` and all five matrix targets);
// - tests/<runtime>/*_test.ts run on that runtime only (tests/node/ on Node 20
//   and Node 22);
// - a first-lines header overrides either default and must give a reason:
//     // matrix: deno — starts moto_server through Deno.Command
//     // matrix: node,bun — node:http server
//   Tokens: all, deno, node (= node20,node22), node20, node22, bun, deno-npm,
//   workerd. `deno` means the plain `deno test` run from source.
// A shared file (or a tests/ helper it imports) that touches Deno APIs other
// than Deno.test without such a header is an error, so a Deno-only test can
// never be dropped from the matrix silently. Every run prints which files it
// skipped and why.

import * as esbuild from "esbuild";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT: string = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "..",
);
const TESTS = join(ROOT, "tests");
const PKG = join(ROOT, "npm");
const WORK = join(ROOT, ".matrix");

/** Every place the suites run; `deno` is the plain `deno test` from source. */
export const RUNTIMES = [
  "deno",
  "node20",
  "node22",
  "bun",
  "deno-npm",
  "workerd",
] as const;
/** One matrix target. */
export type Runtime = typeof RUNTIMES[number];
/** The targets that run the compiled package (everything but `deno`). */
export const MATRIX_RUNTIMES: Runtime[] = RUNTIMES.filter((r) => r !== "deno");

const TOKENS: Record<string, Runtime[]> = {
  all: [...RUNTIMES],
  deno: ["deno"],
  "deno-only": ["deno"],
  node: ["node20", "node22"],
  node20: ["node20"],
  node22: ["node22"],
  bun: ["bun"],
  "deno-npm": ["deno-npm"],
  workerd: ["workerd"],
};

const DIR_DEFAULTS: Record<string, Runtime[]> = {
  deno: ["deno"],
  node: ["node20", "node22"],
  bun: ["bun"],
  "deno-npm": ["deno-npm"],
  workerd: ["workerd"],
};

/** Where one test file runs. */
export interface PlannedFile {
  /** Path relative to the repository, e.g. `tests/segment_test.ts`. */
  file: string;
  runtimes: Runtime[];
  /** Why it does not run everywhere (from its header or its folder). */
  reason?: string;
}

const HEADER = /^\/\/\s*matrix:\s*(.+?)\s+(?:—|--)\s+(.+)$/;

function parseHeader(file: string, text: string): PlannedFile | undefined {
  for (const line of text.split("\n").slice(0, 15)) {
    if (!/^\/\/\s*matrix:/.test(line)) continue;
    const m = line.match(HEADER);
    if (!m) {
      throw new SyntaxError(
        `Cannot read the matrix header of ${file}: expected '// matrix: <runtimes> — <reason>', got '${line}'`,
      );
    }
    const runtimes = new Set<Runtime>();
    for (const token of m[1].split(",").map((t) => t.trim())) {
      const list = TOKENS[token];
      if (!list) {
        throw new SyntaxError(
          `Cannot read the matrix header of ${file} as '${token}' is not a runtime: use ${
            Object.keys(TOKENS).join(", ")
          }`,
        );
      }
      for (const r of list) runtimes.add(r);
    }
    return { file, runtimes: [...runtimes], reason: m[2] };
  }
  return undefined;
}

const DENO_API = /\bDeno\.(?!test\b)([A-Za-z]+)/g;

function denoApisUsed(text: string): string[] {
  const code = text.replace(/^\s*(\/\/|\*|\/\*).*$/gm, "");
  return [...new Set([...code.matchAll(DENO_API)].map((m) => `Deno.${m[1]}`))];
}

async function localImports(path: string, seen: Set<string>): Promise<void> {
  if (seen.has(path)) return;
  seen.add(path);
  const text = await Deno.readTextFile(path);
  for (const m of text.matchAll(/from\s+"(\.[^"]+\.ts)"/g)) {
    const target = resolve(dirname(path), m[1]);
    if (target.startsWith(TESTS + "/")) await localImports(target, seen);
  }
}

/** Lists every test file and where it runs. */
export async function planTests(): Promise<PlannedFile[]> {
  const plan: PlannedFile[] = [];
  const dirs: [string, Runtime[] | undefined][] = [[TESTS, undefined]];
  for await (const entry of Deno.readDir(TESTS)) {
    // tests/fixtures/ holds data the tests read (inlined where they run).
    if (!entry.isDirectory || entry.name === "fixtures") continue;
    const defaults = DIR_DEFAULTS[entry.name];
    if (!defaults) {
      throw new TypeError(
        `Cannot plan the matrix as tests/${entry.name}/ is not a runtime folder: use ${
          Object.keys(DIR_DEFAULTS).join(", ")
        }`,
      );
    }
    dirs.push([join(TESTS, entry.name), defaults]);
  }
  for (const [dir, defaults] of dirs) {
    for await (const entry of Deno.readDir(dir)) {
      if (!entry.isFile || !entry.name.endsWith("_test.ts")) continue;
      const path = join(dir, entry.name);
      const file = relative(ROOT, path);
      const text = await Deno.readTextFile(path);
      const header = parseHeader(file, text);
      if (header) {
        plan.push(header);
        continue;
      }
      if (defaults) {
        plan.push({
          file,
          runtimes: defaults,
          reason: `lives in tests/${dirname(file).split("/")[1]}/`,
        });
        continue;
      }
      const files = new Set<string>();
      await localImports(path, files);
      for (const f of files) {
        const used = denoApisUsed(await Deno.readTextFile(f));
        if (used.length) {
          throw new TypeError(
            `Cannot plan the matrix as ${file} uses ${used.join(", ")}${
              f === path ? "" : ` (through ${relative(ROOT, f)})`
            } but has no matrix header: add '// matrix: deno — <why>' (or the runtimes it supports) to its first lines`,
          );
        }
      }
      plan.push({ file, runtimes: [...RUNTIMES] });
    }
  }
  return plan.sort((a, b) => a.file.localeCompare(b.file));
}

interface DenoJson {
  exports: Record<string, string>;
}

/** Source entry file (absolute) → package specifier, from deno.json `exports`. */
function entrySpecifiers(): Map<string, string> {
  const deno: DenoJson = JSON.parse(
    Deno.readTextFileSync(join(ROOT, "deno.json")),
  );
  const map = new Map<string, string>();
  for (const [subpath, source] of Object.entries(deno.exports)) {
    map.set(
      join(ROOT, source),
      subpath === "." ? "xray-edge" : `xray-edge/${subpath.slice(2)}`,
    );
  }
  return map;
}

/**
 * Maps the tests' imports of the sources onto the built package:
 * `../mod.ts` → `xray-edge`, `../src/als.ts` → `xray-edge/als` (through the
 * package's `exports`), any other `../src/x.ts` → npm/dist/src/x.js (the very
 * file the package's entries import, so one module instance). Files that read
 * neighbours with `readFileSync(new URL("…", import.meta.url))` (the schema)
 * get those files inlined, so the bundle needs no file system.
 */
function packagePlugin(bundleAll: boolean): esbuild.Plugin {
  const entries = entrySpecifiers();
  const embedded = new Map<string, Record<string, string>>();
  return {
    name: "xray-edge-matrix",
    setup(build): void {
      build.onResolve(
        { filter: /^\.\.?\//, namespace: "file" },
        async (args) => {
          if (!args.importer.startsWith(TESTS + "/")) return undefined;
          const target = resolve(args.resolveDir, args.path);
          if (target.startsWith(TESTS + "/")) return undefined;
          const specifier = entries.get(target);
          if (specifier) {
            if (!bundleAll) return { path: specifier, external: true };
            const r = await build.resolve(specifier, {
              resolveDir: WORK,
              kind: args.kind,
            });
            if (r.errors.length) return { errors: r.errors };
            return { path: r.path };
          }
          if (target.startsWith(join(ROOT, "src") + "/")) {
            const built = join(
              PKG,
              "dist",
              relative(ROOT, target).replace(/\.ts$/, ".js"),
            );
            if (bundleAll) return { path: built };
            return { path: pathToFileURL(built).href, external: true };
          }
          return {
            errors: [{
              text:
                `${args.path} is outside tests/ and src/: the matrix cannot map it to the package`,
            }],
          };
        },
      );

      build.onLoad({ filter: /\.ts$/, namespace: "file" }, async (args) => {
        if (!args.path.startsWith(TESTS + "/")) return undefined;
        let contents = await Deno.readTextFile(args.path);
        if (!contents.includes("import.meta.url")) return undefined;
        const fakeBase = `file:///matrix/${relative(ROOT, args.path)}`;
        const files: Record<string, string> = {};
        for (
          const m of contents.matchAll(
            /new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*,?\s*\)/g,
          )
        ) {
          const real = new URL(m[1], pathToFileURL(args.path));
          try {
            files[new URL(m[1], fakeBase).href] = await Deno.readTextFile(real);
          } catch {
            // Not a file to inline (e.g. a URL the test builds for other use).
          }
        }
        contents = contents.replaceAll(
          "import.meta.url",
          JSON.stringify(fakeBase),
        );
        embedded.set(args.path, files);
        return { contents, loader: "ts" };
      });

      // workerd forbids `new Function`, which ajv (the tests' schema
      // validator, not the code under test) compiles with. In the workerd
      // bundle it goes through the Worker's unsafe-eval binding instead.
      if (bundleAll) {
        build.onLoad(
          { filter: /ajv[\\/]dist[\\/]compile[\\/]index\.js$/ },
          async (args) => ({
            contents: (await Deno.readTextFile(args.path)).replace(
              "new Function(",
              "globalThis.__matrixNewFunction(",
            ),
            loader: "js",
          }),
        );
      }

      build.onResolve({ filter: /^node:fs$/ }, (args) => {
        if (!embedded.has(args.importer)) return undefined;
        return { path: `${args.importer}#fs`, namespace: "embedded-fs" };
      });
      build.onLoad({ filter: /.*/, namespace: "embedded-fs" }, (args) => ({
        contents: `const files = ${
          JSON.stringify(embedded.get(args.path.replace(/#fs$/, "")))
        };
export function readFileSync(path) {
  const key = String(path);
  if (key in files) return files[key];
  const error = new Error("ENOENT: the matrix inlined no file " + key);
  error.code = "ENOENT";
  throw error;
}
export default { readFileSync };
`,
        loader: "js",
      }));
    },
  };
}

const EXPECTED: Record<Runtime, { runtime: string; versionPrefix?: string }> = {
  deno: { runtime: "deno" },
  node20: { runtime: "node", versionPrefix: "20." },
  node22: { runtime: "node", versionPrefix: "22." },
  bun: { runtime: "bun", versionPrefix: "1.4.5" },
  "deno-npm": { runtime: "deno", versionPrefix: Deno.version.deno },
  workerd: { runtime: "workerd" },
};

/** Writes the generated entry that imports each test file and runs them. */
async function writeEntry(
  runtime: Runtime,
  files: PlannedFile[],
  dir: string,
): Promise<string> {
  const runner = join(ROOT, "scripts", "_matrix_runner.ts");
  const lines = [
    `import { testDefinitions } from "@deno/shim-deno-test";`,
    `import { runTests } from ${JSON.stringify(runner)};`,
    `globalThis.__XRAY_MATRIX__ = ${JSON.stringify(EXPECTED[runtime])};`,
    `export async function main(log) {`,
    `  const files = [];`,
    `  let from = testDefinitions.length;`,
  ];
  for (const f of files) {
    lines.push(
      `  await import(${JSON.stringify(join(ROOT, f.file))});`,
      `  files.push({ file: ${
        JSON.stringify(f.file)
      }, tests: testDefinitions.slice(from) });`,
      `  from = testDefinitions.length;`,
    );
  }
  lines.push(
    `  return await runTests(files, { runtime: ${
      JSON.stringify(runtime)
    }, log });`,
    `}`,
  );
  if (runtime === "workerd") {
    lines.push(
      `export default {`,
      `  async fetch(request, env) {`,
      `    globalThis.__matrixNewFunction = (...args) =>`,
      `      env.UNSAFE_EVAL.newFunction(args.at(-1), "schema", ...args.slice(0, -1));`,
      `    const out = [];`,
      `    const summary = await main((line) => out.push(line));`,
      `    return Response.json({ summary, out });`,
      `  },`,
      `};`,
    );
  } else {
    lines.push(
      `const summary = await main((line) => console.log(line));`,
      `globalThis.process?.exit?.(summary.failed > 0 ? 1 : 0);`,
    );
  }
  const entry = join(dir, "entry.js");
  await Deno.writeTextFile(entry, lines.join("\n") + "\n");
  // The shim's Deno object, injected where tests refer to `Deno`.
  await Deno.writeTextFile(
    join(dir, "deno_shim.js"),
    `import { Deno as shim } from "@deno/shim-deno-test";\nexport { shim as Deno };\n`,
  );
  return entry;
}

/** Bundles the tests for one runtime; returns the bundle's path. */
export async function compile(
  runtime: Runtime,
  files: PlannedFile[],
): Promise<string> {
  const dir = join(WORK, runtime);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  await Deno.mkdir(dir, { recursive: true });
  // The consumer's node_modules: the built package under its npm name.
  await Deno.mkdir(join(WORK, "node_modules"), { recursive: true });
  await Deno.remove(join(WORK, "node_modules", "xray-edge")).catch(() => {});
  await Deno.symlink(PKG, join(WORK, "node_modules", "xray-edge"), {
    type: "dir",
  });
  await Deno.writeTextFile(
    join(WORK, "package.json"),
    JSON.stringify(
      { private: true, type: "module", dependencies: { "xray-edge": "*" } },
      null,
      2,
    ),
  );
  const entry = await writeEntry(runtime, files, dir);
  const workerd = runtime === "workerd";
  // One output module per test file (tests/x_test.js, shared code in chunks/),
  // so stack traces name the test file on every runtime.
  await esbuild.build({
    entryPoints: [
      { in: entry, out: "entry" },
      ...files.map((f) => ({
        in: join(ROOT, f.file),
        out: f.file.replace(/\.ts$/, ""),
      })),
    ],
    outdir: dir,
    outExtension: { ".js": ".mjs" },
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    splitting: true,
    format: "esm",
    target: "es2022",
    platform: workerd ? "browser" : "node",
    conditions: workerd ? ["workerd", "worker", "browser"] : [],
    external: ["node:*"],
    inject: [join(dir, "deno_shim.js")],
    nodePaths: [join(ROOT, "node_modules")],
    plugins: [packagePlugin(workerd)],
    logLevel: "warning",
    // CommonJS test dependencies (ajv) call require(); give them one on Node.
    banner: workerd ? undefined : {
      js: `import { createRequire as __matrixRequire } from "node:module";
const require = __matrixRequire(import.meta.url);`,
    },
  });
  await esbuild.stop();
  return join(dir, "entry.mjs");
}

function command(runtime: Runtime, bundle: string): string[] {
  switch (runtime) {
    case "node20":
      return ["node", "--enable-source-maps", bundle];
    case "node22":
      return [
        "npx",
        "--yes",
        "-p",
        "node@22",
        "--",
        "node",
        "--enable-source-maps",
        bundle,
      ];
    case "bun":
      return ["npx", "--yes", "bun@1.4.5", bundle];
    case "deno-npm":
      return [
        Deno.execPath(),
        "run",
        "-A",
        "--no-config",
        "--node-modules-dir=manual",
        bundle,
      ];
    default:
      throw new RangeError(`Cannot run '${runtime}' as a child process`);
  }
}

/** Counts from one runtime's run. */
export interface MatrixResult {
  runtime: Runtime;
  passed: number;
  failed: number;
}

async function runWorkerd(bundle: string): Promise<MatrixResult> {
  const { Miniflare } = await import("miniflare");
  const mf = new Miniflare({
    modules: true,
    scriptPath: bundle,
    modulesRoot: dirname(bundle),
    compatibilityDate: "2026-07-01",
    compatibilityFlags: ["nodejs_compat"],
    cf: false,
    unsafeEvalBinding: "UNSAFE_EVAL",
  });
  try {
    const response = await mf.dispatchFetch("http://matrix.local/");
    const text = await response.text();
    let body: { summary: { passed: number; failed: number }; out: string[] };
    try {
      body = JSON.parse(text);
    } catch {
      console.log(text);
      return { runtime: "workerd", passed: 0, failed: 1 };
    }
    for (const line of body.out) console.log(line);
    return {
      runtime: "workerd",
      passed: body.summary.passed,
      failed: body.summary.failed,
    };
  } finally {
    await mf.dispose();
  }
}

/** Plans, compiles and runs the suites on one runtime. */
export async function runMatrix(runtime: Runtime): Promise<MatrixResult> {
  const plan = await planTests();
  const included = plan.filter((p) => p.runtimes.includes(runtime));
  for (const p of plan) {
    if (!p.runtimes.includes(runtime)) {
      console.log(
        `skipped on ${runtime}: ${p.file} (runs on ${
          p.runtimes.join(",")
        } — ${p.reason})`,
      );
    }
  }
  const bundle = await compile(runtime, included);
  if (runtime === "workerd") return await runWorkerd(bundle);
  // The child prints its own `<runtime>: N passed, N failed` line: echo its
  // output and read the counts back from it.
  const [cmd, ...args] = command(runtime, bundle);
  const child = new Deno.Command(cmd, {
    args,
    cwd: WORK,
    stdout: "piped",
    stderr: "inherit",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", npm_config_yes: "true" },
  }).spawn();
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-2000);
  }
  const status = await child.status;
  const m = tail.match(
    new RegExp(`${runtime}: (\\d+) passed, (\\d+) failed`),
  );
  if (!m) return { runtime, passed: 0, failed: 1 };
  const failed = Number(m[2]) + (status.success || Number(m[2]) > 0 ? 0 : 1);
  return { runtime, passed: Number(m[1]), failed };
}

if (import.meta.main) {
  const args = Deno.args;
  if (args.includes("--plan")) {
    for (const p of await planTests()) {
      console.log(
        `${p.file}: ${p.runtimes.join(",")}${p.reason ? ` — ${p.reason}` : ""}`,
      );
    }
    Deno.exit(0);
  }
  const chosen = (args.length ? args : MATRIX_RUNTIMES) as Runtime[];
  let passed = 0;
  let failed = 0;
  for (const runtime of chosen) {
    if (!MATRIX_RUNTIMES.includes(runtime)) {
      console.error(
        `Cannot run the matrix on '${runtime}': use ${
          MATRIX_RUNTIMES.join(", ")
        }`,
      );
      Deno.exit(2);
    }
    console.log(`\n-- matrix ${runtime}`);
    const result = await runMatrix(runtime);
    passed += result.passed;
    failed += result.failed;
    console.log(
      `matrix ${runtime}: ${result.passed} passed, ${result.failed} failed`,
    );
  }
  console.log(`\n${passed} passed, ${failed} failed`);
  Deno.exit(failed > 0 ? 1 : 0);
}
