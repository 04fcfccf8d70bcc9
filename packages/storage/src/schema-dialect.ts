/**
 * The few places where portable DDL still differs between databases. The shared
 * migrations are written with Kysely's schema builder and take one of these, so SQLite
 * and PostgreSQL run the same migration code.
 */
import type { ColumnDefinitionBuilder, RawBuilder } from 'kysely';

/**
 * Dialect-specific pieces of the schema.
 *
 * @example
 * ```ts
 * const postgres: SchemaDialect = {
 *   name: 'postgres',
 *   int64: 'bigint',
 *   blob: 'bytea',
 *   identity: (col) => col.generatedByDefaultAsIdentity().primaryKey(),
 *   isoTimestamp: (column) =>
 *     sql`to_char(to_timestamp(${sql.ref(column)} / 1e6) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`,
 * };
 * ```
 */
export interface SchemaDialect {
  /** Short name, recorded in `metadata` as `dialect`. */
  readonly name: string;
  /**
   * Column type of 64-bit integers (positions, versions, microseconds). SQLite must use
   * `integer`, so that `events.position integer primary key` is the table's row key
   * rather than an extra index.
   */
  readonly int64: 'integer' | 'bigint';
  /** Column type of byte strings. */
  readonly blob: 'blob' | 'bytea';
  /** Makes `col` an integer primary key the database numbers by itself. */
  identity(col: ColumnDefinitionBuilder): ColumnDefinitionBuilder;
  /** ISO-8601 UTC text of a column holding integer microseconds (null stays null). */
  isoTimestamp(column: string): RawBuilder<string | null>;
}
