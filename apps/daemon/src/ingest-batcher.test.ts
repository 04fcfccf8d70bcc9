import { sessionStream } from '@wirthforge/events';
import {
  createEventStore,
  isConcurrencyError,
  isIdempotencyConflictError,
} from '@wirthforge/eventstore';
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
    const batcher = new IngestBatcher(store, { maxGroupsInFlight: 1, gatherTask: false });
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

  it('sends the requests submitted in one task as one group, and those of a later task as another', async () => {
    const store = createEventStore({ storage: createMemoryStorage() });
    const sent: number[] = [];
    const commitBatch = store.commitBatch.bind(store);
    store.commitBatch = (appends, options) => {
      sent.push(appends.reduce((n, a) => n + a.records.length, 0));
      return commitBatch(appends, options);
    };
    const batcher = new IngestBatcher(store);
    const submit = (s: string, n: number) =>
      batcher.submit(store.prepareAppend(sessionStream(s), [heartbeat(s, n)] as never));
    // The messages of one socket read: submitted one after the other in one task.
    const together = [submit(sessionA, 1), submit(sessionB, 2), submit(sessionA, 3)];
    expect(sent).toEqual([]);
    await Promise.resolve();
    expect(sent).toEqual([3]);
    // A later task while that group is in flight: a group of its own (room for 3 in flight).
    const later = submit(sessionA, 4);
    const results = await Promise.all([...together, later]);
    expect(sent).toEqual([3, 1]);
    expect(results.map((r) => r.positions.map(Number))).toEqual([[1], [3], [2], [4]]);
    expect(results.map((r) => Number(r.nextExpectedVersion))).toEqual([1, 1, 2, 3]);
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

  it('sends a group while another is in flight, chained on the version the earlier one leads to', async () => {
    const store = createEventStore({ storage: createMemoryStorage() });
    const sent: (bigint | string | undefined)[][] = [];
    const commitBatch = store.commitBatch.bind(store);
    store.commitBatch = (appends, options) => {
      sent.push(appends.map((a) => a.expectedVersion));
      return commitBatch(appends, options);
    };
    const batcher = new IngestBatcher(store, { gatherTask: false });
    const prepare = (n: number) =>
      store.prepareAppend(sessionStream(sessionA), [heartbeat(sessionA, n)] as never);
    // The first commit of a stream tells its version; the next ones chain on it.
    await batcher.submit(prepare(1));
    const results = await Promise.all([2, 3, 4].map((n) => batcher.submit(prepare(n))));
    // 2 goes alone (nothing in flight: any version), 3 and 4 on top of the one before.
    expect(sent).toEqual([[undefined], [undefined], [2n], [3n]]);
    expect(results.map((r) => r.positions.map(Number))).toEqual([[2], [3], [4]]);
    expect(results.map((r) => Number(r.nextExpectedVersion))).toEqual([2, 3, 4]);
    await store.close();
  });

  it('a refused group and the groups chained on it are retried in order: no request overtakes an earlier one', async () => {
    const store = createEventStore({ storage: createMemoryStorage() });
    const refusals: string[] = [];
    const commitBatch = store.commitBatch.bind(store);
    store.commitBatch = (appends, options) =>
      commitBatch(appends, options).catch((error: unknown) => {
        refusals.push(isConcurrencyError(error) ? 'version' : 'conflict');
        throw error;
      });
    const batcher = new IngestBatcher(store, {
      maxGroupsInFlight: 2,
      maxEventsPerCommit: 2,
      gatherTask: false,
    });
    await batcher.submit(
      store.prepareAppend(sessionStream(sessionA), [heartbeat(sessionA, 1, 'x1')] as never),
    );
    const submit = (n: number, eventId?: string, fps?: number) =>
      batcher.submit(
        store.prepareAppend(sessionStream(sessionA), [
          heartbeat(sessionA, n, eventId, fps),
        ] as never),
      );
    // 2 and 3 go at once; 4 and the conflict wait and go together, refused; 5 is chained on them.
    const settled = await Promise.allSettled([
      submit(2),
      submit(3),
      submit(4),
      submit(1, 'x1', 30),
      submit(5),
    ]);
    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    expect(isIdempotencyConflictError((settled[3] as PromiseRejectedResult).reason)).toBe(true);
    // The group of 4 and the conflict, then 5 chained on it (nothing of it written), then the conflict alone.
    expect(refusals).toEqual(['conflict', 'version', 'conflict']);
    const stored = await store.readAll().toArray();
    const seconds = stored.map((r) => (r.event as { timestamp: string }).timestamp.slice(17, 19));
    expect(seconds).toEqual(['01', '02', '03', '04', '05']);
    // Later requests go on normally.
    expect((await submit(6)).positions.map(Number)).toEqual([6]);
    await store.close();
  });
});
