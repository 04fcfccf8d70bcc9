import type { Kysely } from 'kysely';

import type { Database } from '../database.js';

/**
 * Reads the store's key/value metadata (schema version, dialect, settings). Keys are set
 * with `metadata.set` row writes.
 *
 * @example
 * ```ts
 * const version = await new MetadataRepository(storage.db).get('schema_version');
 * ```
 */
export class MetadataRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** The value of `key`, or undefined. */
  async get(key: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('metadata')
      .select('value')
      .where('key', '=', key)
      .executeTakeFirst();
    return row?.value;
  }

  /** Every key and value. */
  async all(): Promise<Record<string, string>> {
    const rows = await this.db.selectFrom('metadata').selectAll().orderBy('key').execute();
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }
}
