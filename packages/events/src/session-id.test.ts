import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import {
  SESSION_ID_PATTERN,
  createSessionId,
  isSessionId,
  parseSessionId,
  tryParseSessionId,
} from './session-id.js';

const pattern = new RegExp(SESSION_ID_PATTERN);

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('session ids', () => {
  it('builds the spec form from the start second and sequence', () => {
    expect(createSessionId(new Date('2025-08-17T19:48:00.250Z'), 1)).toBe('20250817T194800Z_001');
    expect(createSessionId(new Date('2025-08-17T19:48:59.999Z'), 999)).toBe('20250817T194859Z_999');
    expect(createSessionId(new Date('2025-08-17T19:48:00Z'), 0)).toBe('20250817T194800Z_000');
  });

  it('takes the spec example apart', () => {
    const { startedAt, sequence } = parseSessionId('20250817T194800Z_001');
    expect(startedAt.toISOString()).toBe('2025-08-17T19:48:00.000Z');
    expect(sequence).toBe(1);
  });

  it('round-trips every start second and sequence', () => {
    const second = fc
      .integer({ min: Date.UTC(1700, 0, 1) / 1000, max: Date.UTC(2200, 0, 1) / 1000 - 1 })
      .map((s) => new Date(s * 1000));
    fc.assert(
      fc.property(second, fc.integer({ min: 0, max: 999 }), (startedAt, sequence) => {
        const id = createSessionId(startedAt, sequence);
        expect(id).toMatch(pattern);
        expect(isSessionId(id)).toBe(true);
        expect(parseSessionId(id)).toEqual({ startedAt, sequence });
      }),
    );
  });

  it.each([
    ['a sequence of 1000', new Date('2025-08-17T19:48:00Z'), 1000],
    ['a negative sequence', new Date('2025-08-17T19:48:00Z'), -1],
    ['a fractional sequence', new Date('2025-08-17T19:48:00Z'), 1.5],
    ['an invalid date', new Date('nope'), 1],
    ['a year before 1700', new Date('1650-01-01T00:00:00Z'), 1],
    ['a year after 2199', new Date('2250-01-01T00:00:00Z'), 1],
  ])('refuses to create one with %s', (_, date, sequence) => {
    expect(
      isEventsError(
        errorOf(() => createSessionId(date, sequence)),
        'invalid_session_id',
      ),
    ).toBe(true);
  });

  it.each([
    '20250817T194800Z_01',
    '20250817T194800Z_0001',
    '20250817T194800_001',
    '20250817194800Z_001',
    '20250230T194800Z_001',
    '20250817T246000Z_001',
    '20250817T194860Z_001',
    '2025-08-17T19:48:00Z_001',
    ' 20250817T194800Z_001',
    '',
  ])('refuses %j', (id) => {
    expect(
      isEventsError(
        errorOf(() => parseSessionId(id)),
        'invalid_session_id',
      ),
    ).toBe(true);
    expect(tryParseSessionId(id)).toBeUndefined();
    expect(isSessionId(id)).toBe(false);
    expect(pattern.test(id)).toBe(false);
  });

  it('says no to values that are not strings', () => {
    expect(isSessionId(20250817)).toBe(false);
    expect(isSessionId(undefined)).toBe(false);
  });

  it('accepts exactly what the schema pattern accepts', () => {
    const digits = (n: number) =>
      fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: n, maxLength: n });
    const candidate = fc
      .tuple(
        fc.oneof(digits(4), fc.constantFrom('1900', '2000', '2024', '2100', '1699', '2200')),
        fc.oneof(digits(2), fc.constantFrom('02', '04', '12')),
        fc.oneof(digits(2), fc.constantFrom('29', '30', '31')),
        digits(6),
        digits(3),
      )
      .map(([y, m, d, t, n]) => `${y}${m}${d}T${t}Z_${n}`);
    const seen = { accepted: 0, refused: 0 };
    fc.assert(
      fc.property(candidate, (id) => {
        const accepted = isSessionId(id);
        expect(accepted).toBe(pattern.test(id));
        seen[accepted ? 'accepted' : 'refused']++;
      }),
      { numRuns: 3000 },
    );
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.refused).toBeGreaterThan(0);
  });
});
