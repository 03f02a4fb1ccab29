// The whole test task: format, lint, type check, then every test suite.
// Prints one grand total `N passed, N failed` at the end (CI reads it).
const deno = Deno.execPath();
let passed = 0;
let failed = 0;
let stepFailed = false;

async function step(
  name: string,
  args: string[],
  countTests = false,
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
  if (countTests) {
    const m = tail.match(
      /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/,
    );
    if (m) {
      passed += Number(m[1]);
      failed += Number(m[2]);
    } else if (!status.success) {
      failed += 1;
    }
  }
  if (!status.success) {
    stepFailed = true;
    console.log(`== ${name} FAILED (exit ${status.code})`);
  }
}

await step("format", ["fmt", "--check"]);
await step("lint", ["lint"]);
await step("type check", ["check", "mod.ts", "src/", "tests/", "scripts/"]);
await step("JSR rules (no slow types)", [
  "publish",
  "--dry-run",
  "--allow-dirty",
  "--quiet",
]);
await step("tests", [
  "test",
  "-A",
  "--doc",
  "--parallel",
  "mod.ts",
  "src/",
  "tests/",
], true);

if (stepFailed && failed === 0) failed = 1;
console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(stepFailed || failed > 0 ? 1 : 0);
