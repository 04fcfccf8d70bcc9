import type { StoredEventRecord } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';

import { decodeSegment } from './decode-segment.js';
import { encodeSegment } from './encode-segment.js';
import { isSegmentError, type SegmentError } from './errors.js';

function range(count: number): StoredEventRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    position: 100n + BigInt(i * 2),
    stream: 'session-20250817T194800Z_001',
    version: 1n + BigInt(i),
    type: 'health.heartbeat',
    schemaVersion: 1,
    timestampUs: 1_755_460_080_000_000 + i * 1_000_000,
    frameId: null,
    eventId: null,
    payload: Uint8Array.from([0x92, 0x01, 0x00]),
  }));
}

function rejection(events: unknown, options?: object): string {
  try {
    encodeSegment(events as StoredEventRecord[], options);
  } catch (error) {
    expect(isSegmentError(error, 'invalid_argument')).toBe(true);
    return (error as SegmentError).message;
  }
  throw new Error('expected a rejection');
}

function withEvent(index: number, change: Record<string, unknown>): StoredEventRecord[] {
  const events = range(5);
  events[index] = { ...events[index], ...change } as StoredEventRecord;
  return events;
}

describe('encodeSegment refuses what is not one closed, contiguous range of one stream', () => {
  it('says what is wrong and at which event', () => {
    expect(rejection([])).toBe('A segment holds at least one event');
    expect(rejection('x')).toBe('events must be an array');
    expect(rejection(withEvent(3, { stream: 'user-default' }))).toBe(
      'events[3]: belongs to stream "user-default", not "session-20250817T194800Z_001": a segment holds one stream',
    );
    expect(rejection(withEvent(2, { version: 7n }))).toBe(
      'events[2]: version 7 where 3 is expected: versions must be consecutive',
    );
    expect(rejection(withEvent(2, { position: 102n }))).toBe(
      'events[2]: position 102 does not follow position 102: positions must increase',
    );
    expect(rejection(withEvent(0, { position: 0n }))).toBe(
      'events[0]: position must be a bigint in 1..2^53-1, got 0',
    );
    expect(rejection(withEvent(1, { position: 2n ** 53n }))).toMatch(
      /^events\[1\]: position must be a bigint/,
    );
    expect(rejection(withEvent(1, { version: 2 }))).toBe(
      'events[1]: version must be a bigint in 1..2^53-1, got 2',
    );
    expect(rejection(withEvent(4, { timestampUs: 1.5 }))).toBe(
      'events[4]: timestampUs must be a safe integer, got 1.5',
    );
    expect(rejection(withEvent(4, { frameId: -1 }))).toBe(
      'events[4]: frameId must be null or a non-negative safe integer, got -1',
    );
    expect(rejection(withEvent(4, { frameId: undefined }))).toMatch(
      /^events\[4\]: frameId must be null/,
    );
    expect(rejection(withEvent(1, { eventId: 'a\uD800' }))).toBe(
      'events[1]: eventId must be null or a well-formed string',
    );
    expect(rejection(withEvent(1, { type: '' }))).toBe(
      'events[1]: type must be a non-empty, well-formed string',
    );
    expect(rejection(withEvent(1, { schemaVersion: 0 }))).toBe(
      'events[1]: schemaVersion must be an integer in 1..2^31-1, got 0',
    );
    expect(rejection(withEvent(1, { payload: [1, 2] }))).toBe(
      'events[1]: payload must be a Uint8Array',
    );
    expect(rejection(withEvent(0, { stream: '' }))).toBe(
      'events[0]: stream must be a non-empty, well-formed string',
    );
    expect(rejection(range(2), { level: 10 })).toBe('options.level must be 0..9, got 10');
  });
});

describe('encodeSegment', () => {
  it('stores payloads as raw bytes when asked, with the same events back', () => {
    const events = range(50);
    const columnar = encodeSegment(events);
    const raw = encodeSegment(events, { columnar: false });
    expect(decodeSegment(raw).events).toEqual(decodeSegment(columnar).events);
    expect(decodeSegment(raw).events.map((e) => e.payload)).toEqual(events.map((e) => e.payload));
  });

  it('writes the same bytes for the same events', () => {
    expect(encodeSegment(range(30))).toEqual(encodeSegment(range(30)));
  });
});
