/**
 * One-dimensional PostgreSQL arrays in the binary format of `array_send`/`array_recv`,
 * as `Buffer` query parameters (which `pg` sends in binary).
 *
 * The arrays of an append go as text otherwise: `pg` writes every number as a string and
 * every payload as `\\x` and its hex digits (twice its size), and the server parses them
 * back, for each of the ten columns of every event. In binary a number is 4 or 8 bytes
 * and a payload its own bytes, copied once on each side.
 */

/** Element types of the arrays an append sends, by their PostgreSQL type OID. */
export const ElementType = { int4: 23, int8: 20, text: 25, bytea: 17 } as const;

const HEADER_BYTES = 20;
const TWO_32 = 4_294_967_296;

function header(buffer: Buffer, count: number, hasNull: boolean, oid: number): number {
  buffer.writeInt32BE(count === 0 ? 0 : 1, 0);
  buffer.writeInt32BE(hasNull ? 1 : 0, 4);
  buffer.writeInt32BE(oid, 8);
  if (count === 0) return 12;
  buffer.writeInt32BE(count, 12);
  buffer.writeInt32BE(1, 16);
  return HEADER_BYTES;
}

/**
 * An `int4[]` (`bits` 32) or `int8[]` (`bits` 64) of safe integers; `null` elements are
 * SQL NULLs.
 */
export function binaryIntArray(values: readonly (number | null)[], bits: 32 | 64): Buffer {
  const size = bits / 8;
  let nulls = 0;
  for (const value of values) if (value === null) nulls++;
  const buffer = Buffer.allocUnsafe(
    HEADER_BYTES + values.length * 4 + (values.length - nulls) * size,
  );
  let at = header(
    buffer,
    values.length,
    nulls > 0,
    bits === 32 ? ElementType.int4 : ElementType.int8,
  );
  for (const value of values) {
    if (value === null) {
      at = buffer.writeInt32BE(-1, at);
      continue;
    }
    at = buffer.writeInt32BE(size, at);
    if (bits === 32) {
      at = buffer.writeInt32BE(value, at);
    } else {
      // High and low words of the two's complement: exact for every safe integer.
      at = buffer.writeInt32BE(Math.floor(value / TWO_32), at);
      at = buffer.writeUInt32BE(value >>> 0, at);
    }
  }
  return buffer.subarray(0, at);
}

/** A `text[]` (strings as UTF-8) or `bytea[]` (bytes as they are); `null` elements are SQL NULLs. */
export function binaryBytesArray(
  values: readonly (string | Uint8Array | null)[],
  type: 'text' | 'bytea',
): Buffer {
  const parts: (Buffer | null)[] = values.map((value) =>
    value === null
      ? null
      : typeof value === 'string'
        ? Buffer.from(value, 'utf8')
        : Buffer.from(value.buffer, value.byteOffset, value.byteLength),
  );
  let bytes = HEADER_BYTES;
  let hasNull = false;
  for (const part of parts) {
    bytes += 4 + (part?.byteLength ?? 0);
    if (part === null) hasNull = true;
  }
  const buffer = Buffer.allocUnsafe(bytes);
  let at = header(buffer, parts.length, hasNull, ElementType[type]);
  for (const part of parts) {
    if (part === null) {
      at = buffer.writeInt32BE(-1, at);
      continue;
    }
    at = buffer.writeInt32BE(part.byteLength, at);
    at += part.copy(buffer, at);
  }
  return buffer.subarray(0, at);
}
