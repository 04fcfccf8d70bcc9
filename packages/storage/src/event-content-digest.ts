/**
 * A digest of what makes two appends of one event id "the same event": stream, type,
 * schema version, timestamp, frame id and payload (not the position or version the store
 * gave it). Kept for event ids whose events left the live database (moved to an archive
 * partition), so that appending such an id again is still recognised as a repeat, or
 * refused as a conflict, without reading the partition.
 */
import { createHash } from 'node:crypto';

/** The fields {@link eventContentDigest} covers. */
export interface EventContentInput {
  readonly stream: string;
  readonly type: string;
  readonly schemaVersion: number;
  readonly timestampUs: number;
  readonly frameId: number | null;
  readonly payload: Uint8Array;
}

/**
 * SHA-256 over a fixed layout of the event's content: the lengths of stream and type,
 * schema version, timestamp, frame id (with a null flag), then the UTF-8 bytes of stream
 * and type and the payload. Lengths are part of the input, so no two different contents
 * share an encoding.
 *
 * @returns 32 bytes.
 *
 * @example
 * ```ts
 * const same = Buffer.from(eventContentDigest(incoming)).equals(row.digest);
 * ```
 */
export function eventContentDigest(event: EventContentInput): Uint8Array {
  const stream = Buffer.from(event.stream, 'utf8');
  const type = Buffer.from(event.type, 'utf8');
  const header = Buffer.alloc(33);
  header.writeUInt32BE(stream.length, 0);
  header.writeUInt32BE(type.length, 4);
  header.writeUInt32BE(event.schemaVersion >>> 0, 8);
  header.writeDoubleBE(event.timestampUs, 12);
  header.writeUInt8(event.frameId === null ? 0 : 1, 20);
  header.writeDoubleBE(event.frameId ?? 0, 21);
  header.writeUInt32BE(event.payload.byteLength, 29);
  // A Buffer (a Uint8Array that SQLite drivers bind as a blob).
  return createHash('sha256')
    .update(header)
    .update(stream)
    .update(type)
    .update(event.payload)
    .digest();
}
