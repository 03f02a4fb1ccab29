// What every SQL wrapper shares: options, parent resolution, one
// subsegment per query, error recording, the server version cache, and the
// proxy that swaps a few methods of a driver object.
import type { SqlData } from "../document.ts";
import type { Entity, Subsegment } from "../segment.ts";
import {
  isEntity,
  isParentSource,
  type ParentSource,
  resolveParent,
} from "../_parent.ts";
import { sanitizeSql, type SqlDialect } from "./sanitize.ts";

/** Options every SQL wrapper takes. */
export interface SqlTraceOptions {
  /**
   * The parent of every query: a segment or subsegment (for a wrapper made
   * per request), or something with `current()` (a tracer with an ambient
   * context from `xray-edge/als`, or the context itself), asked per query.
   * Queries without a parent, or under an unsampled one, run untraced.
   */
  parent?: ParentSource;
  /**
   * Records `sql.sanitized_query`: the query text with every literal
   * replaced by `?`. With a segment as parent, pass
   * `configFromEnv(env).collectSqlQueries` to follow
   * `AWS_XRAY_COLLECT_SQL_QUERIES`. @default the tracer's `collectSqlQueries`
   * (`AWS_XRAY_COLLECT_SQL_QUERIES`) when `parent` is a tracer, else false
   */
  collectQueries?: boolean;
  /** The subsegment name. @default `<database>@<host>` (the file name for SQLite, the binding name for D1) */
  name?: string;
}

/** What one wrapped connection (or pool) records on every query. */
export interface SqlTarget {
  /** The subsegment name. */
  name: string;
  /** `url`, `databaseType`, `driverVersion`, `user`: fixed per connection. */
  sql: SqlData;
  /** How queries are read for sanitizing. */
  dialect: SqlDialect;
  /** The server version, once known (see {@linkcode VersionCache}). */
  version?: VersionCache;
}

/** Where a database server is, as a driver keeps it (any type: read with care). */
export interface ConnectionSettings {
  host?: unknown;
  port?: unknown;
  database?: unknown;
  user?: unknown;
}

/** `<scheme>://<host>:<port>/<database>`, an IPv6 host in brackets. */
export function serverUrl(
  scheme: string,
  host: string,
  port: unknown,
  database: string,
): string {
  return `${scheme}://${
    host.includes(":") ? `[${host}]` : host
  }:${port}/${database}`;
}

/** The server version, asked once per connection or pool and kept. */
export interface VersionCache {
  /** The version once the answer came. */
  value?: string;
  /** Whether it was asked already. */
  asked: boolean;
  /** Reads the version without a round trip (a handshake kept by the driver). */
  read?: () => string | undefined;
  /** The database type the version shows (`MariaDB` behind a MySQL driver). */
  type?: string;
}

/** One query as the wrappers describe it. */
export interface QueryInfo {
  /** The SQL text, when there is one. */
  text?: string;
  /** `statement` for a plain query, `call` for a prepared or parameterized one. */
  preparation?: "statement" | "call";
}

/** Options after checking, with the parent source. */
export interface Resolved {
  source?: ParentSource;
  collect: boolean;
  name?: string;
}

/**
 * Checks a wrapper's options; bad ones throw at once.
 *
 * @throws {TypeError} When `parent`, `collectQueries` or `name` has the wrong type.
 */
export function checkOptions(
  options: SqlTraceOptions | undefined,
  what: string,
): Resolved {
  const { parent, collectQueries, name } = options ?? {};
  if (parent !== undefined && !isParentSource(parent)) {
    throw new TypeError(
      `Cannot trace ${what} as 'parent' must be a segment, a subsegment or have current()`,
    );
  }
  if (collectQueries !== undefined && typeof collectQueries !== "boolean") {
    throw new TypeError(
      `Cannot trace ${what} as 'collectQueries' must be a boolean: current value is ${
        JSON.stringify(collectQueries)
      }`,
    );
  }
  checkString(name, "name", what, true);
  const fromTracer = (parent as { collectSqlQueries?: unknown } | undefined)
    ?.collectSqlQueries === true;
  return { source: parent, collect: collectQueries ?? fromTracer, name };
}

/**
 * Checks that `object` is a driver object with every one of `methods`.
 *
 * @throws {TypeError} `Cannot trace <what> as it has no <methods> (<expected> is expected)`.
 */
export function checkDriver(
  object: unknown,
  methods: string[],
  what: string,
  expected: string,
): void {
  const o = object as Record<string, unknown> | null | undefined;
  if (methods.some((method) => typeof o?.[method] !== "function")) {
    throw new TypeError(
      `Cannot trace ${what} as it has no ${
        methods.map((method) => `${method}()`).join(" and ")
      } (${expected} is expected)`,
    );
  }
}

