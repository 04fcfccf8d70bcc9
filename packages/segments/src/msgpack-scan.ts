/**
 * Checks that MessagePack bytes are in the one form the segment decoder rebuilds: nil,
 * booleans, integers in the 32-bit ranges in their smallest form, float 64, strings,
 * arrays and maps with string keys, each with its smallest header. Payloads written by
 * `@wirthforge/events` are all in that form; anything else (float 32, 64-bit integers,
 * binary, extensions, a longer header than needed, bytes after the value) is kept as
 * raw bytes by the encoder, so every payload comes back byte for byte.
 */

/** Deepest nesting the scanner follows; deeper payloads are kept raw. */
export const MAX_SCAN_DEPTH = 128;

/** Sentinel returned by {@link scanValue} for bytes the columns cannot rebuild. */
export const NOT_CANONICAL = -1;

function uint16(bytes: Uint8Array, p: number): number {
  return ((bytes[p] as number) << 8) | (bytes[p + 1] as number);
}

function uint32(bytes: Uint8Array, p: number): number {
  return (
    (bytes[p] as number) * 0x1000000 +
    (((bytes[p + 1] as number) << 16) | ((bytes[p + 2] as number) << 8) | (bytes[p + 3] as number))
  );
}

/**
 * The position after the canonical value at `p`, or {@link NOT_CANONICAL}. With
 * `keyOnly`, the value must be a string (a map key).
 */
export function scanValue(bytes: Uint8Array, p: number, depth: number, keyOnly = false): number {
  const end = bytes.length;
  if (p >= end) return NOT_CANONICAL;
  const byte = bytes[p] as number;
  if (keyOnly && !((byte >= 0xa0 && byte < 0xc0) || (byte >= 0xd9 && byte <= 0xdb))) {
    return NOT_CANONICAL;
  }
  if (byte < 0x80 || byte >= 0xe0) return p + 1;
  if (byte < 0x90) return scanMap(bytes, p + 1, byte & 0x0f, depth);
  if (byte < 0xa0) return scanArray(bytes, p + 1, byte & 0x0f, depth);
  if (byte < 0xc0) {
    const next = p + 1 + (byte & 0x1f);
    return next <= end ? next : NOT_CANONICAL;
  }
  switch (byte) {
    case 0xc0:
    case 0xc2:
    case 0xc3:
      return p + 1;
    case 0xcb:
      return p + 9 <= end ? p + 9 : NOT_CANONICAL;
    case 0xcc:
      return p + 2 <= end && (bytes[p + 1] as number) >= 0x80 ? p + 2 : NOT_CANONICAL;
    case 0xcd:
      return p + 3 <= end && uint16(bytes, p + 1) >= 0x100 ? p + 3 : NOT_CANONICAL;
    case 0xce:
      return p + 5 <= end && uint32(bytes, p + 1) >= 0x10000 ? p + 5 : NOT_CANONICAL;
    case 0xd0:
      return p + 2 <= end && (bytes[p + 1] as number) >= 0x80 && (bytes[p + 1] as number) < 0xe0
        ? p + 2
        : NOT_CANONICAL;
    case 0xd1: {
      if (p + 3 > end) return NOT_CANONICAL;
      const value = (uint16(bytes, p + 1) << 16) >> 16;
      return value < -0x80 ? p + 3 : NOT_CANONICAL;
    }
    case 0xd2: {
      if (p + 5 > end) return NOT_CANONICAL;
      const value = uint32(bytes, p + 1) | 0;
      return value < -0x8000 ? p + 5 : NOT_CANONICAL;
    }
    case 0xd9: {
      if (p + 2 > end) return NOT_CANONICAL;
      const length = bytes[p + 1] as number;
      const next = p + 2 + length;
      return length >= 0x20 && next <= end ? next : NOT_CANONICAL;
    }
    case 0xda: {
      if (p + 3 > end) return NOT_CANONICAL;
      const length = uint16(bytes, p + 1);
      const next = p + 3 + length;
      return length >= 0x100 && next <= end ? next : NOT_CANONICAL;
    }
    case 0xdb: {
      if (p + 5 > end) return NOT_CANONICAL;
      const length = uint32(bytes, p + 1);
      const next = p + 5 + length;
      return length >= 0x10000 && next <= end ? next : NOT_CANONICAL;
    }
    case 0xdc: {
      if (p + 3 > end) return NOT_CANONICAL;
      const length = uint16(bytes, p + 1);
      return length >= 0x10 ? scanArray(bytes, p + 3, length, depth) : NOT_CANONICAL;
    }
    case 0xdd: {
      if (p + 5 > end) return NOT_CANONICAL;
      const length = uint32(bytes, p + 1);
      return length >= 0x10000 ? scanArray(bytes, p + 5, length, depth) : NOT_CANONICAL;
    }
    case 0xde: {
      if (p + 3 > end) return NOT_CANONICAL;
      const size = uint16(bytes, p + 1);
      return size >= 0x10 ? scanMap(bytes, p + 3, size, depth) : NOT_CANONICAL;
    }
    case 0xdf: {
      if (p + 5 > end) return NOT_CANONICAL;
      const size = uint32(bytes, p + 1);
      return size >= 0x10000 ? scanMap(bytes, p + 5, size, depth) : NOT_CANONICAL;
    }
    default:
      return NOT_CANONICAL;
  }
}

function scanArray(bytes: Uint8Array, p: number, length: number, depth: number): number {
  if (depth >= MAX_SCAN_DEPTH || length > bytes.length - p) return NOT_CANONICAL;
  let q = p;
  for (let i = 0; i < length; i++) {
    q = scanValue(bytes, q, depth + 1);
    if (q === NOT_CANONICAL) return NOT_CANONICAL;
  }
  return q;
}

function scanMap(bytes: Uint8Array, p: number, size: number, depth: number): number {
  if (depth >= MAX_SCAN_DEPTH || size * 2 > bytes.length - p) return NOT_CANONICAL;
  let q = p;
  for (let i = 0; i < size; i++) {
    q = scanValue(bytes, q, depth + 1, true);
    if (q === NOT_CANONICAL) return NOT_CANONICAL;
    q = scanValue(bytes, q, depth + 1);
    if (q === NOT_CANONICAL) return NOT_CANONICAL;
  }
  return q;
}
