/**
 * The archive's tables in the live database: the catalog of archived segments (read by
 * the storage dialect, see `ArchivedSegmentsTable`), the event ids of archived events
 * with their content digests (read by the writer, see `ArchivedEventIdsTable`) and the
 * move ledger.
 */
import type { ArchivedEventIdsTable, ArchivedSegmentsTable, Database } from '@wirthforge/storage';
import type { SqliteConnection } from '@wirthforge/storage-sqlite';
import type { Generated } from 'kysely';

import { compiler } from './sync-sql.js';

/** What a ledger entry records: an operation between the live database and a partition that has begun. */
export type LedgerAction = 'move' | 'restore' | 'delete';

/**
 * `archive_ledger`: one row per move, restore or partition deletion in progress. Written
 * before the partition is touched and removed once both sides agree, so that after a kill
 * the next run finishes what was started.
 */
export interface ArchiveLedgerTable {
  id: Generated<number>;
  action: LedgerAction;
  partition: string;
  /** The stream moved or restored; null for a whole partition. */
  stream_id: number | null;
  started_us: number;
}

/** The live database as the archive sees it. */
export interface LiveDatabase extends Database {
  archived_segments: ArchivedSegmentsTable;
  archived_event_ids: ArchivedEventIdsTable;
  archive_ledger: ArchiveLedgerTable;
}

/** Compiles queries against {@link LiveDatabase}. */
export const live = compiler<LiveDatabase>();

/** Creates the archive's tables in the live database when they are missing. */
export function ensureLiveTables(connection: SqliteConnection): void {
  const statements = [
    live.schema
      .createTable('archived_segments')
      .ifNotExists()
      .addColumn('first_position', 'integer', (c) => c.primaryKey())
      .addColumn('last_position', 'integer', (c) => c.notNull())
      .addColumn('stream_id', 'integer', (c) => c.notNull())
      .addColumn('first_version', 'integer', (c) => c.notNull())
      .addColumn('last_version', 'integer', (c) => c.notNull())
      .addColumn('first_us', 'integer', (c) => c.notNull())
      .addColumn('last_us', 'integer', (c) => c.notNull())
      .addColumn('event_count', 'integer', (c) => c.notNull())
      .addColumn('codec_version', 'integer', (c) => c.notNull())
      .addColumn('checksum', 'integer', (c) => c.notNull())
      .addColumn('partition', 'text', (c) => c.notNull())
      .addColumn('archived_us', 'integer', (c) => c.notNull())
      .addColumn('deleted_us', 'integer'),
    live.schema
      .createIndex('archived_segments_stream')
      .ifNotExists()
      .on('archived_segments')
      .columns(['stream_id', 'first_version']),
    live.schema
      .createIndex('archived_segments_partition')
      .ifNotExists()
      .on('archived_segments')
      .columns(['partition']),
    live.schema
      .createTable('archived_event_ids')
      .ifNotExists()
      .addColumn('event_id', 'text', (c) => c.primaryKey())
      .addColumn('position', 'integer', (c) => c.notNull())
      .addColumn('digest', 'blob', (c) => c.notNull()),
    live.schema
      .createIndex('archived_event_ids_position')
      .ifNotExists()
      .on('archived_event_ids')
      .columns(['position']),
    live.schema
      .createTable('archive_ledger')
      .ifNotExists()
      .addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement())
      .addColumn('action', 'text', (c) => c.notNull())
      .addColumn('partition', 'text', (c) => c.notNull())
      .addColumn('stream_id', 'integer')
      .addColumn('started_us', 'integer', (c) => c.notNull()),
  ];
  for (const statement of statements) connection.exec(statement.compile().sql);
}
