import { crc32 } from 'node:zlib';

import { SegmentError } from './errors.js';

/** Version of the segment layout and column coding this code writes and reads. */
export const SEGMENT_CODEC_VERSION = 1;

/** The first four bytes of every segment: `WFSG`. */
export const SEGMENT_MAGIC = 0x57465347;

/** Bytes of the fixed part of the header, before the stream name. */
export const FIXED_HEADER_BYTES = 94;

/** Where the checksum sits; it covers every byte of the segment but its own four. */
const CHECKSUM_OFFSET = 8;

/**
 * What a segment's header says, readable without inflating its body
 * ({@link readSegmentHeader}).
 */
export interface SegmentHeader {
  /** Codec version the segment was written with ({@link SEGMENT_CODEC_VERSION}). */
  readonly codecVersion: number;
  /** The one stream whose events the segment holds. */
  readonly stream: string;
  /** Number of events. */
  readonly count: number;
  /** Global position of the first event. */
  readonly firstPosition: bigint;
  /** Global position of the last event. */
  readonly lastPosition: bigint;
  /** Stream version of the first event (versions are consecutive). */
  readonly firstVersion: bigint;
  /** Stream version of the last event. */
  readonly lastVersion: bigint;
  /** Timestamp of the first event, integer microseconds since the epoch. */
  readonly firstTimestampUs: number;
  /** Timestamp of the last event. */
  readonly lastTimestampUs: number;
  /** Earliest timestamp in the segment (order comes from position, not the clock). */
  readonly minTimestampUs: number;
  /** Latest timestamp in the segment. */
  readonly maxTimestampUs: number;
  /** Sum of the events' payload sizes in bytes. */
  readonly payloadBytes: number;
  /** Size of the body once inflated (MessagePack of the columns). */
  readonly bodyBytes: number;
  /** CRC-32 (unsigned) of the whole segment except the four bytes that hold it. */
  readonly checksum: number;
  /** Total size of the segment in bytes, header included. */
  readonly byteLength: number;
}

/**
 * The fields the encoder fills in. Layout of a segment (big-endian):
 *
 * | offset | bytes | field |
 * |---|---|---|
 * | 0 | 4 | magic `WFSG` |
 * | 4 | 2 | codec version |
 * | 6 | 2 | header length (where the body starts) |
 * | 8 | 4 | CRC-32 of every other byte of the segment |
 * | 12 | 4 | total length of the segment |
 * | 16 | 4 | event count |
 * | 20 | 8 | first position |
 * | 28 | 8 | last position |
 * | 36 | 8 | first version |
 * | 44 | 8 | last version |
 * | 52 | 8 | first event's timestamp (µs, float 64 holding an integer) |
 * | 60 | 8 | last event's timestamp |
 * | 68 | 8 | earliest timestamp |
 * | 76 | 8 | latest timestamp |
 * | 84 | 4 | total payload bytes |
 * | 88 | 4 | body length once inflated |
 * | 92 | 2 | stream name length in bytes |
 * | 94 | n | stream name, UTF-8 |
 * | 94 + n | … | body: MessagePack of the columns, deflated |
 */
export interface HeaderFields {
  readonly count: number;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly firstVersion: number;
  readonly lastVersion: number;
  readonly firstTimestampUs: number;
  readonly lastTimestampUs: number;
  readonly minTimestampUs: number;
  readonly maxTimestampUs: number;
  readonly payloadBytes: number;
  readonly bodyBytes: number;
}

/** Writes a whole segment: header, then `body`; fills in length and checksum. */
export function writeSegment(
  stream: Uint8Array,
  fields: HeaderFields,
  body: Uint8Array,
): Uint8Array {
  const headerLength = FIXED_HEADER_BYTES + stream.length;
  const total = headerLength + body.length;
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SEGMENT_MAGIC);
  view.setUint16(4, SEGMENT_CODEC_VERSION);
  view.setUint16(6, headerLength);
  view.setUint32(12, total);
  view.setUint32(16, fields.count);
  view.setBigUint64(20, BigInt(fields.firstPosition));
  view.setBigUint64(28, BigInt(fields.lastPosition));
  view.setBigUint64(36, BigInt(fields.firstVersion));
  view.setBigUint64(44, BigInt(fields.lastVersion));
  view.setFloat64(52, fields.firstTimestampUs);
  view.setFloat64(60, fields.lastTimestampUs);
  view.setFloat64(68, fields.minTimestampUs);
  view.setFloat64(76, fields.maxTimestampUs);
  view.setUint32(84, fields.payloadBytes);
  view.setUint32(88, fields.bodyBytes);
  view.setUint16(92, stream.length);
  bytes.set(stream, FIXED_HEADER_BYTES);
  bytes.set(body, headerLength);
  view.setUint32(CHECKSUM_OFFSET, computeChecksum(bytes));
  return bytes;
}

