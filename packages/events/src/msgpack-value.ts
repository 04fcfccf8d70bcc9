import { Unpackr } from 'msgpackr';
import { EventsError, type EventsErrorCode } from './errors.js';
import { isWellFormed } from './is-well-formed.js';
import type { PayloadLayout } from './payload-layout.js';

/**
 * Deepest nesting of arrays and objects the encoder accepts. Events are shallow;
 * anything deeper is almost certainly a cycle.
 */
export const MAX_NESTING_DEPTH = 100;

// Payloads are written one after another into a shared chunk and returned as views
// of it, as msgpackr does: allocating one ArrayBuffer per payload would cost more
// than encoding it.
const CHUNK_SIZE = 16 * 1024;
// A chunk that grew past this for one huge value is not reused.
const RETAINED_CAPACITY = 1 << 20;

/**
 * First element of a positional payload: the payload format. Format 0, the map,
 * has no tag (a reader tells the two apart by the MessagePack type: map or array).
 */
export const POSITIONAL_FORMAT = 1;

/** Names to leave out of a map: a `Set`, or the `index` of a layout. */
interface KeyFilter {
  has(key: string): boolean;
}

/** Thrown inside the encoder; the containers on the way out prepend their keys. */
class EncodeFailure extends Error {
  readonly segments: string[] = [];
  constructor(
    readonly code: EventsErrorCode,
    public reason: string,
  ) {
    super(reason);
  }
}

function escapePointerSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** Turns an internal failure into the public error, with its JSON Pointer. */
function toEventsError(failure: EncodeFailure, prefix: readonly string[] = []): EventsError {
  const segments = [...prefix, ...failure.segments];
  const path = segments.length === 0 ? '' : '/' + segments.map(escapePointerSegment).join('/');
  return new EventsError(failure.code, `${path === '' ? 'Value' : path} ${failure.reason}`, {
    path,
  });
}

const textEncoder = new TextEncoder();

/**
 * A MessagePack writer for the values events hold: null, booleans, numbers, strings,
 * arrays and plain objects. It writes the smallest standard form of each (what
 * msgpackr writes for the same value) with three differences that make it lossless:
 * -0 is written as a float 64 (msgpackr writes the integer 0), a lone surrogate is
 * refused (msgpackr writes U+FFFD), and anything outside that value set is refused
 * (msgpackr writes extension types or `undefined`).
 */
class MsgpackWriter {
  buffer = new Uint8Array(CHUNK_SIZE);
  view = new DataView(this.buffer.buffer);
  /** Where the value being written starts; bytes before it belong to earlier results. */
  start = 0;
  position = 0;
  depth = 0;
  busy = false;

  begin(): void {
    this.start = this.position;
    this.depth = 0;
  }

  result(): Uint8Array {
    const bytes = this.buffer.subarray(this.start, this.position);
    this.start = this.position;
    return bytes;
  }

  abandon(): void {
    this.position = this.start;
  }

