import type { Database } from '@wirthforge/storage';
import {
  DummyDriver,
  Kysely,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely';
import type { CompiledQuery } from 'kysely';

/**
 * A Kysely instance that only compiles (its driver never connects): queries are built
 * with the typed `Database` and compiled to SQLite SQL once, then prepared and run
 * natively by better-sqlite3.
 */
export function createSqliteCompiler(): Kysely<Database> {
  return new Kysely<Database>({
    dialect: {
      createAdapter: () => new SqliteAdapter(),
      createDriver: () => new DummyDriver(),
      createIntrospector: (db) => new SqliteIntrospector(db),
      createQueryCompiler: () => new SqliteQueryCompiler(),
    },
  });
}

/**
 * Checks that a query compiled from placeholder values binds its parameters in the
 * expected order, so hot statements can be run with positional arguments. Throws at
 * start-up (never silently mis-binds) if a Kysely upgrade changes the order.
 */
export function assertParameterOrder(
  compiled: CompiledQuery,
  expected: readonly unknown[],
  name: string,
): string {
  const actual = compiled.parameters;
  const same =
    actual.length === expected.length && actual.every((value, i) => Object.is(value, expected[i]));
  if (!same) {
    throw new Error(
      `${name}: compiled parameters ${JSON.stringify(actual)} do not match ${JSON.stringify(expected)}`,
    );
  }
  return compiled.sql;
}

/** Turns Kysely parameters into values better-sqlite3 binds (booleans as 0/1). */
export function bindable(parameters: readonly unknown[]): unknown[] {
  return parameters.map((value) => (typeof value === 'boolean' ? (value ? 1 : 0) : value));
}
