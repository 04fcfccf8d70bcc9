import { EventsError } from './errors.js';
import { isKnownEventType, type EventEnvelope, type WirthforgeEvent } from './event-schemas.js';
import { isWellFormed } from './is-well-formed.js';
import { toIsoMicros, tryParseIsoMicros } from './iso-micros.js';
import { decodeValue, encodeObjectWithout, encodePositionalPayload } from './msgpack-value.js';
import { payloadLayout, type PayloadLayout } from './payload-layout.js';
import { isPositionalPayload, PayloadReadError, readPositionalPayload } from './payload-reader.js';
import { SCHEMA_VERSIONS, UNKNOWN_TYPE_SCHEMA_VERSION } from './schema-versions.js';
import { isUnknownEvent, type UnknownEvent } from './unknown-event.js';
import { defaultUpcasters, type UpcasterRegistry } from './upcaster-registry.js';

/**
 * An event as the storage layer keeps it: the fields it indexes as columns, and the
 * rest of the event as a MessagePack payload.
 */
export interface EncodedEvent {
  /** Event type name, e.g. `energy.update`. */
  readonly type: string;
  /** Schema version of the type the payload was written with. */
  readonly schemaVersion: number;
  /** The event's timestamp in integer microseconds since the Unix epoch. */
  readonly timestampUs: number;
  /** The event's `frame_id`, when it has one. */
  readonly frameId: number | undefined;
  /** The event's `event_id`, when it has one. */
  readonly eventId: string | undefined;
  /** Everything else: `data` and any extra envelope property (and `session_id` if asked). */
  readonly payload: Uint8Array;
}

/** A stored event to decode: what {@link encodeEvent} produced, as the storage layer returns it. */
export interface EventRecord {
  readonly type: string;
  readonly schemaVersion: number;
  readonly timestampUs: number;
  readonly frameId?: number | null | undefined;
  readonly eventId?: string | null | undefined;
  readonly payload: Uint8Array;
}

/** Options of {@link encodeEvent}. */
export interface EncodeOptions {
  /**
   * Schema version to record. Defaults to the current version of the type
   * ({@link SCHEMA_VERSIONS}), or 1 for a type this code does not know.
   */
  readonly schemaVersion?: number;
  /**
   * Keep `session_id` in the payload. Off by default: in a session's stream the
   * session id is implied by the stream. Turn it on for events stored in user or
   * system streams.
   */
  readonly includeSessionId?: boolean;
}

/** Options of {@link decodeEvent}. */
export interface DecodeOptions {
  /**
   * Session id of the stream the record was read from; required unless the payload
   * carries its own (`includeSessionId` at encode time), which then wins.
   */
  readonly sessionId?: string;
  /** Brings older schema versions up to date. Defaults to {@link defaultUpcasters}. */
  readonly upcasters?: UpcasterRegistry;
}

const COLUMNS_AND_SESSION: ReadonlySet<string> = new Set([
  'session_id',
  'type',
  'timestamp',
  'frame_id',
  'event_id',
]);
const COLUMNS: ReadonlySet<string> = new Set(['type', 'timestamp', 'frame_id', 'event_id']);

/** Characters of `YYYY-MM-DDTHH:MM:` in a timestamp. */
const MINUTE_PREFIX_LENGTH = 17;
/** Length of the canonical form `YYYY-MM-DDTHH:MM:SS.ffffffZ`. */
const CANONICAL_TIMESTAMP_LENGTH = 27;
const DIGIT_0 = 0x30;

// The minute of the last canonical timestamp parsed in full, and its microseconds: the
// events of a session come in timestamp order, so most share the previous one's minute.
let cachedMinute = '';
let cachedMinuteUs = 0;

/**
 * Seconds (`SS`, 0–59) and microseconds (`ffffff`) of a canonical timestamp
 * `…:SS.ffffffZ` in microseconds, or -1 when those characters are not that form.
 */
function secondsAndFractionUs(iso: string): number {
  if (
    iso.length !== CANONICAL_TIMESTAMP_LENGTH ||
    iso.charCodeAt(19) !== 0x2e /* . */ ||
    iso.charCodeAt(26) !== 0x5a /* Z */
  ) {
    return -1;
  }
  const tens = iso.charCodeAt(17) - DIGIT_0;
  const ones = iso.charCodeAt(18) - DIGIT_0;
  if (!(tens >= 0 && tens <= 5 && ones >= 0 && ones <= 9)) return -1;
  let micros = 0;
  for (let i = 20; i < 26; i++) {
    const digit = iso.charCodeAt(i) - DIGIT_0;
    if (!(digit >= 0 && digit <= 9)) return -1;
    micros = micros * 10 + digit;
  }
  return (tens * 10 + ones) * 1_000_000 + micros;
}

