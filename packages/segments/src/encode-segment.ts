import type { StoredEventRecord } from '@wirthforge/storage';
import { deflateSync } from 'fflate';

import { ByteWriter } from './byte-writer.js';
import { SegmentError } from './errors.js';
import { encodeIntColumn } from './int-column.js';
import { MAX_SCAN_DEPTH, NOT_CANONICAL, scanValue } from './msgpack-scan.js';
import {
  packBody,
  PAYLOAD_POSITIONAL,
  PAYLOAD_POSITIONAL_EXTRAS,
  PAYLOAD_RAW,
  PAYLOAD_WHOLE,
  type EventIdData,
  type GroupData,
  type SegmentBody,
} from './segment-body.js';
import { FIXED_HEADER_BYTES, writeSegment } from './segment-header.js';
import { encodeTimestamps } from './timestamp-column.js';
import { FloatColumnBuilder, runningSumStart } from './float-column.js';
import { ValueColumnBuilder } from './value-column.js';

/** Most decimal places a running sum (an accumulator) is recognised with. */
const MAX_RUNNING_SUM_EXPONENT = 9;

/** Most events one segment holds. */
export const MAX_SEGMENT_EVENTS = 1_000_000;

/** Options of {@link encodeSegment}. */
export interface EncodeSegmentOptions {
  /**
   * Deflate level, 0 (store) to 9 (smallest). Default 6: on a 60 Hz session level 9
   * saves under 0.5 % for 1.6 times the encoding time; inflating costs the same at any
   * level.
   */
  readonly level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  /**
   * Split payloads into columns (default `true`). With `false` every payload is kept as
   * raw bytes: larger, for comparison and for debugging the column coding.
   */
  readonly columnar?: boolean;
}

const MAX_POSITION = Number.MAX_SAFE_INTEGER;
const MAX_BIG = BigInt(MAX_POSITION);
const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function invalid(index: number, message: string): SegmentError {
  return new SegmentError('invalid_argument', `events[${index}]: ${message}`);
}

// A function, so that the check does not narrow a readonly array to `any[]`.
function isArray(value: unknown): boolean {
  return Array.isArray(value);
}

