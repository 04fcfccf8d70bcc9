/**
 * The slice of better-sqlite3 this package uses, declared structurally (as Kysely does),
 * so better-sqlite3 stays a peer dependency and its types never leak into ours.
 */
import BetterSqlite3 from 'better-sqlite3';

/** What `run` reports. */
export interface SqliteRunResult {
  readonly changes: number;
  readonly lastInsertRowid: number | bigint;
}

/** A prepared statement. */
export interface SqliteStatement {
  /** Whether the statement returns rows. */
  readonly reader: boolean;
  run(...params: readonly unknown[]): SqliteRunResult;
  get(...params: readonly unknown[]): unknown;
  all(...params: readonly unknown[]): unknown[];
  iterate(...params: readonly unknown[]): IterableIterator<unknown>;
  /** Return only the first column's value. */
  pluck(toggle?: boolean): this;
  /** Return rows as arrays instead of objects. */
  raw(toggle?: boolean): this;
}

/** A database connection. */
export interface SqliteConnection {
  readonly open: boolean;
  readonly inTransaction: boolean;
  readonly readonly: boolean;
  readonly name: string;
  prepare(sql: string): SqliteStatement;
  exec(sql: string): this;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): this;
}

/** Options of {@link openConnection}. */
export interface OpenConnectionOptions {
  readonly readonly?: boolean;
  readonly fileMustExist?: boolean;
  /** better-sqlite3's busy timeout in ms (sets `busy_timeout`). */
  readonly timeout?: number;
}

type Constructor = new (path: string, options?: OpenConnectionOptions) => SqliteConnection;

/** Opens a better-sqlite3 connection. */
export function openConnection(
  path: string,
  options: OpenConnectionOptions = {},
): SqliteConnection {
  const Database = BetterSqlite3 as unknown as Constructor;
  return new Database(path, options);
}

/** The SQLite library version better-sqlite3 was built with, e.g. `3.53.2`. */
export function sqliteLibraryVersion(): string {
  const memory = openConnection(':memory:');
  try {
    return memory.prepare('select sqlite_version()').pluck().get() as string;
  } finally {
    memory.close();
  }
}
