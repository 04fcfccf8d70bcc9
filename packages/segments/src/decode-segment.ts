import { inflateRawSync } from 'node:zlib';

import { registerPayloadDataSource, type PayloadDataSource } from '@wirthforge/events';
import type { StoredEventRecord } from '@wirthforge/storage';

import { SegmentError } from './errors.js';
import { decodeIntColumn } from './int-column.js';
import { output, writeContainerHeader, writeInt, writeSpan } from './msgpack-output.js';
import {
  PAYLOAD_POSITIONAL,
  PAYLOAD_POSITIONAL_EXTRAS,
  PAYLOAD_RAW,
  PAYLOAD_WHOLE,
  unpackBody,
} from './segment-body.js';
import { bodyOffset, readSegmentHeader, type SegmentHeader } from './segment-header.js';
import { decodeTimestamps } from './timestamp-column.js';
import { NOT_SCALAR, ValueColumnReader } from './value-column.js';

/** What a segment is expected to be, e.g. the columns of the row that holds it. */
export interface SegmentExpectation {
  readonly stream?: string;
  readonly firstPosition?: bigint;
  readonly lastPosition?: bigint;
  readonly firstVersion?: bigint;
  readonly lastVersion?: bigint;
  readonly count?: number;
  readonly checksum?: number;
}

/** Options of {@link decodeSegment} and {@link segmentEvents}. */
export interface DecodeSegmentOptions {
  /** Only events at this position or later. */
  readonly fromPosition?: bigint;
  /** Only events at this position or earlier. */
  readonly toPosition?: bigint;
  /** Only events at this stream version or later. */
  readonly fromVersion?: bigint;
  /** Only events at this stream version or earlier. */
  readonly toVersion?: bigint;
  /**
   * Header fields the segment must have; a difference is a `mismatch` error naming the
   * field (another segment's bytes where this one was expected).
   */
  readonly expect?: SegmentExpectation;
}

/** A decoded segment: its header and its events, in position order. */
export interface DecodedSegment {
  readonly header: SegmentHeader;
  readonly events: StoredEventRecord[];
}