/**
 * Checks a wrapper's own string option (absent is fine).
 *
 * @throws {TypeError} When `value` is not a string (or empty with `nonEmpty`).
 */
export function checkString(
  value: unknown,
  option: string,
  what: string,
  nonEmpty = false,
): void {
  if (
    value !== undefined &&
    (typeof value !== "string" || (nonEmpty && value === ""))
  ) {
    throw new TypeError(
      `Cannot trace ${what} as '${option}' must be a ${
        nonEmpty ? "non-empty " : ""
      }string: current value is ${JSON.stringify(value)}`,
    );
  }
}

/** The sampled parent for one query, if any. */
export function parentOf(options: Resolved): Entity | undefined {
  const source = options.source;
  if (!source) return undefined;
  const entity = isEntity(source) ? source : resolveParent(source);
  return entity?.isSampled ? entity : undefined;
}

function report(options: Resolved, error: unknown): void {
  const reporter = (options.source as { reportError?: unknown } | undefined)
    ?.reportError;
  if (typeof reporter === "function") {
    try {
      reporter.call(options.source, error, "recording");
    } catch {
      // Reporting must not reach the query.
    }
  }
}

/** Starts the query's subsegment under `parent`. */
export function startQuery(
  parent: Entity,
  options: Resolved,
  target: SqlTarget,
  query: QueryInfo,
): Subsegment {
  const sub = parent.startSubsegment(options.name ?? target.name, {
    namespace: "remote",
  });
  try {
    const sql: SqlData = { ...target.sql };
    if (query.preparation) sql.preparation = query.preparation;
    if (options.collect && typeof query.text === "string") {
      sql.sanitizedQuery = sanitizeSql(query.text, target.dialect);
    }
    sub.setSql(sql);
  } catch (error) {
    report(options, error);
  }
  return sub;
}

/** The driver's error code: `code` (`42P01`, `ER_PARSE_ERROR`, `SQLITE_ERROR`), else `errno`. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  try {
    const e = error as { code?: unknown; errno?: unknown; errcode?: unknown };
    for (const value of [e.code, e.errno, e.errcode]) {
      if (typeof value === "string" && value) return value;
      if (typeof value === "number") return String(value);
    }
  } catch {
    // A hostile error object: no code.
  }
  return undefined;
}

/**
 * Ends a query's subsegment: the version when known, and for a failure the
 * fault flag and the error in `cause` (its message prefixed with the
 * driver's error code). The error itself is left untouched.
 */
export function endQuery(
  sub: Subsegment,
  target: SqlTarget,
  error?: unknown,
  failed = error !== undefined,
): void {
  const cache = target.version;
  if (cache && cache.value === undefined && cache.read) {
    try {
      cache.value = cache.read();
    } catch {
      // Not known yet.
    }
  }
  if (cache?.value) {
    sub.setSql(
      cache.type
        ? { databaseVersion: cache.value, databaseType: cache.type }
        : { databaseVersion: cache.value },
    );
  }
  if (failed) {
    const code = errorCode(error);
    if (code !== undefined && typeof error === "object" && error !== null) {
      let name = "Error";
      let message = "";
      let stack: unknown;
      try {
        const e = error as Error;
        name = typeof e.name === "string" && e.name !== "error"
          ? e.name
          : e.constructor?.name ?? "Error";
        message = String(e.message ?? "");
        stack = e.stack;
      } catch {
        // Keep what was read.
      }
      sub.addError({ name, message: `${code}: ${message}`, stack }, {
        remote: true,
      });
    } else sub.addError(error, { remote: true });
  }
  sub.end();
}

/**
 * Calls `original` on `self` for a query whose subsegment is open: a
 * synchronous throw ends `sub` as failed and is thrown on.
 */
export function applyOrEnd(
  sub: Subsegment,
  target: SqlTarget,
  original: (...args: never[]) => unknown,
  self: unknown,
  args: unknown[],
): unknown {
  try {
    return Reflect.apply(original, self, args);
  } catch (error) {
    endQuery(sub, target, error, true);
    throw error;
  }
}

/**
 * A Node-style callback that ends `sub` (failed when the callback gets an
 * error) before calling `callback` with the same receiver and arguments.
 */
