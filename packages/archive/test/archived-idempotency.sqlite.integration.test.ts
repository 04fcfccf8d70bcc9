/**
 * Idempotent event ids across archiving: an event id whose event was sealed and then
 * moved to an archive partition still names that event. Appending it again with the same
 * content answers the original position (nothing is written); with different content it
 * is a conflict; after a restore the live segments answer again.
 */
import { join } from 'node:path';

import { sessionStream } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { collectEvents } from '@wirthforge/simulator';
import { isStorageError } from '@wirthforge/storage';
import type { StoredEventRecord } from '@wirthforge/storage';
import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openArchive, purgeArchived } from '../src/index.js';
import { readEverything, tempDir, waitSealed, writeSessions } from './fixtures.js';

let dir: { dir: string; remove: () => void };
let path: string;

beforeEach(async () => {
  dir = tempDir();
  path = join(dir.dir, 'state.db');
  await writeSessions(path, [{ seed: 4, seconds: 6, start: Date.UTC(2026, 9, 5, 10) }]);
});

afterEach(() => dir.remove());

/** Appends `event` again as a new event of its stream (any version). */
async function appendAgain(
  storage: Awaited<ReturnType<typeof openSqliteStorage>>,
  event: StoredEventRecord,
  payload: Uint8Array = event.payload,
) {
  return storage.appendBatch([
    {
      stream: event.stream,
      expectedVersion: 'any',
      events: [
        {
          type: event.type,
          schemaVersion: event.schemaVersion,
          timestampUs: event.timestampUs,
          ...(event.frameId === null ? {} : { frameId: event.frameId }),
          ...(event.eventId === null ? {} : { eventId: event.eventId }),
          payload,
        },
      ],
    },
  ]);
}

function count(sql: string): number {
  const c = openConnection(path, { readonly: true });
  try {
    return c.prepare(sql).pluck().get() as number;
  } finally {
    c.close();
  }
}