  /**
   * Makes room for `bytes` more bytes. Moves the value being written to a new chunk
   * when the current one is full (earlier results keep the old chunk), so positions
   * kept across a call must be relative to `start`.
   */
  ensure(bytes: number): void {
    if (this.position + bytes <= this.buffer.length) return;
    const written = this.position - this.start;
    let capacity = CHUNK_SIZE;
    while (capacity < (written + bytes) * 2) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(this.start, this.position));
    this.buffer = next;
    this.view = new DataView(next.buffer);
    this.start = 0;
    this.position = written;
  }

  writeValue(value: unknown): void {
    switch (typeof value) {
      case 'string':
        this.writeString(value);
        return;
      case 'number':
        this.writeNumber(value);
        return;
      case 'boolean':
        this.ensure(1);
        this.buffer[this.position++] = value ? 0xc3 : 0xc2;
        return;
      case 'object':
        if (value === null) {
          this.ensure(1);
          this.buffer[this.position++] = 0xc0;
        } else if (Array.isArray(value)) {
          this.writeArray(value as readonly unknown[]);
        } else {
          this.writeObject(value, undefined);
        }
        return;
      case 'undefined':
        throw new EncodeFailure(
          'encode_failed',
          'is undefined: only object properties may be undefined (they are left out)',
        );
      case 'bigint':
        throw new EncodeFailure('encode_failed', 'is a bigint: store it as a number or a string');
      default:
        throw new EncodeFailure('encode_failed', `is a ${typeof value}, which cannot be stored`);
    }
  }

  writeNumber(value: number): void {
    this.ensure(9);
    const buffer = this.buffer;
    if (value >>> 0 === value && (value !== 0 || 1 / value > 0)) {
      if (value < 0x80) {
        buffer[this.position++] = value;
      } else if (value < 0x100) {
        buffer[this.position++] = 0xcc;
        buffer[this.position++] = value;
      } else if (value < 0x10000) {
        buffer[this.position++] = 0xcd;
        buffer[this.position++] = value >> 8;
        buffer[this.position++] = value & 0xff;
      } else {
        buffer[this.position++] = 0xce;
        this.view.setUint32(this.position, value);
        this.position += 4;
      }
    } else if (value >> 0 === value && value !== 0) {
      if (value >= -0x20) {
        buffer[this.position++] = value & 0xff;
      } else if (value >= -0x80) {
        buffer[this.position++] = 0xd0;
        buffer[this.position++] = value & 0xff;
      } else if (value >= -0x8000) {
        buffer[this.position++] = 0xd1;
        this.view.setInt16(this.position, value);
        this.position += 2;
      } else {
        buffer[this.position++] = 0xd2;
        this.view.setInt32(this.position, value);
        this.position += 4;
      }
    } else {
      // Other integers, fractions, -0, NaN and ±Infinity: float 64 keeps every bit.
      buffer[this.position++] = 0xcb;
      this.view.setFloat64(this.position, value);
      this.position += 8;
    }
  }

  writeString(value: string): void {
    const length = value.length;
    // UTF-8 takes at least one byte per UTF-16 unit: guess the header from the length,
    // move the bytes if the real size needs a longer one.
    const headerSize = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
    this.ensure(headerSize + length * 3);
    const buffer = this.buffer;
    const start = this.position;
    let byteLength: number;
    if (length < 0x40) {
      let p = start + headerSize;
      for (let i = 0; i < length; i++) {
        let c = value.charCodeAt(i);
        if (c < 0x80) {
          buffer[p++] = c;
        } else if (c < 0x800) {
          buffer[p++] = (c >> 6) | 0xc0;
          buffer[p++] = (c & 0x3f) | 0x80;
        } else if (c < 0xd800 || c > 0xdfff) {
          buffer[p++] = (c >> 12) | 0xe0;
          buffer[p++] = ((c >> 6) & 0x3f) | 0x80;
          buffer[p++] = (c & 0x3f) | 0x80;
        } else {
          const next = i + 1 < length ? value.charCodeAt(i + 1) : 0;
          if (c > 0xdbff || next < 0xdc00 || next > 0xdfff) throw loneSurrogate();
          c = 0x10000 + ((c & 0x3ff) << 10) + (next & 0x3ff);
          i++;
          buffer[p++] = (c >> 18) | 0xf0;
          buffer[p++] = ((c >> 12) & 0x3f) | 0x80;
          buffer[p++] = ((c >> 6) & 0x3f) | 0x80;
          buffer[p++] = (c & 0x3f) | 0x80;
        }
      }
      byteLength = p - start - headerSize;
    } else {
      if (!isWellFormed(value)) throw loneSurrogate();
      byteLength = textEncoder.encodeInto(value, buffer.subarray(start + headerSize)).written;
    }
    let header: number;
    if (byteLength < 0x20) header = 1;
    else if (byteLength < 0x100) header = 2;
    else if (byteLength < 0x10000) header = 3;
    else header = 5;
    if (header !== headerSize) {
      buffer.copyWithin(start + header, start + headerSize, start + headerSize + byteLength);
    }
    if (header === 1) {
      buffer[start] = 0xa0 | byteLength;
    } else if (header === 2) {
      buffer[start] = 0xd9;
      buffer[start + 1] = byteLength;
    } else if (header === 3) {
      buffer[start] = 0xda;
      buffer[start + 1] = byteLength >> 8;
      buffer[start + 2] = byteLength & 0xff;
    } else {
      buffer[start] = 0xdb;
      this.view.setUint32(start + 1, byteLength);
    }
    this.position = start + header + byteLength;
  }

  enter(): void {
    if (++this.depth > MAX_NESTING_DEPTH) {
      throw new EncodeFailure(
        'encode_failed',
        `is nested deeper than ${MAX_NESTING_DEPTH} levels (a cycle?)`,
      );
    }
  }

  writeArray(array: readonly unknown[]): void {
    this.enter();
    const length = array.length;
    this.ensure(5);
    const buffer = this.buffer;
    if (length < 0x10) {
      buffer[this.position++] = 0x90 | length;
    } else if (length < 0x10000) {
      buffer[this.position++] = 0xdc;
      buffer[this.position++] = length >> 8;
      buffer[this.position++] = length & 0xff;
    } else {
      buffer[this.position++] = 0xdd;
      this.view.setUint32(this.position, length);
      this.position += 4;
    }
    let index = 0;
    try {
      for (; index < length; index++) {
        const item = array[index];
        if (item === undefined) {
          throw new EncodeFailure(
            'encode_failed',
            'is undefined or a hole: arrays hold values only (use null)',
          );
        }
        this.writeValue(item);
      }
    } catch (error) {
      if (error instanceof EncodeFailure) error.segments.unshift(String(index));
      throw error;
    }
    this.depth--;
  }

  /**
   * Writes a plain object as a map. Properties whose value is `undefined` are left
   * out (as JSON does); `skip` names top-level properties kept elsewhere. With
   * `dataSkip`, the `data` property is written as a map without the names it holds.
   */
  writeObject(object: object, skip: KeyFilter | undefined, dataSkip?: KeyFilter): void {
    checkPlainObject(object);
    this.enter();
    const record = object as Record<string, unknown>;
    const keys = Object.keys(record);
    const reserved = keys.length < 0x10 ? 1 : keys.length < 0x10000 ? 3 : 5;
    this.ensure(reserved);
    const headerOffset = this.position - this.start;
    this.position += reserved;
    let count = 0;
    let key = '';
    try {
      for (let i = 0; i < keys.length; i++) {
        key = keys[i] as string;
        const value = record[key];
        if (value === undefined || (skip !== undefined && skip.has(key))) continue;
        if (key === '__proto__') {
          throw new EncodeFailure(
            'encode_failed',
            'is a property named __proto__, which msgpack readers cannot restore',
          );
        }
        try {
          this.writeString(key);
        } catch (error) {
          if (error instanceof EncodeFailure) error.reason = `has a name that ${error.reason}`;
          throw error;
        }
        if (dataSkip !== undefined && key === 'data') {
          this.writeObject(value as object, dataSkip);
        } else {
          this.writeValue(value);
        }
        count++;
      }
    } catch (error) {
      if (error instanceof EncodeFailure) error.segments.unshift(key);
      throw error;
    }
    const header = count < 0x10 ? 1 : count < 0x10000 ? 3 : 5;
    const at = this.start + headerOffset;
    if (header !== reserved) {
      this.buffer.copyWithin(at + header, at + reserved, this.position);
      this.position -= reserved - header;
    }
    const buffer = this.buffer;
    if (header === 1) {
      buffer[at] = 0x80 | count;
    } else if (header === 3) {
      buffer[at] = 0xde;
      buffer[at + 1] = count >> 8;
      buffer[at + 2] = count & 0xff;
    } else {
      buffer[at] = 0xdf;
      this.view.setUint32(at + 1, count);
    }
    this.depth--;
  }

  /**
   * Writes an event's payload in the positional format: `[1, presence, ...values,
   * extras?]`. `presence` has bit `1 << i` set when `layout.fields[i]` is in `data`
   * (an own property whose value is not `undefined`); the values of the present
   * fields follow in layout order; `extras`, a map, is there only when the event has
   * something else to keep: `data` properties outside the layout (under `data`) and
   * envelope properties not in `skip`.
   */
  writePositional(
    source: Record<string, unknown>,
    data: Record<string, unknown>,
    layout: PayloadLayout,
    skip: ReadonlySet<string>,
  ): void {
    checkPlainObject(source);
    try {
      checkPlainObject(data);
    } catch (error) {
      if (error instanceof EncodeFailure) error.segments.unshift('data');
      throw error;
    }
    const fields = layout.fields;
    const fieldCount = fields.length;
    let presence = 0;
    let present = 0;
    for (let i = 0; i < fieldCount; i++) {
      const field = fields[i] as string;
      if (data[field] !== undefined && Object.hasOwn(data, field)) {
        presence |= 1 << i;
        present++;
      }
    }
    // Every own property counted above is a present field: more own properties mean
    // there may be extra data fields (or properties set to undefined, left out).
    let dataExtras = false;
    const dataKeys = Object.keys(data);
    if (dataKeys.length !== present) {
      for (const key of dataKeys) {
        if (!layout.index.has(key) && data[key] !== undefined) {
          dataExtras = true;
          break;
        }
      }
    }
    let envelopeExtras = false;
    for (const key of Object.keys(source)) {
      if (key !== 'data' && !skip.has(key) && source[key] !== undefined) {
        envelopeExtras = true;
        break;
      }
    }
    const extras = dataExtras || envelopeExtras;
    const length = 2 + present + (extras ? 1 : 0);
    // Nesting is counted as in the map format: the payload, then `data`.
    this.enter();
    this.enter();
    this.ensure(3);
    const buffer = this.buffer;
    if (length < 0x10) {
      buffer[this.position++] = 0x90 | length;
    } else {
      buffer[this.position++] = 0xdc;
      buffer[this.position++] = length >> 8;
      buffer[this.position++] = length & 0xff;
    }
    buffer[this.position++] = POSITIONAL_FORMAT;
    this.writeNumber(presence);
    let field = '';
    try {
      for (let i = 0; i < fieldCount; i++) {
        if ((presence & (1 << i)) === 0) continue;
        field = fields[i] as string;
        this.writeValue(data[field]);
      }
    } catch (error) {
      if (error instanceof EncodeFailure) error.segments.unshift('data', field);
      throw error;
    }
    // The extras map sits at the payload's level, as the map format's entries do.
    this.depth = 0;
    if (extras) {
      this.writeObject(
        source,
        dataExtras ? skip : { has: (key) => key === 'data' || skip.has(key) },
        dataExtras ? layout.index : undefined,
      );
    }
  }
}

