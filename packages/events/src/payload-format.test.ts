import type { TSchema } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import { decodeEvent, encodeEvent, type EventRecord } from './event-codec.js';
import { EVENT_TYPES, eventSchemas, type EventEnvelope, type EventType } from './event-schemas.js';
import { parseIsoMicros, toIsoMicros } from './iso-micros.js';
import {
  MAX_NESTING_DEPTH,
  decodeValue,
  encodeObjectWithout,
  encodeValue,
} from './msgpack-value.js';
import { payloadLayout, type PayloadLayout } from './payload-layout.js';
import {
  anyEventArbitrary,
  arbitraryFromSchema,
  eventArbitrary,
  extraFieldsArbitrary,
  storableValueArbitrary,
} from './testing/event-arbitraries.js';
import { sameValueDeep } from './testing/same-value-deep.js';
import { createUnknownEvent, isUnknownEvent } from './unknown-event.js';
import { createUpcasters } from './upcaster-registry.js';

const SESSION = '20250817T194800Z_001';
const TIMESTAMP = '2025-08-17T19:48:05.123456Z';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function layoutOf(type: EventType): PayloadLayout {
  const layout = payloadLayout(type, 1);
  if (layout === undefined) throw new Error(`no layout for ${type}`);
  return layout;
}

function eventOf(type: string, data: unknown, extra: Record<string, unknown> = {}): EventEnvelope {
  return { ...extra, session_id: SESSION, timestamp: TIMESTAMP, type, frame_id: 7, data };
}

const energyData = {
  energy: 4.2,
  accumulator: 847.3,
  model_id: 'ollama/llama2:7b',
};

function roundTrip(event: EventEnvelope, schemaVersion?: number): unknown {
  const encoded = encodeEvent(event, schemaVersion === undefined ? {} : { schemaVersion });
  return decodeEvent(encoded, { sessionId: SESSION });
}

