// mysql2: connections and pools, callback API and `mysql2/promise`.
import {
  applyOrEnd,
  applyWithCallback,
  askVersion,
  checkDriver,
  checkOptions,
  checkOut,
  type ConnectionSettings,
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

/**
 * The parts of a mysql2 connection or pool (callback API or
 * `mysql2/promise`) that {@linkcode traceMysql} uses.
 */
export interface MysqlLike {
  /** Runs a text query. */
  // deno-lint-ignore no-explicit-any
  query(...args: any[]): any;
  /** Runs a prepared statement. */
  // deno-lint-ignore no-explicit-any
  execute?(...args: any[]): any;
}

/** Options for {@linkcode traceMysql}. */
export interface MysqlTraceOptions extends SqlTraceOptions {
  /** `sql.driver_version`, for example `mysql2@3.14.0`. @default "mysql2" */
  driverVersion?: string;
}

interface Internals {
  config?: ConnectionSettings & { connectionConfig?: ConnectionSettings };
  connection?: Internals;
  pool?: Internals;
  _handshakePacket?: { serverVersion?: unknown } | null;
  promise?: unknown;
  getConnection?: unknown;
}

const targets = new WeakMap<object, SqlTarget>();

function settingsOf(object: Internals): ConnectionSettings {
  return object.config?.connectionConfig ?? object.config ??
    object.connection?.config ?? object.pool?.config?.connectionConfig ?? {};
}

function handshakeVersion(object: Internals): string | undefined {
  const raw = (object._handshakePacket ?? object.connection?._handshakePacket)
    ?.serverVersion;
  // MariaDB prefixes `5.5.5-` for old clients.
  return typeof raw === "string" && raw
    ? raw.replace(/^5\.5\.5-/, "")
    : undefined;
}

function reader(
  cache: VersionCache,
  object: Internals,
): () => string | undefined {
  return () => {
    const value = handshakeVersion(object);
    if (value && /mariadb/i.test(value)) cache.type = "MariaDB";
    return value;
  };
}

function targetOf(object: Internals, driverVersion?: string): SqlTarget {
  let target = targets.get(object);
  if (target) return target;
  const s = settingsOf(object);
  const host = typeof s.host === "string" && s.host ? s.host : "localhost";
  const port = s.port ?? 3306;
  const database = typeof s.database === "string" && s.database
    ? s.database
    : "mysql";
  const version: VersionCache = { asked: false };
  const isPool = typeof object.getConnection === "function";
  if (!isPool) version.read = reader(version, object);
  const sql: SqlTarget["sql"] = {
    url: serverUrl("mysql", host, port, database),
    databaseType: "MySQL",
    driverVersion: driverVersion ?? "mysql2",
  };
  if (typeof s.user === "string") sql.user = s.user;
  target = { name: `${database}@${host}`, sql, dialect: "mysql", version };
  targets.set(object, target);
  return target;
}

function setVersion(cache: VersionCache, value: unknown): void {
  if (typeof value !== "string" || !value) return;
  cache.value = value.replace(/^5\.5\.5-/, "");
  if (/mariadb/i.test(value)) cache.type = "MariaDB";
}

function describe(
  args: unknown[],
  preparation: QueryInfo["preparation"],
): QueryInfo {
  const first = args[0] as string | { sql?: unknown } | undefined;
  const text = typeof first === "string"
    ? first
    : typeof first?.sql === "string"
    ? first.sql
    : undefined;
  return { text, preparation };
}

interface EmitterLike {
  once?(event: string, fn: (...a: unknown[]) => void): unknown;
  listenerCount?(event: string): number;
}

/** One query / execute call traced, in whichever form the driver was called. */
function traced(
  original: (...args: unknown[]) => unknown,
  self: object,
  options: Resolved,
  target: SqlTarget,
  args: unknown[],
  info: QueryInfo | undefined,
): unknown {
  const parent = parentOf(options);
  if (!parent) return Reflect.apply(original, self, args);
  const sub = startQuery(parent, options, target, info ?? {});
  const last = args.findLastIndex((a) => typeof a === "function");
  if (last !== -1) {
    return applyWithCallback(sub, target, original, self, args, last);
  }
  const result = applyOrEnd(sub, target, original, self, args);
  // A command used as an event emitter (rows streamed): ends on 'end'. The
  // error is taken only when the caller listens for it too (attached in the
  // same tick), so an unhandled error still behaves as without tracing.
  // Checked first: mysql2's commands have a `then` that throws on purpose.
  const emitter = result as EmitterLike | undefined;
  if (typeof emitter?.once !== "function") {
    settle(sub, target, result);
    return result;
  }
  let failure: unknown;
  let failed = false;
  emitter.once("end", () => endQuery(sub, target, failure, failed));
  queueMicrotask(() => {
    if ((emitter.listenerCount?.("error") ?? 0) > 0) {
      emitter.once!("error", (error) => {
        failure = error;
        failed = true;
      });
    }
  });
  return result;
}

function wrap<T extends MysqlLike>(
  object: T,
  options: Resolved,
  target: SqlTarget,
  driverVersion: string | undefined,
): T {
  const o = object as T & Internals & Record<string, unknown>;
  const methods: Record<string, (...args: never[]) => unknown> = {};
  const query = o.query;
  const isPool = typeof o.getConnection === "function";
  const isCallbackApi = typeof o.promise === "function";
  methods.query = (...args: unknown[]) =>
    traced(query, object, options, target, args, describe(args, "statement"));
  if (typeof o.execute === "function") {
    const execute = o.execute;
    methods.execute = (...args: unknown[]) =>
      traced(execute, object, options, target, args, describe(args, "call"));
  }
  for (
    const [method, text] of [
      ["beginTransaction", "START TRANSACTION"],
      ["commit", "COMMIT"],
      ["rollback", "ROLLBACK"],
    ]
  ) {
    const fn = o[method];
    if (typeof fn === "function") {
      methods[method] = (...args: unknown[]) =>
        traced(
          fn as (...a: unknown[]) => unknown,
          object,
          options,
          target,
          args,
          {
            text,
            preparation: "statement",
          },
        );
    }
  }
  const prepare = o.prepare;
  if (typeof prepare === "function") {
    // A prepared statement's execute() is one subsegment (`call`).
    methods.prepare = (...args: unknown[]) => {
      const info = describe(args, "call");
      const wrapStatement = (statement: unknown): unknown => {
        const execute = (statement as { execute?: unknown } | null)?.execute;
        return typeof execute === "function"
          ? proxyWith(statement as object, {
            execute: (...more: unknown[]) =>
              traced(
                execute as (...a: unknown[]) => unknown,
                statement as object,
                options,
                target,
                more,
                info,
              ),
          })
          : statement;
      };
      const last = args.findLastIndex((a) => typeof a === "function");
      if (last !== -1) {
        const callback = args[last] as (...a: unknown[]) => unknown;
        const copy = args.slice();
        copy[last] = (error: unknown, statement: unknown, ...rest: unknown[]) =>
          callback(error, wrapStatement(statement), ...rest);
        return (prepare as (...a: unknown[]) => unknown).apply(object, copy);
      }
      const result = (prepare as (...a: unknown[]) => unknown).apply(
        object,
        args,
      );
      return result instanceof Promise ? result.then(wrapStatement) : result;
    };
  }
  if (isPool) {
    const getConnection = o.getConnection as (...a: unknown[]) => unknown;
    methods.getConnection = (...args: unknown[]) =>
      checkOut(
        getConnection,
        object,
        args,
        (connection: MysqlLike & Internals) =>
          wrap(
            connection,
            options,
            connectionTarget(connection, target),
            driverVersion,
          ),
      );
  }
  if (isCallbackApi) {
    const promise = o.promise as (...a: unknown[]) => unknown;
    methods.promise = (...args: unknown[]) => {
      const promised = promise.apply(object, args) as MysqlLike & Internals;
      if (!targets.has(promised)) targets.set(promised, target);
      return wrap(promised, options, target, driverVersion);
    };
  }
  return proxyWith(object, methods);
}

/** A pool connection shares the pool's names and version. */
function connectionTarget(connection: Internals, pool: SqlTarget): SqlTarget {
  let target = targets.get(connection);
  if (!target) {
    target = { ...pool };
    targets.set(connection, target);
  }
  const cache = pool.version!;
  if (cache.value === undefined) cache.read = reader(cache, connection);
  return target;
}

/**
 * Traces a mysql2 connection or pool, from the callback API
 * (`mysql.createConnection`, `createPool`) or `mysql2/promise`: returns a
 * view whose `query` and `execute` (a prepared statement: `preparation:
 * "call"`), `execute` on statements from `prepare()`, and
 * `beginTransaction` / `commit` / `rollback` each record one
 * `remote` subsegment named `<database>@<host>` with the `sql` block.
 * Connections from `pool.getConnection()` and `.promise()` views are
 * traced the same way. Callback, promise and streamed (event) forms are
 * all ended when the query completes. The server version comes from the
 * connection's handshake (no round trip); a pool asks it once.
 *
 * @param connection A mysql2 connection or pool.
 * @param options The parent and what to record.
 * @returns The traced view of `connection`.
 * @throws {TypeError} When `connection` has no `query` or an option is invalid.
 *
 * @example Trace a pool
 * ```ts ignore
 * import mysql from "mysql2/promise";
 * import { traceMysql } from "xray-edge/sql";
 *
 * const pool = traceMysql(mysql.createPool(process.env.MYSQL_URL!), { parent: tracer });
 * const [rows] = await pool.execute("SELECT * FROM orders WHERE id = ?", [42]);
 * ```
 */
export function traceMysql<T extends MysqlLike>(
  connection: T,
  options: MysqlTraceOptions = {},
): T {
  checkDriver(
    connection,
    ["query"],
    "mysql2 connection",
    "a mysql2 connection or pool",
  );
  const resolved = checkOptions(options, "mysql2 connection");
  const internals = connection as T & Internals;
  const target = targetOf(internals, options.driverVersion);
  const cache = target.version!;
  if (typeof internals.getConnection === "function" && !cache.asked) {
    // Pools: asked once through the untraced pool.
    const query = connection.query;
    const callbackApi = typeof internals.promise === "function";
    const ask = () =>
      callbackApi
        ? new Promise<unknown>((resolve) =>
          query.call(
            connection,
            "SELECT VERSION() AS v",
            (error: unknown, rows: { v?: unknown }[]) =>
              resolve(error ? undefined : rows?.[0]?.v),
          )
        )
        : (query.call(connection, "SELECT VERSION() AS v") as Promise<
          [{ v?: unknown }[]]
        >).then(([rows]) => rows?.[0]?.v);
    return wrapPool(connection, resolved, target, options.driverVersion, ask);
  }
  return wrap(connection, resolved, target, options.driverVersion);
}

function wrapPool<T extends MysqlLike>(
  pool: T,
  options: Resolved,
  target: SqlTarget,
  driverVersion: string | undefined,
  ask: () => Promise<unknown>,
): T {
  const cache = target.version!;
  const view = wrap(pool, options, target, driverVersion);
  const first = (): void => {
    if (cache.asked) return;
    askVersion(cache, () => ask().then((v) => setVersion(cache, v)));
  };
  return proxyWith(view, {
    query: (...args: unknown[]) => {
      if (parentOf(options)) first();
      return view.query(...args);
    },
    execute: (...args: unknown[]) => {
      if (parentOf(options)) first();
      return view.execute!(...args);
    },
  });
}