function corrupt(message: string, cause?: unknown): SegmentError {
  return new SegmentError(
    'corrupt',
    `Segment body is corrupt: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

function bytesAt(body: unknown[], index: number, what: string): Uint8Array {
  const value = body[index];
  if (!(value instanceof Uint8Array)) throw corrupt(`${what} is missing`);
  return value;
}

function popcount(value: number): number {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/** The readers of one group's columns. */
class GroupReader {
  private presenceIndex = 0;
  private readonly presence: Float64Array;
  private readonly fields: (ValueColumnReader | undefined)[];
  private readonly extras: ValueColumnReader | undefined;
  private readonly whole: ValueColumnReader | undefined;

  constructor(
    data: unknown,
    readonly type: string,
    readonly schemaVersion: number,
    positional: number,
    withExtras: number,
    wholeCount: number,
  ) {
    const what = `${type} v${schemaVersion}`;
    if (!Array.isArray(data) || data.length !== 4 || !Array.isArray(data[1])) {
      throw corrupt(`the columns of ${what} are not a group`);
    }
    const group = data as unknown[];
    const fieldData = group[1] as unknown[];
    if (positional > 0) {
      if (!(group[0] instanceof Uint8Array)) throw corrupt(`presence masks of ${what} are missing`);
      this.presence = decodeIntColumn(group[0], positional, `${what} presence`);
    } else {
      this.presence = new Float64Array(0);
    }
    const fieldCounts = new Float64Array(32);
    for (let i = 0; i < positional; i++) {
      const mask = this.presence[i] as number;
      if (!(mask >= 0 && mask <= 0xffffffff && Number.isInteger(mask))) {
        throw corrupt(`${what} has a presence mask out of range`);
      }
      // Only the set bits: a mask has a few of its 32.
      for (let rest = mask >>> 0; rest !== 0; rest = (rest & (rest - 1)) >>> 0) {
        fieldCounts[31 - Math.clz32(rest & -rest)]!++;
      }
    }
    this.fields = [];
    for (let bit = 0; bit < 32; bit++) {
      const count = fieldCounts[bit] as number;
      const column = fieldData[bit];
      if (count === 0) {
        if (column !== undefined && column !== null)
          throw corrupt(`${what} has an unused field ${bit}`);
        this.fields.push(undefined);
      } else {
        // A field may be the running sum of a field before it (an accumulator).
        const source = (from: number): Float64Array | undefined =>
          from < bit ? this.fields[from]?.numbers() : undefined;
        this.fields.push(new ValueColumnReader(column, count, `${what} field ${bit}`, source));
      }
    }
    this.extras =
      withExtras > 0 || group[2] !== null
        ? new ValueColumnReader(group[2], withExtras, `${what} extras`)
        : undefined;
    this.whole =
      wholeCount > 0 || group[3] !== null
        ? new ValueColumnReader(group[3], wholeCount, `${what} payloads`)
        : undefined;
  }

  /**
   * Writes the next positional payload. With `values`, also appends its field values
   * there when every one is a scalar (see {@link ValueColumnReader.peek}) and returns its
   * presence mask; else leaves `values` as it was and returns -1.
   */
  writePositional(extras: boolean, values?: unknown[]): number {
    const presence = this.presence[this.presenceIndex++] as number;
    const present = popcount(presence);
    writeContainerHeader(2 + present + (extras ? 1 : 0), 0x90, 0xdc);
    output.bytes[output.position++] = 0x01;
    writeInt(presence);
    const fields = this.fields;
    const start = values?.length ?? 0;
    let scalar = values !== undefined;
    for (let bit = 0, rest = presence; rest !== 0; bit++, rest >>>= 1) {
      if (rest & 1) {
        const field = fields[bit] as ValueColumnReader;
        if (scalar) {
          const value = field.peek();
          if (value === NOT_SCALAR) scalar = false;
          else values!.push(value);
        }
        field.write();
      }
    }
    if (extras) (this.extras as ValueColumnReader).write();
    if (scalar) return presence;
    if (values !== undefined) values.length = start;
    return -1;
  }

  writeWhole(): void {
    (this.whole as ValueColumnReader).write();
  }

  finish(): void {
    if (this.presenceIndex !== this.presence.length) throw corrupt('presence masks left unread');
    for (const field of this.fields) field?.finish();
    this.extras?.finish();
    this.whole?.finish();
  }
}

/**
 * Walks a segment's events in order, rebuilding each payload into one buffer that the
 * records share (each record's `payload` is a view of it).
 */
class SegmentCursor {
  index = 0;
  private readonly positions: Float64Array;
  private readonly timestamps: Float64Array;
  private readonly framePresence: Uint8Array;
  private readonly frameIds: Float64Array;
  private frameIndex = 0;
  private readonly groupOf: Uint8Array | Uint16Array | Uint32Array;
  private readonly groups: GroupReader[];
  private readonly modes: Uint8Array;
  private readonly idPresence: Uint8Array | undefined;
  private readonly prefixes: string[];
  private readonly prefixIds: Float64Array;
  private readonly idNumbers: Float64Array;
  private idIndex = 0;
  private readonly rawLengths: Float64Array;
  private readonly rawBytes: Uint8Array;
  private rawIndex = 0;
  private rawOffset = 0;
  private readonly payloads: Uint8Array;
  private payloadPosition = 0;
  private readonly firstPosition: bigint;
  private readonly firstPositionNumber: number;
  private readonly firstVersionNumber: number;
  /** The presence mask of the payload {@link rebuild} last rebuilt with values, or -1. */
  private lastMask = -1;

  constructor(
    bytes: Uint8Array,
    readonly header: SegmentHeader,
  ) {
    const count = header.count;
    let unpacked: unknown;
    try {
      // zlib's native raw inflate (the body is raw DEFLATE): several times faster than
      // a JavaScript inflater on segment bodies; one byte past the stated size is enough
      // to tell a body that inflates to more.
      const buffer = inflateRawSync(bytes.subarray(bodyOffset(bytes)), {
        maxOutputLength: header.bodyBytes + 1,
      });
      // A plain Uint8Array view: the columns' many subarrays are cheaper than a Buffer's.
      const inflated = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      if (inflated.length !== header.bodyBytes)
        throw new Error('the body inflates to another size');
      unpacked = unpackBody(inflated);
    } catch (error) {
      throw corrupt(`it does not inflate and unpack (${String(error)})`, error);
    }
    if (!Array.isArray(unpacked) || unpacked.length !== 10) throw corrupt('it is not a body');
    const body = unpacked as unknown[];
    this.firstPosition = header.firstPosition;
    // The encoder keeps positions and versions below 2^53: plain numbers until the edge.
    this.firstPositionNumber = Number(header.firstPosition);
    this.firstVersionNumber = Number(header.firstVersion);
    if (
      header.lastPosition > BigInt(Number.MAX_SAFE_INTEGER) ||
      header.lastVersion > BigInt(Number.MAX_SAFE_INTEGER)
    ) {
      throw corrupt('positions or versions beyond 2^53');
    }
    this.positions = decodeIntColumn(bytesAt(body, 0, 'positions'), count, 'positions');
    if (
      this.positions[0] !== 0 ||
      BigInt(this.positions[count - 1] as number) !== header.lastPosition - header.firstPosition
    ) {
      throw corrupt('positions disagree with the header');
    }
    for (let i = 1; i < count; i++) {
      if (!((this.positions[i] as number) > (this.positions[i - 1] as number))) {
        throw corrupt(`positions do not increase at event ${i}`);
      }
    }
    this.framePresence = bytesAt(body, 2, 'frame presence');
    if (this.framePresence.length !== count) throw corrupt('frame presence has the wrong length');
    let frames = 0;
    for (let i = 0; i < count; i++) frames += this.framePresence[i] === 1 ? 1 : 0;
    this.frameIds = decodeIntColumn(bytesAt(body, 3, 'frame ids'), frames, 'frame ids');
    this.timestamps = decodeTimestamps(body[1], count, this.framePresence, this.frameIds);
    for (let i = 0; i < count; i++) {
      if (!Number.isSafeInteger(this.timestamps[i]))
        throw corrupt(`event ${i} has no valid timestamp`);
    }

    const groupList = body[4];
    if (!Array.isArray(groupList) || groupList.length === 0) throw corrupt('types are missing');
    const groupCount = groupList.length;
    const types: [string, number][] = groupList.map((entry: unknown) => {
      if (
        !Array.isArray(entry) ||
        typeof entry[0] !== 'string' ||
        typeof entry[1] !== 'number' ||
        !Number.isSafeInteger(entry[1])
      ) {
        throw corrupt('a type entry is not [type, schemaVersion]');
      }
      return [entry[0], entry[1]];
    });
    const runs = body[5];
    if (!Array.isArray(runs) || runs.length !== 3 || typeof runs[0] !== 'number') {
      throw corrupt('type runs are missing');
    }
    const runData = runs as unknown[];
    const runCount = runData[0] as number;
    if (!(Number.isSafeInteger(runCount) && runCount >= 1 && runCount <= count)) {
      throw corrupt(`type runs count ${runCount} for ${count} events`);
    }
    const runGroups = decodeIntColumn(bytesAt(runData, 1, 'type runs'), runCount, 'type runs');
    const runLengths = decodeIntColumn(
      bytesAt(runData, 2, 'type run lengths'),
      runCount,
      'type run lengths',
    );
    this.groupOf =
      groupCount <= 0xff
        ? new Uint8Array(count)
        : groupCount <= 0xffff
          ? new Uint16Array(count)
          : new Uint32Array(count);
    let at = 0;
    for (let r = 0; r < runCount; r++) {
      const group = runGroups[r] as number;
      const length = runLengths[r] as number;
      if (!(group >= 0 && group < groupCount) || !(length >= 1 && at + length <= count)) {
        throw corrupt('type runs are out of range');
      }
      this.groupOf.fill(group, at, at + length);
      at += length;
    }
    if (at !== count) throw corrupt(`type runs cover ${at} of ${count} events`);

    this.modes = bytesAt(body, 6, 'payload modes');
    if (this.modes.length !== count) throw corrupt('payload modes have the wrong length');
    const positional = new Float64Array(groupCount);
    const withExtras = new Float64Array(groupCount);
    const whole = new Float64Array(groupCount);
    let rawCount = 0;
    for (let i = 0; i < count; i++) {
      const g = this.groupOf[i] as number;
      switch (this.modes[i]) {
        case PAYLOAD_POSITIONAL:
          positional[g]!++;
          break;
        case PAYLOAD_POSITIONAL_EXTRAS:
          positional[g]!++;
          withExtras[g]!++;
          break;
        case PAYLOAD_WHOLE:
          whole[g]!++;
          break;
        case PAYLOAD_RAW:
          rawCount++;
          break;
        default:
          throw corrupt(`event ${i} has an unknown payload mode`);
      }
    }

    const ids = body[7];
    if (ids === null) {
      this.idPresence = undefined;
      this.prefixes = [];
      this.prefixIds = new Float64Array(0);
      this.idNumbers = new Float64Array(0);
    } else {
      if (!Array.isArray(ids) || ids.length !== 4 || !Array.isArray(ids[1])) {
        throw corrupt('event ids are not a column');
      }
      const idData = ids as unknown[];
      const presence = bytesAt(idData, 0, 'event id presence');
      if (presence.length !== count) throw corrupt('event id presence has the wrong length');
      let present = 0;
      for (let i = 0; i < count; i++) present += presence[i] === 1 ? 1 : 0;
      this.idPresence = presence;
      this.prefixes = idData[1] as string[];
      if (!this.prefixes.every((prefix) => typeof prefix === 'string')) {
        throw corrupt('event id prefixes are not strings');
      }
      this.prefixIds = decodeIntColumn(
        bytesAt(idData, 2, 'event id prefixes'),
        present,
        'event id prefixes',
      );
      this.idNumbers = decodeIntColumn(
        bytesAt(idData, 3, 'event id numbers'),
        present,
        'event id numbers',
      );
      for (let i = 0; i < present; i++) {
        const prefix = this.prefixIds[i] as number;
        if (!(prefix >= 0 && prefix < this.prefixes.length))
          throw corrupt('an event id prefix is out of range');
      }
    }

    const raw = body[8];
    if (rawCount === 0) {
      if (raw !== null) throw corrupt('raw payloads without events that use them');
      this.rawLengths = new Float64Array(0);
      this.rawBytes = new Uint8Array(0);
    } else {
      if (!Array.isArray(raw) || raw.length !== 2) throw corrupt('raw payloads are missing');
      const rawData = raw as unknown[];
      this.rawLengths = decodeIntColumn(
        bytesAt(rawData, 0, 'raw payload lengths'),
        rawCount,
        'raw payload lengths',
      );
      this.rawBytes = bytesAt(rawData, 1, 'raw payloads');
      let total = 0;
      for (let i = 0; i < rawCount; i++) total += this.rawLengths[i] as number;
      if (total !== this.rawBytes.length)
        throw corrupt('raw payload lengths disagree with their bytes');
    }

    const groupColumns = body[9];
    if (!Array.isArray(groupColumns) || groupColumns.length !== groupCount) {
      throw corrupt('group columns are missing');
    }
    this.groups = types.map(
      ([type, schemaVersion], g) =>
        new GroupReader(
          groupColumns[g],
          type,
          schemaVersion,
          positional[g] as number,
          withExtras[g] as number,
          whole[g] as number,
        ),
    );
    this.payloads = new Uint8Array(header.payloadBytes);
  }

  /**
   * Rebuilds the payload of event `i` (the next one) after the previous one; returns its
   * end. With `values`, a positional payload without extras whose values are all scalars
   * also leaves them there, and its presence mask in {@link lastMask} (else -1).
   */
  private rebuild(i: number, group: GroupReader, values?: unknown[]): number {
    output.bytes = this.payloads;
    output.position = this.payloadPosition;
    this.lastMask = -1;
    switch (this.modes[i]) {
      case PAYLOAD_POSITIONAL:
        this.lastMask = group.writePositional(false, values);
        break;
      case PAYLOAD_POSITIONAL_EXTRAS:
        group.writePositional(true);
        break;
      case PAYLOAD_WHOLE:
        group.writeWhole();
        break;
      default: {
        const length = this.rawLengths[this.rawIndex++] as number;
        writeSpan(this.rawBytes, this.rawOffset, this.rawOffset + length);
        this.rawOffset += length;
      }
    }
    const end = output.position;
    if (end > this.payloads.length) throw corrupt('payloads are longer than the header says');
    this.payloadPosition = end;
    return end;
  }

  /** Rebuilds the next event's payload; returns its record when `emit`, else `undefined`. */
  next(emit: boolean): StoredEventRecord | undefined {
    const i = this.index++;
    const group = this.groups[this.groupOf[i] as number] as GroupReader;
    const start = this.payloadPosition;
    const end = this.rebuild(i, group);
    const frameId =
      this.framePresence[i] === 1 ? (this.frameIds[this.frameIndex++] as number) : null;
    let eventId: string | null = null;
    if (this.idPresence !== undefined && this.idPresence[i] === 1) {
      eventId = eventIdOf(this.prefixes, this.prefixIds, this.idNumbers, this.idIndex++);
    }
    if (!emit) return undefined;
    return {
      position: BigInt(this.firstPositionNumber + (this.positions[i] as number)),
      stream: this.header.stream,
      version: BigInt(this.firstVersionNumber + i),
      type: group.type,
      schemaVersion: group.schemaVersion,
      timestampUs: this.timestamps[i] as number,
      frameId,
      eventId,
      payload: this.payloads.subarray(start, end),
    };
  }

  /**
   * Decodes every event of a cursor still at its start: every payload rebuilt, every
   * column checked to its end, kept as columns rather than records.
   */
  columns(): SegmentColumns {
    const count = this.header.count;
    const ends = new Uint32Array(count + 1);
    const frameSlots = new Int32Array(count);
    const idSlots = new Int32Array(count);
    const idPresence = this.idPresence;
    // The field values of payloads of scalars only, for reads that build events from them.
    const values: unknown[] = [];
    const valueStarts = new Int32Array(count);
    const masks = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      this.index++;
      const start = values.length;
      ends[i + 1] = this.rebuild(i, this.groups[this.groupOf[i] as number] as GroupReader, values);
      masks[i] = this.lastMask;
      valueStarts[i] = this.lastMask < 0 ? -1 : start;
      frameSlots[i] = this.framePresence[i] === 1 ? this.frameIndex++ : -1;
      idSlots[i] = idPresence !== undefined && idPresence[i] === 1 ? this.idIndex++ : -1;
    }
    this.finish();
    const positions = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      positions[i] = this.firstPositionNumber + (this.positions[i] as number);
    }
    return new SegmentColumns({
      header: this.header,
      positions,
      firstVersion: this.firstVersionNumber,
      timestamps: this.timestamps,
      frameIds: this.frameIds,
      frameSlots,
      groupOf: this.groupOf,
      types: this.groups.map((group) => group.type),
      schemaVersions: this.groups.map((group) => group.schemaVersion),
      prefixes: this.prefixes,
      prefixIds: this.prefixIds,
      idNumbers: this.idNumbers,
      idSlots,
      payloads: this.payloads,
      ends,
      values,
      valueStarts,
      masks,
    });
  }

  /** After the last event: every column must have been read exactly. */
  finish(): void {
    if (this.payloadPosition !== this.payloads.length) {
      throw corrupt(
        `payloads rebuild to ${this.payloadPosition} bytes, the header says ${this.payloads.length}`,
      );
    }
    if (this.frameIndex !== this.frameIds.length) throw corrupt('frame ids left unread');
    for (const group of this.groups) group.finish();
  }

  /** Index of the first event at `position` or later. */
  indexOfPosition(position: bigint): number {
    const offset = position - this.firstPosition;
    if (offset <= 0n) return 0;
    const target = Number(offset);
    let lo = 0;
    let hi = this.header.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.positions[mid] as number) < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** The event id in slot `k` of the id columns: `<prefix><number - 1>`, or the prefix alone for 0. */
function eventIdOf(
  prefixes: readonly string[],
  prefixIds: Float64Array,
  idNumbers: Float64Array,
  k: number,
): string {
  const number = idNumbers[k] as number;
  const prefix = prefixes[prefixIds[k] as number] as string;
  return number === 0 ? prefix : prefix + String(number - 1);
}

/** The parts of {@link SegmentColumns}, as the decoder hands them over. */
interface SegmentColumnParts {
  readonly header: SegmentHeader;
  readonly positions: Float64Array;
  readonly firstVersion: number;
  readonly timestamps: Float64Array;
  readonly frameIds: Float64Array;
  readonly frameSlots: Int32Array;
  readonly groupOf: Uint8Array | Uint16Array | Uint32Array;
  readonly types: readonly string[];
  readonly schemaVersions: readonly number[];
  readonly prefixes: readonly string[];
  readonly prefixIds: Float64Array;
  readonly idNumbers: Float64Array;
  readonly idSlots: Int32Array;
  readonly payloads: Uint8Array;
  readonly ends: Uint32Array;
  /** Field values of the payloads of scalars only, event `i`'s from `valueStarts[i]`. */
  readonly values: readonly unknown[];
  /** Where event `i`'s values start in {@link values}, or -1 when it has none there. */
  readonly valueStarts: Int32Array;
  /** Presence mask of event `i`'s payload, where {@link valueStarts} is not -1. */
  readonly masks: Float64Array;
}

/**
 * A decoded segment kept as columns: a few typed arrays and one buffer of rebuilt
 * payloads, with a record built only when asked for ({@link SegmentColumns.record}). A
 * reader that keeps decoded segments (a cache) keeps these: they hold no object per
 * event, so they cost the garbage collector nothing, and a read builds only the records
 * it hands out, which die young.
 *
 * @example
 * ```ts
 * const columns = decodeSegmentColumns(row.data);
 * const from = columns.indexOfPosition(1200);
 * for (let i = from; i < columns.count; i++) apply(columns.record(i));
 * ```
 */
export class SegmentColumns implements PayloadDataSource {
  readonly header: SegmentHeader;
  readonly count: number;
  /** The position of each event, as a number (positions stay below 2^53), ascending. */
  readonly positions: Float64Array;
  readonly #parts: SegmentColumnParts;
  /** The event {@link dataOf} answered last: reads go in order. */
  #lastIndex = -1;

  /** Built by {@link decodeSegmentColumns}. */
  constructor(parts: SegmentColumnParts) {
    this.header = parts.header;
    this.count = parts.header.count;
    this.positions = parts.positions;
    this.#parts = parts;
    // The records' payloads are views of this buffer: a decoder of one finds the columns.
    registerPayloadDataSource(parts.payloads.buffer, this);
  }

  /** Index of the event whose payload is `payload` exactly, or -1. */
  #indexOfPayload(payload: Uint8Array): number {
    const { payloads, ends } = this.#parts;
    if (payload.buffer !== payloads.buffer) return -1;
    const offset = payload.byteOffset - payloads.byteOffset;
    let i = this.#lastIndex + 1;
    if (!(i < this.count && ends[i] === offset)) {
      // Not the next one: the first event whose payload starts at or after `offset`.
      let lo = 0;
      let hi = this.count;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((ends[mid] as number) < offset) lo = mid + 1;
        else hi = mid;
      }
      i = lo;
    }
    if (!(i < this.count && ends[i] === offset && ends[i + 1] === offset + payload.byteLength)) {
      return -1;
    }
    this.#lastIndex = i;
    return i;
  }

  /**
   * The `data` of the event whose record payload is `payload`, built from the values
   * kept at decoding (strings shared, numbers as read): what reading the payload with
   * `fields` gives, or `undefined` when the payload is not one of this segment's, has
   * extras, holds an array or a map, or does not fit `fields`.
   */
  dataOf(payload: Uint8Array, fields: readonly string[]): Record<string, unknown> | undefined {
    const i = this.#indexOfPayload(payload);
    if (i < 0) return undefined;
    const { valueStarts, masks, values } = this.#parts;
    let k = valueStarts[i] as number;
    if (k < 0) return undefined;
    const mask = masks[i] as number;
    // A bit beyond the field list: the byte reader refuses it, so leave it to that.
    if (fields.length < 32 && mask >>> fields.length !== 0) return undefined;
    const data: Record<string, unknown> = {};
    for (let bit = 0, rest = mask; rest !== 0; bit++, rest >>>= 1) {
      if (rest & 1) data[fields[bit] as string] = values[k++];
    }
    return data;
  }

  /** The record of event `i` (0 ≤ i < count), exactly as {@link decodeSegment} gives it. */
  record(i: number): StoredEventRecord {
    const parts = this.#parts;
    if (!(i >= 0 && i < this.count && Number.isInteger(i))) {
      throw new SegmentError(
        'invalid_argument',
        `Segment event index ${i} is outside 0..${this.count - 1} (stream "${this.header.stream}")`,
      );
    }
    const group = parts.groupOf[i] as number;
    const frameSlot = parts.frameSlots[i] as number;
    const idSlot = parts.idSlots[i] as number;
    return {
      position: BigInt(parts.positions[i] as number),
      stream: parts.header.stream,
      version: BigInt(parts.firstVersion + i),
      type: parts.types[group] as string,
      schemaVersion: parts.schemaVersions[group] as number,
      timestampUs: parts.timestamps[i] as number,
      frameId: frameSlot < 0 ? null : (parts.frameIds[frameSlot] as number),
      eventId:
        idSlot < 0 ? null : eventIdOf(parts.prefixes, parts.prefixIds, parts.idNumbers, idSlot),
      payload: parts.payloads.subarray(parts.ends[i], parts.ends[i + 1]),
    };
  }

  /**
   * The type of event `i` (0 ≤ i < count), without building its record: a filtered read
   * builds only the records it keeps.
   */
  typeAt(i: number): string {
    const parts = this.#parts;
    const group = parts.groupOf[i];
    if (group === undefined) {
      throw new SegmentError(
        'invalid_argument',
        `Segment event index ${i} is outside 0..${this.count - 1} (stream "${this.header.stream}")`,
      );
    }
    return parts.types[group] as string;
  }

  /** The records of events `from` to `to` (exclusive), in order. */
  records(from = 0, to = this.count): StoredEventRecord[] {
    const start = Math.max(0, from);
    const end = Math.min(this.count, to);
    const out: StoredEventRecord[] = [];
    for (let i = start; i < end; i++) out.push(this.record(i));
    return out;
  }

  /** Index of the first event at `position` or later (`count` when there is none). */
  indexOfPosition(position: number): number {
    const positions = this.positions;
    let lo = 0;
    let hi = positions.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((positions[mid] as number) < position) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

function checkExpectation(header: SegmentHeader, expect: SegmentExpectation | undefined): void {
  if (expect === undefined) return;
  for (const key of Object.keys(expect) as (keyof SegmentExpectation)[]) {
    const wanted = expect[key];
    if (wanted === undefined) continue;
    const actual = header[key];
    if (actual !== wanted) {
      throw new SegmentError(
        'mismatch',
        `Segment ${key} is ${String(actual)} where ${String(wanted)} is expected (stream "${header.stream}", positions ${header.firstPosition}..${header.lastPosition}): another segment's bytes?`,
      );
    }
  }
}