function holey(): unknown[] {
  const array: unknown[] = [1];
  array[2] = 3;
  return array;
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

function expectSameValue(actual: unknown, expected: unknown): void {
  if (!sameValueDeep(actual, expected)) expect(actual).toStrictEqual(expected);
  expect(sameValueDeep(actual, expected)).toBe(true);
}

/** A value for every data field of `type`: a valid one mostly, null or anything storable sometimes. */
function fieldValuesArbitrary(type: EventType): fc.Arbitrary<unknown[]> {
  const properties = eventSchemas[type].properties.data.properties as Record<string, TSchema>;
  return fc.tuple(
    ...layoutOf(type).fields.map((field) =>
      fc.oneof(
        { arbitrary: arbitraryFromSchema(properties[field]!), weight: 4 },
        { arbitrary: fc.constant(null), weight: 1 },
        { arbitrary: storableValueArbitrary(2), weight: 1 },
      ),
    ),
  );
}

const typeWithValues = fc.oneof(
  ...EVENT_TYPES.map((type) => fieldValuesArbitrary(type).map((values) => ({ type, values }))),
);

describe('positional payloads', () => {
  it('write and read back every presence combination of every type', () => {
    fc.assert(
      fc.property(typeWithValues, ({ type, values }) => {
        const { fields } = layoutOf(type);
        for (let presence = 0; presence < 2 ** fields.length; presence++) {
          const data: Record<string, unknown> = {};
          const present: unknown[] = [];
          fields.forEach((field, i) => {
            if ((presence & (1 << i)) === 0) return;
            data[field] = values[i];
            present.push(values[i]);
          });
          const event = eventOf(type, data);
          const encoded = encodeEvent(event);
          // [format 1, presence mask, the present values in layout order], no extras.
          expectSameValue(decodeValue(encoded.payload), [1, presence, ...present]);
          expectSameValue(decodeEvent(encoded, { sessionId: SESSION }), event);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('tell an absent field from a null one, and leave out undefined ones', () => {
    const fields = layoutOf('energy.update').fields;
    const bit = (field: string): number => 1 << fields.indexOf(field);
    const base = 0b111;

    const absent = encodeEvent(eventOf('energy.update', energyData));
    expect(decodeValue(absent.payload)).toStrictEqual([1, base, 4.2, 847.3, 'ollama/llama2:7b']);

    const nullFps = eventOf('energy.update', { ...energyData, fps: null });
    expect(decodeValue(encodeEvent(nullFps).payload)).toStrictEqual([
      1,
      base | bit('fps'),
      4.2,
      847.3,
      'ollama/llama2:7b',
      null,
    ]);
    const back = roundTrip(nullFps) as { data: Record<string, unknown> };
    expect(back.data).toHaveProperty('fps', null);

    const undefinedFps = eventOf('energy.update', { ...energyData, fps: undefined });
    expect(hex(encodeEvent(undefinedFps).payload)).toBe(hex(absent.payload));
    expect('fps' in (roundTrip(undefinedFps) as { data: object }).data).toBe(false);

    // A required field may be absent too: the codec does not validate.
    const { energy: _, ...noEnergy } = energyData;
    expect(decodeValue(encodeEvent(eventOf('energy.update', noEnergy)).payload)).toStrictEqual([
      1,
      0b110,
      847.3,
      'ollama/llama2:7b',
    ]);
    expectSameValue(
      roundTrip(eventOf('energy.update', noEnergy)),
      eventOf('energy.update', noEnergy),
    );
  });

  it('keep extra data fields and envelope properties in one trailing map, only when there are some', () => {
    const withBoth = eventOf(
      'energy.update',
      { note: 'n', ...energyData, fps: undefined },
      { region: 'eu', skipped: undefined },
    );
    expect(decodeValue(encodeEvent(withBoth).payload)).toStrictEqual([
      1,
      0b111,
      4.2,
      847.3,
      'ollama/llama2:7b',
      { region: 'eu', data: { note: 'n' } },
    ]);
    const { skipped: _, ...kept } = withBoth;
    expect(roundTrip(withBoth)).toStrictEqual({ ...kept, data: { ...energyData, note: 'n' } });

    const dataOnly = eventOf('energy.update', { ...energyData, note: null });
    expect((decodeValue(encodeEvent(dataOnly).payload) as unknown[]).at(-1)).toStrictEqual({
      data: { note: null },
    });
    const envelopeOnly = eventOf('energy.update', energyData, { region: 'eu' });
    expect((decodeValue(encodeEvent(envelopeOnly).payload) as unknown[]).at(-1)).toStrictEqual({
      region: 'eu',
    });
    const undefinedOnly = eventOf(
      'energy.update',
      { ...energyData, note: undefined },
      {
        region: undefined,
      },
    );
    expect(decodeValue(encodeEvent(undefinedOnly).payload)).toHaveLength(5);
  });

  it('round-trip every type with extra data fields and extra envelope properties', () => {
    const dataExtras = extraFieldsArbitrary();
    fc.assert(
      fc.property(
        fc.oneof(
          ...EVENT_TYPES.map((type) =>
            fc.tuple(
              eventArbitrary(type, { extraFields: true }),
              dataExtras.map((extra) =>
                Object.fromEntries(
                  Object.entries(extra).filter(([key]) => !layoutOf(type).index.has(key)),
                ),
              ),
            ),
          ),
        ),
        ([event, extra]) => {
          const withExtras = { ...event, data: { ...extra, ...event.data } } as EventEnvelope;
          const encoded = encodeEvent(withExtras);
          const items = decodeValue(encoded.payload) as unknown[];
          const extrasExpected =
            Object.keys(extra).length > 0 ||
            Object.keys(event).some(
              (key) =>
                !['session_id', 'timestamp', 'type', 'frame_id', 'event_id', 'data'].includes(key),
            );
          const presence = items[1] as number;
          expect(items.length).toBe(2 + popCount(presence) + (extrasExpected ? 1 : 0));
          expectSameValue(decodeEvent(encoded, { sessionId: event.session_id }), {
            ...withExtras,
            timestamp: toIsoMicros(parseIsoMicros(event.timestamp)),
          });
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('write the same bytes whatever the order of the data fields', () => {
    fc.assert(
      fc.property(anyEventArbitrary(), (event) => {
        const reversed = Object.fromEntries(Object.entries(event.data).reverse());
        expect(hex(encodeEvent({ ...event, data: reversed }).payload)).toBe(
          hex(encodeEvent(event).payload),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('keep -0, the bits of NaN, ±Infinity and every string in their fields', () => {
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, 0x7ff81234);
    view.setUint32(4, 0x0000abcd);
    const payloadNaN = view.getFloat64(0);
    const bits = (value: unknown): string => {
      view.setFloat64(0, value as number);
      return hex(new Uint8Array(view.buffer));
    };
    for (const model_id of [
      '\ufeffm',
      'é',
      'a😀b',
      'x'.repeat(31),
      'y'.repeat(32),
      'é'.repeat(70_000),
    ]) {
      const event = eventOf('energy.update', {
        energy: -0,
        accumulator: payloadNaN,
        model_id,
        fps: Infinity,
        frame_budget_used: -Infinity,
      });
      const back = roundTrip(event) as { data: Record<string, unknown> };
      expect(Object.is(back.data.energy, -0)).toBe(true);
      expect(bits(back.data.accumulator)).toBe(bits(payloadNaN));
      expect(back.data.fps).toBe(Infinity);
      expect(back.data.frame_budget_used).toBe(-Infinity);
      expect(back.data.model_id).toBe(model_id);
    }
  });

  it.each([
    [
      'a bigint in a field',
      eventOf('energy.update', { ...energyData, token_count: 1n }),
      'encode_failed',
      '/data/token_count',
    ],
    [
      'a lone surrogate in a field',
      eventOf('energy.update', { ...energyData, model_id: 'm\ud800' }),
      'invalid_string',
      '/data/model_id',
    ],
    [
      'an array hole in a field',
      eventOf('ai.output', { logprobs: holey() }),
      'encode_failed',
      '/data/logprobs/1',
    ],
    [
      'a Date in an extra data field',
      eventOf('energy.update', { ...energyData, seen: new Date(0) }),
      'encode_failed',
      '/data/seen',
    ],
    [
      'a lone surrogate in an extra data field name',
      eventOf('energy.update', { ...energyData, ['k\ud800']: 1 }),
      'invalid_string',
      '/data/k\ud800',
    ],
    [
      'a __proto__ data field',
      eventOf('energy.update', JSON.parse('{"energy":1,"__proto__":2}')),
      'encode_failed',
      '/data/__proto__',
    ],
    [
      'data that is a class instance',
      eventOf('energy.update', new (class Reading {})()),
      'encode_failed',
      '/data',
    ],
    [
      'a bigint in an extra envelope property',
      eventOf('energy.update', energyData, { n: [2n] }),
      'encode_failed',
      '/n/0',
    ],
    [
      'an event that is a class instance',
      Object.assign(new (class Reading {})(), eventOf('energy.update', energyData)),
      'encode_failed',
      '',
    ],
  ])('name the field of a refused value: %s', (_, event, code, path) => {
    const error = errorOf(() => encodeEvent(event));
    expect(isEventsError(error)).toBe(true);
    expect((error as { code: string }).code).toBe(code);
    expect((error as { path: string }).path).toBe(path);
  });

  it('refuse the same nesting as the map format, wherever the value sits', () => {
    const nest = (levels: number): unknown => {
      let value: unknown = 1;
      for (let i = 0; i < levels; i++) value = [value];
      return value;
    };
    const placements: [string, (value: unknown) => EventEnvelope][] = [
      ['a field', (value) => eventOf('energy.peak', { energy: 1, context: value })],
      ['an extra data field', (value) => eventOf('energy.peak', { energy: 1, extra: value })],
      [
        'an extra envelope property',
        (value) => eventOf('energy.peak', { energy: 1 }, { extra: value }),
      ],
    ];
    const skip = new Set(['session_id', 'type', 'timestamp', 'frame_id', 'event_id']);
    for (const [, place] of placements) {
      const outcomes = [];
      for (let levels = MAX_NESTING_DEPTH - 3; levels <= MAX_NESTING_DEPTH; levels++) {
        const event = place(nest(levels));
        const mapAccepts = (() => {
          try {
            encodeObjectWithout(event, skip);
            return true;
          } catch (error) {
            expect(isEventsError(error, 'encode_failed')).toBe(true);
            return false;
          }
        })();
        const positional = (() => {
          try {
            return encodeEvent(event);
          } catch (error) {
            expect(isEventsError(error, 'encode_failed')).toBe(true);
            return undefined;
          }
        })();
        expect(positional !== undefined).toBe(mapAccepts);
        if (positional !== undefined) {
          expect(hex(positional.payload).startsWith('9')).toBe(true);
          expectSameValue(decodeEvent(positional, { sessionId: SESSION }), event);
        }
        outcomes.push(mapAccepts);
      }
      expect(outcomes).toContain(true);
      expect(outcomes).toContain(false);
    }
  });
});

function popCount(mask: number): number {
  let count = 0;
  for (let rest = mask; rest !== 0; rest >>>= 1) count += rest & 1;
  return count;
}

describe('map payloads', () => {
  it('store unknown types, and data that is not an object, as a map', () => {
    const unknown = eventOf('vision.frame', { pixels: [1, 2] });
    const encoded = encodeEvent(createUnknownEvent(unknown));
    expect(decodeValue(encoded.payload)).toStrictEqual({ data: { pixels: [1, 2] } });
    const back = decodeEvent(encoded, { sessionId: SESSION });
    expect(isUnknownEvent(back) && back.event).toStrictEqual(unknown);

    for (const data of [[1, 2], 'text', null, 5]) {
      const event = eventOf('energy.update', data, { region: 'eu' });
      const payload = encodeEvent(event).payload;
      expect(decodeValue(payload)).toStrictEqual({ data, region: 'eu' });
      expect(roundTrip(event)).toStrictEqual(event);
    }
    const { data: _, ...noData } = eventOf('energy.update', {});
    expect(decodeValue(encodeEvent(noData).payload)).toStrictEqual({});
    expect(roundTrip(noData)).toStrictEqual(noData);
  });

  it('store a known type at a version without a field list', () => {
    const upcasters = createUpcasters({
      versions: { 'energy.peak': 2 },
      upcasters: [{ type: 'energy.peak', fromVersion: 1, upcast: (event) => event }],
    });
    const event = eventOf('energy.peak', { energy: 1, threshold: 2, model_id: 'm' });
    const encoded = encodeEvent(event, { schemaVersion: 2 });
    expect(decodeValue(encoded.payload)).toStrictEqual({ data: event.data });
    expect(decodeEvent(encoded, { sessionId: SESSION, upcasters })).toStrictEqual(event);
    // Version 1 has a field list: positional, and upcast on read.
    const v1 = encodeEvent(event, { schemaVersion: 1 });
    expect(Array.isArray(decodeValue(v1.payload))).toBe(true);
    expect(decodeEvent(v1, { sessionId: SESSION, upcasters })).toStrictEqual(event);
  });

  it('written by the map format are read back as before, for every type', () => {
    const skip = new Set(['session_id', 'type', 'timestamp', 'frame_id', 'event_id']);
    fc.assert(
      fc.property(anyEventArbitrary({ extraFields: true }), (event) => {
        const positional = encodeEvent(event);
        const map: EventRecord = { ...positional, payload: encodeObjectWithout(event, skip) };
        expectSameValue(
          decodeEvent(map, { sessionId: event.session_id }),
          decodeEvent(positional, { sessionId: event.session_id }),
        );
      }),
      { numRuns: 500 },
    );
  });
});

describe('decoding positional payloads', () => {
  const record = (payload: Uint8Array, type = 'energy.update'): EventRecord => ({
    type,
    schemaVersion: 1,
    timestampUs: parseIsoMicros(TIMESTAMP),
    frameId: 7,
    payload,
  });
  const decode = (payload: Uint8Array, type?: string): unknown =>
    decodeEvent(record(payload, type), { sessionId: SESSION });

  it('reads a hand-written payload', () => {
    expect(
      decode(encodeValue([1, 0b101, 1.5, 'm', { data: { x: 1 }, region: 'eu' }])),
    ).toStrictEqual(
      eventOf('energy.update', { energy: 1.5, model_id: 'm', x: 1 }, { region: 'eu' }),
    );
  });

  it.each([
    ['another format tag', [2, 0b111, 1, 2, 'm']],
    ['no presence mask', [1]],
    ['a presence bit beyond the fields', [1, 0b1000_0000]],
    ['a negative presence mask', [1, -1]],
    ['a fractional presence mask', [1, 1.5]],
    ['a presence mask that is not a number', [1, 'x']],
    ['fewer values than the mask says', [1, 0b111, 1, 2]],
    ['two maps after the values', [1, 0b111, 1, 2, 'm', {}, {}]],
    ['a value after the fields that is not a map', [1, 0b111, 1, 2, 'm', 5]],
    ['extras that repeat a column', [1, 0b111, 1, 2, 'm', { type: 'x' }]],
    ['extra data that repeats a field', [1, 0b111, 1, 2, 'm', { data: { energy: 3 } }]],
    ['extra data that is not a map', [1, 0b111, 1, 2, 'm', { data: [1] }]],
  ])('refuses %s', (_, items) => {
    expect(
      isEventsError(
        errorOf(() => decode(encodeValue(items))),
        'decode_failed',
      ),
    ).toBe(true);
  });

  it('refuses truncated bytes, bytes left over and values events never hold', () => {
    const good = encodeValue([1, 0b111, 1, 2, 'm']);
    for (const payload of [
      good.subarray(0, good.length - 1),
      Uint8Array.from([...good, 0]),
      Uint8Array.from([0x95, 0x01, 0b111, 0x01, 0x02, 0xc4, 0x01, 0x00]),
    ]) {
      expect(
        isEventsError(
          errorOf(() => decode(payload)),
          'decode_failed',
        ),
      ).toBe(true);
    }
  });

  it('refuses a positional payload for a type or version without a field list', () => {
    const payload = encodeValue([1, 0b111, 1, 2, 'm']);
    expect(
      isEventsError(
        errorOf(() => decode(payload, 'vision.frame')),
        'decode_failed',
      ),
    ).toBe(true);
    const upcasters = createUpcasters({
      versions: { 'energy.update': 2 },
      upcasters: [{ type: 'energy.update', fromVersion: 1, upcast: (event) => event }],
    });
    const v2 = { ...record(payload), schemaVersion: 2 };
    expect(
      isEventsError(
        errorOf(() => decodeEvent(v2, { sessionId: SESSION, upcasters })),
        'decode_failed',
      ),
    ).toBe(true);
    expect(decodeEvent(record(payload), { sessionId: SESSION, upcasters })).toMatchObject({
      data: { energy: 1, accumulator: 2, model_id: 'm' },
    });
  });
});
