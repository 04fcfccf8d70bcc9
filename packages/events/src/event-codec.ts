import { EventsError } from './errors.js';
import { isKnownEventType, type EventEnvelope, type WirthforgeEvent } from './event-schemas.js';
import { isWellFormed } from './is-well-formed.js';
import { toIsoMicros, tryParseIsoMicros } from './iso-micros.js';
import { decodeValue, encodeObjectWithout } from './msgpack-value.js';
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

function fail(path: string, message: string): EventsError {
  return new EventsError('encode_failed', `${path} ${message}`, { path });
}

/**
 * Splits an event into the columns the storage layer indexes and a MessagePack
 * payload holding the rest (`data` and any extra envelope property). Does not
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
  const timestampUs = typeof timestamp === 'string' ? tryParseIsoMicros(timestamp) : undefined;
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
  const payload = encodeObjectWithout(
    source,
    options.includeSessionId === true ? COLUMNS : COLUMNS_AND_SESSION,
  );
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
 * payload is not a MessagePack map or no session id is known.
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
  const payload = decodeValue(record.payload);
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload)) {
    throw corrupt('the payload is not a map');
  }
  const fields = payload as Record<string, unknown>;
  const sessionId = fields.session_id ?? options.sessionId;
  if (typeof sessionId !== 'string') {
    throw corrupt('the payload has no session_id and no sessionId option was given');
  }
  let timestamp: string;
  try {
    timestamp = toIsoMicros(record.timestampUs);
  } catch (error) {
    throw corrupt('the timestamp column is out of range', error);
  }
  const event: Record<string, unknown> = { session_id: sessionId, timestamp, type };
  if (record.frameId !== undefined && record.frameId !== null) event.frame_id = record.frameId;
  if (record.eventId !== undefined && record.eventId !== null) event.event_id = record.eventId;
  for (const key in fields) {
    if (key === 'session_id') continue;
    if (COLUMNS.has(key)) throw corrupt(`the payload repeats the column field "${key}"`);
    event[key] = fields[key];
  }
  return upcasters.upcast(event as EventEnvelope, schemaVersion);
}
