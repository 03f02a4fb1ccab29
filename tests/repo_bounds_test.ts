// matrix: deno — reads the repository's own files
// Nothing at build or test time may read outside the repository: a user's
// clone has nothing beside it (issue: a fresh clone failed 739 tests that
// read the schema from a folder next to the repository). Every
// `new URL("…", import.meta.url)` and every relative path literal in src/,
// tests/, scripts/ and the top-level scripts must stay inside the clone.
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

async function* sources(dir: URL): AsyncGenerator<URL> {
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) yield* sources(url);
    else if (/\.(ts|mjs|js)$/.test(entry.name)) yield url;
  }
}

/** Relative specifiers and URL arguments a file resolves, with where they land. */
function escapes(text: string, file: URL): string[] {
  const found = new Set<string>();
  const patterns = [
    /new URL\(\s*["'`]([^"'`]+)["'`]\s*,\s*import\.meta\.url\s*\)/g,
    /(?:from|import\()\s*["'](\.{1,2}\/[^"']+)["']/g,
    /["'`]((?:\.\.\/){2,}[^"'`]*)["'`]/g,
  ];
  for (const pattern of patterns) {
    for (const m of text.matchAll(pattern)) {
      const target = new URL(m[1], file);
      if (!target.href.startsWith(ROOT.href)) {
        found.add(`${m[1]} → ${target.pathname}`);
      }
    }
  }
  return [...found];
}

Deno.test("no source, test or script resolves a path outside the repository", async () => {
  const problems: string[] = [];
  let files = 0;
  const roots = ["src/", "tests/", "scripts/", "bench/"].map((d) =>
    new URL(d, ROOT)
  );
  const top = ["mod.ts", "npm_build.ts"].map((f) => new URL(f, ROOT));
  const all: URL[] = [...top];
  for (const dir of roots) {
    try {
      for await (const file of sources(dir)) {
        if (!file.pathname.includes("/node_modules/")) all.push(file);
      }
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
  }
  for (const file of all) {
    files++;
    // This file holds such paths on purpose, to show the guard works.
    if (file.href === import.meta.url) continue;
    for (const p of escapes(await Deno.readTextFile(file), file)) {
      problems.push(`${file.pathname.slice(ROOT.pathname.length)}: ${p}`);
    }
  }
  assert.ok(files > 50, `read ${files} files`);
  assert.deepEqual(problems, []);
});

Deno.test("the guard catches a path that leaves the repository", () => {
  const file = new URL("tests/_schema.ts", ROOT);
  assert.equal(
    escapes(
      `const s = new URL("../../elsewhere/fixture.json", import.meta.url);`,
      file,
    ).length,
    1,
  );
  assert.equal(
    escapes(`import { x } from "../../../elsewhere/mod.ts";`, file).length,
    1,
  );
  assert.deepEqual(
    escapes(`new URL("./fixtures/x.json", import.meta.url)`, file),
    [],
  );
});
