/**
 * The buffer payloads are rebuilt into while a segment decodes. Decoding is synchronous
 * and never re-entered, so the buffer and the write position live in this module, as
 * plain variables the column readers write through without an object per value.
 */
export const output: { bytes: Uint8Array; position: number } = {
  bytes: new Uint8Array(0),
  position: 0,
};

/** Writes the smallest MessagePack form of an integer in the int 32 / uint 32 range. */
export function writeInt(value: number): void {
  const bytes = output.bytes;
  let p = output.position;
  if (value >= 0) {
    if (value < 0x80) {
      bytes[p++] = value;
    } else if (value < 0x100) {
      bytes[p++] = 0xcc;
      bytes[p++] = value;
    } else if (value < 0x10000) {
      bytes[p++] = 0xcd;
      bytes[p++] = value >>> 8;
      bytes[p++] = value;
    } else {
      bytes[p++] = 0xce;
      bytes[p++] = value >>> 24;
      bytes[p++] = value >>> 16;
      bytes[p++] = value >>> 8;
      bytes[p++] = value;
    }
  } else if (value >= -0x20) {
    bytes[p++] = value & 0xff;
  } else if (value >= -0x80) {
    bytes[p++] = 0xd0;
    bytes[p++] = value & 0xff;
  } else if (value >= -0x8000) {
    bytes[p++] = 0xd1;
    bytes[p++] = (value >> 8) & 0xff;
    bytes[p++] = value & 0xff;
  } else {
    bytes[p++] = 0xd2;
    bytes[p++] = (value >> 24) & 0xff;
    bytes[p++] = (value >> 16) & 0xff;
    bytes[p++] = (value >> 8) & 0xff;
    bytes[p++] = value & 0xff;
  }
  output.position = p;
}

/** Writes the header of an array (`base` 0x90, 0xdc, 0xdd) or a map (0x80, 0xde, 0xdf). */
export function writeContainerHeader(length: number, fix: number, wide16: number): void {
  const bytes = output.bytes;
  let p = output.position;
  if (length < 0x10) {
    bytes[p++] = fix | length;
  } else if (length < 0x10000) {
    bytes[p++] = wide16;
    bytes[p++] = length >>> 8;
    bytes[p++] = length;
  } else {
    bytes[p++] = wide16 + 1;
    bytes[p++] = length >>> 24;
    bytes[p++] = length >>> 16;
    bytes[p++] = length >>> 8;
    bytes[p++] = length;
  }
  output.position = p;
}

/** Copies `source[start, end)` to the output. */
export function writeSpan(source: Uint8Array, start: number, end: number): void {
  const bytes = output.bytes;
  let p = output.position;
  if (end - start < 48) {
    for (let i = start; i < end; i++) bytes[p++] = source[i] as number;
  } else {
    bytes.set(source.subarray(start, end), p);
    p += end - start;
  }
  output.position = p;
}

/** Bytes of the smallest MessagePack str header for a string of `length` UTF-8 bytes. */
export function stringHeaderSize(length: number): number {
  return length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
}

/** Writes the smallest str header for `length` bytes at `p` of `bytes`; returns the next position. */
export function putStringHeader(bytes: Uint8Array, p: number, length: number): number {
  if (length < 0x20) {
    bytes[p++] = 0xa0 | length;
  } else if (length < 0x100) {
    bytes[p++] = 0xd9;
    bytes[p++] = length;
  } else if (length < 0x10000) {
    bytes[p++] = 0xda;
    bytes[p++] = length >>> 8;
    bytes[p++] = length & 0xff;
  } else {
    bytes[p++] = 0xdb;
    bytes[p++] = length >>> 24;
    bytes[p++] = (length >>> 16) & 0xff;
    bytes[p++] = (length >>> 8) & 0xff;
    bytes[p++] = length & 0xff;
  }
  return p;
}
