/**
 * SQL database clients traced without patching: each wrapper returns an
 * instrumented view of a client (the original keeps working untraced) that
 * records every query as a `remote` subsegment named `<database>@<host>`
 * with the X-Ray `sql` block. Parent explicit (a segment) or ambient (a
 * tracer with an `xray-edge/als` context).
 *
 * - `pg`: {@linkcode tracePg}, {@linkcode tracePgPool}
 * - postgres.js: {@linkcode tracePostgres}
 * - `mysql2`: {@linkcode traceMysql}
 * - node:sqlite, bun:sqlite, better-sqlite3: {@linkcode traceSqlite}
 * - `@libsql/client`: {@linkcode traceLibsql}
 * - Cloudflare D1: {@linkcode traceD1}
 *
 * @example Trace a SQLite database under a segment
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatabaseSync } from "node:sqlite";
 * import { createTracer } from "../../mod.ts";
 * import { memorySender } from "../testing.ts";
 * import { traceSqlite } from "./mod.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "shop", sender });
 * const segment = tracer.startSegment("shop", { sampled: true });
 * const db = traceSqlite(new DatabaseSync(":memory:"), {
 *   parent: segment,
 *   collectQueries: true,
 * });
 * db.prepare("SELECT ? AS answer WHERE 'secret' <> 'x'").get(42);
 * segment.end();
 * await tracer.flush();
 * const { sql } = sender.documents[0].subsegments[0];
 * assert.equal(sql.database_type, "SQLite");
 * assert.equal(sql.sanitized_query, "SELECT ? AS answer WHERE ? <> ?");
 * ```
 *
 * @module
 */

export { redactConnectionString, sanitizeSql } from "./sanitize.ts";
export type { SqlDialect } from "./sanitize.ts";
export type { SqlTraceOptions } from "./_query.ts";
export type { CurrentEntitySource, ParentSource } from "../_parent.ts";
export { tracePg, tracePgPool } from "./pg.ts";
export type { PgClientLike, PgPoolLike, PgTraceOptions } from "./pg.ts";
export { traceMysql } from "./mysql2.ts";
export type { MysqlLike, MysqlTraceOptions } from "./mysql2.ts";
export { traceSqlite } from "./sqlite.ts";
export type { SqliteDatabaseLike, SqliteTraceOptions } from "./sqlite.ts";
export { traceLibsql } from "./libsql.ts";
export type { LibsqlClientLike, LibsqlTraceOptions } from "./libsql.ts";
export { traceD1 } from "./d1.ts";
export type { D1DatabaseLike, D1TraceOptions } from "./d1.ts";
export { tracePostgres } from "./postgres_js.ts";
export type { PostgresSqlLike, PostgresTraceOptions } from "./postgres_js.ts";
