import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import { decodeEvent, encodeEvent, type EncodedEvent } from './event-codec.js';
import type { EventEnvelope, EventOfType, WirthforgeEvent } from './event-schemas.js';
import { parseIsoMicros, toIsoMicros } from './iso-micros.js';
import { decodeValue, encodeValue } from './msgpack-value.js';
import { anyEventArbitrary, eventArbitrary } from './testing/event-arbitraries.js';
import { sameValueDeep } from './testing/same-value-deep.js';
import { createUnknownEvent, isUnknownEvent } from './unknown-event.js';
import { createUpcasters } from './upcaster-registry.js';

const SESSION = '20250817T194800Z_001';

const update: EventOfType<'energy.update'> = {
  session_id: SESSION,
  timestamp: '2025-08-17T19:48:05.123456Z',
  type: 'energy.update',
  frame_id: 1234,
  event_id: 'evt_001',
  data: {
    energy: 4.2,
    accumulator: 847.3,
    model_id: 'ollama/llama2:7b',
    fps: 60,
    frame_budget_used: 12.3,
    diversity_index: 0.847,
    token_count: 23,
  },
};

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('encodeEvent', () => {
  it('puts the envelope into columns and the rest into the payload', () => {
    const encoded = encodeEvent(update);
    expect(encoded).toEqual({
      type: 'energy.update',
      schemaVersion: 1,
      timestampUs: 1_755_460_085_123_456,
      frameId: 1234,
      eventId: 'evt_001',
      payload: expect.any(Uint8Array) as unknown,
    });
    // Positional: format 1, every field present (7 bits), the values in layout order.
    expect(decodeValue(encoded.payload)).toStrictEqual([
      1,
      0b111_1111,
      4.2,
      847.3,
      'ollama/llama2:7b',
      60,
      12.3,
      0.847,
      23,
    ]);
  });

  it('writes the same bytes for the same event, whatever was encoded before (stable wire format)', () => {
    // The README's wire format example, byte for byte.
    const golden =
      '99017f' +
      'cb4010cccccccccccd' +
      'cb408a7a6666666666' +
      'b06f6c6c616d612f6c6c616d61323a3762' +
      '3c' +
      'cb402899999999999a' +
      'cb3feb1a9fbe76c8b4' +
      '17';
    expect(hex(encodeEvent(update).payload)).toBe(golden);
    encodeValue({ unrelated: ['state', 1, -0] });
    encodeEvent({
      ...update,
      type: 'energy.peak',
      data: { energy: 1, threshold: 2, model_id: 'm' },
    });
    expect(hex(encodeEvent(update).payload)).toBe(golden);
  });

  it('omits absent frame and event ids', () => {
    const {
      frame_id: _f,
      event_id: _e,
      ...rest
    } = {
      ...update,
      type: 'user.action' as const,
      data: { action: 'pause' as const },
    };
    const encoded = encodeEvent(rest);
    expect(encoded.frameId).toBeUndefined();
    expect(encoded.eventId).toBeUndefined();
    expect(decodeEvent(encoded, { sessionId: SESSION })).toStrictEqual(rest);
  });

  it('uses the given schema version, or 1 for an unknown type', () => {
    expect(encodeEvent(update, { schemaVersion: 1 }).schemaVersion).toBe(1);
    expect(encodeEvent({ ...update, type: 'vision.frame' }).schemaVersion).toBe(1);
    for (const schemaVersion of [0, 1.5, -1]) {
      expect(
        isEventsError(
          errorOf(() => encodeEvent(update, { schemaVersion })),
          'invalid_version',
        ),
      ).toBe(true);
    }
  });

  it('refuses a lone surrogate with invalid_string and the path of the value', () => {
    const cases: [EventEnvelope, string][] = [
      [{ ...update, data: { ...update.data, model_id: 'x\ud800' } }, '/data/model_id'],
      [{ ...update, note: ['fine', 'bad\udfff'] }, '/note/1'],
      [{ ...update, ['k\ud800']: 1 }, '/k\ud800'],
      [{ ...update, event_id: '\ud800' }, '/event_id'],
      [{ ...update, type: 'x\ud800' }, '/type'],
    ];
    for (const [event, path] of cases) {
      const error = errorOf(() => encodeEvent(event));
      expect(isEventsError(error, 'invalid_string')).toBe(true);
      expect((error as { path: string }).path).toBe(path);
    }
  });

  it.each([
    [
      'a bigint in data',
      { data: { ...update.data, token_count: 23n } },
      'encode_failed',
      '/data/token_count',
    ],
    ['a Date as an extra field', { seen: new Date(0) }, 'encode_failed', '/seen'],
    ['a negative frame id', { frame_id: -1 }, 'encode_failed', '/frame_id'],
    ['a fractional frame id', { frame_id: 1.5 }, 'encode_failed', '/frame_id'],
    ['a numeric event id', { event_id: 5 }, 'encode_failed', '/event_id'],
    ['an empty type', { type: '' }, 'encode_failed', '/type'],
    ['a bad timestamp', { timestamp: '2025-08-17 19:48' }, 'invalid_timestamp', '/timestamp'],
    [
      'a timestamp with nanoseconds',
      { timestamp: '2025-08-17T19:48:05.123456789Z' },
      'invalid_timestamp',
      '/timestamp',
    ],
  ])('refuses %s', (_, change, code, path) => {
    const error = errorOf(() => encodeEvent({ ...update, ...change } as EventEnvelope));
    expect(isEventsError(error)).toBe(true);
    expect((error as { code: string; path: string }).code).toBe(code);
    expect((error as { path: string }).path).toBe(path);
  });
});