/**
 * {@link tryParseIsoMicros}, faster for a run of canonical timestamps in one minute (the
 * encoder's common case, about a third of its time otherwise): the minute's prefix is
 * checked and converted once, by `tryParseIsoMicros` itself, and only the seconds and
 * fraction are read after that. Anything else takes the full parse, so both accept and
 * return exactly the same.
 */
function timestampMicros(iso: string): number | undefined {
  if (cachedMinute !== '' && iso.startsWith(cachedMinute)) {
    const within = secondsAndFractionUs(iso);
    if (within >= 0) return cachedMinuteUs + within;
  }
  const micros = tryParseIsoMicros(iso);
  if (micros !== undefined) {
    const within = secondsAndFractionUs(iso);
    if (within >= 0) {
      cachedMinute = iso.slice(0, MINUTE_PREFIX_LENGTH);
      cachedMinuteUs = micros - within;
    }
  }
  return micros;
}

function fail(path: string, message: string): EventsError {
  return new EventsError('encode_failed', `${path} ${message}`, { path });
}

/**
 * Splits an event into the columns the storage layer indexes and a MessagePack
 * payload holding the rest (`data` and any extra envelope property). For a known
 * type at a version with a field list ({@link payloadFields}), the payload is
 * positional: `[1, presence, ...values of the present data fields, extras?]`; for
 * anything else (unknown types, `data` that is not an object) it is a map. The
 * README's wire format section has the details. Does not
 * validate the event against its schema (do that at ingest, with
 * {@link validateEvent}); it checks what it needs to store the event without loss:
 *
 * - `timestamp` must be accepted by {@link parseIsoMicros} (`invalid_timestamp`);
 *   it is stored as microseconds, so it reads back in the canonical 6-digit form;
 * - `frame_id`, when present, a non-negative safe integer; `event_id` a string;
 * - every string well-formed (`invalid_string`, with the JSON Pointer of the value);
 * - only JSON-like values plus -0, NaN and ±Infinity (see {@link encodeValue}).
 *
 * @example
 * ```ts
 * const { payload, ...columns } = encodeEvent(event);
 * // columns: { type: 'energy.update', schemaVersion: 1, timestampUs: 1755460085150000, frameId: 1, eventId: 'evt_3' }
 * ```
 */
export function encodeEvent(
  event: WirthforgeEvent | UnknownEvent | EventEnvelope,
  options: EncodeOptions = {},
): EncodedEvent {
  const source = (isUnknownEvent(event) ? event.event : event) as Record<string, unknown>;
  if (typeof source !== 'object' || source === null || Array.isArray(source)) {
    throw fail('', 'must be an event object');
  }
  const type = source.type;
  if (typeof type !== 'string' || type.length === 0) {
    throw fail('/type', 'must be a non-empty string');
  }
  if (!isWellFormed(type)) {
    throw new EventsError('invalid_string', '/type contains a lone surrogate', { path: '/type' });
  }
  const timestamp = source.timestamp;
  const timestampUs = typeof timestamp === 'string' ? timestampMicros(timestamp) : undefined;
  if (timestampUs === undefined) {
    throw new EventsError(
      'invalid_timestamp',
      '/timestamp must be an ISO-8601 UTC timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z',
      { path: '/timestamp' },
    );
  }
  const schemaVersion =
    options.schemaVersion ??
    (isKnownEventType(type) ? SCHEMA_VERSIONS[type] : UNKNOWN_TYPE_SCHEMA_VERSION);
  if (!Number.isSafeInteger(schemaVersion) || schemaVersion < 1) {
    throw new EventsError('invalid_version', 'Schema version must be a positive integer');
  }
  const frameId = source.frame_id;
  if (frameId !== undefined && !(Number.isSafeInteger(frameId) && (frameId as number) >= 0)) {
    throw fail('/frame_id', 'must be a non-negative safe integer');
  }
  const eventId = source.event_id;
  if (eventId !== undefined) {
    if (typeof eventId !== 'string') throw fail('/event_id', 'must be a string');
    if (!isWellFormed(eventId)) {
      throw new EventsError('invalid_string', '/event_id contains a lone surrogate', {
        path: '/event_id',
      });
    }
  }
  const skip = options.includeSessionId === true ? COLUMNS : COLUMNS_AND_SESSION;
  const data = source.data;
  const layout =
    typeof data === 'object' && data !== null && !Array.isArray(data)
      ? payloadLayout(type, schemaVersion)
      : undefined;
  const payload =
    layout === undefined
      ? encodeObjectWithout(source, skip)
      : encodePositionalPayload(source, data as Record<string, unknown>, layout, skip);
  return {
    type,
    schemaVersion,
    timestampUs,
    // -0 is not a frame index: it is stored as 0.
    frameId: frameId === undefined ? undefined : (frameId as number) + 0,
    eventId,
    payload,
  };
}

