import { describe, expect, it } from 'vitest';

import {
  FIELDS_PER_EVENT,
  FIELD_FRAME,
  FIELD_PAYLOAD_LENGTH,
  FIELD_SCHEMA_VERSION,
  FIELD_TIMESTAMP,
  FIELD_TYPE,
  encodeAppendRequest,
} from './sqlite-writer-protocol.js';

describe('encodeAppendRequest', () => {
  it('packs a batch into shared names, one number array and one payload buffer', () => {
    const { message, transfer } = encodeAppendRequest(
      7,
      [
        {
          stream: 'session-1',
          expectedVersion: 3n,
          events: [
            {
              type: 'a',
              schemaVersion: 2,
              timestampUs: 100,
              frameId: 9,
              payload: Uint8Array.of(1, 2),
            },
            {
              type: 'b',
              schemaVersion: 1,
              timestampUs: 101,
              eventId: 'x',
              payload: Uint8Array.of(3),
            },
          ],
        },
        {
          stream: 'custom',
          kind: 'user',
          expectedVersion: 'any',
          events: [{ type: 'a', schemaVersion: 1, timestampUs: 102, payload: new Uint8Array(0) }],
        },
        { stream: 'user-2', expectedVersion: 'no_stream', events: [] },
      ],
      [{ kind: 'metadata.set', key: 'k', value: 'v' }],
    );
    expect(message.id).toBe(7);
    expect(message.streams).toEqual([
      { name: 'session-1', kind: 'session', expected: 3n, count: 2 },
      { name: 'custom', kind: 'user', expected: 'any', count: 1 },
      { name: 'user-2', kind: 'user', expected: 'no_stream', count: 0 },
    ]);
    expect(message.types).toEqual(['a', 'b']);
    expect(message.fields).toHaveLength(3 * FIELDS_PER_EVENT);
    const field = (e: number, f: number) => message.fields[e * FIELDS_PER_EVENT + f];
    expect([0, 1, 2].map((e) => field(e, FIELD_TYPE))).toEqual([0, 1, 0]);
    expect([0, 1, 2].map((e) => field(e, FIELD_SCHEMA_VERSION))).toEqual([2, 1, 1]);
    expect([0, 1, 2].map((e) => field(e, FIELD_TIMESTAMP))).toEqual([100, 101, 102]);
    expect(field(0, FIELD_FRAME)).toBe(9);
    expect(Number.isNaN(field(1, FIELD_FRAME))).toBe(true);
    expect([0, 1, 2].map((e) => field(e, FIELD_PAYLOAD_LENGTH))).toEqual([2, 1, 0]);
    expect(Array.from(new Uint8Array(message.payloads))).toEqual([1, 2, 3]);
    expect(message.eventIds).toEqual([null, 'x', null]);
    expect(message.writes).toEqual([{ kind: 'metadata.set', key: 'k', value: 'v' }]);
    expect(transfer).toEqual([message.fields.buffer, message.payloads]);
  });

  it('sends no event id array when no event has an id', () => {
    const { message } = encodeAppendRequest(
      1,
      [
        {
          stream: 's',
          expectedVersion: 'any',
          events: [{ type: 't', schemaVersion: 1, timestampUs: 1, payload: Uint8Array.of(1) }],
        },
      ],
      [],
    );
    expect(message.eventIds).toBeNull();
  });

  it("copies payloads, leaving the caller's buffers intact", () => {
    const payload = Uint8Array.of(5, 6, 7);
    const { message, transfer } = encodeAppendRequest(
      1,
      [
        {
          stream: 's',
          expectedVersion: 'any',
          events: [{ type: 't', schemaVersion: 1, timestampUs: 1, payload }],
        },
      ],
      [],
    );
    structuredClone(message, { transfer });
    expect(Array.from(payload)).toEqual([5, 6, 7]);
    expect(message.payloads.byteLength).toBe(0);
  });
});
