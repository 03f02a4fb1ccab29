// node-postgres (`pg`): Client, Pool, pool clients, submittables (Cursor,
// QueryStream), callback and promise forms.
import {
  applyOrEnd,
  applyWithCallback,
  askVersion,
  checkDriver,
  checkOptions,
  checkOut,
  type ConnectionSettings,
  endingCallback,
  endQuery,
  parentOf,
  proxyWith,
  type QueryInfo,
  type Resolved,
  serverUrl,
  settle,
  type SqlTarget,
  type SqlTraceOptions,
  startQuery,
  type VersionCache,
} from "./_query.ts";

/** The parts of a `pg` query result used to read the server version. */
interface PgResultLike {
  rows?: Record<string, unknown>[];
}

/** The parts of a `pg` `Client` (or pool client) that {@linkcode tracePg} uses. */
export interface PgClientLike {
  /** Runs a query: text or config object, values, optional callback. */
  // deno-lint-ignore no-explicit-any
  query(...args: any[]): any;
  /** Resolved connection settings (`pg` sets these on every client). */
  host?: string;
  /** The port. */
  port?: number;
  /** The database. */
  database?: string;
  /** The user. */
  user?: string;
}

/** The parts of a `pg` `Pool` that {@linkcode tracePgPool} uses. */
export interface PgPoolLike {
  /** Runs a query on a pooled client. */
  // deno-lint-ignore no-explicit-any
  query(...args: any[]): any;
  /** Checks a client out. */
  // deno-lint-ignore no-explicit-any
  connect(...args: any[]): any;
  /** The options the pool was made with. */
  options?: object;
}

/** Options for the `pg` wrappers. */
export interface PgTraceOptions extends SqlTraceOptions {
  /** `sql.driver_version`, for example `pg@8.16.3`. @default "pg" */
  driverVersion?: string;
}

const targets = new WeakMap<object, SqlTarget>();

function pgTarget(
  settings: ConnectionSettings,
  driverVersion: string | undefined,
  version: VersionCache,
): SqlTarget {
  const host = typeof settings.host === "string" && settings.host
    ? settings.host
    : "localhost";
  const port = settings.port ?? 5432;
  const database = typeof settings.database === "string" && settings.database
    ? settings.database
    : typeof settings.user === "string"
    ? settings.user
    : "postgres";
  const url = host.startsWith("/")
    ? `postgresql:///${database}?host=${encodeURIComponent(host)}&port=${port}`
    : serverUrl("postgresql", host, port, database);
  const sql: SqlTarget["sql"] = {
    url,
    databaseType: "PostgreSQL",
    driverVersion: driverVersion ?? "pg",
  };
  if (typeof settings.user === "string") sql.user = settings.user;
  return { name: `${database}@${host}`, sql, dialect: "postgres", version };
}

/** Settings of a pool from its options (a connection string is parsed). */
function poolSettings(options: object | undefined): ConnectionSettings {
  const o = (options ?? {}) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  if (typeof o.connectionString === "string") {
    try {
      const url = new URL(o.connectionString);
      if (url.hostname) out.host = decodeURIComponent(url.hostname);
      const host = url.searchParams.get("host");
      if (host) out.host = host;
      if (url.port) out.port = Number(url.port);
      if (url.pathname.length > 1) {
        out.database = decodeURIComponent(url.pathname.slice(1));
      }
      if (url.username) out.user = decodeURIComponent(url.username);
    } catch {
      // Not a URL: the explicit options below.
    }
  }
  for (const key of ["host", "port", "database", "user"]) {
    if (o[key] !== undefined && typeof o[key] !== "function") out[key] = o[key];
  }
  return out;
}

function describe(args: unknown[]): QueryInfo {
  const config = args[0] as
    | string
    | { text?: unknown; name?: unknown; values?: unknown };
  if (typeof config === "string") {
    return {
      text: config,
      preparation: Array.isArray(args[1]) ? "call" : "statement",
    };
  }
  const text = typeof config?.text === "string" ? config.text : undefined;
  const call = Array.isArray(args[1]) || Array.isArray(config?.values) ||
    typeof config?.name === "string";
  return { text, preparation: call ? "call" : "statement" };
}

/**
 * Runs one `query(...)` call traced: promise, callback and submittable
 * forms all end the subsegment when the query completes.
 */