export function endingCallback(
  sub: Subsegment,
  target: SqlTarget,
  callback: (...args: never[]) => unknown,
): (this: unknown, error: unknown, ...rest: unknown[]) => unknown {
  return function tracedCallback(this: unknown, error, ...rest) {
    endQuery(sub, target, error ?? undefined, error != null);
    return Reflect.apply(callback, this, [error, ...rest]);
  };
}

/**
 * Calls `original` (see {@linkcode applyOrEnd}) with the callback at
 * `args[index]` swapped for one that ends `sub` first.
 */
export function applyWithCallback(
  sub: Subsegment,
  target: SqlTarget,
  original: (...args: never[]) => unknown,
  self: unknown,
  args: unknown[],
  index: number,
): unknown {
  const copy = args.slice();
  copy[index] = endingCallback(
    sub,
    target,
    args[index] as (...a: unknown[]) => unknown,
  );
  return applyOrEnd(sub, target, original, self, copy);
}

/**
 * Runs one query: untraced without a sampled parent, else inside one
 * subsegment. A synchronous result ends it at once; a promise ends it when
 * it settles (the same promise is returned, never a new one).
 */
export function runQuery<T>(
  options: Resolved,
  target: SqlTarget,
  query: QueryInfo | (() => QueryInfo),
  run: () => T,
): T {
  const parent = parentOf(options);
  if (!parent) return run();
  const sub = startQuery(
    parent,
    options,
    target,
    typeof query === "function" ? query() : query,
  );
  let result: T;
  try {
    result = run();
  } catch (error) {
    endQuery(sub, target, error, true);
    throw error;
  }
  settle(sub, target, result);
  return result;
}

/** Whether `value` is a promise or another thenable (drivers may use their own Promise). */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value instanceof Promise ||
    (typeof value === "object" && value !== null &&
      typeof (value as { then?: unknown }).then === "function");
}

/** Ends `sub` when `result` settles (at once when it is not a promise). */
export function settle(
  sub: Subsegment,
  target: SqlTarget,
  result: unknown,
): void {
  if (isThenable(result)) {
    result.then(
      () => endQuery(sub, target),
      (error) => endQuery(sub, target, error, true),
    );
  } else endQuery(sub, target);
}

/**
 * Asks the server version once per cache (connection or pool); the answer
 * lands in the cache when it comes, and failures are forgotten.
 */
export function askVersion(
  cache: VersionCache,
  ask: () => Promise<unknown> | unknown,
): void {
  if (cache.asked) return;
  cache.asked = true;
  try {
    Promise.resolve(ask()).then((value) => {
      if (typeof value === "string" && value) cache.value = value;
    }, () => {});
  } catch {
    // No version then.
  }
}

/**
 * Checks a connection out of a pool (`pool.connect()`,
 * `pool.getConnection()`), callback or promise form: a connection with a
 * `query()` is handed on as `wrap(connection)`.
 */
export function checkOut<C extends { query: unknown }>(
  original: (...args: never[]) => unknown,
  pool: object,
  args: unknown[],
  wrap: (connection: C) => unknown,
): unknown {
  const traced = (connection: unknown): unknown =>
    connection && typeof (connection as C).query === "function"
      ? wrap(connection as C)
      : connection;
  const callback = args[0];
  if (typeof callback === "function") {
    return Reflect.apply(original, pool, [
      (error: unknown, connection: unknown, ...rest: unknown[]) =>
        callback(error, traced(connection), ...rest),
    ]);
  }
  const result = Reflect.apply(original, pool, []) as Promise<unknown>;
  return result && typeof result.then === "function"
    ? result.then(traced)
    : result;
}

/**
 * A proxy of `target` whose listed methods are replaced; every other
 * function is called on the original object (so drivers with private
 * fields or native receivers keep working), and properties read through.
 */
export function proxyWith<T extends object>(
  target: T,
  methods: Record<string, (...args: never[]) => unknown>,
): T {
  const bound = new Map<PropertyKey, unknown>();
  const proxy: T = new Proxy(target, {
    get(object, key) {
      if (Object.hasOwn(methods, key)) return methods[key as string];
      const value = Reflect.get(object, key, object);
      if (typeof value !== "function") return value;
      let fn = bound.get(key);
      if (!fn || (fn as { original?: unknown }).original !== value) {
        const wrapper = function (this: unknown, ...args: unknown[]) {
          return Reflect.apply(
            value,
            this === proxy || this === undefined ? object : this,
            args,
          );
        };
        (wrapper as { original?: unknown }).original = value;
        bound.set(key, wrapper);
        fn = wrapper;
      }
      return fn;
    },
    set(object, key, value) {
      return Reflect.set(object, key, value, object);
    },
  });
  return proxy;
}
