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

function header(view: DataView, count: number, hasNull: boolean, oid: number): number {
  view.setInt32(0, count === 0 ? 0 : 1);
  view.setInt32(4, hasNull ? 1 : 0);
  view.setInt32(8, oid);
  if (count === 0) return 12;
  view.setInt32(12, count);
  view.setInt32(16, 1);
  return HEADER_BYTES;
}

function viewOf(buffer: Buffer): DataView {
  return new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/**
 * An `int4[]` (`bits` 32) or `int8[]` (`bits` 64) of safe integers; `null` elements are
 * SQL NULLs.
 */
export function binaryIntArray(values: readonly (number | null)[], bits: 32 | 64): Buffer {
  const size = bits / 8;
  let nulls = 0;
  for (const value of values) if (value === null) nulls++;
  const bytes = HEADER_BYTES + values.length * 4 + (values.length - nulls) * size;
  const buffer = Buffer.allocUnsafe(bytes);
  const view = viewOf(buffer);
  let at = header(
    view,
    values.length,
    nulls > 0,
    bits === 32 ? ElementType.int4 : ElementType.int8,
  );
  for (const value of values) {
    if (value === null) {
      view.setInt32(at, -1);
      at += 4;
    } else if (bits === 32) {
      view.setInt32(at, 4);
      view.setInt32(at + 4, value);
      at += 8;
    } else {
      // High and low words of the two's complement: exact for every safe integer.
      view.setInt32(at, 8);
      view.setInt32(at + 4, Math.floor(value / TWO_32));
      view.setUint32(at + 8, value >>> 0);
      at += 12;
    }
  }
  return buffer.subarray(0, at);
}

/** A `text[]` (strings as UTF-8) or `bytea[]` (bytes as they are); `null` elements are SQL NULLs. */
export function binaryBytesArray(
  values: readonly (string | Uint8Array | null)[],
  type: 'text' | 'bytea',
): Buffer {
  let bytes = HEADER_BYTES;
  let hasNull = false;
  for (const value of values) {
    if (value === null) hasNull = true;
    bytes +=
      4 +
      (value === null
        ? 0
        : typeof value === 'string'
          ? Buffer.byteLength(value)
          : value.byteLength);
  }
  const buffer = Buffer.allocUnsafe(bytes);
  const view = viewOf(buffer);
  let at = header(view, values.length, hasNull, ElementType[type]);
  for (const value of values) {
    if (value === null) {
      view.setInt32(at, -1);
      at += 4;
      continue;
    }
    const length = typeof value === 'string' ? buffer.write(value, at + 4) : value.byteLength;
    if (typeof value !== 'string') buffer.set(value, at + 4);
    view.setInt32(at, length);
    at += 4 + length;
  }
  return buffer.subarray(0, at);
}
