import { encodeEvent } from '@wirthforge/events';
import type { StoredEventRecord } from '@wirthforge/storage';
import { collectEvents } from '@wirthforge/simulator';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  comparable,
  positionalPayloadArbitrary,
  storedRangeArbitrary,
} from '../test/segment-arbitraries.js';
import { decodeSegment, segmentEvents } from './decode-segment.js';
import { encodeSegment } from './encode-segment.js';
import { readSegmentHeader } from './segment-header.js';

function expectSameEvents(
  actual: readonly StoredEventRecord[],
  expected: readonly StoredEventRecord[],
): void {
  expect(actual.map(comparable)).toEqual(expected.map(comparable));
}

/** A simulated 60 Hz session as one stream's stored events. */
function simulatedRecords(seconds: number, models?: readonly string[]): StoredEventRecord[] {
  const events = collectEvents({
    seed: 3,
    durationSeconds: seconds,
    ...(models ? { models } : {}),
  });
  return events.map((event, i) => {
    const encoded = encodeEvent(event);
    return {
      ...encoded,
      position: BigInt(2 * i + 7),
      stream: `session-${event.session_id}`,
      version: BigInt(i + 1),
      frameId: encoded.frameId ?? null,
      eventId: encoded.eventId ?? null,
    };
  });
}

describe('decodeSegment(encodeSegment(events))', () => {
  it('gives back every event of any type, any payload, bit for bit', () => {
    fc.assert(
      fc.property(storedRangeArbitrary(30), (events) => {
        const bytes = encodeSegment(events);
        const { header, events: back } = decodeSegment(bytes);
        expectSameEvents(back, events);
        expect(header.count).toBe(events.length);
      }),
      { numRuns: 100 },
    );
  });

  it('keeps payloads exact in columns: NaN payloads, -0, infinities, subnormals, decimals', () => {
    // Many events of one type, so that every field becomes a column of many values.
    const range = fc.array(positionalPayloadArbitrary(), { minLength: 1, maxLength: 120 });
    fc.assert(
      fc.property(range, fc.integer({ min: 0, max: 9 }), (payloads, level) => {
        const events = payloads.map((payload, i): StoredEventRecord => ({
          position: BigInt(i + 1),
          stream: 's',
          version: BigInt(i + 1),
          type: 'energy.update',
          schemaVersion: 1,
          timestampUs: 1_000_000 + i,
          frameId: i,
          eventId: null,
          payload,
        }));
        const bytes = encodeSegment(events, { level: level as 0 });
        expectSameEvents(decodeSegment(bytes).events, events);
      }),
      { numRuns: 60 },
    );
  });

  it('round-trips a simulated session with two models, every type the simulator emits', () => {
    const events = simulatedRecords(20, ['ollama/llama3.2:3b', 'ollama/mistral:7b']);
    const bytes = encodeSegment(events);
    expectSameEvents(decodeSegment(bytes).events, events);
    expectSameEvents([...segmentEvents(bytes)], events);
    // Payloads that are not columns would be far larger than this.
    expect(bytes.length / events.length).toBeLessThan(12);
  });

  it('keeps a realistic one-model 60 Hz session within 9 bytes per event in 1800-event segments', () => {
    const events = simulatedRecords(240);
    let bytes = 0;
    for (let i = 0; i < events.length; i += 1800) {
      const slice = events.slice(i, i + 1800);
      const segment = encodeSegment(slice);
      bytes += segment.length;
      expectSameEvents(decodeSegment(segment).events, slice);
    }
    expect(bytes / events.length).toBeLessThanOrEqual(9);
  });
});

describe('timestamps on a frame grid', () => {
  function onGrid(frame: number, offset: number): number {
    const t = 1_755_460_080_000_000 + frame * 16_667 + offset;
    return offset > 400 || offset < 0 || !Number.isSafeInteger(t) ? offset : t;
  }

  it('are exact whatever the frame ids and timestamps, grid or not', () => {
    const frame = fc.oneof(
      fc.constant(null),
      fc.nat({ max: 100 }),
      fc.constantFrom(0, Number.MAX_SAFE_INTEGER, 2 ** 40),
    );
    const time = fc.oneof(
      fc.integer({ min: 0, max: 400 }),
      fc.constantFrom(Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER, -(2 ** 52)),
    );
    fc.assert(
      fc.property(fc.array(fc.tuple(frame, time), { minLength: 1, maxLength: 60 }), (specs) => {
        const events = specs.map(([frameId, offset], i): StoredEventRecord => ({
          position: BigInt(i + 1),
          stream: 's',
          version: BigInt(i + 1),
          type: 'energy.update',
          schemaVersion: 1,
          timestampUs: onGrid(frameId ?? i, offset),
          frameId,
          eventId: null,
          payload: Uint8Array.of(0x92, 0x01, 0x00),
        }));
        expectSameEvents(decodeSegment(encodeSegment(events)).events, events);
      }),
      { numRuns: 200 },
    );
  });
});

