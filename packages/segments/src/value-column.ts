import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { SegmentError } from './errors.js';
import {
  decodeFloatColumn,
  decodeRunningSum,
  FloatColumnBuilder,
  isRunningSum,
  type RunningSumSource,
} from './float-column.js';
import { decodeIntColumn, encodeIntColumn } from './int-column.js';
import {
  output,
  putStringHeader,
  stringHeaderSize,
  writeContainerHeader,
  writeInt,
  writeSpan,
} from './msgpack-output.js';

/**
 * A column of MessagePack values, split by kind: a kind per value, then the integers,
 * the doubles, the strings (dictionary-coded), the array lengths with one child column
 * for all their items, and the maps as key-list shapes (a dictionary) with one child
 * column per key. Nested values thus become columns too, and values that sit at the
 * same place in events of the same type end up side by side.
 */

const NIL = 0;
const FALSE = 1;
const TRUE = 2;
const INT = 3;
const FLOAT = 4;
const STRING = 5;
const ARRAY = 6;
const MAP = 7;

/** What a column looks like inside the segment body (MessagePack, before deflate). */
export type ColumnData = [
  kinds: Uint8Array,
  ints: Uint8Array | null,
  floats: Uint8Array | null,
  strings: Uint8Array | null,
  arrayLengths: Uint8Array | null,
  items: ColumnData | null,
  shapeIds: Uint8Array | null,
  shapes: number[][] | null,
  keys: Uint8Array | null,
  children: ColumnData[] | null,
];

function uint16(bytes: Uint8Array, p: number): number {
  return ((bytes[p] as number) << 8) | (bytes[p + 1] as number);
}

function uint32(bytes: Uint8Array, p: number): number {
  return (
    (bytes[p] as number) * 0x1000000 +
    (((bytes[p + 1] as number) << 16) | ((bytes[p + 2] as number) << 8) | (bytes[p + 3] as number))
  );
}

