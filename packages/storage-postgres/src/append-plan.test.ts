import { isConcurrencyError, isIdempotencyConflictError } from '@wirthforge/storage';
import type { NewEventRecord } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';

import { GroupRows, planAppend } from './append-plan.js';
import type { AppendState } from './append-plan.js';

function event(i: number, eventId?: string): NewEventRecord {
  return {
    type: i % 2 === 0 ? 'energy.tick' : 'model.token',
    schemaVersion: 1,
    timestampUs: 1_000 + i,
    payload: Uint8Array.of(i, i + 1),
    ...(eventId === undefined ? {} : { eventId }),
  };
}

function state(overrides: Partial<AppendState> = {}): AppendState {
  return {
    head: 10,
    nextStreamId: 3,
    nextTypeId: 2,
    streams: new Map([['session-a', { id: 2, version: 4 }]]),
    types: new Map([['energy.tick', 1]]),
    stored: new Map(),
    ...overrides,
  };
}

describe('planAppend', () => {
  it('plans a group: a later batch sees the streams, versions and types an earlier one made', () => {
    const s = state();
    const rows = new GroupRows();
    const first = planAppend(
      s,
      rows,
      [
        { stream: 'session-a', expectedVersion: 4n, events: [event(0), event(1)] },
        { stream: 'session-b', expectedVersion: 'no_stream', events: [event(2)] },
      ],
      [],
      5,
    );
    const second = planAppend(
      s,
      rows,
      [
        { stream: 'session-a', expectedVersion: 6n, events: [event(3)] },
        { stream: 'session-b', expectedVersion: 1n, events: [event(4), event(5)] },
      ],
      [],
      5,
    );
    expect(first.streams.map((r) => r.positions)).toEqual([[11n, 12n], [13n]]);
    expect(second.streams.map((r) => r.positions)).toEqual([[14n], [15n, 16n]]);
    expect(second.lastPosition).toBe(16);
    expect(rows.position).toEqual([11, 12, 13, 14, 15, 16]);
    expect(rows.streamId).toEqual([2, 2, 3, 2, 3, 3]);
    expect(rows.version).toEqual([5, 6, 1, 7, 2, 3]);
    // One new type, made once; the existing stream gets its last version, the new one is
    // inserted with it.
    expect(rows.newTypes).toEqual([{ id: 2, name: 'model.token' }]);
    expect(rows.typeId).toEqual([1, 2, 1, 2, 1, 2]);
    expect([...rows.versions]).toEqual([[2, 7]]);
    expect([...rows.newStreams.values()]).toEqual([
      { id: 3, name: 'session-b', kind: 'session', version: 3, createdUs: 5 },
    ]);
    expect(s.head).toBe(16);
  });

  it('leaves state and rows as they were when a batch fails its expected version', () => {
    const s = state();
    const rows = new GroupRows();
    planAppend(s, rows, [{ stream: 'session-a', expectedVersion: 4n, events: [event(0)] }], [], 5);
    let failure: unknown;
    try {
      planAppend(
        s,
        rows,
        [
          { stream: 'session-c', expectedVersion: 'no_stream', events: [event(1, 'x-1')] },
          { stream: 'session-a', expectedVersion: 4n, events: [event(2)] },
        ],
        [],
        5,
      );
    } catch (error) {
      failure = error;
    }
    expect(isConcurrencyError(failure)).toBe(true);
    expect(s.head).toBe(11);
    expect(s.streams.has('session-c')).toBe(false);
    expect(s.stored.has('x-1')).toBe(false);
    expect(s.nextTypeId).toBe(2);
    expect(rows.position).toEqual([11]);
    expect(rows.newStreams.size).toBe(0);
  });

  it('answers a repeated id with its original position, in the group or stored', () => {
    const stored = new Map([
      [
        'e-1',
        {
          position: 7,
          stream: 'session-a',
          type: 'energy.tick',
          schemaVersion: 1,
          timestampUs: 1_000,
          frameId: null,
          payload: Uint8Array.of(0, 1),
        },
      ],
    ]);
    const s = state({ stored });
    const rows = new GroupRows();
    const first = planAppend(
      s,
      rows,
      [{ stream: 'session-a', expectedVersion: 4n, events: [event(0, 'e-1'), event(1, 'e-2')] }],
      [],
      5,
    );
    expect(first.streams[0]!.positions).toEqual([7n, 11n]);
    // The next batch of the group repeats e-2 with an old expected version: all repeats.
    const second = planAppend(
      s,
      rows,
      [{ stream: 'session-a', expectedVersion: 4n, events: [event(1, 'e-2')] }],
      [],
      5,
    );
    expect(second.streams[0]!.positions).toEqual([11n]);
    expect(second.streams[0]!.nextExpectedVersion).toBe(5n);
    expect(rows.position).toEqual([11]);
  });

  it('refuses an id repeated with other content, naming what differs', () => {
    const s = state();
    const rows = new GroupRows();
    planAppend(
      s,
      rows,
      [{ stream: 'session-a', expectedVersion: 'any', events: [event(0, 'e-9')] }],
      [],
      5,
    );
    let failure: unknown;
    try {
      planAppend(
        s,
        rows,
        [
          {
            stream: 'session-a',
            expectedVersion: 'any',
            events: [{ ...event(0), eventId: 'e-9', payload: Uint8Array.of(9) }],
          },
        ],
        [],
        5,
      );
    } catch (error) {
      failure = error;
    }
    expect(isIdempotencyConflictError(failure)).toBe(true);
    expect((failure as Error).message).toContain('payload differs');
    expect(rows.position).toEqual([11]);
  });

  it('creates the streams that row writes name, at version 0', () => {
    const s = state();
    const rows = new GroupRows();
    planAppend(
      s,
      rows,
      [],
      [
        {
          kind: 'session.upsert',
          sessionId: 's-1',
          stream: 'session-s1',
          userId: 'u',
          status: 'active',
          startedUs: 1,
          totalEvents: 0,
          totalEnergy: 0,
          totalTokens: 0,
          updatedUs: 1,
        },
      ],
      5,
    );
    expect([...rows.newStreams.values()]).toEqual([
      { id: 3, name: 'session-s1', kind: 'session', version: 0, createdUs: 5 },
    ]);
    expect(s.streams.get('session-s1')).toEqual({ id: 3, version: 0 });
    expect(rows.position).toEqual([]);
  });
});