describe('running sums (accumulators)', () => {
  const writer = new DataView(new ArrayBuffer(8));
  function number(value: number): number[] {
    if (Number.isInteger(value) && value >= 0 && value < 0x80 && !Object.is(value, -0))
      return [value];
    writer.setFloat64(0, value);
    return [0xcb, ...new Uint8Array(writer.buffer)];
  }
  function segmentOf(
    pairs: readonly (readonly [number, number])[],
  ): [Uint8Array, StoredEventRecord[]] {
    const events = pairs.map(([energy, accumulator], i): StoredEventRecord => ({
      position: BigInt(i + 1),
      stream: 's',
      version: BigInt(i + 1),
      type: 'energy.update',
      schemaVersion: 1,
      timestampUs: i,
      frameId: i,
      eventId: null,
      payload: Uint8Array.from([0x94, 0x01, 0x03, ...number(energy), ...number(accumulator)]),
    }));
    return [encodeSegment(events), events];
  }
  const energies = fc.array(
    fc.oneof(
      fc.integer({ min: 0, max: 9000 }).map((n) => n / 1000),
      fc.constantFrom(0, 1, 2.5, 100),
    ),
    { minLength: 2, maxLength: 200 },
  );

  it('code a field that adds up an earlier one in nothing but its start, exactly', () => {
    fc.assert(
      fc.property(energies, fc.integer({ min: 0, max: 10 ** 6 }), (energy, start) => {
        let sum = start / 1000;
        const pairs = energy.map((e) => {
          sum = Math.round((sum + e) * 1000) / 1000;
          return [e, sum] as const;
        });
        const [bytes, events] = segmentOf(pairs);
        expectSameEvents(decodeSegment(bytes).events, events);
        // One value off: no longer a running sum, still exact, and larger.
        const broken = pairs.map(
          ([e, a], i) => [e, i === pairs.length - 1 ? a + 0.001 : a] as const,
        );
        const [brokenBytes, brokenEvents] = segmentOf(broken);
        expectSameEvents(decodeSegment(brokenBytes).events, brokenEvents);
        if (energy.length > 50 && energy.some((e) => !Number.isInteger(e))) {
          expect(bytes.length).toBeLessThan(brokenBytes.length);
        }
      }),
      { numRuns: 40 },
    );
  });
});

describe('ranges and iteration', () => {
  const events = simulatedRecords(3);
  const bytes = encodeSegment(events);
  const header = readSegmentHeader(bytes);

  it('returns only the events in a position range', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: header.lastPosition + 3n }),
        fc.bigInt({ min: 0n, max: header.lastPosition + 3n }),
        (from, to) => {
          const expected = events.filter((e) => e.position >= from && e.position <= to);
          expectSameEvents(
            decodeSegment(bytes, { fromPosition: from, toPosition: to }).events,
            expected,
          );
          expectSameEvents(
            [...segmentEvents(bytes, { fromPosition: from, toPosition: to })],
            expected,
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('returns only the events in a version range', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 0n, max: header.lastVersion + 3n }),
        fc.bigInt({ min: 0n, max: header.lastVersion + 3n }),
        (from, to) => {
          const expected = events.filter((e) => e.version >= from && e.version <= to);
          expectSameEvents(
            decodeSegment(bytes, { fromVersion: from, toVersion: to }).events,
            expected,
          );
        },
      ),
      { numRuns: 40 },
    );
  });

  it('iterates lazily: stopping early reads no further', () => {
    const iterator = segmentEvents(bytes);
    const first = iterator.next();
    expect(first.done).toBe(false);
    expectSameEvents([first.value as StoredEventRecord], [events[0] as StoredEventRecord]);
    iterator.return();
  });

  it('lets two iterations interleave', () => {
    const a = segmentEvents(bytes);
    const b = segmentEvents(bytes);
    const out: StoredEventRecord[] = [];
    for (;;) {
      const x = a.next();
      const y = b.next();
      if (x.done === true || y.done === true) break;
      expectSameEvents([x.value], [y.value]);
      out.push(x.value);
    }
    expectSameEvents(out, events);
  });
});
