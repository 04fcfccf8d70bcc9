import type { SchemaDialect } from '@wirthforge/storage';
import { sql } from 'kysely';

/**
 * SQLite's part of the shared migrations: `integer` for 64-bit columns (so that
 * `events.position integer primary key` is the row key itself, not an extra index),
 * `blob`, `autoincrement` ids that are never reused, and `strftime` for the readable views.
 */
export const sqliteSchemaDialect: SchemaDialect = {
  name: 'sqlite',
  int64: 'integer',
  blob: 'blob',
  identity: (col) => col.primaryKey().autoIncrement(),
  isoTimestamp: (column) =>
    sql<string | null>`strftime('%Y-%m-%dT%H:%M:%fZ', ${sql.ref(column)} / 1000000.0, 'unixepoch')`,
};
