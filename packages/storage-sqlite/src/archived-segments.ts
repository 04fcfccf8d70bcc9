/**
 * Reads of the archive's catalog in the live database (`archived_segments`, see
 * `ArchivedSegmentsTable` in `@wirthforge/storage`): sealed ranges moved into archive
 * partitions. Their positions stay taken (the head never rewinds over them), they count
 * as present for the integrity checks, and reads fetch their events from the
 * `ColdSegmentSource` the storage was opened with. The table exists only once an archive
 * has run; until then every function here answers as if it were empty.
 */
import { ARCHIVED_SEGMENTS_TABLE, StorageError } from '@wirthforge/storage';
import type { ColdSegmentEvents, ColdSegmentRef, ColdSegmentSource } from '@wirthforge/storage';

import type { SqliteConnection } from './sqlite-connection.js';

/** A live catalog row, as the reads need it. */
export interface ArchivedSegmentMeta {
  readonly first_position: number;
  readonly last_position: number;
  readonly stream_id: number;
  readonly first_version: number;
  readonly last_version: number;
  readonly event_count: number;
  readonly checksum: number;
  readonly partition: string;
}

const META_COLUMNS =
  'first_position, last_position, stream_id, first_version, last_version, event_count, checksum, partition';

// The table is never dropped: once seen, it is not looked up again.
const known = new WeakSet<SqliteConnection>();

/** Whether the live database has an archive catalog. */
export function hasArchivedSegments(connection: SqliteConnection): boolean {
  if (known.has(connection)) return true;
  const found =
    connection
      .prepare("select 1 from sqlite_master where type = 'table' and name = ?")
      .pluck()
      .get(ARCHIVED_SEGMENTS_TABLE) !== undefined;
  if (found) known.add(connection);
  return found;
}

/** The highest archived position, tombstones included (0 without a catalog). */
export function archivedHeadPosition(connection: SqliteConnection): number {
  if (!hasArchivedSegments(connection)) return 0;
  const head = connection
    .prepare(`select max(last_position) from ${ARCHIVED_SEGMENTS_TABLE}`)
    .pluck()
    .get() as number | null;
  return head ?? 0;
}

/** Every archived range (tombstones included), for the integrity checks. */
export function archivedRanges(connection: SqliteConnection): ArchivedSegmentMeta[] {
  if (!hasArchivedSegments(connection)) return [];
  return connection
    .prepare(`select ${META_COLUMNS} from ${ARCHIVED_SEGMENTS_TABLE}`)
    .all() as ArchivedSegmentMeta[];
}

/** Readable archived segments of a stream overlapping versions `lo..hi`, in version order. */
export function archivedForStream(
  connection: SqliteConnection,
  streamId: number,
  lo: number,
  hi: number,
  backwards: boolean,
): ArchivedSegmentMeta[] {
  if (!hasArchivedSegments(connection)) return [];
  return connection
    .prepare(
      `select ${META_COLUMNS} from ${ARCHIVED_SEGMENTS_TABLE} where stream_id = ? and deleted_us is null ` +
        `and first_version <= ? and last_version >= ? order by first_version ${backwards ? 'desc' : 'asc'}`,
    )
    .all(streamId, hi, lo) as ArchivedSegmentMeta[];
}

/**
 * Readable archived segments overlapping positions `a..b` (no segment spans more than
 * `span` positions), optionally of the named streams only.
 */
export function archivedForPositions(
  connection: SqliteConnection,
  a: number,
  b: number,
  span: number,
  streams: readonly string[] | undefined,
): ArchivedSegmentMeta[] {
  if (!hasArchivedSegments(connection)) return [];
  const streamFilter =
    streams === undefined
      ? ''
      : ` and stream_id in (select id from streams where name in (${streams.map(() => '?').join(', ')}))`;
  return connection
    .prepare(
      `select ${META_COLUMNS} from ${ARCHIVED_SEGMENTS_TABLE} where first_position >= ? and first_position <= ? ` +
        `and last_position >= ? and deleted_us is null${streamFilter}`,
    )
    .all(a - span, b, a, ...(streams ?? [])) as ArchivedSegmentMeta[];
}

/**
 * The events of an archived segment, from the cold source; `corrupt` when the storage
 * has no cold source (archived events are never skipped silently).
 */
export function archivedEvents(
  source: ColdSegmentSource | undefined,
  meta: ArchivedSegmentMeta,
  stream: string,
): ColdSegmentEvents {
  const ref: ColdSegmentRef = {
    stream,
    partition: meta.partition,
    firstPosition: meta.first_position,
    lastPosition: meta.last_position,
    firstVersion: meta.first_version,
    lastVersion: meta.last_version,
    eventCount: meta.event_count,
    checksum: meta.checksum,
  };
  if (source === undefined) {
    throw new StorageError(
      'corrupt',
      `stream ${stream} positions ${meta.first_position}..${meta.last_position} are archived in partition ${meta.partition}; ` +
        'open the storage with its archive (option coldSegments) to read them',
    );
  }
  return source.segmentEvents(ref);
}
