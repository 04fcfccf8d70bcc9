/**
 * The row checksum every dialect stores with each event. SQLite's `integrity_check`
 * validates pages and indexes, not row contents: a payload altered in place passes it.
 * This checksum is recomputed by integrity checks and backups to catch exactly that.
 */
import { crc32 as nativeCrc32 } from 'node:zlib';

/** The fields an event checksum covers (names, not dictionary ids, so it survives re-keying). */
export interface EventChecksumInput {
  readonly position: number | bigint;
  /** The stream name, or its UTF-8 bytes (a writer can encode each name once). */
  readonly stream: string | Uint8Array;
  readonly version: number | bigint;
  /** The type name, or its UTF-8 bytes. */
  readonly type: string | Uint8Array;
  readonly schemaVersion: number;
  readonly timestampUs: number;
  readonly frameId: number | null;
  readonly eventId: string | null;
  readonly payload: Uint8Array;
}

/** Version of the checksum layout; stored in `metadata` as `event_checksum`. */
export const EVENT_CHECKSUM_ALGORITHM = 'crc32-v1';

const HEADER_BYTES = 53;
/** Payloads up to this size are copied next to the header and hashed in one call. */
const INLINE_PAYLOAD_BYTES = 1024;
const TWO_POW_32 = 4294967296;
// One scratch buffer per thread: the function is synchronous, so it is never shared.
let scratch = Buffer.allocUnsafeSlow(2048);
let view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);

// CRC-32 (the zlib polynomial), eight bytes a step over eight tables. Computed here
// rather than with zlib's crc32 for the header and inline payloads: a row's input is
// ~150 bytes, where the native call's own cost is most of the time (a read verifies one
// checksum per hot row). Larger payloads go on natively.
const CRC_TABLES = new Int32Array(8 * 256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLES[n] = c;
}
for (let n = 0; n < 256; n++) {
  let c = CRC_TABLES[n]!;
  for (let t = 1; t < 8; t++) {
    c = CRC_TABLES[c & 0xff]! ^ (c >>> 8);
    CRC_TABLES[t * 256 + n] = c;
  }
}

/** CRC-32 of `bytes[start, end)` continuing from `crc` (0 to start), as zlib's `crc32`. */
function crc32(bytes: Uint8Array, start: number, end: number, crc: number): number {
  const t = CRC_TABLES;
  let c = ~crc;
  let i = start;
  for (; i + 8 <= end; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    c =
      t[1792 + (c & 0xff)]! ^
      t[1536 + ((c >>> 8) & 0xff)]! ^
      t[1280 + ((c >>> 16) & 0xff)]! ^
      t[1024 + (c >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
  }
  for (; i < end; i++) c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

function grow(size: number): void {
  scratch = Buffer.allocUnsafeSlow(size);
  view = new DataView(scratch.buffer, scratch.byteOffset, scratch.byteLength);
}

function writeText(text: string | Uint8Array, offset: number): number {
  if (typeof text === 'string') return scratch.write(text, offset, 'utf8');
  scratch.set(text, offset);
  return text.byteLength;
}

function writeUint64(offset: number, value: number | bigint): void {
  if (typeof value === 'bigint') {
    view.setBigUint64(offset, BigInt.asUintN(64, value));
    return;
  }
  // Safe non-negative integers only (validated upstream); avoids a bigint per call.
  view.setUint32(offset, Math.floor(value / TWO_POW_32));
  view.setUint32(offset + 4, value >>> 0);
}

/**
 * CRC-32 over a fixed binary layout of the event: position, version, schema version,
 * timestamp, frame id (with a null flag), byte lengths of stream, type, event id (-1 for
 * none) and payload, then the UTF-8 bytes of stream, type and event id, then the payload.
 * Lengths are part of the input, so no two different events share an encoding.
 *
 * @returns an unsigned 32-bit integer.
 *
 * @example
 * ```ts
 * const ok = eventChecksum({ ...stored, position: stored.position }) === row.checksum;
 * ```
 */
export function eventChecksum(event: EventChecksumInput): number {
  const payloadBytes = event.payload.byteLength;
  const inline = payloadBytes <= INLINE_PAYLOAD_BYTES;
  // UTF-8 needs at most 3 bytes per UTF-16 code unit.
  const textBytes = 3 * (event.stream.length + event.type.length + (event.eventId?.length ?? 0));
  const needed = HEADER_BYTES + textBytes + (inline ? payloadBytes : 0);
  if (scratch.length < needed) grow(Math.max(needed, 2 * scratch.length));

  let offset = HEADER_BYTES;
  const streamBytes = writeText(event.stream, offset);
  offset += streamBytes;
  const typeBytes = writeText(event.type, offset);
  offset += typeBytes;
  let eventIdBytes = -1;
  if (event.eventId !== null) {
    eventIdBytes = scratch.write(event.eventId, offset, 'utf8');
    offset += eventIdBytes;
  }
  writeUint64(0, event.position);
  writeUint64(8, event.version);
  view.setUint32(16, event.schemaVersion >>> 0);
  writeUint64(20, event.timestampUs);
  view.setUint8(28, event.frameId === null ? 0 : 1);
  writeUint64(29, event.frameId ?? 0);
  view.setUint32(37, streamBytes);
  view.setUint32(41, typeBytes);
  view.setInt32(45, eventIdBytes);
  view.setUint32(49, payloadBytes);
  if (inline) {
    scratch.set(event.payload, offset);
    offset += payloadBytes;
  }
  const crc = crc32(scratch, 0, offset, 0);
  return inline ? crc : nativeCrc32(event.payload, crc);
}