describe('decodeEvent', () => {
  it('round-trips every event type losslessly, extra envelope fields included', () => {
    fc.assert(
      fc.property(anyEventArbitrary({ extraFields: true }), (event) => {
        const encoded = encodeEvent(event);
        const decoded = decodeEvent(encoded, { sessionId: event.session_id });
        const expected = { ...event, timestamp: canonicalTimestamp(event.timestamp) };
        expectSameValue(decoded, expected);
        expect(encoded.timestampUs).toBe(parseIsoMicros(event.timestamp));
      }),
      { numRuns: 1000 },
    );
  });

  it('round-trips through bytes copied out of the shared chunk (as storage hands them back)', () => {
    fc.assert(
      fc.property(
        fc.array(eventArbitrary('energy.update', { extraFields: true }), { maxLength: 30 }),
        (events) => {
          const stored = events.map((event) => {
            const encoded = encodeEvent(event);
            return { ...encoded, payload: Uint8Array.from(encoded.payload) };
          });
          stored.forEach((record, i) => {
            const event = events[i]!;
            expectSameValue(decodeEvent(record, { sessionId: event.session_id }), {
              ...event,
              timestamp: canonicalTimestamp(event.timestamp),
            });
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('keeps -0 in data and extra fields', () => {
    const event = { ...update, data: { ...update.data, energy: -0 }, offset: [-0, 0] };
    const decoded = decodeEvent(encodeEvent(event), { sessionId: SESSION }) as typeof event;
    expect(Object.is(decoded.data.energy, -0)).toBe(true);
    expect(Object.is(decoded.offset[0], -0)).toBe(true);
    expect(Object.is(decoded.offset[1], 0)).toBe(true);
  });

  it('returns timestamps in the canonical form: 6 digits and Z', () => {
    for (const [input, output] of [
      ['2025-08-17T19:45:00.000Z', '2025-08-17T19:45:00.000000Z'],
      ['2025-08-17T19:45:00Z', '2025-08-17T19:45:00.000000Z'],
      ['2025-08-17T19:45:00.5+00:00', '2025-08-17T19:45:00.500000Z'],
    ]) {
      const decoded = decodeEvent(encodeEvent({ ...update, timestamp: input! }), {
        sessionId: SESSION,
      });
      expect((decoded as WirthforgeEvent).timestamp).toBe(output);
    }
  });

  it('stores a -0 frame id as 0', () => {
    const encoded = encodeEvent({ ...update, frame_id: -0 });
    expect(Object.is(encoded.frameId, 0)).toBe(true);
  });

  it('leaves the session id out of the payload unless asked to keep it', () => {
    const plain = encodeEvent(update);
    expect(decodeValue(plain.payload)).toHaveLength(9);
    expect(hex(plain.payload)).not.toContain(hex(Buffer.from(SESSION)));
    expect(
      isEventsError(
        errorOf(() => decodeEvent(plain)),
        'decode_failed',
      ),
    ).toBe(true);

    const kept = encodeEvent(update, { includeSessionId: true });
    expect((decodeValue(kept.payload) as unknown[]).at(-1)).toStrictEqual({ session_id: SESSION });
    expect(decodeEvent(kept)).toStrictEqual(update);
    expect(decodeEvent(kept, { sessionId: '20990101T000000Z_000' })).toStrictEqual(update);
  });

  it('keeps events of unknown types intact, with their version', () => {
    const raw = {
      ...update,
      type: 'vision.frame',
      data: { pixels: [1, 2, 3], nested: { a: null } },
    };
    const encoded = encodeEvent(createUnknownEvent(raw), { schemaVersion: 4 });
    expect(encoded.type).toBe('vision.frame');
    const decoded = decodeEvent(encoded, { sessionId: SESSION });
    expect(isUnknownEvent(decoded)).toBe(true);
    if (!isUnknownEvent(decoded)) return;
    expect(decoded.event).toStrictEqual(raw);
    expect(decoded.schemaVersion).toBe(4);
  });

  it('refuses a version from the future before reading the payload', () => {
    const record = {
      ...encodeEvent(update),
      schemaVersion: 2,
      payload: new Uint8Array([0xc1, 0xc1]),
    };
    const error = errorOf(() => decodeEvent(record, { sessionId: SESSION }));
    if (!isEventsError(error, 'future_version')) throw new Error('wrong error');
    expect([error.type, error.version, error.knownVersion]).toEqual(['energy.update', 2, 1]);
  });

  it('brings older versions up to date with the given upcasters', () => {
    const upcasters = createUpcasters({
      versions: { 'energy.peak': 2 },
      upcasters: [
        {
          type: 'energy.peak',
          fromVersion: 1,
          upcast: ({ data, ...rest }) => {
            const { limit, ...others } = data as { limit: number };
            return { ...rest, data: { ...others, threshold: limit } };
          },
        },
      ],
    });
    const v1 = {
      session_id: SESSION,
      timestamp: '2025-08-17T19:49:23.612000Z',
      type: 'energy.peak',
      frame_id: 4578,
      data: { energy: 15.7, limit: 12, model_id: 'ollama/llama2:7b' },
    };
    const stored = encodeEvent(v1, { schemaVersion: 1 });
    expect(decodeEvent(stored, { sessionId: SESSION, upcasters })).toStrictEqual({
      ...v1,
      data: { energy: 15.7, model_id: 'ollama/llama2:7b', threshold: 12 },
    });
  });

  it('refuses payloads in neither format, or that repeat a column', () => {
    const base: EncodedEvent = encodeEvent(update);
    for (const payload of [
      encodeValue([1, 2]),
      encodeValue('x'),
      encodeValue({ type: 'x', data: {} }),
      new Uint8Array([0x81]),
    ]) {
      expect(
        isEventsError(
          errorOf(() => decodeEvent({ ...base, payload }, { sessionId: SESSION })),
          'decode_failed',
        ),
      ).toBe(true);
    }
  });

  it('refuses a timestamp column out of range', () => {
    const record = { ...encodeEvent(update), timestampUs: 1e17 };
    expect(
      isEventsError(
        errorOf(() => decodeEvent(record, { sessionId: SESSION })),
        'decode_failed',
      ),
    ).toBe(true);
  });

  it('reads records whose absent ids are null, as storage returns them', () => {
    const {
      frame_id: _f,
      event_id: _e,
      ...rest
    } = {
      ...update,
      type: 'error' as const,
      data: {
        error_code: 'E1',
        error_message: 'boom',
        component: 'ui' as const,
        severity: 'low' as const,
        recoverable: true,
      },
    };
    const record = { ...encodeEvent(rest), frameId: null, eventId: null };
    expect(decodeEvent(record, { sessionId: SESSION })).toStrictEqual(rest);
  });
});

/** Exact equality (see sameValueDeep), with the matcher's diff when it fails. */
function expectSameValue(actual: unknown, expected: unknown): void {
  if (!sameValueDeep(actual, expected)) expect(actual).toStrictEqual(expected);
  expect(sameValueDeep(actual, expected)).toBe(true);
}

/** The form timestamps come back in: same instant, 6 fractional digits, Z. */
function canonicalTimestamp(iso: string): string {
  return toIsoMicros(parseIsoMicros(iso));
}

describe('encodeEvent timestamps', () => {
  const withTimestamp = (timestamp: string): EventEnvelope => ({
    session_id: '20250817T194800Z_001',
    timestamp,
    type: 'energy.update',
    frame_id: 1,
    data: { energy: 0.5 },
  });
  /** What encodeEvent stores for `timestamp`, or the error code it throws. */
  const stored = (timestamp: string): number | string => {
    try {
      return encodeEvent(withTimestamp(timestamp)).timestampUs;
    } catch (error) {
      return isEventsError(error) ? error.code : 'other';
    }
  };
  const parsed = (timestamp: string): number | string => {
    try {
      return parseIsoMicros(timestamp);
    } catch {
      return 'invalid_timestamp';
    }
  };

  it('stores what parseIsoMicros reads, in runs sharing a minute and around them', () => {
    const sequence = [
      '2025-08-17T19:48:00.000000Z',
      '2025-08-17T19:48:00.016667Z',
      '2025-08-17T19:48:59.999999Z',
      // Same minute, but not a time: the seconds or the fraction are not digits, or out of range.
      '2025-08-17T19:48:60.000000Z',
      '2025-08-17T19:48:5a.000000Z',
      '2025-08-17T19:48:05.00000aZ',
      '2025-08-17T19:48:05.000000z',
      '2025-08-17T19:48:05.0000000Z',
      '2025-08-17T19:48:05,000000Z',
      // Same minute, other accepted forms.
      '2025-08-17T19:48:05Z',
      '2025-08-17T19:48:05.5Z',
      '2025-08-17T19:48:05.123456+00:00',
      '2025-08-17T19:48:07.000001Z',
      // The next minute, hour, day, a leap day, and one that does not exist.
      '2025-08-17T19:49:00.000000Z',
      '2025-08-17T20:00:00.000000Z',
      '2024-02-29T23:59:59.999999Z',
      '2025-02-29T00:00:00.000000Z',
      '2025-08-17T19:48:30.250000Z',
    ];
    for (const timestamp of sequence) expect(stored(timestamp), timestamp).toBe(parsed(timestamp));
  });

  it('stores what parseIsoMicros reads for any sequence of timestamps', () => {
    const canonical = fc
      .tuple(
        fc.integer({ min: 1700, max: 2199 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 31 }),
        fc.integer({ min: 0, max: 24 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 61 }),
        fc.integer({ min: 0, max: 999_999 }),
      )
      .map(([y, mo, d, h, mi, s, us]) => {
        const two = (n: number): string => String(n).padStart(2, '0');
        return `${y}-${two(mo)}-${two(d)}T${two(h)}:${two(mi)}:${two(s)}.${String(us).padStart(6, '0')}Z`;
      });
    // Runs within one minute, as a session writes them.
    const run = fc
      .tuple(
        canonical,
        fc.array(fc.tuple(fc.integer({ min: 0, max: 61 }), fc.string()), { maxLength: 8 }),
      )
      .map(([first, rest]) => [
        first,
        ...rest.map(([s, tail]) => `${first.slice(0, 17)}${String(s).padStart(2, '0')}${tail}`),
      ]);
    fc.assert(
      fc.property(fc.array(run, { maxLength: 6 }), (runs) => {
        for (const timestamp of runs.flat()) {
          expect(stored(timestamp), timestamp).toBe(parsed(timestamp));
        }
      }),
    );
  });
});
