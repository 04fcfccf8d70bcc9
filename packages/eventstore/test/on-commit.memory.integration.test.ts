import { createMemoryStorage } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';
import { createEventStore, type CommittedBatch } from '../src/index.js';
import { SessionEvents } from './event-builders.js';

describe('onCommit', () => {
  it('tells each listener every acknowledged commit, in order, with versions and records', async () => {
    const store = createEventStore({ storage: createMemoryStorage() });
    const seen: CommittedBatch[] = [];
    const off = store.onCommit((commit) => seen.push(commit));
    store.onCommit(() => {
      throw new Error('a failing listener does not fail the commit');
    });
    const events = new SessionEvents();
    const stream = `session-${events.sessionId}`;
    await store.appendToStream(stream, [events.start(), events.update(1, 2)]);
    await store.transaction((tx) => {
      tx.appendToStream(stream, [events.update(2, 3)]);
      tx.appendToStream('system', [events.update(2, 1)]);
    });
    expect(seen.map((c) => c.lastPosition)).toEqual([2n, 4n]);
    expect(seen[0]!.streams).toEqual([
      expect.objectContaining({ stream, nextExpectedVersion: 2n, positions: [1n, 2n] }),
    ]);
    expect(seen[0]!.appends[0]!.records.map((r) => r.type)).toEqual([
      'system.start',
      'energy.update',
    ]);
    expect(seen[1]!.streams.map((s) => [s.stream, s.nextExpectedVersion])).toEqual([
      [stream, 3n],
      ['system', 1n],
    ]);
    off();
    await store.appendToStream(stream, [events.update(3, 1)]);
    expect(seen).toHaveLength(2);
    await expect(
      store.appendToStream(stream, [events.update(4, 1)], { expectedVersion: 1n }),
    ).rejects.toThrow();
    expect(seen).toHaveLength(2);
    expect(() => store.onCommit(42 as unknown as () => void)).toThrow(
      expect.objectContaining({ code: 'invalid_argument' }),
    );
    await store.close();
  });
});
