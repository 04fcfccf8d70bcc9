import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import {
  TIMESTAMP_MAX_US,
  TIMESTAMP_MIN_US,
  TIMESTAMP_PATTERN,
  isIsoTimestamp,
  parseIsoMicros,
  toIsoMicros,
  tryParseIsoMicros,
} from './iso-micros.js';

const pattern = new RegExp(TIMESTAMP_PATTERN);

function expectInvalid(fn: () => unknown): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(isEventsError(caught, 'invalid_timestamp')).toBe(true);
}

describe('parseIsoMicros', () => {
  it('reads the spec example with 6 fractional digits', () => {
    expect(parseIsoMicros('2025-08-17T19:48:05.123456Z')).toBe(1_755_460_085_123_456);
  });

  it('reads fewer fractional digits as a decimal fraction', () => {
    expect(parseIsoMicros('2025-08-17T19:45:00.000Z')).toBe(1_755_459_900_000_000);
    expect(parseIsoMicros('2025-08-17T19:45:00.5Z')).toBe(1_755_459_900_500_000);
    expect(parseIsoMicros('2025-08-17T19:45:00.12Z')).toBe(1_755_459_900_120_000);
    expect(parseIsoMicros('2025-08-17T19:45:00Z')).toBe(1_755_459_900_000_000);
  });

  it('reads +00:00 as Z', () => {
    expect(parseIsoMicros('2025-08-17T19:48:05.123456+00:00')).toBe(
      parseIsoMicros('2025-08-17T19:48:05.123456Z'),
    );
  });

  it('reads leap days of leap years, 2000 included', () => {
    expect(toIsoMicros(parseIsoMicros('2024-02-29T00:00:00Z'))).toBe('2024-02-29T00:00:00.000000Z');
    expect(toIsoMicros(parseIsoMicros('2000-02-29T12:00:00Z'))).toBe('2000-02-29T12:00:00.000000Z');
  });

  it.each([
    ['an offset other than UTC', '2025-08-17T19:48:05.123456+02:00'],
    ['a negative zero offset', '2025-08-17T19:48:05.123456-00:00'],
    ['more than 6 fractional digits', '2025-08-17T19:48:05.1234567Z'],
    ['no zone', '2025-08-17T19:48:05.123456'],
    ['a lower-case z', '2025-08-17T19:48:05.123456z'],
    ['a lower-case t', '2025-08-17t19:48:05.123456Z'],
    ['a space for T', '2025-08-17 19:48:05.123456Z'],
    ['a dot without digits', '2025-08-17T19:48:05.Z'],
    ['February 29 of a common year', '2025-02-29T00:00:00Z'],
    ['February 29 of 1900', '1900-02-29T00:00:00Z'],
    ['April 31', '2025-04-31T00:00:00Z'],
    ['month 13', '2025-13-01T00:00:00Z'],
    ['day 0', '2025-01-00T00:00:00Z'],
    ['hour 24', '2025-08-17T24:00:00Z'],
    ['a leap second', '2016-12-31T23:59:60Z'],
    ['a year before 1700', '1699-12-31T23:59:59Z'],
    ['a year after 2199', '2200-01-01T00:00:00Z'],
    ['a date only', '2025-08-17'],
    ['an empty string', ''],
  ])('refuses %s', (_, iso) => {
    expectInvalid(() => parseIsoMicros(iso));
    expect(tryParseIsoMicros(iso)).toBeUndefined();
    expect(isIsoTimestamp(iso)).toBe(false);
    expect(pattern.test(iso)).toBe(false);
  });

  it('refuses a value that is not a string', () => {
    expectInvalid(() => parseIsoMicros(1_755_460_085 as unknown as string));
    expect(isIsoTimestamp(1_755_460_085)).toBe(false);
  });

  it('accepts exactly what the schema pattern accepts', () => {
    const digits = (n: number) =>
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
    // Half of each field's values are in range, so both verdicts are common in every run.
    const inRange = (min: number, max: number) =>
      fc.integer({ min, max }).map((n) => String(n).padStart(2, '0'));
    const candidate = fc
      .tuple(
        fc.oneof(
          digits(4),
          fc.constantFrom('1700', '1900', '2000', '2100', '2199', '2200', '1699'),
        ),
        fc.oneof(digits(2), inRange(1, 12)),
        fc.oneof(digits(2), inRange(1, 28), fc.constantFrom('28', '29', '30', '31')),
        fc.oneof(digits(2), inRange(0, 23)),
        fc.oneof(digits(2), inRange(0, 59)),
        fc.oneof(digits(2), inRange(0, 59)),
        fc.oneof(
          fc.constant(''),
          digits(1).map((d) => `.${d}`),
          fc
            .string({ unit: fc.constantFrom(...'0123456789'), minLength: 1, maxLength: 8 })
            .map((d) => `.${d}`),
        ),
        fc.constantFrom('Z', '+00:00', '-00:00', 'z', '+01:00', ''),
      )
      .map(([y, mo, d, h, mi, s, f, z]) => `${y}-${mo}-${d}T${h}:${mi}:${s}${f}${z}`);
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(candidate, (iso) => {
        const accepted = tryParseIsoMicros(iso) !== undefined;
        expect(accepted).toBe(pattern.test(iso));
        seen[accepted ? 'accepted' : 'refused']++;
      }),
      { numRuns: 3000 },
    );
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });
});