function isWellFormed(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/** One group: the columns of the payloads of one event type at one schema version. */
class GroupBuilder {
  readonly presence: number[] = [];
  readonly fields: (ValueColumnBuilder | undefined)[] = [];
  /** One more than the highest field bit seen. */
  fieldCount = 0;
  extras: ValueColumnBuilder | undefined;
  whole: ValueColumnBuilder | undefined;

  encode(): GroupData {
    const fields: (ReturnType<ValueColumnBuilder['encode']> | null)[] = [];
    const numbers = this.fields.map((field) => field?.numbers());
    for (let bit = 0; bit < this.fieldCount; bit++) {
      const field = this.fields[bit];
      fields.push(field === undefined ? null : field.encode(this.runningSum(bit, numbers)));
    }
    return [
      this.presence.length > 0 ? encodeIntColumn(this.presence) : null,
      fields,
      this.extras?.encode() ?? null,
      this.whole?.encode() ?? null,
    ];
  }

  /**
   * The coding of field `bit` as the running sum of an earlier field, when it is one
   * (an accumulator of energy): then its values cost nothing but the first.
   */
  private runningSum(
    bit: number,
    numbers: readonly (number[] | undefined)[],
  ): Uint8Array | undefined {
    const sums = numbers[bit];
    // Worth it only for a column with doubles; an integer column is cheap already.
    if (sums === undefined || sums.every(Number.isInteger)) return undefined;
    for (let from = 0; from < bit; from++) {
      const terms = numbers[from];
      if (terms?.length !== sums.length || !samePresence(this.presence, from, bit)) continue;
      for (let e = 0; e <= MAX_RUNNING_SUM_EXPONENT; e++) {
        const start = runningSumStart(sums, terms, e);
        if (start !== undefined) return FloatColumnBuilder.encodeRunningSum(e, from, start);
      }
    }
    return undefined;
  }
}

/** Whether every positional payload of the group has field `a` exactly when it has field `b`. */
function samePresence(presence: readonly number[], a: number, b: number): boolean {
  for (const mask of presence) if (((mask >>> a) & 1) !== ((mask >>> b) & 1)) return false;
  return true;
}

function popcount(value: number): number {
  let v = value - ((value >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return (((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24;
}

/**
 * Reads the array header at the start of `payload`: its length and the offset of its
 * first item, or `undefined` when the payload does not start with an array.
 */
function arrayHeader(payload: Uint8Array): [length: number, start: number] | undefined {
  const byte = payload[0];
  if (byte === undefined) return undefined;
  if ((byte & 0xf0) === 0x90) return [byte & 0x0f, 1];
  if (byte === 0xdc && payload.length >= 3) {
    return [((payload[1] as number) << 8) | (payload[2] as number), 3];
  }
  return undefined;
}

/** Reads a canonical unsigned 32-bit integer at `p`: `[value, next]`, or `undefined`. */
function readUint(payload: Uint8Array, p: number): [number, number] | undefined {
  const byte = payload[p];
  if (byte === undefined) return undefined;
  if (byte < 0x80) return [byte, p + 1];
  const next = scanValue(payload, p, MAX_SCAN_DEPTH);
  if (next === NOT_CANONICAL) return undefined;
  if (byte === 0xcc) return [payload[p + 1] as number, next];
  if (byte === 0xcd) return [((payload[p + 1] as number) << 8) | (payload[p + 2] as number), next];
  if (byte === 0xce) {
    const value =
      (payload[p + 1] as number) * 0x1000000 +
      (((payload[p + 2] as number) << 16) |
        ((payload[p + 3] as number) << 8) |
        (payload[p + 4] as number));
    return [value, next];
  }
  return undefined;
}

/**
 * Adds a payload to its group: as a positional payload `[1, presence, ...fields,
 * extras?]` when it is one (any event type: the bits of the mask say which field each
 * value is), as one value otherwise, as raw bytes when the columns could not rebuild
 * its exact bytes. Returns the payload mode.
 */
function addPayload(group: GroupBuilder, payload: Uint8Array): number {
  const end = scanValue(payload, 0, 0);
  if (end !== payload.length) return PAYLOAD_RAW;
  const header = arrayHeader(payload);
  if (header !== undefined && header[0] >= 2 && payload[header[1]] === 0x01) {
    const [length, start] = header;
    const mask = readUint(payload, start + 1);
    if (mask !== undefined) {
      const [presence, valuesStart] = mask;
      const present = popcount(presence);
      const hasExtras = length === present + 3;
      // The extras item, if any, must be a map (fix map, map 16 or map 32).
      if (length === present + 2 || hasExtras) {
        let extrasAt = -1;
        if (hasExtras) {
          let p = valuesStart;
          for (let i = 0; i < present; i++) p = scanValue(payload, p, 1);
          const byte = payload[p] as number;
          if ((byte & 0xf0) === 0x80 || byte === 0xde || byte === 0xdf) extrasAt = p;
        }
        if (!hasExtras || extrasAt >= 0) {
          group.presence.push(presence);
          group.fieldCount = Math.max(group.fieldCount, 32 - Math.clz32(presence));
          let p = valuesStart;
          for (let bit = 0; bit < 32; bit++) {
            if (((presence >>> bit) & 1) === 0) continue;
            const column = (group.fields[bit] ??= new ValueColumnBuilder());
            p = column.append(payload, p);
          }
          if (!hasExtras) return PAYLOAD_POSITIONAL;
          (group.extras ??= new ValueColumnBuilder()).append(payload, p);
          return PAYLOAD_POSITIONAL_EXTRAS;
        }
      }
    }
  }
  (group.whole ??= new ValueColumnBuilder()).append(payload, 0);
  return PAYLOAD_WHOLE;
}

/** Splits an event id into a prefix and the decimal number ending it (without leading zeros). */
const ID_NUMBER = /^([\s\S]*?)(0|[1-9][0-9]{0,14})$/;

/**
 * Encodes a closed, contiguous range of one stream's events into one segment: a
 * header (stream, position, version and time ranges, count, codec version, checksum)
 * and a deflated body where every field is a column. Positions, timestamps and frame
 * ids are delta or delta-of-delta coded; types and schema versions are a dictionary
 * with run lengths; payloads are split into columns per type, schema version and
 * field, down to nested values: integers delta-coded, decimals such as energy to three
 * places as scaled integers, other doubles XOR-coded, strings dictionary-coded. Every
 * event comes back from {@link decodeSegment} exactly, its payload byte for byte.
 *
 * The events must be one stream's, in order: versions consecutive, positions
 * increasing (not necessarily consecutive: streams interleave). Anything else is
 * refused with a `SegmentError` of code `invalid_argument` naming the event and the
 * field.
 *
 * @example
 * ```ts
 * const events = await collect(storage.readStream(stream, { from: 1n, to: 3600n }));
 * const bytes = encodeSegment(events);
 * await db.insertInto('segments').values(segmentRow(bytes, streamId)).execute();
 * ```
 */
export function encodeSegment(
  events: readonly StoredEventRecord[],
  options: EncodeSegmentOptions = {},
): Uint8Array {
  if (!isArray(events)) throw new SegmentError('invalid_argument', 'events must be an array');
  const count = events.length;
  if (count === 0) throw new SegmentError('invalid_argument', 'A segment holds at least one event');
  if (count > MAX_SEGMENT_EVENTS) {
    throw new SegmentError(
      'invalid_argument',
      `A segment holds at most ${MAX_SEGMENT_EVENTS} events, got ${count}`,
    );
  }
  const level = options.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new SegmentError('invalid_argument', `options.level must be 0..9, got ${String(level)}`);
  }
  const columnar = options.columnar ?? true;

  const first = events[0] as StoredEventRecord;
  const stream = first.stream;
  if (typeof stream !== 'string' || stream.length === 0 || !isWellFormed(stream)) {
    throw invalid(0, 'stream must be a non-empty, well-formed string');
  }
  const streamBytes = utf8.encode(stream);
  if (streamBytes.length > 0xffff - FIXED_HEADER_BYTES) throw invalid(0, 'stream name is too long');

  const positions = new Float64Array(count);
  const timestamps = new Float64Array(count);
  const framePresence = new Uint8Array(count);
  const frameIds: number[] = [];
  const groupIndex = new Map<string, number>();
  const groups: [string, number][] = [];
  const groupBuilders: GroupBuilder[] = [];
  const runGroups: number[] = [];
  const runLengths: number[] = [];
  const payloadModes = new Uint8Array(count);
  const idPresence = new Uint8Array(count);
  const prefixIndex = new Map<string, number>();
  const prefixes: string[] = [];
  const prefixIds: number[] = [];
  const idNumbers: number[] = [];
  const rawLengths: number[] = [];
  const raw = new ByteWriter(256);

  let firstPosition = 0;
  let firstVersion = 0;
  let previousPosition = 0;
  let minUs = Infinity;
  let maxUs = -Infinity;
  let payloadBytes = 0;
  let runGroup = -1;
  let runLength = 0;
  for (let i = 0; i < count; i++) {
    const event = events[i];
    if (typeof event !== 'object' || event === null) throw invalid(i, 'is not an event record');
    if (event.stream !== stream) {
      throw invalid(
        i,
        `belongs to stream "${String(event.stream)}", not "${stream}": a segment holds one stream`,
      );
    }
    const { position, version } = event;
    if (typeof position !== 'bigint' || position < 1n || position > MAX_BIG) {
      throw invalid(i, `position must be a bigint in 1..2^53-1, got ${String(position)}`);
    }
    if (typeof version !== 'bigint' || version < 1n || version > MAX_BIG) {
      throw invalid(i, `version must be a bigint in 1..2^53-1, got ${String(version)}`);
    }
    const p = Number(position);
    const v = Number(version);
    if (i === 0) {
      firstPosition = p;
      firstVersion = v;
    } else {
      if (p <= previousPosition) {
        throw invalid(
          i,
          `position ${p} does not follow position ${previousPosition}: positions must increase`,
        );
      }
      if (v !== firstVersion + i) {
        throw invalid(
          i,
          `version ${version} where ${firstVersion + i} is expected: versions must be consecutive`,
        );
      }
    }
    previousPosition = p;
    positions[i] = p - firstPosition;

    const { timestampUs, frameId, eventId, payload, type, schemaVersion } = event;
    if (!Number.isSafeInteger(timestampUs)) {
      throw invalid(i, `timestampUs must be a safe integer, got ${String(timestampUs)}`);
    }
    timestamps[i] = timestampUs;
    if (timestampUs < minUs) minUs = timestampUs;
    if (timestampUs > maxUs) maxUs = timestampUs;
    if (frameId !== null) {
      if (!Number.isSafeInteger(frameId) || frameId < 0 || Object.is(frameId, -0)) {
        throw invalid(
          i,
          `frameId must be null or a non-negative safe integer, got ${String(frameId)}`,
        );
      }
      framePresence[i] = 1;
      frameIds.push(frameId);
    }
    if (eventId !== null) {
      if (typeof eventId !== 'string' || !isWellFormed(eventId)) {
        throw invalid(i, 'eventId must be null or a well-formed string');
      }
      idPresence[i] = 1;
      const match = ID_NUMBER.exec(eventId);
      const prefix = match === null ? eventId : (match[1] as string);
      let id = prefixIndex.get(prefix);
      if (id === undefined) {
        id = prefixes.length;
        prefixIndex.set(prefix, id);
        prefixes.push(prefix);
      }
      prefixIds.push(id);
      idNumbers.push(match === null ? 0 : Number(match[2]) + 1);
    }
    if (typeof type !== 'string' || type.length === 0 || !isWellFormed(type)) {
      throw invalid(i, 'type must be a non-empty, well-formed string');
    }
    if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1 || schemaVersion > 0x7fffffff) {
      throw invalid(
        i,
        `schemaVersion must be an integer in 1..2^31-1, got ${String(schemaVersion)}`,
      );
    }
    if (!(payload instanceof Uint8Array)) throw invalid(i, 'payload must be a Uint8Array');
    payloadBytes += payload.length;

    const key = `${schemaVersion}:${type}`;
    let g = groupIndex.get(key);
    if (g === undefined) {
      g = groups.length;
      groupIndex.set(key, g);
      groups.push([type, schemaVersion]);
      groupBuilders.push(new GroupBuilder());
    }
    if (g === runGroup) {
      runLength++;
    } else {
      if (runLength > 0) {
        runGroups.push(runGroup);
        runLengths.push(runLength);
      }
      runGroup = g;
      runLength = 1;
    }
    const mode = columnar ? addPayload(groupBuilders[g] as GroupBuilder, payload) : PAYLOAD_RAW;
    payloadModes[i] = mode;
    if (mode === PAYLOAD_RAW) {
      rawLengths.push(payload.length);
      raw.bytes(payload);
    }
  }
  runGroups.push(runGroup);
  runLengths.push(runLength);
  if (payloadBytes > 0xffffffff) {
    throw new SegmentError('invalid_argument', 'The payloads of one segment exceed 4 GiB');
  }

  const eventIds: EventIdData | null =
    prefixIds.length === 0
      ? null
      : [idPresence, prefixes, encodeIntColumn(prefixIds), encodeIntColumn(idNumbers)];
  const body: SegmentBody = [
    encodeIntColumn(positions),
    encodeTimestamps(timestamps, framePresence, frameIds),
    framePresence,
    encodeIntColumn(frameIds),
    groups,
    [runGroups.length, encodeIntColumn(runGroups), encodeIntColumn(runLengths)],
    payloadModes,
    eventIds,
    rawLengths.length === 0 ? null : [encodeIntColumn(rawLengths), raw.result()],
    groupBuilders.map((group) => group.encode()),
  ];
  const packed = packBody(body);
  const deflated = deflateSync(packed, { level });
  const last = events[count - 1] as StoredEventRecord;
  return writeSegment(
    streamBytes,
    {
      count,
      firstPosition,
      lastPosition: previousPosition,
      firstVersion,
      lastVersion: Number(last.version),
      firstTimestampUs: first.timestampUs,
      lastTimestampUs: last.timestampUs,
      minTimestampUs: minUs,
      maxTimestampUs: maxUs,
      payloadBytes,
      bodyBytes: packed.length,
    },
    deflated,
  );
}
