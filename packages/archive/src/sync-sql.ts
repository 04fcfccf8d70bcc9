/**
 * Kysely builds and types every query of the archive; better-sqlite3 runs them
 * synchronously (the order of commits is what makes a move crash-safe, and reads happen
 * inside a storage's synchronous read transaction).
 */
import type { SqliteConnection } from '@wirthforge/storage-sqlite';
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { Compilable, InferResult } from 'kysely';

/** A Kysely instance that only compiles queries of `DB`. */
export function compiler<DB>(): Kysely<DB> {
  return new Kysely<DB>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}

function bindable(parameters: readonly unknown[]): unknown[] {
  return parameters.map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
}

/** Runs a query, returning its rows. */
export function all<Q extends Compilable<unknown>>(
  connection: SqliteConnection,
  query: Q,
): InferResult<Q> {
  const { sql, parameters } = query.compile();
  const statement = connection.prepare(sql);
  if (!statement.reader) {
    statement.run(...bindable(parameters));
    return [] as unknown as InferResult<Q>;
  }
  return statement.all(...bindable(parameters)) as InferResult<Q>;
}

/** Runs a query, returning its first row. */
export function first<Q extends Compilable<unknown>>(
  connection: SqliteConnection,
  query: Q,
): InferResult<Q>[number] | undefined {
  const { sql, parameters } = query.compile();
  return connection.prepare(sql).get(...bindable(parameters)) as InferResult<Q>[number] | undefined;
}

/** Runs a statement, returning the number of rows it changed and the last row id. */
export function run(
  connection: SqliteConnection,
  query: Compilable<unknown>,
): { changes: number; lastInsertRowid: number } {
  const { sql, parameters } = query.compile();
  const result = connection.prepare(sql).run(...bindable(parameters));
  return { changes: result.changes, lastInsertRowid: Number(result.lastInsertRowid) };
}

/** Runs `work` in one `BEGIN IMMEDIATE … COMMIT` transaction; rolls back when it throws. */
export function transaction<T>(connection: SqliteConnection, work: () => T): T {
  connection.exec('BEGIN IMMEDIATE');
  try {
    const result = work();
    connection.exec('COMMIT');
    return result;
  } catch (error) {
    if (connection.inTransaction) connection.exec('ROLLBACK');
    throw error;
  }
}
