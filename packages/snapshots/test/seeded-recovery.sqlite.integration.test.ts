import { join } from 'node:path';
import {
  CHECKPOINT_KEY_PREFIX,
  createEventStore,
  energyProjection,
  sessionSummaryProjection,
  type EventStore,
  type Projection,
} from '@wirthforge/eventstore';
import { MetadataRepository, SessionRepository, UserRepository } from '@wirthforge/storage';
import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { createSnapshotStore, recoverSessions, startSnapshotScheduler } from '../src/index.js';
import { SessionBuilder, replayHash, tempDir } from './fixtures.js';

const PROJECTIONS = [energyProjection, sessionSummaryProjection] as Projection<unknown>[];

type Db = ConstructorParameters<typeof SessionRepository>[0];
const dbOf = (store: EventStore): Db => (store.storage as unknown as { db: Db }).db;

async function rowsOf(store: EventStore): Promise<unknown> {
  return {
    sessions: await new SessionRepository(dbOf(store)).list(),
    users: await new UserRepository(dbOf(store)).list(),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('recovery with the store started from projection checkpoints', () => {
  it('recovers crashed sessions to their replay, the rows as a rebuild gives them, a corrupt snapshot and checkpoint falling back', async () => {
    const dir = await tempDir();
    cleanups.push(dir.remove);
    const path = join(dir.dir, 'state.db');
    const open = async (): Promise<EventStore> =>
      createEventStore({
        storage: await openSqliteStorage({ path, synchronous: 'normal' }),
        projections: { checkpointEvery: 200 },
      });

    let store = await open();
    const snapshots = createSnapshotStore(store);
    const scheduler = startSnapshotScheduler(snapshots, { everyEvents: 250 });
    const a = new SessionBuilder('20250817T194800Z_021');
    const b = new SessionBuilder('20250817T194900Z_021', 1_755_460_140_000_000);
    await store.appendToStream(a.stream, [a.start()]);
    await store.appendToStream(b.stream, [b.start()]);
    for (let i = 0; i < 8; i++) {
      await store.appendToStream(a.stream, a.frames(40));
      await store.appendToStream(b.stream, b.frames(30));
      // Each periodic snapshot written before the next appends, whatever the machine's load.
      await scheduler.flush();
    }
    // A tail after the last snapshots and checkpoints.
    await store.appendToStream(a.stream, a.frames(9));
    await store.appendToStream(b.stream, b.frames(7));
    await scheduler.stop();
    const stored = await snapshots.repository.list(a.stream);
    expect(stored.length).toBeGreaterThanOrEqual(2);
    const metadata = new MetadataRepository(dbOf(store));
    expect(await metadata.get(`${CHECKPOINT_KEY_PREFIX}${a.stream}`)).toMatch(/^c1:/);
    expect(await metadata.get(`${CHECKPOINT_KEY_PREFIX}${b.stream}`)).toMatch(/^c1:/);
    expect(await metadata.get(`${CHECKPOINT_KEY_PREFIX}user-ada`)).toMatch(/^c1:/);
    // The crash: the store goes away without ending either session.
    await store.close();

    // Session a: its newest snapshot and its projection checkpoint are corrupt.
    const newest = stored[0]!;
    const file = openConnection(path);
    try {
      const { data } = file.prepare('select data from snapshots where id = ?').get(newest.id) as {
        data: Buffer;
      };
      data[data.length >> 1]! ^= 0x20;
      file.prepare('update snapshots set data = ? where id = ?').run(data, newest.id);
    } finally {
      file.close();
    }
    const writer = await openSqliteStorage({ path, synchronous: 'normal' });
    await writer.appendBatch([], {
      writes: [
        { kind: 'metadata.set', key: `${CHECKPOINT_KEY_PREFIX}${a.stream}`, value: 'c1:0:' },
      ],
    });
    await writer.close();

    store = await open();
    const expected = {
      [a.stream]: await replayHash(store, a.stream, PROJECTIONS),
      [b.stream]: await replayHash(store, b.stream, PROJECTIONS),
    };
    const recovered = await recoverSessions(createSnapshotStore(store), { then: 'close' });
    expect(recovered.map((r) => r.stream)).toEqual([a.stream, b.stream]);
    const [ra, rb] = recovered;
    expect(ra!.rejected).toEqual([
      expect.objectContaining({ id: newest.id, reason: 'checksum_mismatch' }),
    ]);
    expect(ra!.snapshotId).toBe(stored[1]!.id);
    expect(ra!.hash).toBe(expected[a.stream]);
    expect(rb!.rejected).toEqual([]);
    expect(rb!.snapshotId).not.toBeNull();
    expect(rb!.hash).toBe(expected[b.stream]);

    // The rows the recovery's commits wrote are those of a full replay.
    const rows = await rowsOf(store);
    expect(rows).toMatchObject({
      sessions: [{ status: 'recovered' }, { status: 'recovered' }],
    });
    await store.rebuildProjections();
    expect(await rowsOf(store)).toEqual(rows);
    await store.close();
  }, 120_000);
});
