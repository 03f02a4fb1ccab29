// The synchronous SQLite drivers: node:sqlite (Node ≥ 22, Deno), bun:sqlite
// and better-sqlite3. Every call stays synchronous.
import {
  applyOrEnd,
  checkDriver,
  checkOptions,
  checkString,
  endQuery,
  parentOf,
  proxyWith,
  type QueryInfo,
  type Resolved,
  type SqlTarget,
  type SqlTraceOptions,
  startQuery,
} from "./_query.ts";

/**
 * The parts of a synchronous SQLite database (`DatabaseSync` from
 * node:sqlite, `Database` from bun:sqlite or better-sqlite3) that
 * {@linkcode traceSqlite} uses: `prepare`, and `exec` / `run` / `query`
 * where the driver has them.
 */
export interface SqliteDatabaseLike {
  /** Compiles a statement. */
  // deno-lint-ignore no-explicit-any
  prepare(sql: string, ...rest: any[]): any;
}

/** Options for {@linkcode traceSqlite}. */
export interface SqliteTraceOptions extends SqlTraceOptions {
  /**
   * The database file, when the driver does not tell it (node:sqlite before
   * `location()`): names the subsegment (its last path part) and is the
   * `sql.url`. @default the driver's file name, else `:memory:`
   */
  filename?: string;
}

// Statement methods that run the query, and those that return the statement.
const RUNS = ["run", "all", "get", "values", "iterate"];
const CHAINS = [
  "pluck",
  "expand",
  "raw",
  "safeIntegers",
  "bind",
  "as",
  "columns",
];

interface DatabaseInternals {
  name?: unknown;
  filename?: unknown;
  memory?: unknown;
  location?: unknown;
  open?: unknown;
  inTransaction?: unknown;
  exec?: unknown;
  run?: unknown;
  query?: unknown;
  [key: string]: unknown;
}

function driverOf(db: DatabaseInternals): string {
  let driver = "sqlite";
  if (typeof db.memory === "boolean" && typeof db.name === "string") {
    driver = "better-sqlite3";
  } else if (typeof db.filename === "string") driver = "bun:sqlite";
  else if (typeof db.location === "function" || "isOpen" in db) {
    driver = "node:sqlite";
  }
  const agent = (globalThis as { navigator?: { userAgent?: unknown } })
    .navigator?.userAgent;
  return typeof agent === "string" && agent ? `${driver} (${agent})` : driver;
}

function fileOf(db: DatabaseInternals, given: string | undefined): string {
  if (given) return given;
  let file: unknown;
  try {
    file = typeof db.location === "function"
      ? (db.location as () => unknown).call(db)
      : typeof db.filename === "string"
      ? db.filename
      : db.name;
  } catch {
    // Closed, or not supported.
  }
  return typeof file === "string" && file ? file : ":memory:";
}

