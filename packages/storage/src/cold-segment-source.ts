import { sql } from 'kysely';
import type { Kysely } from 'kysely';

import type { Database } from './database.js';
import type { StoredEventRecord } from './event-storage.js';

/**
 * `archived_segments`: the live database's catalog of sealed segments that were moved
 * out of it into an archive partition. A row is written in the same transaction that
 * deletes the segment from `segments` (and removed in the one that puts it back), so a
 * read transaction sees every sealed range exactly once: as a `segments` row or as an
 * `archived_segments` row. A row whose partition was deleted by a retention policy stays
 * as a tombstone (`deleted_us` set): its positions stay taken and count as present for
 * the integrity checks, and reads pass over them.
 *
 * The table belongs to the archive (`@wirthforge/archive` creates it); a dialect reads
 * it only when it exists.
 */
export interface ArchivedSegmentsTable {
  /** First global position of the segment (unique: positions are never reused). */
  first_position: number;
  last_position: number;
  stream_id: number;
  first_version: number;
  last_version: number;
  first_us: number;
  last_us: number;
  event_count: number;
  codec_version: number;
  /** The segment's CRC-32, as in `segments.checksum`. */
  checksum: number;
  /** Name of the partition holding the bytes, e.g. `2026-11`. */
  partition: string;
  archived_us: number;
  /** When retention deleted the partition; null while the bytes exist. */
  deleted_us: number | null;
}

/** Name of the {@link ArchivedSegmentsTable} table. */
export const ARCHIVED_SEGMENTS_TABLE = 'archived_segments';

/**
 * `archived_event_ids`: the client event ids of events moved to an archive partition,
 * with the digest of their content (`eventContentDigest`). Written in the transaction
 * that takes the segments' `sealed_event_ids` rows out (and removed when the segments
 * come back), so that appending an archived event's id again still answers the original
 * position when the content is the same and refuses it as a conflict when it differs.
 * Created by the archive (`@wirthforge/archive`); a dialect reads it only when it exists.
 */
export interface ArchivedEventIdsTable {
  event_id: string;
  position: number;
  /** `eventContentDigest` of the event (32 bytes). */
  digest: Uint8Array;
}

/** Name of the {@link ArchivedEventIdsTable} table. */
export const ARCHIVED_EVENT_IDS_TABLE = 'archived_event_ids';

/**
 * The ids among `ids` that `archived_event_ids` holds. Rejects (the driver's error) when
 * the table does not exist: no archive has run on the database.
 *
 * @example
 * ```ts
 * const archived = await findArchivedEventIds(storage.db, ['evt_1', 'evt_2']);
 * ```
 */
export async function findArchivedEventIds(
  db: Kysely<Database>,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ event_id: string }>`select event_id from ${sql.table(
    ARCHIVED_EVENT_IDS_TABLE,
  )} where event_id in (${sql.join(ids)})`.execute(db);
  return rows.map((row) => row.event_id);
}

/** One archived segment as a read asks for it (a row of {@link ArchivedSegmentsTable}). */
export interface ColdSegmentRef {
  readonly stream: string;
  readonly partition: string;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly firstVersion: number;
  readonly lastVersion: number;
  readonly eventCount: number;
  readonly checksum: number;
}

/**
 * Where a dialect finds the bytes of archived segments: an archive of time partitions
 * (`@wirthforge/archive`). Reads stay synchronous inside the dialect's read transaction.
 *
 * @example
 * ```ts
 * const archive = openArchive({ dataDir });
 * const storage = await openSqliteStorage({ path, coldSegments: archive.coldSegments });
 * ```
 */
export interface ColdSegmentSource {
  /**
   * The events of an archived segment, in position order, exactly as they were stored.
   * Throws a `StorageError` `corrupt` naming the partition, the segment and its position
   * range when the bytes are missing or damaged: a damaged segment is never served.
   */
  segmentEvents(segment: ColdSegmentRef): ColdSegmentEvents;
}

/**
 * The decoded events of an archived segment and their positions as numbers, in order:
 * either the records themselves, or a way to build record `i` on demand (a decoded
 * segment kept as columns, such as `@wirthforge/segments`' `SegmentColumns`, which
 * builds only the records a read hands out).
 */
export type ColdSegmentEvents = ColdSegmentRecords | ColdSegmentColumns;

/** An archived segment's events as records, with their positions as numbers. */
export interface ColdSegmentRecords {
  readonly events: readonly StoredEventRecord[];
  readonly positions: Float64Array;
}

/** An archived segment's events as columns: positions, and each record on demand. */
export interface ColdSegmentColumns {
  readonly positions: Float64Array;
  /** The record of event `i` (0 ≤ i < `positions.length`), a new object on each call. */
  record(i: number): StoredEventRecord;
  /** The type of event `i` without building its record (filtered reads), if known. */
  typeAt?(i: number): string;
}
