import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sqliteCase, sqliteFileCase } from "../_sqlite_case.ts";

// A specifier esbuild and deno check leave alone: bun:sqlite exists on Bun only.
const BUN_SQLITE = "bun:sqlite";
const { Database } = await import(BUN_SQLITE) as {
  Database: new (file: string) => unknown;
};

Deno.test("traceSqlite() traces bun:sqlite synchronously: exec, prepared run/all/get/iterate, errors", async () => {
  await sqliteCase("bun:sqlite", (file) => new Database(file));
});

Deno.test("traceSqlite() names a bun:sqlite file database by its file name; ambient and unsampled parents", async () => {
  const file = join(tmpdir(), `xray-edge-${Date.now()}-${Math.random()}.db`);
  try {
    await sqliteFileCase((f) => new Database(f), file);
  } finally {
    rmSync(file, { force: true });
  }
});