/** The index range `[from, to)` of the events the options select. */
function selectRange(
  cursor: SegmentCursor,
  header: SegmentHeader,
  options: DecodeSegmentOptions,
): [number, number] {
  let from = 0;
  let to = header.count;
  if (options.fromVersion !== undefined && options.fromVersion > header.firstVersion) {
    from = Math.max(from, Number(options.fromVersion - header.firstVersion));
  }
  if (options.toVersion !== undefined) {
    to = Math.min(to, Math.max(0, Number(options.toVersion - header.firstVersion) + 1));
  }
  if (options.fromPosition !== undefined) {
    from = Math.max(from, cursor.indexOfPosition(options.fromPosition));
  }
  if (options.toPosition !== undefined) {
    to = Math.min(to, cursor.indexOfPosition(options.toPosition + 1n));
  }
  return [Math.min(from, header.count), Math.max(0, to)];
}

function hasRange(options: DecodeSegmentOptions): boolean {
  return (
    options.fromPosition !== undefined ||
    options.toPosition !== undefined ||
    options.fromVersion !== undefined ||
    options.toVersion !== undefined
  );
}

/**
 * Decodes a segment written by {@link encodeSegment}: its header and its events, each
 * exactly as it was given to the encoder (payload bytes identical). The checksum is
 * verified first, then the body is checked as it is decoded.
 *
 * With a position or version range, only the events inside it are returned (the
 * columns are still read up to the last of them, but no record is built for the
 * others).
 *
 * Throws a {@link SegmentError}: `corrupt` (not a whole segment, or a body that does
 * not decode to what the header says), `checksum`, `unsupported_codec`, `mismatch`
 * (with `expect`).
 *
 * @example
 * ```ts
 * const { header, events } = decodeSegment(row.data, { fromPosition: 1200n });
 * ```
 */