/** Text of a byte span, one char per byte: a dictionary key that keeps every byte. */
function byteKey(bytes: Uint8Array, start: number, end: number): string {
  if (end - start < 64) {
    let key = '';
    for (let i = start; i < end; i++) key += String.fromCharCode(bytes[i] as number);
    return key;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

/** Strings of a column: a dictionary of byte strings in first-seen order, and an id per value. */
export class StringDictionaryBuilder {
  private readonly index = new Map<string, number>();
  private readonly entries: Uint8Array[] = [];
  readonly ids: number[] = [];

  /** Adds the string whose UTF-8 bytes are `bytes[start, end)`. */
  push(bytes: Uint8Array, start: number, end: number): void {
    const key = byteKey(bytes, start, end);
    let id = this.index.get(key);
    if (id === undefined) {
      id = this.entries.length;
      this.index.set(key, id);
      this.entries.push(bytes.slice(start, end));
    }
    this.ids.push(id);
  }

  /** Entry count, the lengths, the bytes of every entry, then the id column. */
  encode(): Uint8Array {
    const writer = new ByteWriter(64);
    writer.varint(this.entries.length);
    for (const entry of this.entries) writer.varint(entry.length);
    for (const entry of this.entries) writer.bytes(entry);
    writer.bytes(encodeIntColumn(this.ids));
    return writer.result();
  }
}

/**
 * A decoded string dictionary: every entry already as MessagePack (header and bytes) in
 * one buffer, and the id of each value.
 */
export class StringTable {
  /** The text of each entry, once asked for; `null` for one that is not UTF-8. */
  private texts: (string | null | undefined)[] | undefined;

  constructor(
    readonly encoded: Uint8Array,
    /** Entry `i` is `encoded[offsets[i], offsets[i + 1])`. */
    readonly offsets: Int32Array,
    readonly ids: Float64Array,
  ) {}

  /**
   * The text of entry `id` (decoded once, then shared by every value that uses it), or
   * `null` when its bytes are not UTF-8 (a reader of the bytes refuses those).
   */
  text(id: number): string | null {
    const texts = (this.texts ??= new Array<string | null | undefined>(this.offsets.length - 1));
    let text = texts[id];
    if (text === undefined) {
      const start = this.offsets[id] as number;
      const header = this.encoded[start] as number;
      const skip = header < 0xc0 ? 1 : header === 0xd9 ? 2 : header === 0xda ? 3 : 5;
      try {
        text = utf8.decode(this.encoded.subarray(start + skip, this.offsets[id + 1]));
      } catch {
        text = null;
      }
      texts[id] = text;
    }
    return text;
  }

  static decode(bytes: Uint8Array, count: number, what: string): StringTable {
    const reader = new ByteReader(bytes, what);
    const entries = reader.varint();
    if (entries > bytes.length) throw reader.fail('has more entries than bytes');
    const lengths = new Int32Array(entries);
    let total = 0;
    for (let i = 0; i < entries; i++) {
      const length = reader.varint();
      lengths[i] = length;
      total += stringHeaderSize(length) + length;
    }
    const encoded = new Uint8Array(total);
    const offsets = new Int32Array(entries + 1);
    let p = 0;
    for (let i = 0; i < entries; i++) {
      offsets[i] = p;
      const length = lengths[i] as number;
      p = putStringHeader(encoded, p, length);
      encoded.set(reader.take(length), p);
      p += length;
    }
    offsets[entries] = p;
    const ids = decodeIntColumn(bytes.subarray(reader.position), count, what);
    for (let i = 0; i < count; i++) {
      const id = ids[i] as number;
      if (!(id >= 0 && id < entries)) throw reader.fail(`refers to entry ${id} of ${entries}`);
    }
    return new StringTable(encoded, offsets, ids);
  }
}

/** Collects the values of one column from canonical MessagePack (see `msgpack-scan.ts`). */
export class ValueColumnBuilder {
  private readonly kinds: number[] = [];
  private readonly ints: number[] = [];
  private floats: FloatColumnBuilder | undefined;
  private strings: StringDictionaryBuilder | undefined;
  private readonly arrayLengths: number[] = [];
  private items: ValueColumnBuilder | undefined;
  private readonly shapeIds: number[] = [];
  private readonly shapeIndex = new Map<string, number>();
  private readonly shapes: number[][] = [];
  private readonly keyIndex = new Map<string, number>();
  private readonly keys: Uint8Array[] = [];
  private readonly children: ValueColumnBuilder[] = [];
  private readonly floatView = new DataView(new ArrayBuffer(8));

  get length(): number {
    return this.kinds.length;
  }

  /** Appends the value at `p` (already checked canonical) and returns the position after it. */
  append(bytes: Uint8Array, p: number): number {
    const byte = bytes[p] as number;
    const kinds = this.kinds;
    if (byte < 0x80) {
      kinds.push(INT);
      this.ints.push(byte);
      return p + 1;
    }
    if (byte >= 0xe0) {
      kinds.push(INT);
      this.ints.push(byte - 0x100);
      return p + 1;
    }
    if (byte < 0x90) return this.appendMap(bytes, p + 1, byte & 0x0f);
    if (byte < 0xa0) return this.appendArray(bytes, p + 1, byte & 0x0f);
    if (byte < 0xc0) return this.appendString(bytes, p + 1, byte & 0x1f);
    switch (byte) {
      case 0xc0:
        kinds.push(NIL);
        return p + 1;
      case 0xc2:
        kinds.push(FALSE);
        return p + 1;
      case 0xc3:
        kinds.push(TRUE);
        return p + 1;
      case 0xcb: {
        const hi = uint32(bytes, p + 1);
        const lo = uint32(bytes, p + 5);
        const view = this.floatView;
        view.setUint32(0, hi);
        view.setUint32(4, lo);
        kinds.push(FLOAT);
        (this.floats ??= new FloatColumnBuilder()).push(hi, lo, view.getFloat64(0));
        return p + 9;
      }
      case 0xcc:
        kinds.push(INT);
        this.ints.push(bytes[p + 1] as number);
        return p + 2;
      case 0xcd:
        kinds.push(INT);
        this.ints.push(uint16(bytes, p + 1));
        return p + 3;
      case 0xce:
        kinds.push(INT);
        this.ints.push(uint32(bytes, p + 1));
        return p + 5;
      case 0xd0:
        kinds.push(INT);
        this.ints.push(((bytes[p + 1] as number) << 24) >> 24);
        return p + 2;
      case 0xd1:
        kinds.push(INT);
        this.ints.push((uint16(bytes, p + 1) << 16) >> 16);
        return p + 3;
      case 0xd2:
        kinds.push(INT);
        this.ints.push(uint32(bytes, p + 1) | 0);
        return p + 5;
      case 0xd9:
        return this.appendString(bytes, p + 2, bytes[p + 1] as number);
      case 0xda:
        return this.appendString(bytes, p + 3, uint16(bytes, p + 1));
      case 0xdb:
        return this.appendString(bytes, p + 5, uint32(bytes, p + 1));
      case 0xdc:
        return this.appendArray(bytes, p + 3, uint16(bytes, p + 1));
      case 0xdd:
        return this.appendArray(bytes, p + 5, uint32(bytes, p + 1));
      case 0xde:
        return this.appendMap(bytes, p + 3, uint16(bytes, p + 1));
      default:
        // 0xdf: the scanner lets nothing else through.
        return this.appendMap(bytes, p + 5, uint32(bytes, p + 1));
    }
  }

  private appendString(bytes: Uint8Array, start: number, length: number): number {
    this.kinds.push(STRING);
    (this.strings ??= new StringDictionaryBuilder()).push(bytes, start, start + length);
    return start + length;
  }

  private appendArray(bytes: Uint8Array, start: number, length: number): number {
    this.kinds.push(ARRAY);
    this.arrayLengths.push(length);
    const items = (this.items ??= new ValueColumnBuilder());
    let p = start;
    for (let i = 0; i < length; i++) p = items.append(bytes, p);
    return p;
  }

  private appendMap(bytes: Uint8Array, start: number, size: number): number {
    this.kinds.push(MAP);
    const shape: number[] = [];
    let p = start;
    for (let i = 0; i < size; i++) {
      // Keys are strings (the scanner checked): the bytes of the whole key, header included.
      const keyStart = p;
      const byte = bytes[p] as number;
      let length: number;
      let headerSize: number;
      if (byte < 0xc0) {
        length = byte & 0x1f;
        headerSize = 1;
      } else if (byte === 0xd9) {
        length = bytes[p + 1] as number;
        headerSize = 2;
      } else if (byte === 0xda) {
        length = uint16(bytes, p + 1);
        headerSize = 3;
      } else {
        length = uint32(bytes, p + 1);
        headerSize = 5;
      }
      const keyEnd = p + headerSize + length;
      const key = byteKey(bytes, keyStart, keyEnd);
      let child = this.keyIndex.get(key);
      if (child === undefined) {
        child = this.children.length;
        this.keyIndex.set(key, child);
        this.keys.push(bytes.slice(keyStart, keyEnd));
        this.children.push(new ValueColumnBuilder());
      }
      shape.push(child);
      p = (this.children[child] as ValueColumnBuilder).append(bytes, keyEnd);
    }
    const shapeKey = shape.join(',');
    let id = this.shapeIndex.get(shapeKey);
    if (id === undefined) {
      id = this.shapes.length;
      this.shapeIndex.set(shapeKey, id);
      this.shapes.push(shape);
    }
    this.shapeIds.push(id);
    return p;
  }

  /** The column's values in order, when every one is a number (integer or double). */
  numbers(): number[] | undefined {
    const out: number[] = [];
    let i = 0;
    let f = 0;
    for (const kind of this.kinds) {
      if (kind === INT) out.push(this.ints[i++] as number);
      else if (kind === FLOAT) out.push((this.floats as FloatColumnBuilder).values[f++] as number);
      else return undefined;
    }
    return out;
  }

  /** `floats`: the coded doubles, when the caller coded them (a running sum). */
  encode(floats?: Uint8Array): ColumnData {
    let keys: Uint8Array | null = null;
    if (this.shapes.length > 0) {
      const writer = new ByteWriter(64);
      for (const key of this.keys) writer.varint(key.length);
      for (const key of this.keys) writer.bytes(key);
      keys = writer.result();
    }
    return [
      Uint8Array.from(this.kinds),
      this.ints.length > 0 ? encodeIntColumn(this.ints) : null,
      floats ?? (this.floats === undefined ? null : this.floats.encode()),
      this.strings === undefined ? null : this.strings.encode(),
      this.arrayLengths.length > 0 ? encodeIntColumn(this.arrayLengths) : null,
      this.items === undefined ? null : this.items.encode(),
      this.shapeIds.length > 0 ? encodeIntColumn(this.shapeIds) : null,
      this.shapes.length > 0 ? this.shapes : null,
      keys,
      this.shapes.length > 0 ? this.children.map((child) => child.encode()) : null,
    ];
  }
}

const EMPTY_BYTES = new Uint8Array(0);
const EMPTY_NUMBERS = new Float64Array(0);
const EMPTY_STRINGS = new StringTable(EMPTY_BYTES, new Int32Array(1), EMPTY_NUMBERS);

// As the payload reader decodes: ill-formed UTF-8 is refused, a leading U+FEFF kept.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** What {@link ValueColumnReader.peek} answers for a value that is not a scalar. */
export const NOT_SCALAR: unique symbol = Symbol('not a scalar');

function isBytes(value: unknown): value is Uint8Array {
  return value instanceof Uint8Array;
}

/**
 * Rebuilds the values of a column as MessagePack, one {@link write} per value, in the
 * order they were appended. `what` names the column in errors.
 */
export class ValueColumnReader {
  private k = 0;
  private intIndex = 0;
  private floatIndex = 0;
  private stringIndex = 0;
  private arrayIndex = 0;
  private mapIndex = 0;
  private readonly kinds: Uint8Array;
  private readonly ints: Float64Array;
  private readonly floats: Uint8Array;
  private readonly strings: StringTable;
  private readonly arrayLengths: Float64Array;
  private readonly items: ValueColumnReader | undefined;
  private readonly shapeIds: Float64Array;
  /** Per shape: child indexes. */
  private readonly shapes: Int32Array[];
  private readonly keyBytes: Uint8Array;
  private readonly keyOffsets: Int32Array;
  private readonly children: ValueColumnReader[];

  constructor(
    data: unknown,
    count: number,
    readonly what: string,
    source?: RunningSumSource,
  ) {
    if (!Array.isArray(data) || data.length !== 10 || !isBytes(data[0])) {
      throw corrupt(what, 'is not a column');
    }
    const column = data as unknown[];
    const kinds = column[0] as Uint8Array;
    if (kinds.length !== count) {
      throw corrupt(what, `holds ${kinds.length} values where ${count} are expected`);
    }
    this.kinds = kinds;
    const counts = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let i = 0; i < count; i++) {
      const kind = kinds[i] as number;
      if (kind > MAP) throw corrupt(what, `holds an unknown value kind ${kind}`);
      counts[kind]!++;
    }
    const part = (index: number, needed: number): Uint8Array | undefined => {
      const value = column[index];
      if (needed === 0) {
        if (value !== null) throw corrupt(what, `has part ${index} it should not have`);
        return undefined;
      }
      if (!isBytes(value)) throw corrupt(what, `lacks part ${index}`);
      return value;
    };
    const ints = part(1, counts[INT]!);
    this.ints = ints === undefined ? EMPTY_NUMBERS : decodeIntColumn(ints, counts[INT]!, what);
    const floats = part(2, counts[FLOAT]!);
    if (floats === undefined) {
      this.floats = EMPTY_BYTES;
    } else if (isRunningSum(floats)) {
      if (source === undefined) throw corrupt(what, 'is a running sum where none can be');
      this.floats = decodeRunningSum(floats, kinds, FLOAT, counts[FLOAT]!, what, source);
    } else {
      this.floats = decodeFloatColumn(floats, counts[FLOAT]!, what);
    }
    const strings = part(3, counts[STRING]!);
    this.strings =
      strings === undefined ? EMPTY_STRINGS : StringTable.decode(strings, counts[STRING]!, what);
    const arrays = counts[ARRAY]!;
    const lengths = part(4, arrays);
    this.arrayLengths =
      lengths === undefined ? EMPTY_NUMBERS : decodeIntColumn(lengths, arrays, what);
    let itemCount = 0;
    for (let i = 0; i < arrays; i++) itemCount += this.arrayLengths[i] as number;
    if (!Number.isSafeInteger(itemCount)) throw corrupt(what, 'has impossible array lengths');
    if (itemCount > 0 || column[5] !== null) {
      this.items = new ValueColumnReader(column[5], itemCount, `${what}[]`);
    }
    const maps = counts[MAP]!;
    const shapeIds = part(6, maps);
    this.shapeIds = shapeIds === undefined ? EMPTY_NUMBERS : decodeIntColumn(shapeIds, maps, what);
    if (maps === 0) {
      if (column[7] !== null || column[8] !== null || column[9] !== null) {
        throw corrupt(what, 'has map parts without maps');
      }
      this.shapes = [];
      this.keyBytes = EMPTY_BYTES;
      this.keyOffsets = new Int32Array(1);
      this.children = [];
      return;
    }
    const shapes = column[7];
    const children = column[9];
    const keys = column[8];
    if (!Array.isArray(shapes) || !Array.isArray(children) || !isBytes(keys)) {
      throw corrupt(what, 'lacks the parts of its maps');
    }
    const childCount = children.length;
    const childValues = new Float64Array(childCount);
    this.shapes = shapes.map((shape: unknown) => {
      if (!Array.isArray(shape)) throw corrupt(what, 'has a map shape that is not a list');
      const indexes = Int32Array.from(shape as unknown[], (child) => {
        if (typeof child !== 'number' || !(child >= 0 && child < childCount)) {
          throw corrupt(what, 'has a map shape naming an unknown key');
        }
        return child;
      });
      return indexes;
    });
    for (let i = 0; i < maps; i++) {
      const shape = this.shapes[this.shapeIds[i] as number];
      if (shape === undefined) throw corrupt(what, 'refers to an unknown map shape');
      for (const child of shape) childValues[child]!++;
    }
    const keyReader = new ByteReader(keys, `${what} keys`);
    const keyLengths: number[] = [];
    for (let i = 0; i < childCount; i++) keyLengths.push(keyReader.varint());
    this.keyOffsets = new Int32Array(childCount + 1);
    const start = keyReader.position;
    let offset = start;
    for (let i = 0; i < childCount; i++) {
      this.keyOffsets[i] = offset;
      offset += keyLengths[i] as number;
    }
    this.keyOffsets[childCount] = offset;
    keyReader.take(offset - start);
    keyReader.end();
    this.keyBytes = keys;
    this.children = children.map(
      (child: unknown, i) =>
        new ValueColumnReader(
          child,
          childValues[i] as number,
          `${what}.${Buffer.from(keys.subarray(this.keyOffsets[i], this.keyOffsets[i + 1])).toString('utf8', 1)}`,
        ),
    );
  }

  private floatView: DataView | undefined;

  /**
   * The next value (the one {@link write} writes next) as the payload reader reads it
   * back, without moving on: a number, a string, `null` or a boolean; {@link NOT_SCALAR}
   * for an array, a map, an integer beyond 2^53, a string that is not UTF-8.
   */
  peek(): unknown {
    switch (this.kinds[this.k]) {
      case INT: {
        const value = this.ints[this.intIndex] as number;
        return Number.isSafeInteger(value) ? value : NOT_SCALAR;
      }
      case FLOAT: {
        const floats = this.floats;
        this.floatView ??= new DataView(floats.buffer, floats.byteOffset, floats.byteLength);
        return this.floatView.getFloat64(this.floatIndex * 8);
      }
      case STRING: {
        const text = this.strings.text(this.strings.ids[this.stringIndex] as number);
        return text === null ? NOT_SCALAR : text;
      }
      case NIL:
        return null;
      case FALSE:
        return false;
      case TRUE:
        return true;
      default:
        return NOT_SCALAR;
    }
  }

  /** Writes the next value to the output. */
  write(): void {
    const kind = this.kinds[this.k++];
    switch (kind) {
      case INT:
        writeInt(this.ints[this.intIndex++] as number);
        return;
      case FLOAT: {
        // float 64: its eight bytes as stored (big-endian), unrolled.
        const bytes = output.bytes;
        const p = output.position;
        const floats = this.floats;
        const f = this.floatIndex * 8;
        this.floatIndex++;
        bytes[p] = 0xcb;
        bytes[p + 1] = floats[f]!;
        bytes[p + 2] = floats[f + 1]!;
        bytes[p + 3] = floats[f + 2]!;
        bytes[p + 4] = floats[f + 3]!;
        bytes[p + 5] = floats[f + 4]!;
        bytes[p + 6] = floats[f + 5]!;
        bytes[p + 7] = floats[f + 6]!;
        bytes[p + 8] = floats[f + 7]!;
        output.position = p + 9;
        return;
      }
      case STRING: {
        const strings = this.strings;
        const id = strings.ids[this.stringIndex++] as number;
        writeSpan(
          strings.encoded,
          strings.offsets[id] as number,
          strings.offsets[id + 1] as number,
        );
        return;
      }
      case NIL:
        output.bytes[output.position++] = 0xc0;
        return;
      case FALSE:
        output.bytes[output.position++] = 0xc2;
        return;
      case TRUE:
        output.bytes[output.position++] = 0xc3;
        return;
      case ARRAY: {
        const length = this.arrayLengths[this.arrayIndex++] as number;
        writeContainerHeader(length, 0x90, 0xdc);
        const items = this.items as ValueColumnReader;
        for (let i = 0; i < length; i++) items.write();
        return;
      }
      case MAP: {
        const shape = this.shapes[this.shapeIds[this.mapIndex++] as number] as Int32Array;
        const length = shape.length;
        writeContainerHeader(length, 0x80, 0xde);
        const keyOffsets = this.keyOffsets;
        for (let i = 0; i < length; i++) {
          const child = shape[i] as number;
          writeSpan(this.keyBytes, keyOffsets[child] as number, keyOffsets[child + 1] as number);
          (this.children[child] as ValueColumnReader).write();
        }
        return;
      }
      default:
        throw corrupt(this.what, 'is read past its end');
    }
  }

  private numberCache: Float64Array | undefined;

  /** Every value in order, when every one is a number: what a running sum adds up. */
  numbers(): Float64Array | undefined {
    if (this.numberCache !== undefined) return this.numberCache;
    const kinds = this.kinds;
    const out = new Float64Array(kinds.length);
    const view = new DataView(this.floats.buffer, this.floats.byteOffset, this.floats.byteLength);
    let i = 0;
    let f = 0;
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[k];
      if (kind === INT) out[k] = this.ints[i++] as number;
      else if (kind === FLOAT) out[k] = view.getFloat64(8 * f++);
      else return undefined;
    }
    this.numberCache = out;
    return out;
  }

  /** Throws unless every value was read. */
  finish(): void {
    if (this.k !== this.kinds.length) {
      throw corrupt(this.what, `was read ${this.k} times for ${this.kinds.length} values`);
    }
    this.items?.finish();
    for (const child of this.children) child.finish();
  }
}

function corrupt(what: string, reason: string): SegmentError {
  return new SegmentError('corrupt', `Segment body is corrupt: column ${what} ${reason}`);
}
