/**
 * The schema, as Kysely migrations written with the portable schema builder. Each
 * migration records the schema version it produces in `metadata`, in the same
 * transaction as its DDL.
 */
import { sql } from 'kysely';
import type { Kysely, Migration } from 'kysely';

import type { Database } from './database.js';
import { EVENT_CHECKSUM_ALGORITHM } from './event-checksum.js';
import type { SchemaDialect } from './schema-dialect.js';
import { SCHEMA_VERSION_KEY } from './schema-version.js';

/** Name of the first migration. */
export const INITIAL_MIGRATION = '0001_initial';

/** Name of the migration that adds `sealed_event_ids` (schema version 2). */
export const SEALED_EVENT_IDS_MIGRATION = '0002_sealed_event_ids';

async function setMetadata(db: Kysely<Database>, key: string, value: string): Promise<void> {
  await db
    .insertInto('metadata')
    .values({ key, value })
    .onConflict((oc) => oc.column('key').doUpdateSet({ value }))
    .execute();
}

function initialMigration(dialect: SchemaDialect): Migration {
  const { int64, blob } = dialect;
  return {
    async up(schemaDb: Kysely<unknown>): Promise<void> {
      const db = schemaDb as unknown as Kysely<Database>;
      const schema = db.schema;

      await schema
        .createTable('metadata')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await schema
        .createTable('streams')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('kind', 'text', (c) =>
          c.notNull().check(sql`kind in ('session', 'user', 'system')`),
        )
        .addColumn('version', int64, (c) => c.notNull())
        .addColumn('created_us', int64, (c) => c.notNull())
        .execute();

      await schema
        .createTable('event_types')
        .addColumn('id', 'integer', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .execute();

      // The hot table. Every index here costs bytes on every event: only the primary key
      // (the row key itself in SQLite), (stream_id, version) for concurrency and stream
      // reads, and event_id for idempotency, partial so events without an id pay nothing.
      await schema
        .createTable('events')
        .addColumn('position', int64, (c) => c.primaryKey())
        .addColumn('stream_id', 'integer', (c) => c.notNull().references('streams.id'))
        .addColumn('version', int64, (c) => c.notNull())
        .addColumn('type_id', 'integer', (c) => c.notNull().references('event_types.id'))
        .addColumn('schema_version', 'integer', (c) => c.notNull())
        .addColumn('timestamp_us', int64, (c) => c.notNull())
        .addColumn('frame_id', int64)
        .addColumn('event_id', 'text')
        .addColumn('payload', blob, (c) => c.notNull())
        .addColumn('checksum', int64, (c) => c.notNull())
        .execute();
      await schema
        .createIndex('events_stream_version')
        .on('events')
        .columns(['stream_id', 'version'])
        .unique()
        .execute();
      await schema
        .createIndex('events_event_id')
        .on('events')
        .column('event_id')
        .unique()
        .where(sql.ref('event_id'), 'is not', null)
        .execute();

      await schema
        .createTable('sessions')
        .addColumn('session_id', 'text', (c) => c.primaryKey())
        .addColumn('stream_id', 'integer', (c) => c.notNull().references('streams.id'))
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) =>
          c.notNull().check(sql`status in ('active', 'ended', 'recovered')`),
        )
        .addColumn('started_us', int64, (c) => c.notNull())
        .addColumn('ended_us', int64)
        .addColumn('clean_end', 'integer')
        .addColumn('total_events', int64, (c) => c.notNull().defaultTo(0))
        .addColumn('total_energy', 'double precision', (c) => c.notNull().defaultTo(0))
        .addColumn('total_tokens', int64, (c) => c.notNull().defaultTo(0))
        .addColumn('updated_us', int64, (c) => c.notNull())
        .execute();
      await schema.createIndex('sessions_status').on('sessions').column('status').execute();

      await schema
        .createTable('users')
        .addColumn('user_id', 'text', (c) => c.primaryKey())
        .addColumn('level', 'integer', (c) => c.notNull())
        .addColumn('xp', 'double precision', (c) => c.notNull())
        .addColumn('total_energy', 'double precision', (c) => c.notNull())
        .addColumn('sessions_count', 'integer', (c) => c.notNull())
        .addColumn('updated_us', int64, (c) => c.notNull())
        .execute();

      await schema
        .createTable('snapshots')
        .addColumn('id', int64, (c) => dialect.identity(c))
        .addColumn('stream_id', 'integer', (c) => c.notNull().references('streams.id'))
        .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('full', 'incremental')`))
        .addColumn('base_snapshot_id', int64, (c) => c.references('snapshots.id'))
        .addColumn('stream_version', int64, (c) => c.notNull())
        .addColumn('position', int64, (c) => c.notNull())
        .addColumn('schema_version', 'integer', (c) => c.notNull())
        .addColumn('created_us', int64, (c) => c.notNull())
        .addColumn('size_bytes', int64, (c) => c.notNull())
        .addColumn('checksum', int64, (c) => c.notNull())
        .addColumn('data', blob, (c) => c.notNull())
        .execute();
      await schema
        .createIndex('snapshots_stream_position')
        .on('snapshots')
        .columns(['stream_id', 'position'])
        .execute();

      await schema
        .createTable('segments')
        .addColumn('id', int64, (c) => dialect.identity(c))
        .addColumn('stream_id', 'integer', (c) => c.notNull().references('streams.id'))
        .addColumn('first_position', int64, (c) => c.notNull())
        .addColumn('last_position', int64, (c) => c.notNull())
        .addColumn('first_version', int64, (c) => c.notNull())
        .addColumn('last_version', int64, (c) => c.notNull())
        .addColumn('first_us', int64, (c) => c.notNull())
        .addColumn('last_us', int64, (c) => c.notNull())
        .addColumn('event_count', 'integer', (c) => c.notNull())
        .addColumn('codec_version', 'integer', (c) => c.notNull())
        .addColumn('checksum', int64, (c) => c.notNull())
        .addColumn('data', blob, (c) => c.notNull())
        .execute();
      await schema
        .createIndex('segments_stream_version')
        .on('segments')
        .columns(['stream_id', 'first_version'])
        .unique()
        .execute();
      await schema
        .createIndex('segments_position')
        .on('segments')
        .column('first_position')
        .execute();

      await schema
        .createTable('audit')
        .addColumn('id', int64, (c) => dialect.identity(c))
        .addColumn('timestamp_us', int64, (c) => c.notNull())
        .addColumn('actor', 'text', (c) => c.notNull())
        .addColumn('action', 'text', (c) => c.notNull())
        .addColumn('target', 'text')
        .addColumn('details', 'text')
        .execute();

      await schema
        .createTable('rollups')
        .addColumn('session_id', 'text', (c) => c.notNull())
        .addColumn('model_id', 'text', (c) => c.notNull())
        .addColumn('granularity', 'text', (c) => c.notNull())
        .addColumn('bucket_start_us', int64, (c) => c.notNull())
        .addColumn('energy_sum', 'double precision', (c) => c.notNull())
        .addColumn('energy_min', 'double precision', (c) => c.notNull())
        .addColumn('energy_max', 'double precision', (c) => c.notNull())
        .addColumn('event_count', int64, (c) => c.notNull())
        .addColumn('tokens', int64, (c) => c.notNull())
        .addColumn('fps_sum', 'double precision', (c) => c.notNull())
        .addColumn('budget_sum', 'double precision', (c) => c.notNull())
        .addColumn('drops', int64, (c) => c.notNull())
        .addPrimaryKeyConstraint('rollups_pk', [
          'session_id',
          'model_id',
          'granularity',
          'bucket_start_us',
        ])
        .execute();

      await createViews(db, dialect);

      await setMetadata(db, SCHEMA_VERSION_KEY, '1');
      await setMetadata(db, 'dialect', dialect.name);
      await setMetadata(db, 'event_checksum', EVENT_CHECKSUM_ALGORITHM);
    },
  };
}

async function createViews(db: Kysely<Database>, dialect: SchemaDialect): Promise<void> {
  const iso = (column: string) => dialect.isoTimestamp(column);

  await db.schema
    .createView('active_sessions')
    .as(
      db
        .selectFrom('sessions')
        .innerJoin('streams', 'streams.id', 'sessions.stream_id')
        .select([
          'sessions.session_id',
          'sessions.user_id',
          'streams.name as stream',
          iso('sessions.started_us').as('started_at'),
          'sessions.total_events',
          'sessions.total_energy',
          'sessions.total_tokens',
        ])
        .where('sessions.status', '=', 'active'),
    )
    .execute();

  const durationS = sql<
    number | null
  >`(${sql.ref('ended_us')} - ${sql.ref('started_us')}) / 1000000.0`;
  await db.schema
    .createView('session_energy_summary')
    .as(
      db
        .selectFrom('sessions')
        .select([
          'session_id',
          'user_id',
          'status',
          iso('started_us').as('started_at'),
          iso('ended_us').as('ended_at'),
          durationS.as('duration_s'),
          'total_events',
          'total_energy',
          'total_tokens',
          sql<
            number | null
          >`case when ${sql.ref('ended_us')} > ${sql.ref('started_us')} then ${sql.ref('total_energy')} / ${durationS} end`.as(
            'energy_per_second',
          ),
          'clean_end',
        ]),
    )
    .execute();

  await db.schema
    .createView('snapshot_index')
    .as(
      db
        .selectFrom('snapshots')
        .innerJoin('streams', 'streams.id', 'snapshots.stream_id')
        .select([
          'snapshots.id',
          'streams.name as stream',
          'snapshots.kind',
          'snapshots.base_snapshot_id',
          'snapshots.stream_version',
          'snapshots.position',
          iso('snapshots.created_us').as('created_at'),
          'snapshots.size_bytes',
        ]),
    )
    .execute();

  await db.schema
    .createView('audit_log')
    .as(
      db
        .selectFrom('audit')
        .select(['id', iso('timestamp_us').as('at'), 'actor', 'action', 'target', 'details']),
    )
    .execute();
}

/**
 * Every migration, by name, for Kysely's `Migrator` (names sort in application order).
 *
 * @example
 * ```ts
 * const migrator = new Migrator({
 *   db,
 *   provider: { getMigrations: async () => createMigrations(sqliteSchemaDialect) },
 * });
 * ```
 */
export function createMigrations(dialect: SchemaDialect): Record<string, Migration> {
  return {
    [INITIAL_MIGRATION]: initialMigration(dialect),
    [SEALED_EVENT_IDS_MIGRATION]: sealedEventIdsMigration(dialect),
  };
}

/**
 * `sealed_event_ids`: the client event ids of events sealed into segments, so that an
 * idempotent append still finds them once their hot rows are gone.
 */
function sealedEventIdsMigration(dialect: SchemaDialect): Migration {
  return {
    async up(schemaDb: Kysely<unknown>): Promise<void> {
      const db = schemaDb as unknown as Kysely<Database>;
      await db.schema
        .createTable('sealed_event_ids')
        .addColumn('event_id', 'text', (c) => c.primaryKey())
        .addColumn('position', dialect.int64, (c) => c.notNull())
        .addColumn('segment_id', dialect.int64, (c) => c.notNull())
        .execute();
      await db.schema
        .createIndex('sealed_event_ids_segment')
        .on('sealed_event_ids')
        .column('segment_id')
        .execute();
      await setMetadata(db, SCHEMA_VERSION_KEY, '2');
    },
  };
}
