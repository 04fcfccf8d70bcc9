import { sessionStream } from '@wirthforge/events';
import { createEventStore, isIdempotencyConflictError } from '@wirthforge/eventstore';
import { createMemoryStorage } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';
import { IngestBatcher } from './ingest-batcher.js';

const sessionA = '20250817T194800Z_001';
const sessionB = '20250817T194800Z_002';
function heartbeat(
  session: string,
  n: number,
  eventId?: string,
  fps = 60,
): Record<string, unknown> {
  return {
    session_id: session,
    timestamp: `2025-08-17T19:48:${String(n % 60).padStart(2, '0')}.000000Z`,
    type: 'health.heartbeat',
    ...(eventId === undefined ? {} : { event_id: eventId }),
    data: { system_health: 'healthy', fps },
  };
}

describe('IngestBatcher', () => {
  it('commits requests that arrive together in one commit, each with its own positions, each stream in arrival order', async () => {
    const store = createEventStore({ storage: createMemoryStorage() });
    let commits = 0;
    const commitBatch = store.commitBatch.bind(store);
    store.commitBatch = (appends, options) => {
      commits++;
      return commitBatch(appends, options);
    };
    const batcher = new IngestBatcher(store);
    const requests = [
      [sessionA, [heartbeat(sessionA, 1), heartbeat(sessionA, 2)]],
      [sessionB, [heartbeat(sessionB, 3)]],
      [sessionA, [heartbeat(sessionA, 4), heartbeat(sessionA, 5), heartbeat(sessionA, 6)]],
      [sessionB, [heartbeat(sessionB, 7)]],
    ] as const;
    const results = await Promise.all(
      requests.map(([s, events]) =>
        batcher.submit(store.prepareAppend(sessionStream(s), events as never)),
      ),
    );
    // The first goes alone (nothing in flight), the next three wait for it and go together.
    expect(commits).toBe(2);
    // In the second commit, one append per stream in first-use order: B (3, 7), then A (4, 5, 6).
    expect(results.map((r) => r.positions.map(Number))).toEqual([[1, 2], [3], [5, 6, 7], [4]]);
    expect(results.map((r) => Number(r.nextExpectedVersion))).toEqual([2, 1, 5, 2]);
    const stored = await store.readAll().toArray();
    const seconds = stored.map((r) => (r.event as { timestamp: string }).timestamp.slice(17, 19));
    expect(seconds).toEqual(['01', '02', '03', '07', '04', '05', '06']);
    await store.close();
  });

  it('a refused request fails alone; the others of its group are stored', async () => {
    const store = createEventStore({ storage: createMemoryStorage() });
    const batcher = new IngestBatcher(store);
    await batcher.submit(
      store.prepareAppend(sessionStream(sessionA), [heartbeat(sessionA, 1, 'x1')] as never),
    );
    const first = batcher.submit(
      store.prepareAppend(sessionStream(sessionA), [heartbeat(sessionA, 2)] as never),
    );
    const grouped = [
      batcher.submit(
        store.prepareAppend(sessionStream(sessionA), [heartbeat(sessionA, 3)] as never),
      ),
      // The same event id with other content: a conflict.
      batcher.submit(
        store.prepareAppend(sessionStream(sessionA), [heartbeat(sessionA, 1, 'x1', 30)] as never),
      ),
      batcher.submit(
        store.prepareAppend(sessionStream(sessionB), [heartbeat(sessionB, 4)] as never),
      ),
    ];
    const settled = await Promise.allSettled([first, ...grouped]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(isIdempotencyConflictError((settled[2] as PromiseRejectedResult).reason)).toBe(true);
    expect((await store.readAll().toArray()).length).toBe(4);
    await store.close();
  });
});
