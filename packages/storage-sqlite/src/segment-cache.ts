/**
 * Decoded segments for reads: each segment is read and decoded once, checked against its
 * row (checksum, stream, ranges, count, codec version), and kept in a small LRU cache as
 * columns (typed arrays and one buffer of payloads, no object per event), from which a
 * read builds only the records it returns. A segment that fails any check is never
 * served: the read rejects with `corrupt`, naming the segment, its stream and its
 * position range.
 */
import { decodeSegmentColumns } from '@wirthforge/segments';
import type { SegmentColumns } from '@wirthforge/segments';
import { StorageError } from '@wirthforge/storage';
import type { StoredEventRecord } from '@wirthforge/storage';

import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';

/** The columns of a `segments` row a read needs, without the bytes. */
export interface SegmentMeta {
  readonly id: number;
  readonly stream_id: number;
  readonly first_position: number;
  readonly last_position: number;
  readonly first_version: number;
  readonly last_version: number;
  readonly first_us: number;
  readonly last_us: number;
  readonly event_count: number;
  readonly codec_version: number;
  readonly checksum: number;
}

/** The meta columns, for `select`. */
export const SEGMENT_META_COLUMNS =
  'id, stream_id, first_position, last_position, first_version, last_version, first_us, last_us, event_count, codec_version, checksum';

/** A decoded segment: its columns, and its events' positions as numbers (ascending). */
export interface DecodedSegmentEvents {
  readonly id: number;
  readonly checksum: number;
  readonly columns: SegmentColumns;
  readonly positions: Float64Array;
}

/** Where a segment is, for messages: `segment 12 (stream session-1, positions 1..3600)`. */
export function describeSegment(meta: SegmentMeta, stream: string): string {
  return `segment ${meta.id} (stream ${stream}, positions ${meta.first_position}..${meta.last_position}, versions ${meta.first_version}..${meta.last_version})`;
}

/**
 * Decodes `data` as the segment `meta` describes into columns, checking every column of
 * the row against the segment's header. Throws `StorageError` `corrupt` naming the
 * segment.
 */
export function decodeSegmentRowColumns(
  meta: SegmentMeta,
  stream: string,
  data: Uint8Array,
): SegmentColumns {
  try {
    const columns = decodeSegmentColumns(data, {
      expect: {
        stream,
        firstPosition: BigInt(meta.first_position),
        lastPosition: BigInt(meta.last_position),
        firstVersion: BigInt(meta.first_version),
        lastVersion: BigInt(meta.last_version),
        count: meta.event_count,
        checksum: meta.checksum,
      },
    });
    const { header } = columns;
    const checks: [string, number, number][] = [
      ['codec_version', meta.codec_version, header.codecVersion],
      ['first_us', meta.first_us, header.minTimestampUs],
      ['last_us', meta.last_us, header.maxTimestampUs],
    ];
    for (const [column, inRow, inBytes] of checks) {
      if (inRow !== inBytes) {
        throw new Error(`${column} is ${inRow} in the row but ${inBytes} in the segment`);
      }
    }
    return columns;
  } catch (error) {
    throw new StorageError(
      'corrupt',
      `${describeSegment(meta, stream)} is damaged and cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
}

/**
 * Decodes `data` as the segment `meta` describes, checking every column of the row
 * against the segment's header (see {@link decodeSegmentRowColumns}): its records.
 */
export function decodeSegmentRow(
  meta: SegmentMeta,
  stream: string,
  data: Uint8Array,
): StoredEventRecord[] {
  return decodeSegmentRowColumns(meta, stream, data).records();
}

/**
 * A bounded LRU cache of decoded segments, keyed by segment id and checked against the
 * row's checksum (so a replaced row is never answered from a stale entry).
 */
export class SegmentCache {
  private readonly entries = new Map<number, DecodedSegmentEvents>();
  private selectData: SqliteStatement | undefined;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly capacity: number,
  ) {}

  /** The decoded events of the segment `meta` describes (of stream `stream`). */
  get(meta: SegmentMeta, stream: string): DecodedSegmentEvents {
    const cached = this.entries.get(meta.id);
    if (cached !== undefined && cached.checksum === meta.checksum) {
      // Most recently used last.
      this.entries.delete(meta.id);
      this.entries.set(meta.id, cached);
      return cached;
    }
    this.selectData ??= this.connection.prepare('select data from segments where id = ?').pluck();
    const data = this.selectData.get(meta.id) as Uint8Array | undefined;
    if (data === undefined) {
      throw new StorageError('corrupt', `${describeSegment(meta, stream)} has no bytes`);
    }
    const columns = decodeSegmentRowColumns(meta, stream, data);
    const entry: DecodedSegmentEvents = {
      id: meta.id,
      checksum: meta.checksum,
      columns,
      positions: columns.positions,
    };
    if (this.capacity > 0) {
      this.entries.delete(meta.id);
      this.entries.set(meta.id, entry);
      while (this.entries.size > this.capacity) {
        this.entries.delete(this.entries.keys().next().value as number);
      }
    }
    return entry;
  }
}

/** Index of the first position >= `position` in ascending `positions`. */
export function lowerBound(positions: Float64Array, position: number): number {
  let lo = 0;
  let hi = positions.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (positions[mid]! < position) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