export function decodeSegment(
  bytes: Uint8Array,
  options: DecodeSegmentOptions = {},
): DecodedSegment {
  const header = readSegmentHeader(bytes);
  checkExpectation(header, options.expect);
  const cursor = new SegmentCursor(bytes, header);
  const events: StoredEventRecord[] = [];
  if (!hasRange(options)) {
    for (let i = 0; i < header.count; i++) events.push(cursor.next(true) as StoredEventRecord);
    cursor.finish();
    return { header, events };
  }
  const [from, to] = selectRange(cursor, header, options);
  for (let i = 0; i < to; i++) {
    const record = cursor.next(i >= from);
    if (record !== undefined) events.push(record);
  }
  if (to === header.count) cursor.finish();
  return { header, events };
}

/**
 * The events of a segment, one at a time, without building every record first (the
 * header and checksum are checked before the first one). Options as for
 * {@link decodeSegment}.
 *
 * @example
 * ```ts
 * for (const event of segmentEvents(row.data, { fromVersion: 100n })) state = evolve(state, event);
 * ```
 */
export function* segmentEvents(
  bytes: Uint8Array,
  options: DecodeSegmentOptions = {},
): Generator<StoredEventRecord, void, undefined> {
  const header = readSegmentHeader(bytes);
  checkExpectation(header, options.expect);
  const cursor = new SegmentCursor(bytes, header);
  const [from, to] = hasRange(options) ? selectRange(cursor, header, options) : [0, header.count];
  for (let i = 0; i < to; i++) {
    const record = cursor.next(i >= from);
    if (record !== undefined) yield record;
  }
  if (to === header.count) cursor.finish();
}

/**
 * Decodes a whole segment into {@link SegmentColumns}: the checks of
 * {@link decodeSegment} (checksum, header, every column read exactly, payloads
 * rebuilt to the size the header states), but records are built only when asked for.
 * Options: `expect` as for {@link decodeSegment}.
 *
 * @example
 * ```ts
 * const columns = decodeSegmentColumns(row.data, { expect: { checksum: row.checksum } });
 * const first = columns.record(0);
 * ```
 */
export function decodeSegmentColumns(
  bytes: Uint8Array,
  options: { readonly expect?: SegmentExpectation } = {},
): SegmentColumns {
  const header = readSegmentHeader(bytes);
  checkExpectation(header, options.expect);
  return new SegmentCursor(bytes, header).columns();
}
