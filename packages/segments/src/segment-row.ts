import type { SegmentsTable } from '@wirthforge/storage';

import { SegmentError } from './errors.js';
import { readSegmentHeader, type SegmentHeader } from './segment-header.js';

/** The columns of a new row of the storage layer's `segments` table (all but `id`). */
export type SegmentRowValues = Omit<SegmentsTable, 'id'>;

/**
 * The values of the `segments` row that holds `bytes`, for the stream whose dictionary
 * id is `streamId`: ranges, count, codec version and checksum from the header, `data`
 * the bytes themselves. `first_us` and `last_us` are the segment's earliest and latest
 * timestamps (the first and last event's, when timestamps ascend as in a session).
 * Reads the header only (and verifies the checksum).
 *
 * @example
 * ```ts
 * const bytes = encodeSegment(events);
 * await trx.insertInto('segments').values(segmentRow(bytes, streamId)).execute();
 * ```
 */
export function segmentRow(bytes: Uint8Array, streamId: number): SegmentRowValues {
  if (!Number.isSafeInteger(streamId) || streamId < 0) {
    throw new SegmentError(
      'invalid_argument',
      `streamId must be a non-negative integer, got ${String(streamId)}`,
    );
  }
  const header = readSegmentHeader(bytes);
  return {
    stream_id: streamId,
    first_position: Number(header.firstPosition),
    last_position: Number(header.lastPosition),
    first_version: Number(header.firstVersion),
    last_version: Number(header.lastVersion),
    first_us: header.minTimestampUs,
    last_us: header.maxTimestampUs,
    event_count: header.count,
    codec_version: header.codecVersion,
    checksum: header.checksum,
    data: bytes,
  };
}

/** The row columns {@link verifySegmentRow} compares with the header of `data`. */
export type SegmentRowColumns = Omit<SegmentsTable, 'id' | 'stream_id'> & {
  /** The row's id, named in errors when given. */
  readonly id?: number;
};

/**
 * Checks that a stored `segments` row and its bytes agree: the checksum holds and the
 * header says what the row's columns say (ranges, count, codec version, checksum).
 * Returns the header. Throws `corrupt` / `checksum` / `unsupported_codec` for damaged
 * bytes and `mismatch`, naming the column, when the bytes are another segment's.
 *
 * @example
 * ```ts
 * for (const row of rows) verifySegmentRow(row); // before serving reads from it
 * ```
 */
export function verifySegmentRow(row: SegmentRowColumns, stream?: string): SegmentHeader {
  const header = readSegmentHeader(row.data);
  const expected: [string, number | string, number | string][] = [
    ['first_position', row.first_position, Number(header.firstPosition)],
    ['last_position', row.last_position, Number(header.lastPosition)],
    ['first_version', row.first_version, Number(header.firstVersion)],
    ['last_version', row.last_version, Number(header.lastVersion)],
    ['first_us', row.first_us, header.minTimestampUs],
    ['last_us', row.last_us, header.maxTimestampUs],
    ['event_count', row.event_count, header.count],
    ['codec_version', row.codec_version, header.codecVersion],
    ['checksum', row.checksum, header.checksum],
  ];
  if (stream !== undefined) expected.unshift(['stream', stream, header.stream]);
  const where = row.id === undefined ? 'segment row' : `segment row ${row.id}`;
  for (const [column, inRow, inBytes] of expected) {
    if (inRow !== inBytes) {
      throw new SegmentError(
        'mismatch',
        `${where}: ${column} is ${inRow} but its bytes say ${inBytes} (stream "${header.stream}", positions ${header.firstPosition}..${header.lastPosition}): another segment's bytes?`,
      );
    }
  }
  return header;
}
