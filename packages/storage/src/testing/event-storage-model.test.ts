import { describe, expect, it } from 'vitest';

import type { NewEventRecord } from '../event-storage.js';
import { EventStorageModel } from './event-storage-model.js';

const e = (eventId?: string, byte = 1): NewEventRecord => ({
  type: 't',
  schemaVersion: 1,
  timestampUs: 5,
  eventId,
  payload: Uint8Array.of(byte),
});

describe('EventStorageModel', () => {
  it('numbers positions globally and versions per stream', () => {
    const model = new EventStorageModel();
    const a = model.predict({ stream: 'a', expectedVersion: 'no_stream', events: [e(), e()] });
    model.apply(a);
    const b = model.predict({ stream: 'b', expectedVersion: 'any', events: [e()] });
    model.apply(b);
    expect(a).toMatchObject({ ok: true, positions: [1n, 2n], nextExpectedVersion: 2n });
    expect(b).toMatchObject({ ok: true, positions: [3n], nextExpectedVersion: 1n });
    expect(model.head()).toBe(3n);
    expect(model.version('a')).toBe(2n);
  });

  it('predicts conflicts and idempotent repeats', () => {
    const model = new EventStorageModel();
    model.apply(model.predict({ stream: 'a', expectedVersion: 0n, events: [e('x')] }));
    expect(model.predict({ stream: 'a', expectedVersion: 0n, events: [e()] })).toEqual({
      ok: false,
      code: 'concurrency',
    });
    expect(model.predict({ stream: 'a', expectedVersion: 0n, events: [e('x')] })).toMatchObject({
      ok: true,
      positions: [1n],
      nextExpectedVersion: 1n,
    });
    expect(model.predict({ stream: 'a', expectedVersion: 'any', events: [e('x', 2)] })).toEqual({
      ok: false,
      code: 'idempotency_conflict',
    });
    expect(model.predict({ stream: 'b', expectedVersion: 'any', events: [e('x')] })).toEqual({
      ok: false,
      code: 'idempotency_conflict',
    });
    expect(
      model.predict({ stream: 'a', expectedVersion: 1n, events: [e('y'), e('y')] }),
    ).toMatchObject({ ok: true, positions: [2n, 2n], nextExpectedVersion: 2n });
  });
});
