// The whole test task: format, lint, type check, then every test suite, then
// the npm package (build, package checks, edge size budget) and the same
// suites on every matrix runtime (scripts/matrix.ts).
// Prints one `<runtime>: N passed, N failed` line per runtime and one grand
// total `N passed, N failed` at the end (CI reads it).
import { MATRIX_RUNTIMES, planTests } from "./matrix.ts";
import * as services from "./services.ts";

const deno = Deno.execPath();
const perRuntime: string[] = [];
let passed = 0;
let failed = 0;
let stepFailed = false;

/** How a step's counts are read from its output, and under which label. */
interface Counting {
  label: string;
  pattern: RegExp;
}

const DENO_COUNTS =
  /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/;

async function step(
  name: string,
  args: string[],
  counting?: Counting,
): Promise<void> {
  console.log(`\n== ${name}: deno ${args.join(" ")}`);
  const child = new Deno.Command(deno, {
    args,
    stdout: "piped",
    stderr: "inherit",
    env: { RUST_BACKTRACE: "0", NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let tail = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    await Deno.stdout.write(new TextEncoder().encode(value));
    tail = (tail + value).slice(-4000);
  }
  const status = await child.status;
  if (counting) {
    const m = tail.match(counting.pattern);
    let p = 0;
    let f = 0;
    if (m) {
      p = Number(m[1]);
      f = Number(m[2]);
    }
    if (!status.success && f === 0) f = 1;
    passed += p;
    failed += f;
    perRuntime.push(`${counting.label}: ${p} passed, ${f} failed`);
  }
  if (!status.success) {
    stepFailed = true;
    console.log(`== ${name} FAILED (exit ${status.code})`);
  }
}

await step("format", ["fmt", "--check"]);
await step("lint", ["lint"]);
await step("type check", [
  "check",
  "mod.ts",
  "npm_build.ts",
  "src/",
  "tests/",
  "scripts/",
]);
await step("JSR rules (no slow types)", [
  "publish",
  "--dry-run",
  "--allow-dirty",
  "--quiet",
]);
// PostgreSQL and MariaDB for the SQL suites (installed when missing), up for
// every suite below and stopped at the end; their URLs go to the children
// through the environment. A failure here is printed and the SQL suites then
// fail with their hint.
console.log("\n== services: PostgreSQL and MariaDB (scripts/services.ts)");
try {
  for (const [key, value] of Object.entries(await services.start())) {
    Deno.env.set(key, value);
  }
} catch (error) {
  stepFailed = true;
  console.log(`== services FAILED: ${(error as Error).message}`);
}

// Test files whose matrix header or folder leaves Deno out (e.g. tests/bun/)
// are not handed to `deno test`.
const denoTests = (await planTests())
  .filter((p) => p.runtimes.includes("deno"))
  .map((p) => p.file);
await step("tests", [
  "test",
  "-A",
  "--doc",
  "--parallel",
  "mod.ts",
  "src/",
  ...denoTests,
], { label: "deno", pattern: DENO_COUNTS });

// The README's first command, in the form that exits.
await step("demo", ["run", "-A", "scripts/demo.ts", "--once"]);
await step("npm build", ["run", "-A", "npm_build.ts"]);
await step("npm package checks", ["run", "-A", "scripts/package_check.ts"]);
// The edge size budget: app (b) at most 13.5 KB gzip, and no `node:`
// built-in in any Workers bundle (docs/size.md).
await step("edge size budget", ["run", "-A", "scripts/size.ts"]);
for (const runtime of MATRIX_RUNTIMES) {
  await step(`matrix ${runtime}`, ["run", "-A", "scripts/matrix.ts", runtime], {
    label: runtime,
    pattern: new RegExp(`matrix ${runtime}: (\\d+) passed, (\\d+) failed`),
  });
}

await services.stop().catch((error) =>
  console.log(`== services: stopping failed: ${(error as Error).message}`)
);

if (stepFailed && failed === 0) failed = 1;
console.log("");
for (const line of perRuntime) console.log(line);
console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(stepFailed || failed > 0 ? 1 : 0);