function tracedQuery(
  original: (...args: unknown[]) => unknown,
  self: object,
  options: Resolved,
  target: SqlTarget,
  args: unknown[],
  ask: () => void,
): unknown {
  const first = args[0] as { submit?: unknown; callback?: unknown } | null;
  const parent = first == null ? undefined : parentOf(options);
  if (!parent) return Reflect.apply(original, self, args);
  ask();
  const sub = startQuery(parent, options, target, describe(args));
  // Submittables (pg-cursor, pg-query-stream, Query): one subsegment from
  // submit to the end of the portal ('end'), or to 'close' for a stream
  // destroyed early or failed. The error is read where they keep it
  // (`_error`, the stream's cursor, `errored`): listening for 'error' would
  // change what an unhandled error does.
  if (typeof first === "object" && typeof first?.submit === "function") {
    const emitter = first as {
      once?: (event: string, fn: () => void) => unknown;
      _error?: unknown;
      errored?: unknown;
      cursor?: { _error?: unknown };
    };
    const result = applyOrEnd(sub, target, original, self, args);
    if (typeof emitter.once === "function") {
      let open = true;
      const finish = (): void => {
        if (!open) return;
        open = false;
        const error = emitter._error ?? emitter.cursor?._error ??
          emitter.errored;
        endQuery(sub, target, error ?? undefined, error != null);
      };
      emitter.once("end", finish);
      emitter.once("close", finish);
    } else endQuery(sub, target);
    return result;
  }
  // A config object carrying its own callback: a copy with ours.
  if (
    typeof first === "object" && typeof first?.callback === "function" &&
    typeof first.submit !== "function"
  ) {
    const copy = args.slice();
    copy[0] = {
      ...first,
      callback: endingCallback(
        sub,
        target,
        first.callback as (...a: unknown[]) => unknown,
      ),
    };
    return applyOrEnd(sub, target, original, self, copy);
  }
  const last = typeof args[2] === "function"
    ? 2
    : typeof args[1] === "function"
    ? 1
    : -1;
  if (last !== -1) {
    return applyWithCallback(sub, target, original, self, args, last);
  }
  const result = applyOrEnd(sub, target, original, self, args);
  settle(sub, target, result);
  return result;
}

function versionFrom(result: unknown): string | undefined {
  const row = (result as PgResultLike | undefined)?.rows?.[0];
  const value = row?.server_version;
  return typeof value === "string" ? `PostgreSQL ${value}` : undefined;
}

function wrapClient<C extends PgClientLike>(
  client: C,
  options: Resolved,
  target: SqlTarget,
): C {
  const query = client.query;
  return proxyWith(client, {
    query(...args: unknown[]): unknown {
      return tracedQuery(query, client, options, target, args, () =>
        askVersion(
          target.version!,
          () =>
            (query.call(client, "SHOW server_version") as Promise<unknown>)
              .then(versionFrom),
        ));
    },
  });
}

/**
 * Traces a `pg` `Client` (or a client checked out of a pool): returns a
 * view of it whose `query` records each query as a `remote` subsegment
 * named `<database>@<host>` with the `sql` block (`url` without password,
 * `database_type`, `database_version` asked once per client, `driver_version`,
 * `user`, `preparation`, and `sanitized_query` when `collectQueries` is on).
 * Text and config-object queries, named statements, promise and callback
 * forms, and submittables such as `pg-cursor` (one subsegment until the
 * cursor ends) are traced. The given client keeps working untraced.
 *
 * @param client A connected or connecting `pg` client.
 * @param options The parent and what to record.
 * @returns The traced view of `client`.
 * @throws {TypeError} When `client` has no `query` or an option is invalid.
 *
 * @example Trace queries under a segment
 * ```ts ignore
 * import pg from "pg";
 * import { tracePg } from "xray-edge/sql";
 *
 * const db = tracePg(new pg.Client(process.env.DATABASE_URL), { parent: tracer });
 * await db.connect();
 * const { rows } = await db.query("SELECT * FROM orders WHERE id = $1", [42]);
 * ```
 */
export function tracePg<C extends PgClientLike>(
  client: C,
  options: PgTraceOptions = {},
): C {
  checkDriver(client, ["query"], "pg client", "a pg Client");
  const resolved = checkOptions(options, "pg client");
  let target = targets.get(client);
  if (!target) {
    target = pgTarget(client, options.driverVersion, { asked: false });
    targets.set(client, target);
  }
  return wrapClient(client, resolved, target);
}

/**
 * Traces a `pg` `Pool`: `pool.query` is one subsegment per query, and the
 * clients `pool.connect()` hands out (promise or callback form) are traced
 * like {@linkcode tracePg} (transactions on them included). The server
 * version is asked once per pool. The given pool keeps working untraced.
 *
 * @param pool A `pg` pool.
 * @param options The parent and what to record.
 * @returns The traced view of `pool`.
 * @throws {TypeError} When `pool` has no `query` / `connect` or an option is invalid.
 */
export function tracePgPool<P extends PgPoolLike>(
  pool: P,
  options: PgTraceOptions = {},
): P {
  checkDriver(pool, ["query", "connect"], "pg pool", "a pg Pool");
  const resolved = checkOptions(options, "pg pool");
  let target = targets.get(pool);
  if (!target) {
    target = pgTarget(
      poolSettings(pool.options),
      options.driverVersion,
      { asked: false },
    );
    targets.set(pool, target);
  }
  const poolTarget = target;
  const query = pool.query;
  const connect = pool.connect;
  const ask = () =>
    askVersion(
      poolTarget.version!,
      () =>
        (query.call(pool, "SHOW server_version") as Promise<unknown>).then(
          versionFrom,
        ),
    );
  return proxyWith(pool, {
    query(...args: unknown[]): unknown {
      return tracedQuery(query, pool, resolved, poolTarget, args, ask);
    },
    connect(...args: unknown[]): unknown {
      return checkOut(
        connect,
        pool,
        args,
        (client: PgClientLike) => wrapClient(client, resolved, poolTarget),
      );
    },
  });
}