function checkPlainObject(object: object): void {
  const prototype: unknown = Object.getPrototypeOf(object);
  if (prototype !== Object.prototype && prototype !== null) {
    const name = (object as { constructor?: { name?: unknown } }).constructor?.name;
    throw new EncodeFailure(
      'encode_failed',
      `is ${typeof name === 'string' && name !== '' ? `a ${name}` : 'not a plain object'}: only plain objects, arrays, strings, numbers, booleans and null can be stored`,
    );
  }
}

function loneSurrogate(): EncodeFailure {
  return new EncodeFailure(
    'invalid_string',
    'contains a lone surrogate (not well-formed UTF-16); it cannot be stored as UTF-8 without loss',
  );
}

let sharedWriter: MsgpackWriter | undefined;

/** Runs `write` with a writer, reusing one chunk across calls (unless re-entered). */
function withWriter(
  write: (writer: MsgpackWriter) => void,
  pathPrefix: readonly string[],
): Uint8Array {
  let writer = sharedWriter;
  if (writer === undefined || writer.busy) writer = new MsgpackWriter();
  writer.busy = true;
  writer.begin();
  try {
    write(writer);
    return writer.result();
  } catch (error) {
    writer.abandon();
    if (error instanceof EncodeFailure) throw toEventsError(error, pathPrefix);
    throw error;
  } finally {
    writer.busy = false;
    sharedWriter = writer.buffer.length <= RETAINED_CAPACITY ? writer : undefined;
  }
}

