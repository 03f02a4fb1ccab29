// The test runner bundled into every matrix target (Node, Bun, Deno-as-npm-
// consumer, workerd). `@deno/shim-deno-test` only collects `Deno.test`
// definitions; this executes them: honours `ignore` and `only`, supports
// `t.step`, has no sanitizers, and prints `N passed, N failed`.
// Web-standard only: it runs inside workerd too.

/** One collected `Deno.test` definition (the subset the shim records). */
export interface TestDefinition {
  name: string;
  fn: (t: TestContext) => unknown;
  ignore?: boolean;
  only?: boolean;
}

/** The tests one file registered. */
export interface TestFile {
  file: string;
  tests: TestDefinition[];
}

/** The part of `Deno.TestContext` the shared suites use. */
export interface TestContext {
  name: string;
  origin: string;
  step(
    nameOrDef: string | { name: string; fn: (t: TestContext) => unknown },
    fn?: (t: TestContext) => unknown,
  ): Promise<boolean>;
}

/** What a run counted. */
export interface RunSummary {
  passed: number;
  failed: number;
  ignored: number;
  failures: string[];
}

/** Options for {@linkcode runTests}. */
export interface RunOptions {
  /** Runtime label printed on the summary line. */
  runtime: string;
  /** Where output lines go. */
  log: (line: string) => void;
  /** Per-test limit so one hung test cannot stall the matrix. */
  timeoutMs?: number;
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? String(error);
  return String(error);
}

async function withTimeout(
  work: () => unknown,
  timeoutMs: number,
  what: string,
): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.race([
      Promise.resolve().then(work),
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} did not finish in ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function context(
  name: string,
  origin: string,
  log: (l: string) => void,
  depth: number,
): TestContext {
  return {
    name,
    origin,
    async step(nameOrDef, fn): Promise<boolean> {
      const stepName = typeof nameOrDef === "string"
        ? nameOrDef
        : nameOrDef.name;
      const stepFn = typeof nameOrDef === "string" ? fn : nameOrDef.fn;
      if (!stepFn) throw new TypeError(`Step '${stepName}' has no function`);
      try {
        await stepFn(context(stepName, origin, log, depth + 1));
        log(`${"  ".repeat(depth + 1)}step ${stepName} ... ok`);
        return true;
      } catch (error) {
        log(`${"  ".repeat(depth + 1)}step ${stepName} ... FAILED`);
        throw error;
      }
    },
  };
}

/** Runs collected tests file by file and prints a `N passed, N failed` line. */
export async function runTests(
  files: TestFile[],
  options: RunOptions,
): Promise<RunSummary> {
  const { log, runtime } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const summary: RunSummary = {
    passed: 0,
    failed: 0,
    ignored: 0,
    failures: [],
  };
  const onlyUsed = files.some((f) => f.tests.some((t) => t.only));
  for (const { file, tests } of files) {
    log(`running ${tests.length} tests from ${file}`);
    for (const test of tests) {
      if (test.ignore || (onlyUsed && !test.only)) {
        summary.ignored++;
        log(`${test.name} ... ignored`);
        continue;
      }
      const started = Date.now();
      try {
        await withTimeout(
          () => test.fn(context(test.name, file, log, 0)),
          timeoutMs,
          `Test '${test.name}'`,
        );
        summary.passed++;
        log(`${test.name} ... ok (${Date.now() - started}ms)`);
      } catch (error) {
        summary.failed++;
        summary.failures.push(`${file} > ${test.name}`);
        log(`${test.name} ... FAILED (${Date.now() - started}ms)`);
        log(describe(error));
      }
    }
  }
  if (onlyUsed) {
    summary.failed++;
    summary.failures.push(`the "only" option was used`);
    log(`FAILED because the "only" option was used`);
  }
  for (const failure of summary.failures) log(`failed: ${failure}`);
  log(
    `${runtime}: ${summary.passed} passed, ${summary.failed} failed (${summary.ignored} ignored)`,
  );
  return summary;
}
