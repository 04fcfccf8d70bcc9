import { MAX_NESTING_DEPTH, POSITIONAL_FORMAT } from './msgpack-value.js';
import type { PayloadLayout } from './payload-layout.js';

/** Why a payload cannot be read; the codec reports it as `decode_failed`. */
export class PayloadReadError extends Error {}

/** What a positional payload holds besides the envelope columns. */
export interface PositionalPayload {
  /** The present layout fields, in layout order. */
  readonly data: Record<string, unknown>;
  /** The trailing map (extra `data` fields under `data`, extra envelope properties), if any. */
  readonly extras: Record<string, unknown> | undefined;
}

// The reader walks one payload at a time and calls nothing outside this module, so
// its state can live here, with no object to allocate per payload.
const EMPTY = new Uint8Array(0);
let bytes: Uint8Array = EMPTY;
let position = 0;
let depth = 0;

const floatBytes = new Uint8Array(8);
const floatView = new DataView(floatBytes.buffer);
// `fatal`: ill-formed UTF-8 is an error, not U+FFFD; `ignoreBOM`: a leading U+FEFF is
// part of the string, not a marker to drop.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Below this many bytes, decoding by hand is faster than a TextDecoder call.
const SHORT_STRING = 32;

function truncated(): PayloadReadError {
  return new PayloadReadError('the payload is truncated');
}

function need(count: number): void {
  if (position + count > bytes.length) throw truncated();
}

function readByte(): number {
  if (position >= bytes.length) throw truncated();
  return bytes[position++] as number;
}

function readUint16(): number {
  need(2);
  const value = ((bytes[position] as number) << 8) | (bytes[position + 1] as number);
  position += 2;
  return value;
}

function readUint32(): number {
  need(4);
  const value =
    (bytes[position] as number) * 0x1000000 +
    (((bytes[position + 1] as number) << 16) |
      ((bytes[position + 2] as number) << 8) |
      (bytes[position + 3] as number));
  position += 4;
  return value;
}

function readFloat(size: 4 | 8): number {
  need(size);
  for (let i = 0; i < size; i++) floatBytes[i] = bytes[position + i] as number;
  position += size;
  return size === 8 ? floatView.getFloat64(0) : floatView.getFloat32(0);
}

// Short strings repeat from payload to payload (model ids, prompt ids, tokens): the
// last text read for each slot of a small table, found by a hash of its bytes and
// checked byte for byte, is handed out again without decoding or allocating.
const STRING_SLOTS = 1024;
const slotBytes: (Uint8Array | undefined)[] = new Array<Uint8Array | undefined>(STRING_SLOTS).fill(
  undefined,
);
const slotTexts: string[] = new Array<string>(STRING_SLOTS).fill('');

function decodeString(start: number, end: number): string {
  if (end - start < SHORT_STRING) {
    let text = '';
    let i = start;
    for (; i < end; i++) {
      const byte = bytes[i] as number;
      if (byte >= 0x80) break;
      text += String.fromCharCode(byte);
    }
    if (i === end) return text;
  }
  try {
    return utf8.decode(bytes.subarray(start, end));
  } catch {
    throw new PayloadReadError('the payload holds a string that is not UTF-8');
  }
}

function readString(length: number): string {
  need(length);
  const start = position;
  const end = start + length;
  if (length >= SHORT_STRING) {
    const text = decodeString(start, end);
    position = end;
    return text;
  }
  let hash = length;
  for (let i = start; i < end; i++) hash = Math.imul(hash ^ (bytes[i] as number), 0x01000193);
  const slot = (hash >>> 0) & (STRING_SLOTS - 1);
  const known = slotBytes[slot];
  if (known !== undefined && known.length === length) {
    let i = 0;
    while (i < length && known[i] === bytes[start + i]) i++;
    if (i === length) {
      position = end;
      return slotTexts[slot] as string;
    }
  }
  const text = decodeString(start, end);
  slotBytes[slot] = bytes.slice(start, end);
  slotTexts[slot] = text;
  position = end;
  return text;
}

// The encoder counts the extras map at the level of the payload, where the map format
// has its entries, so inside the positional array it can be one level deeper.
const MAX_READ_DEPTH = MAX_NESTING_DEPTH + 1;

function enter(): void {
  if (++depth > MAX_READ_DEPTH) {
    throw new PayloadReadError(`the payload is nested deeper than ${MAX_READ_DEPTH} levels`);
  }
}

function readArray(length: number): unknown[] {
  // Every item takes at least one byte: a length beyond the input is truncation, not
  // an array to allocate.
  need(length);
  enter();
  const array: unknown[] = [];
  for (let i = 0; i < length; i++) array.push(readValue());
  depth--;
  return array;
}

function readMap(size: number): Record<string, unknown> {
  need(size * 2);
  enter();
  const object: Record<string, unknown> = {};
  for (let i = 0; i < size; i++) {
    const key = readValue();
    if (typeof key !== 'string')
      throw new PayloadReadError('the payload has a map key that is not a string');
    if (key === '__proto__')
      throw new PayloadReadError('the payload has a property named __proto__');
    object[key] = readValue();
  }
  depth--;
  return object;
}

/**
 * Reads the value at `position`: the standard MessagePack types, integers as
 * numbers. Binary and extension types are refused: the encoder never writes them.
 */