function corrupt(message: string, cause?: unknown): EventsError {
  return new EventsError(
    'decode_failed',
    `Cannot decode stored event: ${message}`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * Rebuilds an event from its stored columns and payload, then brings it to the
 * current schema version of its type with the upcasters. An event of a type this
 * code does not know comes back intact as an {@link UnknownEvent}.
 *
 * Throws `future_version` (before reading the payload) when the record was written
 * with a schema version newer than this code knows, `decode_failed` when the
 * payload is neither of the two formats {@link encodeEvent} writes (a map, or a
 * positional array that matches the field list of the record's type and version) or
 * no session id is known.
 *
 * @example
 * ```ts
 * const event = decodeEvent(row, { sessionId: '20250817T194800Z_001' });
 * if (!isUnknownEvent(event) && event.type === 'energy.update') total += event.data.energy;
 * ```
 */
export function decodeEvent(
  record: EventRecord,
  options: DecodeOptions = {},
): WirthforgeEvent | UnknownEvent {
  const upcasters = options.upcasters ?? defaultUpcasters;
  const { type, schemaVersion } = record;
  upcasters.checkVersion(type, schemaVersion);
  const event = isPositionalPayload(record.payload)
    ? fromPositionalPayload(record, options.sessionId)
    : fromMapPayload(record, options.sessionId);
  return upcasters.upcast(event, schemaVersion);
}

/** The envelope from the columns: session id, timestamp, type, frame and event ids. */
function envelopeOf(record: EventRecord, sessionId: unknown): Record<string, unknown> {
  if (typeof sessionId !== 'string') {
    throw corrupt('the payload has no session_id and no sessionId option was given');
  }
  let timestamp: string;
  try {
    timestamp = toIsoMicros(record.timestampUs);
  } catch (error) {
    throw corrupt('the timestamp column is out of range', error);
  }
  const event: Record<string, unknown> = { session_id: sessionId, timestamp, type: record.type };
  if (record.frameId !== undefined && record.frameId !== null) event.frame_id = record.frameId;
  if (record.eventId !== undefined && record.eventId !== null) event.event_id = record.eventId;
  return event;
}

/** Format 0: the payload is a map of every non-column property. */
function fromMapPayload(record: EventRecord, sessionId: string | undefined): EventEnvelope {
  const payload = decodeValue(record.payload);
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw corrupt('the payload is not a map');
  }
  const fields = payload as Record<string, unknown>;
  const event = envelopeOf(record, fields.session_id ?? sessionId);
  for (const key in fields) {
    if (key === 'session_id') continue;
    if (COLUMNS.has(key)) throw corrupt(`the payload repeats the column field "${key}"`);
    event[key] = fields[key];
  }
  return event as EventEnvelope;
}

/** Format 1: `[1, presence, ...values, extras?]` with the layout of the record's type and version. */
function fromPositionalPayload(record: EventRecord, sessionId: string | undefined): EventEnvelope {
  const layout = payloadLayout(record.type, record.schemaVersion);
  if (layout === undefined) {
    throw corrupt(
      `the payload is positional but ${record.type} v${record.schemaVersion} has no field list`,
    );
  }
  let data: Record<string, unknown>;
  let extras: Record<string, unknown> | undefined;
  try {
    ({ data, extras } = readPositionalPayload(record.payload, layout));
  } catch (error) {
    if (error instanceof PayloadReadError) throw corrupt(error.message, error);
    throw error;
  }
  if (extras === undefined) {
    const event = envelopeOf(record, sessionId);
    event.data = data;
    return event as EventEnvelope;
  }
  const event = envelopeOf(record, extras.session_id ?? sessionId);
  event.data = data;
  for (const key in extras) {
    if (key === 'session_id') continue;
    if (COLUMNS.has(key)) throw corrupt(`the payload repeats the column field "${key}"`);
    if (key === 'data') {
      addExtraData(data, extras.data, layout);
    } else {
      event[key] = extras[key];
    }
  }
  return event as EventEnvelope;
}

/** Adds the `data` properties outside the layout, kept in the extras map. */
function addExtraData(data: Record<string, unknown>, extra: unknown, layout: PayloadLayout): void {
  if (typeof extra !== 'object' || extra === null || Array.isArray(extra)) {
    throw corrupt('the extra data of the payload is not a map');
  }
  const record = extra as Record<string, unknown>;
  for (const key in record) {
    if (layout.index.has(key)) throw corrupt(`the payload repeats the data field "${key}"`);
    data[key] = record[key];
  }
}