/** The last part of a path or `file:` URL (without its query). */
export function baseName(file: string): string {
  const path = file.replace(/[?#].*$/, "");
  const parts = path.split(/[\\/]/).filter(Boolean);
  const last = parts.at(-1) ?? path;
  return last.replace(/^file:/, "") || file;
}

const targets = new WeakMap<object, SqlTarget>();

function sqliteTarget(
  db: DatabaseInternals,
  filename: string | undefined,
): SqlTarget {
  let target = targets.get(db);
  if (target) return target;
  const file = fileOf(db, filename);
  target = {
    name: baseName(file),
    sql: { url: file, databaseType: "SQLite", driverVersion: driverOf(db) },
    dialect: "sqlite",
    version: { asked: false },
  };
  targets.set(db, target);
  return target;
}

/**
 * Runs a synchronous driver call inside a subsegment, without making it
 * async. The subsegment of an `iterate()` call (`iterates`) lasts until the
 * iterator is done.
 */
function runSync(
  original: (...args: unknown[]) => unknown,
  self: object,
  options: Resolved,
  target: SqlTarget,
  args: unknown[],
  query: QueryInfo,
  ask: () => void,
  iterates = false,
): unknown {
  const parent = parentOf(options);
  if (!parent) return Reflect.apply(original, self, args);
  ask();
  const sub = startQuery(parent, options, target, query);
  const result = applyOrEnd(sub, target, original, self, args);
  if (!iterates) {
    endQuery(sub, target);
    return result;
  }
  const iterator = result as Iterator<unknown>;
  let open = true;
  const finish = (error?: unknown, failed = false): void => {
    if (!open) return;
    open = false;
    endQuery(sub, target, error, failed);
  };
  const traced: IterableIterator<unknown> = {
    next(...more: [] | [unknown]): IteratorResult<unknown> {
      try {
        const step = iterator.next(...more);
        if (step.done) finish();
        return step;
      } catch (error) {
        finish(error, true);
        throw error;
      }
    },
    return(value?: unknown): IteratorResult<unknown> {
      finish();
      return iterator.return
        ? iterator.return(value)
        : { done: true, value: undefined };
    },
    [Symbol.iterator]() {
      return traced;
    },
  };
  return traced;
}

function wrapStatement(
  statement: object,
  sql: string | undefined,
  options: Resolved,
  target: SqlTarget,
  ask: () => void,
): object {
  const s = statement as Record<string, unknown>;
  const methods: Record<string, (...args: never[]) => unknown> = {};
  const query: QueryInfo = { text: sql, preparation: "call" };
  for (const name of RUNS) {
    const fn = s[name];
    if (typeof fn !== "function") continue;
    const original = fn as (...args: unknown[]) => unknown;
    const iterates = name === "iterate";
    methods[name] = (...args: unknown[]) =>
      runSync(original, statement, options, target, args, query, ask, iterates);
  }
  for (const name of CHAINS) {
    const fn = s[name];
    if (typeof fn !== "function") continue;
    methods[name] = (...args: unknown[]) => {
      const result = (fn as (...a: unknown[]) => unknown).apply(
        statement,
        args,
      );
      return result === statement ? view : result;
    };
  }
  const view = proxyWith(statement, methods);
  return view;
}

/**
 * Traces a synchronous SQLite database: node:sqlite's `DatabaseSync`
 * (Node ≥ 22, Deno), bun:sqlite's `Database` or better-sqlite3's
 * `Database`. Returns a view whose `exec` (and bun:sqlite's `run`) record
 * one subsegment per call, and whose `prepare` (and bun:sqlite's `query`)
 * return statements whose `run` / `all` / `get` / `values` / `iterate`
 * each record one (`preparation: "call"`; `iterate` until the iterator is
 * done). Every call stays synchronous. Subsegments are named by the file
 * name (`:memory:` for memory databases), with `database_type` `SQLite`,
 * the SQLite version (asked once per database) and the driver. The given
 * database keeps working untraced.
 *
 * @param db A synchronous SQLite database.
 * @param options The parent, what to record, the file name.
 * @returns The traced view of `db`.
 * @throws {TypeError} When `db` has no `prepare` or an option is invalid.
 *
 * @example Trace node:sqlite
 * ```ts
 * import assert from "node:assert/strict";
 * import { DatabaseSync } from "node:sqlite";
 * import { createTracer } from "../../mod.ts";
 * import { memorySender } from "../testing.ts";
 * import { traceSqlite } from "./mod.ts";
 *
 * const sender = memorySender();
 * const tracer = createTracer({ serviceName: "app", sender });
 * const segment = tracer.startSegment("app", { sampled: true });
 * const db = traceSqlite(new DatabaseSync(":memory:"), { parent: segment });
 * db.exec("CREATE TABLE t (n INTEGER)");
 * db.prepare("INSERT INTO t VALUES (?)").run(1);
 * segment.end();
 * await tracer.flush();
 * const subs = sender.documents[0].subsegments;
 * assert.equal(subs.length, 2);
 * assert.equal(subs[0].name, ":memory:");
 * assert.equal(subs[1].sql.preparation, "call");
 * ```
 */
export function traceSqlite<D extends SqliteDatabaseLike>(
  db: D,
  options: SqliteTraceOptions = {},
): D {
  checkDriver(
    db,
    ["prepare"],
    "SQLite database",
    "node:sqlite, bun:sqlite or better-sqlite3",
  );
  const { filename } = options;
  checkString(filename, "filename", "SQLite database");
  const resolved = checkOptions(options, "SQLite database");
  const internals = db as D & DatabaseInternals;
  const target = sqliteTarget(internals, filename);
  const prepare = db.prepare;
  const cache = target.version!;
  const ask = (): void => {
    if (cache.asked) return;
    cache.asked = true;
    try {
      const row = prepare.call(db, "SELECT sqlite_version() AS v").get() as
        | { v?: unknown }
        | undefined;
      if (typeof row?.v === "string") cache.value = row.v;
    } catch {
      // No version then.
    }
  };
  const methods: Record<string, (...args: never[]) => unknown> = {};
  const statementFactory = (fn: unknown) => (...args: unknown[]): unknown => {
    const statement = (fn as (...a: unknown[]) => unknown).apply(db, args);
    return statement && typeof statement === "object"
      ? wrapStatement(
        statement,
        typeof args[0] === "string" ? args[0] : undefined,
        resolved,
        target,
        ask,
      )
      : statement;
  };
  methods.prepare = statementFactory(prepare);
  // bun:sqlite's cached `query(sql)` returns a statement too.
  if (
    typeof internals.query === "function" &&
    typeof internals.filename === "string"
  ) {
    methods.query = statementFactory(internals.query);
  }
  for (const name of ["exec", "run"]) {
    const fn = internals[name];
    if (typeof fn !== "function") continue;
    methods[name] = (...args: unknown[]) => {
      const result = runSync(
        fn as (...a: unknown[]) => unknown,
        db,
        resolved,
        target,
        args,
        {
          text: typeof args[0] === "string" ? args[0] : undefined,
          preparation: args.length > 1 ? "call" : "statement",
        },
        ask,
      );
      // better-sqlite3's exec() returns the database, for chaining.
      return result === db ? view : result;
    };
  }
  const view = proxyWith(db, methods);
  return view;
}
