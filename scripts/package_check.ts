// Checks on the built npm package (npm/, from `deno task build:npm`):
// 1. publint — packaging errors and warnings fail, suggestions are printed;
// 2. @arethetypeswrong/cli — types resolve for every entry point (profile
//    `esm-only`: the package is ESM-only on purpose, see README "npm package and runtime matrix");
// 3. a consumer .ts file type-checked against the published .d.ts, under
//    `nodenext` and `bundler` resolution, with an `@ts-expect-error` line so the
//    check fails if the types decay to `any`;
// 4. `npm pack --dry-run`: the tarball holds only dist/, package.json, README
//    and LICENSE, and every `exports` target is in it.

import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { join } from "node:path";
import { ROOT } from "./matrix.ts";

const PKG = join(ROOT, "npm");
const WORK = join(ROOT, ".matrix", "consumer");
let problems = 0;

function problem(text: string): void {
  problems++;
  console.log(`problem: ${text}`);
}

async function run(
  cmd: string,
  args: string[],
  cwd: string,
): Promise<{ ok: boolean; out: string; stdout: string }> {
  const result = await new Deno.Command(cmd, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1", npm_config_yes: "true" },
  }).output();
  const out = new TextDecoder().decode(result.stdout) +
    new TextDecoder().decode(result.stderr);
  return {
    ok: result.success,
    stdout: new TextDecoder().decode(result.stdout),
    out: out.split("\n").filter((l) =>
      !l.includes('Unknown user config "nodedir"')
    )
      .join("\n"),
  };
}

const pkg = JSON.parse(await Deno.readTextFile(join(PKG, "package.json")));

// 1. publint
{
  const { messages } = await publint({ pkgDir: PKG, level: "suggestion" });
  for (const m of messages) {
    const text = formatMessage(m, pkg) ?? m.code;
    if (m.type === "suggestion") console.log(`publint suggestion: ${text}`);
    else problem(`publint ${m.type}: ${text}`);
  }
  console.log(
    `publint: ${
      messages.filter((m) => m.type !== "suggestion").length
    } errors/warnings`,
  );
}

// 2. are the types wrong
{
  const attw = join(
    ROOT,
    "node_modules",
    "@arethetypeswrong",
    "cli",
    "dist",
    "index.js",
  );
  const r = await run(
    Deno.execPath(),
    [
      "run",
      "-A",
      attw,
      "--pack",
      ".",
      "--profile",
      "esm-only",
      "--format",
      "ascii",
      "--no-color",
    ],
    PKG,
  );
  console.log(r.out.trim());
  if (!r.ok) problem("@arethetypeswrong/cli found problems (see above)");
}

// 3. a consumer type-checked against the published types
{
  await Deno.remove(WORK, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(WORK, "node_modules"), { recursive: true });
  await Deno.symlink(PKG, join(WORK, "node_modules", "xray-edge"), {
    type: "dir",
  });
  await Deno.writeTextFile(
    join(WORK, "package.json"),
    JSON.stringify({ private: true, type: "module" }),
  );
  const entries = Object.keys(pkg.exports).map((k) =>
    k === "." ? "xray-edge" : `xray-edge/${k.slice(2)}`
  );
  await Deno.writeTextFile(
    join(WORK, "consumer.ts"),
    `import { createTracer, type Segment, TRACE_HEADER } from "xray-edge";
${
      entries.filter((e) => e !== "xray-edge").map((e, i) =>
        `import * as entry${i} from "${e}";`
      ).join("\n")
    }
import { memorySender } from "xray-edge/testing";

const sender = memorySender();
const tracer = createTracer({ serviceName: "consumer", sender });
const segment: Segment = tracer.startSegment("checkout", {
  traceHeader: new Headers().get(TRACE_HEADER),
});
segment.annotate("customer", "c-42");
// @ts-expect-error annotation values are strings, numbers or booleans
segment.annotate("cart", { items: 3 });
const count: number = sender.documents.length;
export const used = [count, ${
      entries.filter((e) => e !== "xray-edge").map((_, i) => `entry${i}`).join(
        ", ",
      )
    }];
`,
  );
  for (const resolution of ["nodenext", "bundler"]) {
    const config = {
      compilerOptions: {
        target: "es2022",
        module: resolution === "nodenext" ? "nodenext" : "esnext",
        moduleResolution: resolution,
        lib: ["es2022", "dom"],
        types: ["node"],
        typeRoots: [join(ROOT, "node_modules", "@types")],
        strict: true,
        noEmit: true,
        skipLibCheck: false,
      },
      files: ["consumer.ts"],
    };
    await Deno.writeTextFile(
      join(WORK, "tsconfig.json"),
      JSON.stringify(config),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const r = await run(Deno.execPath(), [
      "run",
      "-A",
      tsc,
      "-p",
      "tsconfig.json",
    ], WORK);
    if (r.ok) console.log(`consumer type check (${resolution}): ok`);
    else problem(`consumer type check (${resolution}) failed:\n${r.out}`);
  }
}

// 4. what `npm pack` would publish
{
  const r = await run("npm", ["pack", "--dry-run", "--json"], PKG);
  if (!r.ok) {
    problem(`npm pack --dry-run failed:\n${r.out}`);
  } else {
    const json = r.stdout.slice(r.stdout.indexOf("["));
    const [info] = JSON.parse(json) as {
      files: { path: string }[];
      size: number;
      unpackedSize: number;
    }[];
    const paths = info.files.map((f) => f.path);
    const allowed = /^(package\.json|README\.md|LICENSE|dist\/.+\.(js|d\.ts))$/;
    for (const p of paths) {
      if (!allowed.test(p)) problem(`npm pack would publish ${p}`);
      if (/_test\.|(^|\/)tests?\//.test(p)) {
        problem(`npm pack would publish test file ${p}`);
      }
    }
    for (const [subpath, target] of Object.entries(pkg.exports)) {
      for (const file of Object.values(target as Record<string, string>)) {
        if (!paths.includes(file.slice(2))) {
          problem(
            `export '${subpath}' points at ${file}, which npm pack leaves out`,
          );
        }
      }
    }
    // Workers variants of runtime modules (npm_build.ts): every
    // src/runtime/x.workerd.ts has an `imports` entry whose targets are packed.
    const variants: string[] = [];
    for await (const e of Deno.readDir(join(ROOT, "src", "runtime"))) {
      const m = e.name.match(/^(\w+)\.workerd\.ts$/);
      if (m) variants.push(m[1]);
    }
    for (const name of variants) {
      const entry = pkg.imports?.[`#runtime/${name}`];
      const want = {
        workerd: `./dist/src/runtime/${name}.workerd.js`,
        default: `./dist/src/runtime/${name}.js`,
      };
      if (JSON.stringify(entry) !== JSON.stringify(want)) {
        problem(`imports '#runtime/${name}' is ${JSON.stringify(entry)}`);
      }
      for (const file of Object.values(want)) {
        if (!paths.includes(file.slice(2))) {
          problem(`imports '#runtime/${name}' points at ${file}, not packed`);
        }
      }
    }
    console.log(
      `npm pack: ${paths.length} files, ${info.size} bytes packed, ${info.unpackedSize} unpacked`,
    );
  }
}

console.log(
  problems ? `package checks: ${problems} problems` : "package checks: ok",
);
Deno.exit(problems ? 1 : 0);