function readValue(): unknown {
  const byte = readByte();
  if (byte < 0x80) return byte;
  if (byte < 0x90) return readMap(byte & 0x0f);
  if (byte < 0xa0) return readArray(byte & 0x0f);
  if (byte < 0xc0) return readString(byte & 0x1f);
  if (byte >= 0xe0) return byte - 0x100;
  switch (byte) {
    case 0xc0:
      return null;
    case 0xc2:
      return false;
    case 0xc3:
      return true;
    case 0xca:
      return readFloat(4);
    case 0xcb:
      return readFloat(8);
    case 0xcc:
      return readByte();
    case 0xcd:
      return readUint16();
    case 0xce:
      return readUint32();
    case 0xcf:
      return readUint32() * 0x100000000 + readUint32();
    case 0xd0:
      return (readByte() << 24) >> 24;
    case 0xd1:
      return (readUint16() << 16) >> 16;
    case 0xd2:
      return readUint32() | 0;
    case 0xd3:
      return (readUint32() | 0) * 0x100000000 + readUint32();
    case 0xd9:
      return readString(readByte());
    case 0xda:
      return readString(readUint16());
    case 0xdb:
      return readString(readUint32());
    case 0xdc:
      return readArray(readUint16());
    case 0xdd:
      return readArray(readUint32());
    case 0xde:
      return readMap(readUint16());
    case 0xdf:
      return readMap(readUint32());
    default:
      throw new PayloadReadError(
        `the payload holds MessagePack type 0x${byte.toString(16)}, which events never hold`,
      );
  }
}

function readArrayLength(): number {
  const byte = readByte();
  if (byte >= 0x90 && byte < 0xa0) return byte & 0x0f;
  if (byte === 0xdc) return readUint16();
  if (byte === 0xdd) return readUint32();
  throw new PayloadReadError('the payload is not an array');
}

/**
 * Reads one MessagePack value that fills `input` exactly, with the reader positional
 * payloads use. Throws {@link PayloadReadError} otherwise.
 */
export function readMessagePackValue(input: Uint8Array): unknown {
  bytes = input;
  position = 0;
  depth = 0;
  try {
    const value = readValue();
    if (position !== bytes.length) {
      throw new PayloadReadError('the payload has bytes after its value');
    }
    return value;
  } finally {
    bytes = EMPTY;
  }
}

/** Whether `payload` is in the positional format (a MessagePack array) rather than a map. */
export function isPositionalPayload(payload: Uint8Array): boolean {
  const first = payload[0];
  return first !== undefined && ((first & 0xf0) === 0x90 || first === 0xdc || first === 0xdd);
}

/**
 * Reads a positional payload `[1, presence, ...values, extras?]` written with
 * `layout`. Throws {@link PayloadReadError} when the bytes do not hold exactly that.
 */
export function readPositionalPayload(
  payload: Uint8Array,
  layout: PayloadLayout,
): PositionalPayload {
  bytes = payload;
  position = 0;
  depth = 0;
  try {
    const length = readArrayLength();
    enter();
    if (length < 2 || readValue() !== POSITIONAL_FORMAT) {
      throw new PayloadReadError('the payload is an array without the positional format tag');
    }
    const fields = layout.fields;
    const fieldCount = fields.length;
    const presence = readValue();
    if (
      typeof presence !== 'number' ||
      presence >>> 0 !== presence ||
      presence >>> fieldCount !== 0
    ) {
      throw new PayloadReadError(
        `the presence mask is not an integer of ${fieldCount} bits for ${layout.type} v${layout.schemaVersion}`,
      );
    }
    const data: Record<string, unknown> = {};
    let count = 2;
    for (let i = 0; i < fieldCount; i++) {
      if ((presence & (1 << i)) === 0) continue;
      if (count++ === length) {
        throw new PayloadReadError('the payload has fewer values than its presence mask says');
      }
      data[fields[i] as string] = readValue();
    }
    let extras: Record<string, unknown> | undefined;
    if (count < length) {
      const value = count + 1 === length ? readValue() : undefined;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        throw new PayloadReadError(
          'the payload has values after its fields that are not one map of extras',
        );
      }
      extras = value as Record<string, unknown>;
    }
    if (position !== bytes.length) {
      throw new PayloadReadError('the payload has bytes after its value');
    }
    return { data, extras };
  } finally {
    bytes = EMPTY;
  }
}

/**
 * A holder of payload bytes that can also give the `data` of the positional payloads it
 * holds straight from values it keeps (a decoded segment keeps its events' values as
 * columns), without reading the bytes again.
 */
export interface PayloadDataSource {
  /**
   * The `data` of `payload` (a view of the source's buffer) read with the field list
   * `fields`: a new object, equal key for key and in the same order to what
   * {@link readPositionalPayload} gives for a payload without extras; or `undefined`
   * when the source cannot build it (the caller then reads the bytes).
   */
  dataOf(payload: Uint8Array, fields: readonly string[]): Record<string, unknown> | undefined;
}

// Keyed by the buffer the payloads are views of: a source is dropped with its buffer.
const dataSources = new WeakMap<ArrayBufferLike, PayloadDataSource>();

/**
 * Registers `source` as the {@link PayloadDataSource} of the payloads that are views
 * of `buffer`.
 *
 * @example
 * ```ts
 * registerPayloadDataSource(columns.payloads.buffer, columns);
 * ```
 */
export function registerPayloadDataSource(
  buffer: ArrayBufferLike,
  source: PayloadDataSource,
): void {
  dataSources.set(buffer, source);
}

/**
 * The {@link PayloadDataSource} registered for payloads that are views of `buffer`, if
 * any.
 *
 * @example
 * ```ts
 * const data = payloadDataSource(record.payload.buffer)?.dataOf(record.payload, fields);
 * ```
 */
export function payloadDataSource(buffer: ArrayBufferLike): PayloadDataSource | undefined {
  return dataSources.get(buffer);
}