/**
 * Encodes a value as MessagePack, losslessly: `decodeValue(encodeValue(v))` equals
 * `v` for every value it accepts, -0, NaN and ±Infinity included.
 *
 * Accepted: null, booleans, numbers, well-formed strings, arrays without holes and
 * plain objects. Object properties whose value is `undefined` are left out, as JSON
 * does. Refused with a typed error naming the JSON Pointer of the value: lone
 * surrogates (`invalid_string`), bigint, undefined outside an object property, class
 * instances (Date, Map, Uint8Array…), properties named `__proto__`, nesting deeper than
 * {@link MAX_NESTING_DEPTH} (`encode_failed`).
 *
 * @example
 * ```ts
 * const bytes = encodeValue({ energy: -0, peaks: [1.5, NaN] });
 * Object.is((decodeValue(bytes) as { energy: number }).energy, -0); // true
 * ```
 */
export function encodeValue(value: unknown): Uint8Array {
  return withWriter((writer) => writer.writeValue(value), []);
}

/** Encodes a plain object as a map without the properties named in `skip`. */
export function encodeObjectWithout(
  object: object,
  skip: ReadonlySet<string>,
  pathPrefix: readonly string[] = [],
): Uint8Array {
  return withWriter((writer) => writer.writeObject(object, skip), pathPrefix);
}

/**
 * Encodes an event's payload in the positional format of `layout` (see
 * {@link MsgpackWriter.writePositional}); `data` is `source.data`.
 */
export function encodePositionalPayload(
  source: Record<string, unknown>,
  data: Record<string, unknown>,
  layout: PayloadLayout,
  skip: ReadonlySet<string>,
): Uint8Array {
  return withWriter((writer) => writer.writePositional(source, data, layout, skip), []);
}

// One reader, stable options: plain maps as objects, no records, no extensions beyond
// the standard set; nothing here depends on state kept between calls.
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  moreTypes: false,
  int64AsType: 'number',
});

/**
 * Decodes one MessagePack value written by {@link encodeValue}; the whole input must
 * be that one value. Throws `decode_failed` for truncated bytes or bytes left over.
 * It does not re-check the decoded value: bytes from another writer may hold
 * extension types (a Date, bytes), which come back as msgpackr reads them. Stored
 * payloads are covered by the storage layer's checksums.
 */
export function decodeValue(bytes: Uint8Array): unknown {
  try {
    return unpackr.unpack(bytes) as unknown;
  } catch (error) {
    throw new EventsError('decode_failed', `Malformed MessagePack payload: ${messageOf(error)}`, {
      cause: error,
    });
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
