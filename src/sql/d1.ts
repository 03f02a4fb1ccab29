// The Cloudflare D1 binding: prepare / bind / first / run / all / raw,
// batch, exec, and sessions.
import {
  checkDriver,
  checkOptions,
  checkString,
  proxyWith,
  type QueryInfo,
  type Resolved,
  runQuery,
  type SqlTarget,
  type SqlTraceOptions,
} from "./_query.ts";

/** The parts of a D1 binding (`env.DB`) that {@linkcode traceD1} uses. */
export interface D1DatabaseLike {
  /** Prepares a statement. */
  // deno-lint-ignore no-explicit-any
  prepare(query: string): any;
  /** Runs prepared statements in one transaction. */
  // deno-lint-ignore no-explicit-any
  batch(statements: any[]): Promise<any>;
  /** Runs raw SQL text (one or more statements). */
  // deno-lint-ignore no-explicit-any
  exec?(query: string): Promise<any>;
}

/** Options for {@linkcode traceD1}. */
export interface D1TraceOptions extends SqlTraceOptions {
  /**
   * The binding's name in the Worker's configuration (`DB`): the binding
   * does not tell it. Names the subsegment and the `d1://` URL. @default "D1"
   */
  binding?: string;
}

const RUNS = ["first", "run", "all", "raw"];

/** Wrapped statement → the binding's own statement (for `batch`). */
const originals = new WeakMap<object, object>();
/** Wrapped statement → its SQL text and whether values were bound. */
const texts = new WeakMap<object, QueryInfo>();

function wrapStatement(
  statement: object,
  info: QueryInfo,
  options: Resolved,
  target: SqlTarget,
): object {
  const s = statement as Record<string, unknown>;
  const methods: Record<string, (...args: never[]) => unknown> = {};
  for (const name of RUNS) {
    const fn = s[name];
    if (typeof fn !== "function") continue;
    methods[name] = (...args: unknown[]) => {
      return runQuery(
        options,
        target,
        info,
        () => (fn as (...a: unknown[]) => unknown).apply(statement, args),
      );
    };
  }
  const bind = s.bind;
  if (typeof bind === "function") {
    methods.bind = (...args: unknown[]) => {
      const bound = bind.apply(statement, args);
      return bound && typeof bound === "object"
        ? wrapStatement(
          bound,
          { text: info.text, preparation: "call" },
          options,
          target,
        )
        : bound;
    };
  }
  const view = proxyWith(statement, methods);
  originals.set(view, statement);
  texts.set(view, info);
  return view;
}

function wrapDatabase<D extends object>(
  db: D,
  options: Resolved,
  target: SqlTarget,
): D {
  const d = db as Record<string, unknown>;
  const methods: Record<string, (...args: never[]) => unknown> = {};
  const prepare = d.prepare as (query: string) => object;
  methods.prepare = (query: string) => {
    const statement = prepare.call(db, query);
    return statement && typeof statement === "object"
      ? wrapStatement(
        statement,
        { text: query, preparation: "statement" },
        options,
        target,
      )
      : statement;
  };
  const batch = d.batch;
  if (typeof batch === "function") {
    methods.batch = (statements: unknown[], ...rest: unknown[]) => {
      const list = Array.isArray(statements)
        ? statements.map((s) => originals.get(s as object) ?? s)
        : statements;
      return runQuery(
        options,
        target,
        () => {
          const parts = Array.isArray(statements)
            ? statements.map((s) => texts.get(s as object)?.text)
              .filter((t): t is string => typeof t === "string")
            : [];
          return { text: parts.join(";\n"), preparation: "call" };
        },
        () => batch.call(db, list, ...rest),
      );
    };
  }
  const exec = d.exec;
  if (typeof exec === "function") {
    methods.exec = (query: string) => {
      return runQuery(
        options,
        target,
        { text: query, preparation: "statement" },
        () => exec.call(db, query),
      );
    };
  }
  const withSession = d.withSession;
  if (typeof withSession === "function") {
    methods.withSession = (...args: unknown[]) => {
      const session = withSession.apply(db, args);
      return session && typeof session === "object"
        ? wrapDatabase(session as object, options, target)
        : session;
    };
  }
  return proxyWith(db, methods);
}

/**
 * Traces a Cloudflare D1 binding: statements from `prepare()` (and from
 * `bind()` on them) record one `remote` subsegment per `first` / `run` /
 * `all` / `raw`, `batch()` records one for the whole batch, and `exec()`
 * one; sessions from `withSession()` are traced the same way. Subsegments
 * are named by the binding (`sql.url` `d1://<binding>`, `database_type`
 * `Cloudflare D1`; no `database_version`, as D1 refuses `sqlite_version()`). The binding itself keeps
 * working untraced. Wrap it per request (it is cheap), with the request's
 * segment as parent.
 *
 * @param db The D1 binding (`env.DB`).
 * @param options The parent, what to record, the binding's name.
 * @returns The traced view of `db`.
 * @throws {TypeError} When `db` has no `prepare` / `batch` or an option is invalid.
 *
 * @example Trace D1 in a Worker
 * ```ts ignore
 * import { traceD1 } from "xray-edge/sql";
 *
 * const db = traceD1(env.DB, { parent: segment, binding: "DB" });
 * const order = await db.prepare("SELECT * FROM orders WHERE id = ?").bind(42).first();
 * ```
 */
export function traceD1<D extends D1DatabaseLike>(
  db: D,
  options: D1TraceOptions = {},
): D {
  checkDriver(db, ["prepare", "batch"], "D1 database", "a D1 binding");
  const { binding = "D1" } = options;
  checkString(binding, "binding", "D1 database", true);
  const resolved = checkOptions(options, "D1 database");
  const target: SqlTarget = {
    name: binding,
    sql: {
      url: `d1://${binding}`,
      databaseType: "Cloudflare D1",
      driverVersion: "D1 binding",
    },
    dialect: "sqlite",
  };
  return wrapDatabase(db, resolved, target);
}
