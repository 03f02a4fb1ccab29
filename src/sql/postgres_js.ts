// postgres.js (`postgres`): tagged templates, unsafe, file, begin /
// savepoint scopes, reserve, cursor / forEach / stream.
import {
  checkOptions,
  endQuery,
  parentOf,
  type QueryInfo,
  type Resolved,
  type SqlTarget,
  type SqlTraceOptions,
  startQuery,
} from "./_query.ts";
import type { Subsegment } from "../segment.ts";

/** The parts of a postgres.js `sql` function that {@linkcode tracePostgres} uses. */
export interface PostgresSqlLike {
  /** The tagged template: `sql\`SELECT …\``. */
  // deno-lint-ignore no-explicit-any
  (strings: TemplateStringsArray, ...args: any[]): any;
  /** The resolved options (`host`, `port`, `database`, `user`). */
  options?: object;
}

/** Options for {@linkcode tracePostgres}. */
export interface PostgresTraceOptions extends SqlTraceOptions {
  /** `sql.driver_version`, for example `postgres@3.4.5`. @default "postgres.js" */
  driverVersion?: string;
}

// Calls that run a query, and calls that return the query itself.
const RUNS = new Set([
  "then",
  "catch",
  "finally",
  "execute",
  "forEach",
  "cursor",
  "stream",
  "describe",
]);
const CHAINS = new Set([
  "raw",
  "values",
  "simple",
  "transform",
  "parsers",
  "signal",
]);

interface QueryLike {
  handle?: unknown;
  execute?: unknown;
}

function isQuery(value: unknown): value is Promise<unknown> & QueryLike {
  return value instanceof Promise &&
    typeof (value as QueryLike).handle === "function" &&
    typeof (value as QueryLike).execute === "function";
}

function templateInfo(strings: readonly string[], args: unknown[]): QueryInfo {
  let text = strings[0] ?? "";
  for (let i = 1; i < strings.length; i++) text += `$${i}${strings[i]}`;
  return { text, preparation: args.length ? "call" : "statement" };
}

/** Follows a cursor's async iterator: opened on the first `next()`, ended when done. */
function tracedCursor(
  cursor: AsyncIterable<unknown>,
  open: () => Subsegment | undefined,
  target: SqlTarget,
): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<unknown> {
      const iterator = cursor[Symbol.asyncIterator]();
      let sub: Subsegment | undefined;
      let opened = false;
      const finish = (error?: unknown, failed = false): void => {
        if (sub) endQuery(sub, target, error, failed);
        sub = undefined;
      };
      return {
        next(): Promise<IteratorResult<unknown>> {
          if (!opened) {
            opened = true;
            sub = open();
          }
          return Promise.resolve(iterator.next()).then((step) => {
            if (step.done) finish();
            return step;
          }, (error) => {
            finish(error, true);
            throw error;
          });
        },
        return(value?: unknown): Promise<IteratorResult<unknown>> {
          finish();
          return Promise.resolve(
            iterator.return
              ? iterator.return(value)
              : { done: true, value: undefined },
          );
        },
      };
    },
  };
}

/** A view of one query that opens its subsegment when the query runs. */
function wrapQuery(
  query: Promise<unknown> & QueryLike,
  info: QueryInfo,
  options: Resolved,
  target: SqlTarget,
): Promise<unknown> {
  let started = false;
  const open = (): Subsegment | undefined => {
    if (started) return undefined;
    started = true;
    const parent = parentOf(options);
    return parent ? startQuery(parent, options, target, info) : undefined;
  };
  const start = (): void => {
    const sub = open();
    if (!sub) return;
    // The intrinsic `then` (species Promise) watches without running it.
    Promise.prototype.then.call(
      query,
      () => endQuery(sub, target),
      (error) => endQuery(sub, target, error, true),
    );
  };
  const cache = new Map<PropertyKey, unknown>();
  const view: Promise<unknown> = new Proxy(query, {
    get(object, key) {
      const value = Reflect.get(object, key, object);
      if (typeof value !== "function") return value;
      let fn = cache.get(key);
      if (!fn) {
        const runs = typeof key === "string" && RUNS.has(key);
        fn = function (this: unknown, ...args: unknown[]) {
          if (key === "cursor" && !args.some((a) => typeof a === "function")) {
            // The iterator form: the query's promise never settles, so the
            // subsegment follows the iterator.
            return tracedCursor(
              Reflect.apply(value, object, args) as AsyncIterable<unknown>,
              open,
              target,
            );
          }
          if (runs) start();
          const result = Reflect.apply(
            value,
            this === view || this === undefined ? object : this,
            args,
          );
          return result === object ? view : result;
        };
        if (!runs && !(typeof key === "string" && CHAINS.has(key))) {
          fn = value.bind(object);
        }
        cache.set(key, fn);
      }
      return fn;
    },
  });
  return view;
}