function computeChecksum(bytes: Uint8Array): number {
  const before = crc32(bytes.subarray(0, CHECKSUM_OFFSET));
  return crc32(bytes.subarray(CHECKSUM_OFFSET + 4), before) >>> 0;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function corrupt(message: string): SegmentError {
  return new SegmentError('corrupt', message);
}

/** Options of {@link readSegmentHeader}. */
export interface ReadSegmentHeaderOptions {
  /**
   * Verify the checksum over the whole segment (a CRC-32, native, cheap next to
   * inflating the body). Default `true`.
   */
  readonly verifyChecksum?: boolean;
}

/**
 * Reads and checks a segment's header without inflating its body: magic, codec
 * version, lengths, the header's own consistency and, unless told not to, the checksum
 * over the whole segment.
 *
 * Throws a {@link SegmentError}: `corrupt` for bytes that are not a whole segment
 * (too short, truncated, zeroed, not starting with `WFSG`, fields that contradict each
 * other), `unsupported_codec` for a codec version this code does not read, `checksum`
 * when the bytes were altered.
 *
 * @example
 * ```ts
 * const header = readSegmentHeader(row.data);
 * if (header.lastPosition < from) skip();
 * ```
 */
export function readSegmentHeader(
  bytes: Uint8Array,
  options: ReadSegmentHeaderOptions = {},
): SegmentHeader {
  if (!(bytes instanceof Uint8Array)) {
    throw new SegmentError('invalid_argument', 'A segment must be a Uint8Array');
  }
  if (bytes.length < FIXED_HEADER_BYTES) {
    throw corrupt(
      `Not a segment: ${bytes.length} bytes, shorter than the ${FIXED_HEADER_BYTES}-byte minimum header (truncated?)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== SEGMENT_MAGIC) {
    const shown = magic.toString(16).padStart(8, '0');
    throw corrupt(
      magic === 0
        ? 'Not a segment: the first bytes are zero (a zeroed or unwritten block?)'
        : `Not a segment: magic 0x${shown} instead of 0x${SEGMENT_MAGIC.toString(16)} ("WFSG")`,
    );
  }
  const codecVersion = view.getUint16(4);
  if (codecVersion !== SEGMENT_CODEC_VERSION) {
    throw new SegmentError(
      'unsupported_codec',
      `Segment codec version ${codecVersion} is not supported (this code reads version ${SEGMENT_CODEC_VERSION})`,
    );
  }
  const byteLength = view.getUint32(12);
  if (byteLength !== bytes.length) {
    throw corrupt(
      byteLength > bytes.length
        ? `Segment is truncated: ${bytes.length} of its ${byteLength} bytes`
        : `Segment has ${bytes.length - byteLength} bytes after its end (${byteLength} bytes)`,
    );
  }
  const headerLength = view.getUint16(6);
  const streamLength = view.getUint16(92);
  if (headerLength !== FIXED_HEADER_BYTES + streamLength || headerLength > byteLength) {
    throw corrupt(
      `Segment header is corrupt: header length ${headerLength} for a stream name of ${streamLength} bytes`,
    );
  }
  const stored = view.getUint32(CHECKSUM_OFFSET);
  if (options.verifyChecksum !== false) {
    const actual = computeChecksum(bytes);
    if (actual !== stored) {
      throw new SegmentError(
        'checksum',
        `Segment checksum mismatch: stored 0x${stored.toString(16).padStart(8, '0')}, computed 0x${actual.toString(16).padStart(8, '0')} over ${bytes.length} bytes`,
      );
    }
  }
  let stream: string;
  try {
    stream = utf8.decode(bytes.subarray(FIXED_HEADER_BYTES, FIXED_HEADER_BYTES + streamLength));
  } catch (error) {
    throw new SegmentError('corrupt', 'Segment header is corrupt: the stream name is not UTF-8', {
      cause: error,
    });
  }
  const header: SegmentHeader = {
    codecVersion,
    stream,
    count: view.getUint32(16),
    firstPosition: view.getBigUint64(20),
    lastPosition: view.getBigUint64(28),
    firstVersion: view.getBigUint64(36),
    lastVersion: view.getBigUint64(44),
    firstTimestampUs: view.getFloat64(52),
    lastTimestampUs: view.getFloat64(60),
    minTimestampUs: view.getFloat64(68),
    maxTimestampUs: view.getFloat64(76),
    payloadBytes: view.getUint32(84),
    bodyBytes: view.getUint32(88),
    checksum: stored,
    byteLength,
  };
  checkHeader(header);
  return header;
}

/** The header's fields must agree with each other, as the encoder writes them. */
function checkHeader(header: SegmentHeader): void {
  const problem =
    header.count < 1
      ? 'it counts no events'
      : header.lastVersion - header.firstVersion + 1n !== BigInt(header.count) ||
          header.firstVersion < 1n
        ? `versions ${header.firstVersion}..${header.lastVersion} do not make ${header.count} events`
        : header.lastPosition - header.firstPosition + 1n < BigInt(header.count) ||
            header.firstPosition < 1n
          ? `positions ${header.firstPosition}..${header.lastPosition} cannot hold ${header.count} events`
          : !(
                Number.isSafeInteger(header.minTimestampUs) &&
                Number.isSafeInteger(header.maxTimestampUs) &&
                header.minTimestampUs <= header.firstTimestampUs &&
                header.firstTimestampUs <= header.maxTimestampUs &&
                header.minTimestampUs <= header.lastTimestampUs &&
                header.lastTimestampUs <= header.maxTimestampUs
              )
            ? 'its timestamps contradict each other'
            : undefined;
  if (problem !== undefined) throw corrupt(`Segment header is corrupt: ${problem}`);
}

/** Where the body starts. */
export function bodyOffset(bytes: Uint8Array): number {
  return ((bytes[6] as number) << 8) | (bytes[7] as number);
}
