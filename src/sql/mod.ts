/**
 * SQL database clients traced without patching: each wrapper returns an
 * instrumented view of a client (the original keeps working untraced) that
 * records every query as a `remote` subsegment named `<database>@<host>`
 * with the X-Ray `sql` block. Parent explicit (a segment) or ambient (a
 * tracer with an `xray-edge/als` context).
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
