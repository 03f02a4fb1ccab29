// Connection URLs of the database servers scripts/services.ts starts (the
// test task does): from the environment, else from .services/env in the
// working directory. A missing server fails the test with a hint, never skips it.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";

const HINT =
  "start the test databases with `deno run -A scripts/services.ts start` (the `deno task test` task does it)";

// The matrix runs its bundles from .matrix/, one folder down.
function readFirst(paths: string[]): string {
  for (const path of paths) {
    try {
      return readFileSync(path, "utf8");
    } catch {
      // Try the next.
    }
  }
  return "";
}

function fromFile(): Record<string, string> {
  const env: Record<string, string> = {};
  try {
    const text = readFirst([".services/env", "../.services/env"]);
    for (const line of text.split("\n")) {
      const i = line.indexOf("=");
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
  } catch {
    // Not started.
  }
  return env;
}

/** The URL of a test server; throws with a hint when it is not configured. */
export function serviceUrl(kind: "pg" | "mysql"): string {
  const key = kind === "pg" ? "XRAY_EDGE_PG_URL" : "XRAY_EDGE_MYSQL_URL";
  const url = process.env[key] ?? fromFile()[key];
  if (!url) {
    throw new Error(
      `${
        kind === "pg" ? "PostgreSQL" : "MariaDB"
      } is not configured (${key}): ${HINT}`,
    );
  }
  return url;
}

/** The password inside a test server URL (asserted absent from documents). */
export function passwordOf(url: string): string {
  return decodeURIComponent(new URL(url).password);
}

/** Asserts that the server's password is in no document and no reported error. */
export function assertNoPassword(
  kind: "pg" | "mysql",
  docs: unknown[],
  errors: unknown[] = [],
): void {
  const secret = passwordOf(serviceUrl(kind));
  const text = JSON.stringify(docs) + JSON.stringify(errors.map(String));
  assert.ok(!text.includes(secret), "the password reached a document");
}

let tableCount = 0;

/** A table name no other test (or run) uses: tests share one database. */
export function tableName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${tableCount++}_${
    Math.floor(Math.random() * 1e6)
  }`;
}

/** Wraps a first connection attempt so a refused connection names the fix. */
export async function reachable<T>(
  kind: "pg" | "mysql",
  connect: () => Promise<T>,
): Promise<T> {
  try {
    return await connect();
  } catch (error) {
    throw new Error(
      `${kind === "pg" ? "PostgreSQL" : "MariaDB"} at ${
        serviceUrl(kind).replace(/:[^:@/]*@/, "@")
      } is not reachable (${(error as Error).message}): ${HINT}`,
      { cause: error },
    );
  }
}