describe('event ids of archived events', () => {
  it('stay idempotent: same content gives the original positions, other content a conflict', async () => {
    const archive = openArchive({ databasePath: path });
    let storage = await openSqliteStorage({ path, seal: false });
    let events: StoredEventRecord[];
    try {
      events = await readEverything(storage);
    } finally {
      await storage.close();
    }
    const withIds = events.filter((e) => e.eventId !== null);
    expect(withIds.length).toBeGreaterThan(2);
    const [first, second] = [withIds[0]!, withIds[withIds.length - 1]!];

    const report = archive.run({ minAgeMs: 0 });
    expect(report.moved.reduce((n, m) => n + m.events, 0)).toBe(events.length);
    expect(count('select count(*) from segments')).toBe(0);
    expect(count('select count(*) from sealed_event_ids')).toBe(0);
    expect(count('select count(*) from archived_event_ids')).toBe(withIds.length);

    storage = await openSqliteStorage({ path, seal: false, coldSegments: archive.coldSegments });
    try {
      const head = await storage.headPosition();
      const version = await storage.streamVersion(first.stream);
      for (const event of [first, second]) {
        const again = await appendAgain(storage, event);
        expect(again.streams[0]!.positions).toEqual([event.position]);
        expect(again.streams[0]!.nextExpectedVersion).toBe(version);
      }
      expect(await storage.headPosition()).toBe(head);

      const changed = Uint8Array.from([...first.payload, 0xc0]);
      const error = await appendAgain(storage, first, changed).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStorageError(error, 'idempotency_conflict')).toBe(true);
      expect((error as { existingPosition: bigint }).existingPosition).toBe(first.position);
      expect((error as Error).message).toMatch(/archived/);
      // Another timestamp is other content too.
      const moved = { ...second, timestampUs: second.timestampUs + 1 };
      await expect(appendAgain(storage, moved)).rejects.toThrow(/already stored at position/);
      expect(await storage.headPosition()).toBe(head);
      expect(await readEverything(storage)).toHaveLength(events.length);
    } finally {
      await storage.close();
    }

    // Restored: the ids are the live segments' again, and still idempotent.
    archive.restore({ partition: '2026-10' });
    expect(count('select count(*) from archived_event_ids')).toBe(0);
    expect(count('select count(*) from sealed_event_ids')).toBe(withIds.length);
    storage = await openSqliteStorage({ path, seal: false });
    try {
      const again = await appendAgain(storage, first);
      expect(again.streams[0]!.positions).toEqual([first.position]);
    } finally {
      await storage.close();
    }
  }, 120_000);

  it('leave with their session when it is purged: no id left, the ids free again', async () => {
    const archive = openArchive({ databasePath: path });
    let storage = await openSqliteStorage({ path, seal: false });
    let events: StoredEventRecord[];
    try {
      events = await readEverything(storage);
    } finally {
      await storage.close();
    }
    const withIds = events.filter((e) => e.eventId !== null);
    try {
      archive.run({ minAgeMs: 0 });
    } finally {
      archive.close();
    }
    expect(count('select count(*) from archived_event_ids')).toBe(withIds.length);
    const stream = withIds[0]!.stream;
    const report = purgeArchived({ databasePath: path }, { streams: [stream] });
    expect(report.events).toBe(events.length);
    expect(count('select count(*) from archived_event_ids')).toBe(0);
    // The purged event's id names nothing any more: the same event is new again.
    storage = await openSqliteStorage({ path, seal: false });
    try {
      const head = await storage.headPosition();
      const again = await appendAgain(storage, withIds[0]!);
      expect(again.streams[0]!.positions).toEqual([head + 1n]);
    } finally {
      await storage.close();
    }
  }, 120_000);

  it('are not counted again by the inline projections when an event store repeats them', async () => {
    // Written with frequent projection checkpoints, so that a store opened later starts the
    // session's state from a checkpoint and must ask the storage which ids it holds.
    const own = join(dir.dir, 'checkpointed.db');
    const writer = await openSqliteStorage({ path: own, seal: { minEvents: 100, maxAgeMs: 1 } });
    const writing = createEventStore({ storage: writer, projections: { checkpointEvery: 50 } });
    try {
      const events = collectEvents({
        seed: 5,
        durationSeconds: 6,
        startTime: Date.UTC(2026, 9, 6, 10),
      });
      const name = sessionStream(events[0]!.session_id);
      for (let i = 0; i < events.length; i += 200) {
        await writing.appendToStream(name, events.slice(i, i + 200));
      }
      await waitSealed(writer);
    } finally {
      await writing.close();
    }
    const archive = openArchive({ databasePath: own });
    archive.run({ minAgeMs: 0 });
    const storage = await openSqliteStorage({
      path: own,
      seal: false,
      coldSegments: archive.coldSegments,
    });
    const store = createEventStore({ storage, projections: { checkpointEvery: 50 } });
    try {
      const totals = () =>
        storage.db
          .selectFrom('sessions')
          .select(['total_events', 'total_energy', 'total_tokens'])
          .execute();
      const users = () => storage.db.selectFrom('users').select(['xp', 'total_energy']).execute();
      const [stream] = (await storage.db.selectFrom('streams').select('name').execute())
        .map((row) => row.name)
        .filter((name) => name.startsWith('session-'));
      const repeated = [];
      for await (const record of store.readStream(stream!)) {
        if ((record.event as { event_id?: string }).event_id !== undefined) repeated.push(record);
      }
      expect(repeated.length).toBeGreaterThan(2);
      const before = { sessions: await totals(), users: await users() };
      const head = await storage.headPosition();
      const result = await store.appendToStream(
        stream!,
        repeated.map((record) => record.event),
      );
      expect(result.lastPosition).toBe(repeated[repeated.length - 1]!.position);
      expect(await storage.headPosition()).toBe(head);
      expect({ sessions: await totals(), users: await users() }).toEqual(before);
    } finally {
      await store.close();
    }
  }, 120_000);
});
