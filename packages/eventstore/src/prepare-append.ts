import {
  encodeEvent,
  isEventsError,
  isUnknownEvent,
  tryParseStreamName,
  validateEvent,
  type UnknownEvent,
  type WirthforgeEvent,
} from '@wirthforge/events';
import {
  MAX_EVENT_ID_LENGTH,
  MAX_PAYLOAD_BYTES,
  type ExpectedVersion,
  type NewEventRecord,
} from '@wirthforge/storage';
import { InvalidEventError, invalidArgument, type EventIssue } from './errors.js';

/** What the store appends: known events, or events of unknown types wrapped on purpose. */
export type AppendableEvent = WirthforgeEvent | UnknownEvent;

/**
 * One stream's part of a commit, already encoded: what {@link EventStore.commitBatch}
 * takes. Build it with {@link prepareAppend}, or encode the records yourself (the
 * recorder does) with `encodeEvent` of `@wirthforge/events`, `includeSessionId` set for
 * streams that are not session streams.
 */
export interface PreparedAppend {
  /** Stream name: `session-<id>`, `user-<id>`, `system`, … */
  readonly stream: string;
  /** Default `'any'`. */
  readonly expectedVersion?: ExpectedVersion | undefined;
  /** The encoded events, in order. */
  readonly records: readonly NewEventRecord[];
}

/** Options of {@link prepareAppend}. */
export interface PrepareAppendOptions {
  /** Default `'any'`. */
  readonly expectedVersion?: ExpectedVersion | undefined;
  /** Check each event against its schema. Default `true`. */
  readonly validate?: boolean | undefined;
}

const SESSION_PREFIX = 'session-';

/**
 * The session id a stream belongs to: the id of a `session-<id>` stream, `undefined` for
 * any other stream. Throws `invalid_argument` for a `session-` name whose id is not a
 * session id (its events could not be read back).
 */
export function sessionIdOfStream(stream: string): string | undefined {
  if (typeof stream !== 'string' || stream.length === 0) {
    throw invalidArgument('stream', 'expected a non-empty stream name');
  }
  if (!stream.startsWith(SESSION_PREFIX)) return undefined;
  const parsed = tryParseStreamName(stream);
  if (parsed?.kind !== 'session') {
    throw invalidArgument(
      'stream',
      `"${stream}" is not a session stream name (session-YYYYMMDDTHHMMSSZ_NNN)`,
    );
  }
  return parsed.sessionId;
}

function envelopeOf(event: unknown): Record<string, unknown> | undefined {
  const source = isUnknownEvent(event) ? event.event : event;
  return typeof source === 'object' && source !== null && !Array.isArray(source)
    ? (source as Record<string, unknown>)
    : undefined;
}

/**
 * Validates and encodes events for one stream: the first half of an append, with no
 * I/O. Every problem of every event is collected; if there is any, nothing is encoded
 * and an {@link InvalidEventError} lists them with the index of their event.
 *
 * Checked: the schema of each known type (unless `validate` is `false`); that a plain
 * object of an unknown type is refused (wrap it with `createUnknownEvent` to store it
 * on purpose); that an event in a session stream belongs to that session (its
 * `session_id`, which the stream implies and the payload then leaves out); and
 * whatever the codec refuses (lone surrogates, bad timestamps, bigints, …), and what the
 * storage cannot keep although the schema allows it: times before 1970, event ids longer
 * than `MAX_EVENT_ID_LENGTH`, payloads larger than `MAX_PAYLOAD_BYTES`.
 *
 * @example
 * ```ts
 * const frame = prepareAppend(sessionStream(id), events, { expectedVersion: 42n });
 * await store.commitBatch([frame]);
 * ```
 */
export function prepareAppend(
  stream: string,
  events: readonly AppendableEvent[],
  options: PrepareAppendOptions = {},
): PreparedAppend {
  const sessionId = sessionIdOfStream(stream);
  if (!Array.isArray(events)) throw invalidArgument('events', 'expected an array of events');
  const validate = options.validate ?? true;
  const issues: EventIssue[] = [];
  const records: NewEventRecord[] = [];
  events.forEach((event: unknown, index) => {
    const envelope = envelopeOf(event);
    if (envelope === undefined) {
      issues.push({ index, path: '', keyword: 'type', message: 'must be an event object' });
      return;
    }
    const before = issues.length;
    if (validate) {
      const result = validateEvent(envelope);
      if (result.status === 'invalid') {
        for (const issue of result.issues) issues.push({ index, ...issue });
      } else if (result.status === 'unknown_type' && !isUnknownEvent(event)) {
        for (const issue of result.issues) {
          issues.push({
            index,
            ...issue,
            message: `${issue.message} (wrap it with createUnknownEvent to store it as it is)`,
          });
        }
      }
    }
    if (sessionId !== undefined && envelope.session_id !== sessionId) {
      issues.push({
        index,
        path: '/session_id',
        keyword: 'stream',
        message: `must be ${sessionId}, the session of stream ${stream}`,
      });
    }
    if (issues.length > before) return;
    try {
      const record = encodeEvent(event as AppendableEvent, {
        includeSessionId: sessionId === undefined,
      });
      // Events may carry times from 1700 on; the store keeps microseconds since the epoch.
      if (record.timestampUs < 0) {
        issues.push({
          index,
          path: '/timestamp',
          keyword: 'invalid_timestamp',
          message: `${String(envelope.timestamp)} is before 1970-01-01T00:00:00Z: the store keeps times from the Unix epoch on`,
        });
        return;
      }
      // The storage's limits, as issues of the event rather than a storage error.
      if (record.eventId !== undefined && record.eventId.length > MAX_EVENT_ID_LENGTH) {
        issues.push({
          index,
          path: '/event_id',
          keyword: 'maxLength',
          message: `is ${record.eventId.length} characters long; the store keeps event ids of at most ${MAX_EVENT_ID_LENGTH}`,
        });
        return;
      }
      if (record.payload.byteLength > MAX_PAYLOAD_BYTES) {
        issues.push({
          index,
          path: '',
          keyword: 'encode_failed',
          message: `the event encodes to ${record.payload.byteLength} bytes; the store keeps events of at most ${MAX_PAYLOAD_BYTES}`,
        });
        return;
      }
      records.push(record);
    } catch (error) {
      if (!isEventsError(error)) throw error;
      issues.push({ index, path: error.path ?? '', keyword: error.code, message: error.message });
    }
  });
  if (issues.length > 0) throw new InvalidEventError(stream, issues);
  return options.expectedVersion === undefined
    ? { stream, records }
    : { stream, expectedVersion: options.expectedVersion, records };
}
