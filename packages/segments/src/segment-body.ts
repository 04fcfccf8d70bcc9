import { Packr, Unpackr } from 'msgpackr';

import type { TimestampData } from './timestamp-column.js';
import type { ColumnData } from './value-column.js';

/**
 * The body of a segment before deflate: one MessagePack array. Numbers of the
 * envelope are integer columns (see `int-column.ts`); payloads are split into the
 * columns of their group (one per event type and schema version).
 */
export type SegmentBody = [
  /** Positions minus the first position, an integer column. */
  positions: Uint8Array,
  /** Timestamps in microseconds (see `timestamp-column.ts`). */
  timestamps: TimestampData,
  /** One byte per event: 1 when it has a frame id. */
  framePresence: Uint8Array,
  /** Frame ids of the events that have one, an integer column. */
  frameIds: Uint8Array,
  /** The groups: `[type, schemaVersion]`, in first-seen order. */
  groups: [string, number][],
  /** Runs of group indexes: how many, then the group of each run and its length (integer columns). */
  groupRuns: [count: number, groups: Uint8Array, lengths: Uint8Array],
  /** One byte per event: how its payload is kept (see `PayloadMode`). */
  payloadModes: Uint8Array,
  /** Event ids (`null` when no event has one). */
  eventIds: EventIdData | null,
  /** Payloads kept as raw bytes: an integer column of lengths, then the bytes. */
  rawPayloads: [lengths: Uint8Array, bytes: Uint8Array] | null,
  /** Columns of each group, by group index. */
  groupColumns: GroupData[],
];

/** Event ids: a presence byte per event, and for those present a prefix and a number. */
export type EventIdData = [
  presence: Uint8Array,
  /** Prefix dictionary, in first-seen order. */
  prefixes: string[],
  /** Prefix index of each present id, an integer column. */
  prefixIds: Uint8Array,
  /** The decimal number that ends the id plus one, or 0 when it ends otherwise, an integer column. */
  numbers: Uint8Array,
];

/**
 * A group's columns: the positional payloads' presence masks, one column per field bit
 * (null for bits never set), the extras maps, and the payloads taken as one value.
 */
export type GroupData = [
  presence: Uint8Array | null,
  fields: (ColumnData | null)[],
  extras: ColumnData | null,
  whole: ColumnData | null,
];

/** How an event's payload is kept. */
export const PAYLOAD_POSITIONAL = 0;
/** The payload is one value of the group's `whole` column (a map, or any other value). */
export const PAYLOAD_WHOLE = 1;
/** The payload's bytes are kept as they are. */
export const PAYLOAD_RAW = 2;
/** A positional payload with an extras map (one value of the group's `extras` column). */
export const PAYLOAD_POSITIONAL_EXTRAS = 3;

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, moreTypes: false });

/** The body as MessagePack, before deflate. */
export function packBody(body: SegmentBody): Uint8Array {
  return packr.pack(body);
}

/** The body back from MessagePack; its shape is checked by the decoder. */
export function unpackBody(bytes: Uint8Array): unknown {
  return unpackr.unpack(bytes) as unknown;
}
