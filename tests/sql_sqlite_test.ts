// matrix: deno,deno-npm,node22 — node:sqlite exists on Deno and Node ≥ 22 (not Node 20, not Bun)
import { rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { sqliteCase, sqliteFileCase } from "./_sqlite_case.ts";

Deno.test("traceSqlite() traces node:sqlite synchronously: exec, prepared run/all/get/iterate, errors", async () => {
  await sqliteCase("node:sqlite", (file) => new DatabaseSync(file));
});

Deno.test("traceSqlite() names a node:sqlite file database by its file name; ambient and unsampled parents", async () => {
  const file = join(tmpdir(), `xray-edge-${Date.now()}-${Math.random()}.db`);
  try {
    await sqliteFileCase((f) => new DatabaseSync(f), file);
  } finally {
    rmSync(file, { force: true });
  }
});
