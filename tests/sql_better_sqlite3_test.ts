// matrix: deno,deno-npm,node22,bun — better-sqlite3 13 needs Node ≥ 22 (it ships its prebuilt addon in the package)
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sqliteCase, sqliteFileCase } from "./_sqlite_case.ts";

// Loaded at run time from node_modules (not bundled by the matrix): the
// addon is found next to the package's own files.
const BETTER_SQLITE3 = "better-sqlite3";
const { default: Database } = await import(BETTER_SQLITE3) as {
  default: new (file: string) => unknown;
};

Deno.test("traceSqlite() traces better-sqlite3 synchronously: exec, prepared run/all/get/iterate, errors", async () => {
  await sqliteCase("better-sqlite3", (file) => new Database(file));
});

Deno.test("traceSqlite() names a better-sqlite3 file database by its file name; ambient and unsampled parents", async () => {
  const file = join(tmpdir(), `xray-edge-${Date.now()}-${Math.random()}.db`);
  try {
    await sqliteFileCase((f) => new Database(f), file);
  } finally {
    rmSync(file, { force: true });
  }
});