describe('toIsoMicros', () => {
  it('formats with exactly 6 fractional digits and Z', () => {
    expect(toIsoMicros(1_755_460_085_123_456)).toBe('2025-08-17T19:48:05.123456Z');
    expect(toIsoMicros(1_755_460_085_000_001)).toBe('2025-08-17T19:48:05.000001Z');
    expect(toIsoMicros(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(toIsoMicros(-1)).toBe('1969-12-31T23:59:59.999999Z');
    expect(toIsoMicros(TIMESTAMP_MIN_US)).toBe('1700-01-01T00:00:00.000000Z');
    expect(toIsoMicros(TIMESTAMP_MAX_US)).toBe('2199-12-31T23:59:59.999999Z');
  });

  it.each([
    ['a fraction', 1.5],
    ['NaN', Number.NaN],
    ['Infinity', Infinity],
    ['one microsecond before the range', TIMESTAMP_MIN_US - 1],
    ['one microsecond after the range', TIMESTAMP_MAX_US + 1],
  ])('refuses %s', (_, us) => {
    expectInvalid(() => toIsoMicros(us));
  });

  it('is the inverse of parseIsoMicros over the whole range, in any order of calls', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: TIMESTAMP_MIN_US, max: TIMESTAMP_MAX_US }), {
          minLength: 1,
          maxLength: 20,
        }),
        (values) => {
          for (const us of values) {
            const iso = toIsoMicros(us);
            expect(iso).toMatch(pattern);
            expect(parseIsoMicros(iso)).toBe(us);
            expect(iso.slice(0, 23) + 'Z').toBe(new Date(Math.floor(us / 1000)).toISOString());
          }
        },
      ),
    );
  });

  it('matches neighbouring microseconds across second boundaries', () => {
    const second = 1_755_460_085_000_000;
    expect(toIsoMicros(second - 1)).toBe('2025-08-17T19:48:04.999999Z');
    expect(toIsoMicros(second)).toBe('2025-08-17T19:48:05.000000Z');
    expect(toIsoMicros(second - 1)).toBe('2025-08-17T19:48:04.999999Z');
  });

  it('gives the same text for a repeated microsecond, and still checks what follows it', () => {
    const us = 1_755_460_085_123_456;
    expect(toIsoMicros(us)).toBe('2025-08-17T19:48:05.123456Z');
    expect(toIsoMicros(us)).toBe('2025-08-17T19:48:05.123456Z');
    expectInvalid(() => toIsoMicros(us + 0.5));
    expect(toIsoMicros(us + 1)).toBe('2025-08-17T19:48:05.123457Z');
    expect(toIsoMicros(us)).toBe('2025-08-17T19:48:05.123456Z');
  });
});
