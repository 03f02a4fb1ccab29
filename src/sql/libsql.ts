// @libsql/client: local files, `:memory:` and remote libSQL / Turso servers.
import {
  askVersion,
  checkDriver,
  checkOptions,
  checkString,
  parentOf,
  proxyWith,
  type QueryInfo,
  type Resolved,
  runQuery,
  type SqlTarget,
  type SqlTraceOptions,
} from "./_query.ts";
import { redactConnectionString } from "./sanitize.ts";
import { baseName } from "./sqlite.ts";

/** The parts of an `@libsql/client` client that {@linkcode traceLibsql} uses. */
export interface LibsqlClientLike {
  /** Runs one statement. */
  // deno-lint-ignore no-explicit-any
  execute(...args: any[]): Promise<any>;
  /** Runs statements in one implicit transaction. */
  // deno-lint-ignore no-explicit-any
  batch?(...args: any[]): Promise<any>;
  /** Opens an interactive transaction. */
  // deno-lint-ignore no-explicit-any
  transaction?(...args: any[]): Promise<any>;
  /** `file`, `http`, `https`, `ws`, `wss` or `libsql`. */
  protocol?: string;
}

/** Options for {@linkcode traceLibsql}. */
export interface LibsqlTraceOptions extends SqlTraceOptions {
  /**
   * The URL the client was created with (`file:app.db`, `:memory:`,
   * `libsql://db.turso.io`): the client does not tell it. Recorded without
   * its auth token; names the subsegment (file name, or host). @default none: the subsegment is named `libsql`
   */
  url?: string;
}

function statementText(statement: unknown): string | undefined {
  if (typeof statement === "string") return statement;
  const sql = (statement as { sql?: unknown } | undefined)?.sql;
  return typeof sql === "string" ? sql : undefined;
}

function batchInfo(args: unknown[]): QueryInfo {
  const list = Array.isArray(args[0]) ? args[0] : [];
  const texts = list.map(statementText).filter((t): t is string => !!t);
  return { text: texts.join(";\n"), preparation: "call" };
}

function execInfo(args: unknown[]): QueryInfo {
  const first = args[0] as { args?: unknown } | string;
  const call = args[1] !== undefined ||
    (typeof first === "object" && first?.args !== undefined);
  return {
    text: statementText(first),
    preparation: call ? "call" : "statement",
  };
}

function wrapQueries<T extends object>(
  object: T,
  options: Resolved,
  target: SqlTarget,
  transactionMethods: boolean,
  ask: () => void,
): T {
  const o = object as Record<string, unknown>;
  const methods: Record<string, (...args: never[]) => unknown> = {};
  const traced = (name: string, info: (args: unknown[]) => QueryInfo) => {
    const fn = o[name];
    if (typeof fn !== "function") return;
    methods[name] = (...args: unknown[]) => {
      if (!target.version?.asked && parentOf(options)) ask();
      return runQuery(
        options,
        target,
        () => info(args),
        () => (fn as (...a: unknown[]) => unknown).apply(object, args),
      );
    };
  };
  traced("execute", execInfo);
  traced("batch", batchInfo);
  traced("migrate", batchInfo);
  traced("executeMultiple", (args) => ({
    text: statementText(args[0]),
    preparation: "statement",
  }));
  if (transactionMethods) {
    traced("commit", () => ({ text: "COMMIT", preparation: "statement" }));
    traced("rollback", () => ({ text: "ROLLBACK", preparation: "statement" }));
  }
  const transaction = o.transaction;
  if (typeof transaction === "function") {
    methods.transaction = (...args: unknown[]) =>
      (transaction.apply(object, args) as Promise<object>).then((tx) =>
        wrapQueries(tx, options, target, true, ask)
      );
  }
  return proxyWith(object, methods);
}

function libsqlTarget(
  client: LibsqlClientLike,
  url: string | undefined,
): SqlTarget {
  const sql: SqlTarget["sql"] = {
    databaseType: "SQLite",
    driverVersion: "@libsql/client",
  };
  let name = "libsql";
  if (url) {
    const clean = redactConnectionString(url);
    sql.url = clean;
    if (/^(?:file:|:memory:)/.test(clean) || !clean.includes("://")) {
      name = baseName(clean.replace(/^file:/, "")) || clean;
    } else {
      try {
        name = new URL(clean).hostname || name;
      } catch {
        // Keep `libsql`.
      }
    }
  }
  if (typeof client.protocol === "string" && client.protocol !== "file") {
    sql.databaseType = "libSQL";
  }
  return { name, sql, dialect: "sqlite", version: { asked: false } };
}

/**
 * Traces an `@libsql/client` client (local file, `:memory:`, or a remote
 * libSQL server): `execute`, `batch`, `migrate` and `executeMultiple` each
 * record one `remote` subsegment (a batch is one, with its statements in
 * `sanitized_query` when collecting), and so do `execute` / `batch` /
 * `commit` / `rollback` on transactions from `transaction()`. The URL is
 * recorded without its auth token. The given client keeps working untraced.
 *
 * @param client An `@libsql/client` client.
 * @param options The parent, what to record, the client's URL.
 * @returns The traced view of `client`.
 * @throws {TypeError} When `client` has no `execute` or an option is invalid.
 *
 * @example Trace a local libSQL database
 * ```ts ignore
 * import { createClient } from "@libsql/client";
 * import { traceLibsql } from "xray-edge/sql";
 *
 * const url = "file:app.db";
 * const db = traceLibsql(createClient({ url }), { parent: tracer, url });
 * await db.execute({ sql: "SELECT * FROM orders WHERE id = ?", args: [42] });
 * ```
 */
export function traceLibsql<C extends LibsqlClientLike>(
  client: C,
  options: LibsqlTraceOptions = {},
): C {
  checkDriver(client, ["execute"], "libSQL client", "an @libsql/client client");
  checkString(options.url, "url", "libSQL client");
  const resolved = checkOptions(options, "libSQL client");
  const target = libsqlTarget(client, options.url);
  const execute = client.execute;
  const ask = () =>
    askVersion(
      target.version!,
      () =>
        execute.call(client, "SELECT sqlite_version() AS v").then(
          (result: { rows?: { v?: unknown }[] }) => result?.rows?.[0]?.v,
        ),
    );
  return wrapQueries(client, resolved, target, false, ask);
}
