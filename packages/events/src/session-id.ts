import { EventsError } from './errors.js';
import {
  MAX_YEAR,
  MIN_YEAR,
  calendarDateSource,
  isValidDateTime,
  timeOfDaySource,
} from './calendar-patterns.js';

/**
 * Regular-expression source of a session id `YYYYMMDDTHHMMSSZ_NNN`: the UTC second
 * the session started, then a 3-digit sequence number for sessions started in the
 * same second. Stricter than the spec's `^[0-9]{8}T[0-9]{6}Z_[0-9]{3}$`: the date and
 * time must be real (1700–2199).
 */
export const SESSION_ID_PATTERN = `^${calendarDateSource('')}T${timeOfDaySource('')}Z_[0-9]{3}$`;

/** Largest sequence number a session id can carry. */
export const MAX_SESSION_SEQUENCE = 999;

/** A session id taken apart by {@link parseSessionId}. */
export interface ParsedSessionId {
  /** The UTC second the session started (milliseconds are 0). */
  readonly startedAt: Date;
  /** Sequence number among sessions started in the same second, 0–999. */
  readonly sequence: number;
}

const SESSION_ID_PARTS =
  /^([0-9]{4})([0-9]{2})([0-9]{2})T([0-9]{2})([0-9]{2})([0-9]{2})Z_([0-9]{3})$/;

/**
 * Builds a session id from the session's start time (UTC, truncated to the second)
 * and a sequence number 0–999.
 *
 * @example
 * ```ts
 * createSessionId(new Date('2025-08-17T19:48:00.250Z'), 1); // '20250817T194800Z_001'
 * ```
 */
export function createSessionId(startedAt: Date, sequence: number): string {
  const time = startedAt instanceof Date ? startedAt.getTime() : Number.NaN;
  if (!Number.isFinite(time)) {
    throw new EventsError('invalid_session_id', 'Session start time is not a valid Date');
  }
  const year = startedAt.getUTCFullYear();
  if (year < MIN_YEAR || year > MAX_YEAR) {
    throw new EventsError(
      'invalid_session_id',
      `Session start year ${year} is outside ${MIN_YEAR}–${MAX_YEAR}`,
    );
  }
  if (!Number.isInteger(sequence) || sequence < 0 || sequence > MAX_SESSION_SEQUENCE) {
    throw new EventsError(
      'invalid_session_id',
      `Session sequence must be an integer from 0 to ${MAX_SESSION_SEQUENCE}`,
    );
  }
  const iso = startedAt.toISOString();
  return (
    iso.slice(0, 4) +
    iso.slice(5, 7) +
    iso.slice(8, 10) +
    'T' +
    iso.slice(11, 13) +
    iso.slice(14, 16) +
    iso.slice(17, 19) +
    'Z_' +
    String(sequence).padStart(3, '0')
  );
}

/** Like {@link parseSessionId}, but returns `undefined` instead of throwing. */
export function tryParseSessionId(id: string): ParsedSessionId | undefined {
  const match = typeof id === 'string' ? SESSION_ID_PARTS.exec(id) : null;
  if (match === null) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = Number(match[6]);
  if (!isValidDateTime(year, month, day, hour, minute, second)) return undefined;
  return {
    startedAt: new Date(Date.UTC(year, month - 1, day, hour, minute, second)),
    sequence: Number(match[7]),
  };
}

/**
 * Takes a session id apart. Throws `invalid_session_id` when it is not of the form
 * `YYYYMMDDTHHMMSSZ_NNN` with a real date and time.
 *
 * @example
 * ```ts
 * const { startedAt, sequence } = parseSessionId('20250817T194800Z_001');
 * startedAt.toISOString(); // '2025-08-17T19:48:00.000Z'
 * sequence;                // 1
 * ```
 */
export function parseSessionId(id: string): ParsedSessionId {
  const parsed = tryParseSessionId(id);
  if (parsed === undefined) {
    throw new EventsError(
      'invalid_session_id',
      'Expected a session id YYYYMMDDTHHMMSSZ_NNN with a real UTC date and time',
    );
  }
  return parsed;
}

/** Whether `value` is a session id {@link parseSessionId} accepts. */
export function isSessionId(value: unknown): value is string {
  return typeof value === 'string' && tryParseSessionId(value) !== undefined;
}
