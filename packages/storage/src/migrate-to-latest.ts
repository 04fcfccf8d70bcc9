import { Migrator } from 'kysely';
import type { Kysely } from 'kysely';

import type { Database } from './database.js';
import { StorageError, isStorageError } from './errors.js';
import type { StorageErrorCode } from './errors.js';
import { createMigrations } from './migrations.js';
import type { SchemaDialect } from './schema-dialect.js';
import {
  SCHEMA_VERSION,
  SCHEMA_VERSION_KEY,
  assertSchemaVersionSupported,
  parseSchemaVersion,
} from './schema-version.js';

/** Kysely's bookkeeping tables (default names). */
const MIGRATION_TABLE = 'kysely_migration';

/** Options of {@link migrateToLatest}. */
export interface MigrateOptions {
  /** Name of the database in error messages, e.g. its path. */
  readonly database?: string;
  /** The dialect's mapping from driver errors to codes (default: everything is `io`). */
  readonly classify?: (error: unknown) => StorageErrorCode | undefined;
}

/** What {@link migrateToLatest} did. */
export interface MigrationReport {
  /** Schema version of the database afterwards. */
  readonly schemaVersion: number;
  /** Schema version before (0 for a new database). */
  readonly previousVersion: number;
  /** Names of the migrations applied now (empty when the schema was current). */
  readonly applied: readonly string[];
}

/**
 * Reads the schema version recorded in `metadata`; 0 when the database has no schema yet.
 */
export async function readSchemaVersion(db: Kysely<Database>): Promise<number> {
  const tables = await db.introspection.getTables();
  if (!tables.some((t) => t.name === 'metadata')) return 0;
  const row = await db
    .selectFrom('metadata')
    .select('value')
    .where('key', '=', SCHEMA_VERSION_KEY)
    .executeTakeFirst();
  return row === undefined ? 0 : parseSchemaVersion(row.value);
}

async function appliedMigrationNames(db: Kysely<Database>): Promise<readonly string[]> {
  const tables = await db.introspection.getTables({ withInternalKyselyTables: true });
  if (!tables.some((t) => t.name === MIGRATION_TABLE)) return [];
  const untyped = db as unknown as Kysely<Record<typeof MIGRATION_TABLE, { name: string }>>;
  const rows = await untyped.selectFrom(MIGRATION_TABLE).select('name').execute();
  return rows.map((r) => r.name);
}

/**
 * Brings the schema to {@link SCHEMA_VERSION} with Kysely's `Migrator`. Running it on a
 * current database is a no-op. A database written by a newer schema (a higher
 * `schema_version`, or migrations this code does not know) is refused with a `version`
 * error before anything is touched.
 *
 * @example
 * ```ts
 * const report = await migrateToLatest(db, sqliteSchemaDialect, { database: path });
 * console.log(report.schemaVersion, report.applied);
 * ```
 */
export async function migrateToLatest(
  db: Kysely<Database>,
  dialect: SchemaDialect,
  options: MigrateOptions = {},
): Promise<MigrationReport> {
  const database = options.database ?? 'the database';
  const migrations = createMigrations(dialect);
  const wrap = (error: unknown, context: string): StorageError => {
    if (isStorageError(error)) return error;
    const code = options.classify?.(error) ?? 'io';
    const message = error instanceof Error ? error.message : String(error);
    return new StorageError(code, `${context} ${database}: ${message}`, { cause: error });
  };

  let previousVersion: number;
  try {
    previousVersion = await readSchemaVersion(db);
    assertSchemaVersionSupported(previousVersion, SCHEMA_VERSION, database);
    const unknown = (await appliedMigrationNames(db)).filter((name) => !(name in migrations));
    if (unknown.length > 0) {
      throw new StorageError(
        'version',
        `${database} has migrations this code does not know (${unknown.join(', ')}); ` +
          `this code knows schema versions up to ${SCHEMA_VERSION}. ` +
          'Upgrade WIRTHFORGE State to open it (it was written by a newer release).',
      );
    }
  } catch (error) {
    throw wrap(error, 'cannot read the schema version of');
  }

  const migrator = new Migrator({
    db,
    provider: { getMigrations: () => Promise.resolve(migrations) },
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName;
    throw wrap(error, `migration ${failed ?? '(setup)'} failed on`);
  }
  const applied = (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
  const schemaVersion = await readSchemaVersion(db);
  return { schemaVersion, previousVersion, applied };
}
