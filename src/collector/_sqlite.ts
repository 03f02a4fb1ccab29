// The one runtime-specific part of the collector's storage: an embedded
// SQLite database from `bun:sqlite` on Bun and `node:sqlite` on Deno and
// Node >= 22.13 (unflagged there). Both expose the same synchronous prepare/run/get/all shape with
// positional parameters, which is all the store uses.

/** A prepared statement (positional `?` parameters). */
export interface SqlStatement {
  run(...params: SqlValue[]): unknown;
  get(...params: SqlValue[]): Record<string, unknown> | undefined;
  all(...params: SqlValue[]): Record<string, unknown>[];
}

/** A value bound to a statement. */
export type SqlValue = string | number | null;

/** An open database. */
export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  close(): void;
}

interface NativeStatement {
  run(...params: unknown[]): unknown;
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}

interface NativeDatabase {
  exec(sql: string): unknown;
  prepare(sql: string): NativeStatement;
  close(): unknown;
}

/**
 * Opens (creating when missing) a SQLite database at `path` (`:memory:` for
 * one that lives in memory only).
 * @throws {Error} When the runtime has no embedded SQLite (Node < 22).
 */
export async function openSqlite(path: string): Promise<SqlDatabase> {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  let native: NativeDatabase;
  if (g.Bun !== undefined) {
    // A variable specifier: Deno and TypeScript cannot resolve `bun:` URLs.
    const specifier = "bun:sqlite";
    const mod = await import(specifier);
    native = new mod.Database(path, { create: true, strict: true });
  } else {
    let mod;
    try {
      mod = await import("node:sqlite");
    } catch (e) {
      throw new Error(
        `Cannot open the collector's store as this runtime has no node:sqlite (Deno 2.2+, Node 22.13+ or Bun are needed): ${
          e instanceof Error ? e.message : String(e)
        }`,
      );
    }
    native = new mod.DatabaseSync(path);
  }
  return {
    exec: (sql) => void native.exec(sql),
    close: () => void native.close(),
    prepare(sql: string): SqlStatement {
      const statement = native.prepare(sql);
      return {
        run: (...params) => statement.run(...params),
        get: (...params) =>
          (statement.get(...params) ?? undefined) as
            | Record<string, unknown>
            | undefined,
        all: (...params) =>
          statement.all(...params) as Record<string, unknown>[],
      };
    },
  };
}
