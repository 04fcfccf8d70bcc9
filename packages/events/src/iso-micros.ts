import { EventsError } from './errors.js';
import {
  MAX_YEAR,
  MIN_YEAR,
  calendarDateSource,
  isValidDateTime,
  timeOfDaySource,
} from './calendar-patterns.js';

/**
 * Regular-expression source (ECMA-262, no flags) of the timestamps events carry:
 * `YYYY-MM-DDTHH:MM:SS`, an optional fraction of 1 to 6 digits, then `Z` or `+00:00`.
 * Only real calendar dates in 1700–2199 match. Used as the `pattern` of every
 * timestamp in the schemas.
 */
export const TIMESTAMP_PATTERN = `^${calendarDateSource('-')}T${timeOfDaySource(':')}(?:\\.[0-9]{1,6})?(?:Z|\\+00:00)$`;

/** Smallest timestamp accepted: 1700-01-01T00:00:00.000000Z, in microseconds since the epoch. */
export const TIMESTAMP_MIN_US = Date.UTC(MIN_YEAR, 0, 1) * 1000;
/** Largest timestamp accepted: 2199-12-31T23:59:59.999999Z, in microseconds since the epoch. */
export const TIMESTAMP_MAX_US = Date.UTC(MAX_YEAR + 1, 0, 1) * 1000 - 1;

const ISO_PARTS =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,6}))?(?:Z|\+00:00)$/;

const FRACTION_SCALE = [1, 100_000, 10_000, 1_000, 100, 10, 1] as const;

/**
 * Microseconds since the Unix epoch of an ISO-8601 timestamp, or `undefined` when the
 * string is not one this package accepts (see {@link parseIsoMicros}).
 */
export function tryParseIsoMicros(iso: string): number | undefined {
  const match = ISO_PARTS.exec(iso);
  if (match === null) return undefined;
  const year = Number(match[1]);
  const month = Number(match[2]);
  const day = Number(match[3]);
  const hour = Number(match[4]);
  const minute = Number(match[5]);
  const second = Number(match[6]);
  if (!isValidDateTime(year, month, day, hour, minute, second)) return undefined;
  const fraction = match[7];
  const micros =
    fraction === undefined
      ? 0
      : Number(fraction) * (FRACTION_SCALE[fraction.length] ?? /* unreachable: 1–6 digits */ 1);
  return Date.UTC(year, month - 1, day, hour, minute, second) * 1000 + micros;
}

/**
 * Parses an ISO-8601 timestamp into integer microseconds since the Unix epoch.
 *
 * Accepted: `YYYY-MM-DDTHH:MM:SS`, then optionally `.` and 1 to 6 fractional digits
 * (fewer than 6 are read as a decimal fraction, so `.5` is 500000 µs), then `Z` or
 * `+00:00`. Refused with `invalid_timestamp`: other offsets (convert to UTC first),
 * more than 6 fractional digits (storage keeps microseconds; rounding would lose data
 * silently), lower-case `t`/`z`, impossible dates and times (2025-02-29, 24:00:00,
 * leap seconds), and years outside 1700–2199.
 *
 * @example
 * ```ts
 * parseIsoMicros('2025-08-17T19:48:05.123456Z'); // 1755460085123456
 * parseIsoMicros('2025-08-17T19:45:00.000Z');    // 1755459900000000
 * ```
 */
export function parseIsoMicros(iso: string): number {
  const micros = typeof iso === 'string' ? tryParseIsoMicros(iso) : undefined;
  if (micros === undefined) {
    throw new EventsError(
      'invalid_timestamp',
      'Expected an ISO-8601 UTC timestamp YYYY-MM-DDTHH:MM:SS[.ffffff]Z (at most 6 fractional digits, Z or +00:00, a real date in 1700–2199)',
    );
  }
  return micros;
}

/** Whether `value` is a timestamp {@link parseIsoMicros} accepts. */
export function isIsoTimestamp(value: unknown): value is string {
  return typeof value === 'string' && tryParseIsoMicros(value) !== undefined;
}

// Events of one frame and of neighbouring frames share their second: cache its text
// (with the dot). The six fraction digits come from a table of three-digit groups: two
// lookups instead of formatting and padding a number per call (a read formats one
// timestamp per event).
let cachedSecond = Number.NaN;
let cachedPrefix = '';
// Events of one frame share their microsecond too: the last text is handed out again.
let lastMicros = Number.NaN;
let lastText = '';
const THREE_DIGITS: readonly string[] = Array.from({ length: 1000 }, (_, i) =>
  String(i).padStart(3, '0'),
);

/**
 * Formats integer microseconds since the Unix epoch as the canonical timestamp:
 * UTC, exactly 6 fractional digits, `Z`. The inverse of {@link parseIsoMicros} for
 * canonical strings. Throws `invalid_timestamp` for a non-integer or a value outside
 * {@link TIMESTAMP_MIN_US}..{@link TIMESTAMP_MAX_US}.
 *
 * @example
 * ```ts
 * toIsoMicros(1755460085123456); // '2025-08-17T19:48:05.123456Z'
 * toIsoMicros(Date.now() * 1000); // now, with microsecond digits 000
 * ```
 */
export function toIsoMicros(us: number): string {
  // Only a valid value is ever cached, so a hit needs no check.
  if (us === lastMicros) return lastText;
  if (!Number.isInteger(us) || us < TIMESTAMP_MIN_US || us > TIMESTAMP_MAX_US) {
    throw new EventsError(
      'invalid_timestamp',
      `Expected integer microseconds between ${TIMESTAMP_MIN_US} and ${TIMESTAMP_MAX_US}`,
    );
  }
  const second = Math.floor(us / 1_000_000);
  if (second !== cachedSecond) {
    cachedPrefix = `${new Date(second * 1000).toISOString().slice(0, 19)}.`;
    cachedSecond = second;
  }
  const micros = us - second * 1_000_000;
  const millis = Math.floor(micros / 1000);
  lastText = `${cachedPrefix}${THREE_DIGITS[millis]!}${THREE_DIGITS[micros - millis * 1000]!}Z`;
  lastMicros = us;
  return lastText;
}
