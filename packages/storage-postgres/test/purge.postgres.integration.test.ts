/**
 * `purgeStreams`: the named streams' rows go for good, the others stay, and the head
 * never moves back (the next append gets a position after every purged one).
 */
import { isStorageError } from '@wirthforge/storage';
import type { NewEventRecord } from '@wirthforge/storage';
import { afterAll, describe, expect, it } from 'vitest';

import { PG_AVAILABLE, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

function event(n: number): NewEventRecord {
  return {
    type: 'energy.update',
    schemaVersion: 1,
    timestampUs: 1_000 + n,
    eventId: `purge-${n}`,
    payload: Uint8Array.of(n & 0xff),
  };
}

describe.runIf(PG_AVAILABLE)('postgres purgeStreams', () => {
  it('deletes the named streams for good and keeps the head where it was', async () => {
    const schema = freshSchemaName('wf_purge');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    try {
      await storage.appendBatch([
        { stream: 'session-keep', expectedVersion: 'no_stream', events: [event(1), event(2)] },
        { stream: 'session-gone', expectedVersion: 'no_stream', events: [event(3), event(4)] },
      ]);
      expect(await storage.headPosition()).toBe(4n);

      const report = await storage.purgeStreams(['session-gone', 'session-never']);
      expect(report).toEqual({ streams: ['session-gone'], events: 2 });
      expect(await storage.streamVersion('session-gone')).toBe(0n);
      const left = [];
      for await (const e of storage.readAll()) left.push([e.stream, e.position]);
      expect(left).toEqual([
        ['session-keep', 1n],
        ['session-keep', 2n],
      ]);
      // The purged events held the last positions: the head stays, the next append follows it.
      expect(await storage.headPosition()).toBe(4n);
      const next = await storage.appendBatch([
        { stream: 'session-keep', expectedVersion: 2n, events: [event(5)] },
      ]);
      expect(next.lastPosition).toBe(5n);
      // Its event ids are free again, and a repeated purge deletes nothing.
      const again = await storage.appendBatch([
        { stream: 'session-new', expectedVersion: 'no_stream', events: [event(3)] },
      ]);
      expect(again.streams[0]!.positions).toEqual([6n]);
      expect(await storage.purgeStreams(['session-gone'])).toEqual({ streams: [], events: 0 });
      expect(await storage.purgeStreams([])).toEqual({ streams: [], events: 0 });
    } finally {
      await storage.close();
    }
    // A store opened afterwards counts the purged positions too.
    const reopened = await openTestStorage(schema);
    try {
      await reopened.purgeStreams(['session-new', 'session-keep']);
      expect(await reopened.headPosition()).toBe(6n);
    } finally {
      await reopened.close();
    }
  });

  it('purges the companion streams of a session (its snapshot markers) with it', async () => {
    const schema = freshSchemaName('wf_purge');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    try {
      await storage.appendBatch([
        { stream: 'session-a', expectedVersion: 'no_stream', events: [event(1)] },
        { stream: 'snapshots:session-a', expectedVersion: 'no_stream', events: [event(2)] },
        { stream: 'snapshots:session-a2', expectedVersion: 'no_stream', events: [event(3)] },
        { stream: 'snapshots:session-b', expectedVersion: 'no_stream', events: [event(4)] },
        { stream: 'session-b', expectedVersion: 'no_stream', events: [event(5)] },
        { stream: 'snapshots:session-c', expectedVersion: 'no_stream', events: [event(6)] },
      ]);

      const report = await storage.purgeStreams(['session-a']);
      expect(report).toEqual({ streams: ['session-a', 'snapshots:session-a'], events: 2 });
      expect(await storage.streamVersion('snapshots:session-a')).toBe(0n);
      // A stream already gone (archived) still takes its markers with it.
      expect(await storage.purgeStreams(['session-c'])).toEqual({
        streams: ['snapshots:session-c'],
        events: 1,
      });
      const left = [];
      for await (const e of storage.readAll()) left.push(e.stream);
      // A name that only ends like one (`…session-a2`) and another session's markers stay.
      expect(left).toEqual(['snapshots:session-a2', 'snapshots:session-b', 'session-b']);
      expect(await storage.headPosition()).toBe(6n);
    } finally {
      await storage.close();
    }
  });

  it('refuses a bad stream name, naming it', async () => {
    const schema = freshSchemaName('wf_purge');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    try {
      const error = await storage.purgeStreams(['ok', ''] as string[]).catch((e: unknown) => e);
      expect(isStorageError(error, 'invalid_argument')).toBe(true);
      expect((error as Error).message).toContain('streams[1]');
    } finally {
      await storage.close();
    }
  });
});