function postgresTarget(
  sql: PostgresSqlLike,
  driverVersion: string | undefined,
): SqlTarget {
  const o = (sql.options ?? {}) as Record<string, unknown>;
  const hosts = Array.isArray(o.host) ? o.host : [o.host ?? "localhost"];
  const ports = Array.isArray(o.port) ? o.port : [o.port ?? 5432];
  const host = String(hosts[0] ?? "localhost");
  const database = typeof o.database === "string" ? o.database : "postgres";
  const authority = hosts.map((h, i) => {
    const name = String(h);
    return `${name.includes(":") ? `[${name}]` : name}:${
      ports[i] ?? ports[0] ?? 5432
    }`;
  }).join(",");
  const out: SqlTarget["sql"] = {
    url: `postgresql://${authority}/${database}`,
    databaseType: "PostgreSQL",
    driverVersion: driverVersion ?? "postgres.js",
  };
  if (typeof o.user === "string") out.user = o.user;
  return {
    name: `${database}@${host}`,
    sql: out,
    dialect: "postgres",
    version: {
      asked: true,
      // Sent by the server at connection start: no round trip.
      read: () => {
        const version = (sql as { parameters?: { server_version?: unknown } })
          .parameters?.server_version;
        return typeof version === "string"
          ? `PostgreSQL ${version}`
          : undefined;
      },
    },
  };
}

// deno-lint-ignore no-explicit-any
type AnyFunction = (...args: any[]) => any;

function wrapSql<S extends AnyFunction>(
  sql: S,
  options: Resolved,
  target: SqlTarget,
): S {
  const api = sql as unknown as Record<string, AnyFunction>;
  const scope = (fn: unknown) =>
    typeof fn === "function"
      ? (inner: AnyFunction, ...rest: unknown[]) =>
        fn(wrapSql(inner, options, target), ...rest)
      : fn;
  const methods: Record<string, AnyFunction> = {
    unsafe(text: unknown, ...rest: unknown[]) {
      const query = api.unsafe(text, ...rest);
      const args = Array.isArray(rest[0]) ? rest[0] : [];
      return isQuery(query)
        ? wrapQuery(
          query,
          {
            text: typeof text === "string" ? text : undefined,
            preparation: args.length ? "call" : "statement",
          },
          options,
          target,
        )
        : query;
    },
    file(...args: unknown[]) {
      const query = api.file(...args);
      return isQuery(query)
        ? wrapQuery(query, { preparation: "statement" }, options, target)
        : query;
    },
    begin(...args: unknown[]) {
      const at = typeof args[0] === "function" ? 0 : 1;
      const copy = args.slice();
      copy[at] = scope(args[at]);
      return api.begin(...copy);
    },
    savepoint(...args: unknown[]) {
      const at = typeof args[0] === "function" ? 0 : 1;
      const copy = args.slice();
      copy[at] = scope(args[at]);
      return api.savepoint(...copy);
    },
    reserve(...args: unknown[]) {
      return (api.reserve(...args) as Promise<AnyFunction>).then((reserved) =>
        wrapSql(reserved, options, target)
      );
    },
  };
  const bound = new Map<PropertyKey, unknown>();
  return new Proxy(sql, {
    apply(fn, self, args) {
      const result = Reflect.apply(fn, self, args);
      const strings = args[0] as { raw?: unknown } | undefined;
      return isQuery(result) && Array.isArray(strings?.raw)
        ? wrapQuery(
          result,
          templateInfo(args[0] as string[], args.slice(1)),
          options,
          target,
        )
        : result;
    },
    get(fn, key) {
      const value = Reflect.get(fn, key, fn);
      if (
        typeof key === "string" && Object.hasOwn(methods, key) &&
        typeof value === "function"
      ) return methods[key];
      if (typeof value !== "function") return value;
      let wrapper = bound.get(key);
      if (!wrapper) {
        wrapper = value.bind(fn);
        bound.set(key, wrapper);
      }
      return wrapper;
    },
  });
}

/**
 * Traces a postgres.js `sql` function: tagged-template queries,
 * `sql.unsafe`, `sql.file`, queries inside `sql.begin` (and savepoints) and
 * on `api.reserve()` connections each record one `remote` subsegment named
 * `<database>@<host>` when they run (`await`, `.execute()`, `.cursor()`,
 * `.forEach()`, `.stream()`), ended when the query settles; fragments that
 * only nest into other queries record nothing. The server version comes
 * from the connection's startup parameters (no round trip). The given
 * `sql` keeps working untraced.
 *
 * @param sql A postgres.js `sql` function.
 * @param options The parent and what to record.
 * @returns The traced `sql` function.
 * @throws {TypeError} When `sql` is not a function or an option is invalid.
 *
 * @example Trace postgres.js
 * ```ts ignore
 * import postgres from "postgres";
 * import { tracePostgres } from "xray-edge/sql";
 *
 * const sql = tracePostgres(postgres(process.env.DATABASE_URL!), { parent: tracer });
 * const orders = await sql`SELECT * FROM orders WHERE id = ${42}`;
 * ```
 */
export function tracePostgres<S extends PostgresSqlLike>(
  sql: S,
  options: PostgresTraceOptions = {},
): S {
  if (typeof sql !== "function") {
    throw new TypeError(
      "Cannot trace postgres.js as 'sql' must be the function postgres() returns",
    );
  }
  const resolved = checkOptions(options, "postgres.js");
  return wrapSql(
    sql as unknown as AnyFunction,
    resolved,
    postgresTarget(sql, options.driverVersion),
  ) as unknown as S;
}
