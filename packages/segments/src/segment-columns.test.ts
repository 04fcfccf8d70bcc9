import { decodeEvent, payloadDataSource, payloadFields } from '@wirthforge/events';
import type { StoredEventRecord } from '@wirthforge/storage';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  comparable,
  positionalPayloadArbitrary,
  storedRangeArbitrary,
} from '../test/segment-arbitraries.js';
import { decodeSegment, decodeSegmentColumns } from './decode-segment.js';
import { encodeSegment } from './encode-segment.js';
import { isSegmentError } from './errors.js';

function expectSameEvents(
  actual: readonly StoredEventRecord[],
  expected: readonly StoredEventRecord[],
): void {
  expect(actual.map(comparable)).toEqual(expected.map(comparable));
}

describe('decodeSegmentColumns(encodeSegment(events))', () => {
  it('builds every event of any type, any payload, bit for bit, in any order asked', () => {
    fc.assert(
      fc.property(
        storedRangeArbitrary(30),
        fc.array(fc.nat(), { maxLength: 20 }),
        (events, picks) => {
          const columns = decodeSegmentColumns(encodeSegment(events));
          expect(columns.count).toBe(events.length);
          expectSameEvents(columns.records(), events);
          // Records are built on demand, so any index, any number of times, any order.
          const indexes = picks.map((pick) => pick % events.length);
          expectSameEvents(
            indexes.map((i) => columns.record(i)),
            indexes.map((i) => events[i] as StoredEventRecord),
          );
          expect([...columns.positions]).toEqual(events.map((event) => Number(event.position)));
          expect(events.map((_, i) => columns.typeAt(i))).toEqual(events.map((e) => e.type));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('keeps payloads exact: NaN payloads, -0, infinities, subnormals, decimals', () => {
    const range = fc.array(positionalPayloadArbitrary(), { minLength: 1, maxLength: 120 });
    fc.assert(
      fc.property(range, (payloads) => {
        const events = payloads.map((payload, i): StoredEventRecord => ({
          position: BigInt(3 * i + 5),
          stream: 's',
          version: BigInt(i + 1),
          type: 'energy.update',
          schemaVersion: 1,
          timestampUs: 1_000_000 + i,
          frameId: i % 3 === 0 ? null : i,
          eventId: i % 2 === 0 ? null : `evt_${i}`,
          payload,
        }));
        const bytes = encodeSegment(events);
        expectSameEvents(decodeSegmentColumns(bytes).records(), decodeSegment(bytes).events);
        expectSameEvents(decodeSegmentColumns(bytes).records(), events);
      }),
      { numRuns: 60 },
    );
  });

  it('slices records and finds positions like a range decode', () => {
    fc.assert(
      fc.property(storedRangeArbitrary(30), fc.nat(), fc.nat(), (events, a, b) => {
        const bytes = encodeSegment(events);
        const columns = decodeSegmentColumns(bytes);
        const last = events[events.length - 1] as StoredEventRecord;
        const from = BigInt(a) % (last.position + 2n);
        const to = BigInt(b) % (last.position + 2n);
        const expected = decodeSegment(bytes, { fromPosition: from, toPosition: to }).events;
        const start = columns.indexOfPosition(Number(from));
        const end = columns.indexOfPosition(Number(to) + 1);
        expectSameEvents(columns.records(start, end), expected);
      }),
      { numRuns: 60 },
    );
  });

  it('refuses an index outside the segment', () => {
    const [events] = fc.sample(storedRangeArbitrary(5), { numRuns: 1, seed: 7 });
    const columns = decodeSegmentColumns(encodeSegment(events as StoredEventRecord[]));
    for (const index of [-1, columns.count, 0.5, Number.NaN]) {
      let caught: unknown;
      try {
        columns.record(index);
      } catch (error) {
        caught = error;
      }
      expect(isSegmentError(caught, 'invalid_argument')).toBe(true);
      expect(() => columns.typeAt(index)).toThrow(/outside/);
    }
  });

  it('checks the segment like decodeSegment: damage and expectations', () => {
    const [events] = fc.sample(storedRangeArbitrary(10), { numRuns: 1, seed: 11 });
    const bytes = encodeSegment(events as StoredEventRecord[]);
    const damaged = bytes.slice();
    damaged[damaged.length - 1]! ^= 0xff;
    expect(() => decodeSegmentColumns(damaged)).toThrow(/checksum/i);
    expect(() => decodeSegmentColumns(bytes, { expect: { count: 99_999 } })).toThrow(/count/);
  });
});

/** `decodeEvent`'s data of a record, or `undefined` when it refuses the record. */
function decodedData(record: StoredEventRecord): Record<string, unknown> | undefined {
  try {
    const event = decodeEvent(record, { sessionId: '20250817T194800Z_001' }) as {
      data?: Record<string, unknown>;
    };
    return event.data;
  } catch {
    return undefined;
  }
}

/** Same keys in the same order, each value the same (`Object.is`: -0 is not 0). */
function expectSameData(actual: Record<string, unknown>, expected: Record<string, unknown>): void {
  expect(Object.keys(actual)).toEqual(Object.keys(expected));
  for (const key of Object.keys(expected)) {
    expect(Object.is(actual[key], expected[key]), `${key}: ${String(actual[key])}`).toBe(true);
  }
}

describe('SegmentColumns.dataOf', () => {
  /**
   * Checks every record of `columns`: where `dataOf` builds the data, it is what
   * reading the payload bytes gives; returns how many it built.
   */
  function checkAll(columns: ReturnType<typeof decodeSegmentColumns>): number {
    let built = 0;
    for (const record of columns.records()) {
      const fields = payloadFields(record.type, record.schemaVersion);
      if (fields === undefined) continue;
      expect(payloadDataSource(record.payload.buffer)).toBe(columns);
      const data = columns.dataOf(record.payload, fields);
      if (data === undefined) continue;
      built++;
      const expected = decodedData(record);
      // decodeEvent refuses nothing dataOf builds, other than the columns it also checks.
      if (expected === undefined) {
        expect(() => decodeEvent(record, { sessionId: '20250817T194800Z_001' })).toThrow(
          /timestamp|version/i,
        );
        continue;
      }
      expectSameData(data, expected);
    }
    return built;
  }

  it('builds the data that reading the payload gives, for events of any type', () => {
    let built = 0;
    fc.assert(
      fc.property(storedRangeArbitrary(30), (events) => {
        built += checkAll(decodeSegmentColumns(encodeSegment(events)));
      }),
      { numRuns: 150 },
    );
    expect(built).toBeGreaterThan(0);
  });

  it('builds the same data from adversarial payloads (NaN, -0, masks past the fields, extras)', () => {
    let built = 0;
    const range = fc.array(positionalPayloadArbitrary(), { minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(range, (payloads) => {
        const events = payloads.map((payload, i): StoredEventRecord => ({
          position: BigInt(i + 1),
          stream: 's',
          version: BigInt(i + 1),
          type: 'energy.update',
          schemaVersion: 1,
          timestampUs: 1_755_460_080_000_000 + i,
          frameId: null,
          eventId: null,
          payload,
        }));
        const columns = decodeSegmentColumns(encodeSegment(events));
        built += checkAll(columns);
        // Where reading the bytes refuses the payload, dataOf builds nothing.
        for (const record of columns.records()) {
          if (decodedData(record) === undefined) {
            expect(columns.dataOf(record.payload, payloadFields('energy.update', 1)!)).toBe(
              undefined,
            );
          }
        }
      }),
      { numRuns: 100 },
    );
    expect(built).toBeGreaterThan(0);
  });

  it('builds nothing for a payload that is not exactly one of its events', () => {
    const events: StoredEventRecord[] = [0, 1].map((i) => ({
      position: BigInt(i + 1),
      stream: 's',
      version: BigInt(i + 1),
      type: 'energy.update',
      schemaVersion: 1,
      timestampUs: 1_755_460_080_000_000 + i,
      frameId: null,
      eventId: null,
      // [1, 0b1, 0.5]: energy only.
      payload: Uint8Array.from([0x93, 0x01, 0x01, 0xcb, 0x3f, 0xe0, 0, 0, 0, 0, 0, 0]),
    }));
    const columns = decodeSegmentColumns(encodeSegment(events));
    const fields = payloadFields('energy.update', 1)!;
    const [first, second] = columns.records() as [StoredEventRecord, StoredEventRecord];
    expect(columns.dataOf(second.payload, fields)).toEqual({ energy: 0.5 });
    expect(columns.dataOf(first.payload, fields)).toEqual({ energy: 0.5 });
    expect(columns.dataOf(first.payload.subarray(1), fields)).toBeUndefined();
    expect(columns.dataOf(first.payload.slice(), fields)).toBeUndefined();
    expect(columns.dataOf(first.payload, [])).toBeUndefined();
  });
});
