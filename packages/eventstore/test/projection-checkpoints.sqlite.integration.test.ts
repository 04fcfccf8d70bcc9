import { join } from 'node:path';
import {
  MetadataRepository,
  SessionRepository,
  UserRepository,
  type EventStorage,
  type StoredEventRecord,
} from '@wirthforge/storage';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEventStore,
  sessionSummaryProjection,
  userProgressProjection,
  type CheckpointRejection,
  type EventStore,
} from '../src/index.js';
import { checkpointKey, checkpointWrite } from '../src/projection-checkpoint.js';
import { SessionEvents, START_US } from './event-builders.js';
import { tempDir } from './store-fixtures.js';

const EVERY = 50;

/** The storage, counting the events its reads hand out. */
function counting(storage: EventStorage): { storage: EventStorage; read: () => number } {
  let read = 0;
  async function* count(records: AsyncIterable<StoredEventRecord>) {
    for await (const record of records) {
      read += 1;
      yield record;
    }
  }
  const wrapped: EventStorage = {
    appendBatch: (appends, options) => storage.appendBatch(appends, options),
    readStream: (stream, options) => count(storage.readStream(stream, options)),
    readAll: (options) => count(storage.readAll(options)),
    streamVersion: (stream) => storage.streamVersion(stream),
    headPosition: () => storage.headPosition(),
    close: () => storage.close(),
  };
  Object.assign(wrapped, { db: (storage as { db?: unknown }).db });
  return { storage: wrapped, read: () => read };
}

type Db = ConstructorParameters<typeof SessionRepository>[0];

async function rowsOf(store: EventStore): Promise<unknown> {
  const db = (store.storage as unknown as { db: Db }).db;
  return {
    sessions: await new SessionRepository(db).list(),
    users: await new UserRepository(db).list(),
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

describe('inline projections started from checkpoints (SQLite)', () => {
  it('fold only the events after the checkpoints, write the rows a full replay gives, and fall back on a bad checkpoint', async () => {
    const { dir, remove } = await tempDir();
    cleanups.push(remove);
    const path = join(dir, 'state.db');
    const open = () => openSqliteStorage({ path, synchronous: 'normal' });
    const options = { projections: { checkpointEvery: EVERY } };

    // Two sessions of one user: a long one that crashed, a short one that ended.
    const first = new SessionEvents('20250817T194800Z_001', START_US);
    const second = new SessionEvents('20250817T194900Z_001', START_US + 60_000_000);
    const firstStream = `session-${first.sessionId}`;
    const secondStream = `session-${second.sessionId}`;
    let store = createEventStore({ storage: await open(), ...options });
    await store.appendToStream(firstStream, [first.start()]);
    for (let batch = 0; batch < 16; batch++) {
      const events = [];
      for (let i = 0; i < 25; i++) events.push(first.update(batch * 25 + i, 1 + i / 8));
      await store.appendToStream(firstStream, events);
    }
    await store.appendToStream(secondStream, [
      second.start(),
      ...Array.from({ length: 118 }, (_, i) => second.update(i, 0.5 + i / 16)),
      second.end(),
    ]);
    // A tail after the last checkpoints of the session and of the user.
    await store.appendToStream(
      firstStream,
      Array.from({ length: 17 }, (_, i) => first.update(400 + i, 3 - i / 8)),
    );
    await store.close();
    const sessionEvents = 1 + 16 * 25 + 17;

    /** Reopens, appends one event to the long session: events read, rows, and the rows of a rebuild. */
    const reopenAndAppend = async (frame: number) => {
      const counted = counting(await open());
      const rejected: CheckpointRejection[] = [];
      store = createEventStore({
        storage: counted.storage,
        projections: { ...options.projections, onCheckpointRejected: (r) => rejected.push(r) },
      });
      await store.appendToStream(firstStream, [first.update(frame, 2.25)]);
      const read = counted.read();
      const rows = await rowsOf(store);
      await store.rebuildProjections();
      const rebuilt = await rowsOf(store);
      await store.close();
      return { read, rows, rebuilt, rejected };
    };

    const seeded = await reopenAndAppend(1000);
    expect(seeded.rejected).toEqual([]);
    expect(seeded.rows).toEqual(seeded.rebuilt);
    // The session's tail after its checkpoint and the user's: far fewer than a replay.
    expect(seeded.read).toBeLessThan(2 * EVERY + 2 * 25);

    const storage = await open();
    const metadata = new MetadataRepository(storage.db);
    const good = (await metadata.get(checkpointKey(firstStream)))!;
    const other = (await metadata.get(checkpointKey(secondStream)))!;
    expect(good).toMatch(/^c1:[0-9a-f]{8}:/);
    const flipped = good.slice(0, -6) + (good.at(-6) === 'A' ? 'B' : 'A') + good.slice(-5);
    const claimsOtherPosition = checkpointWrite({
      kind: 'session',
      stream: firstStream,
      version: 10,
      position: 3,
      owner: 'ada',
      summary: sessionSummaryProjection.initialState(),
    }).value;
    await storage.close();

    for (const [name, value, reason] of [
      ['a flipped byte', flipped, 'checksum_mismatch'],
      ['a truncated value', good.slice(0, Math.floor(good.length / 2)), 'checksum_mismatch'],
      ["another stream's checkpoint", other, 'wrong_stream'],
      ['a position the log does not have', claimsOtherPosition, 'beyond_log'],
      ['garbage', 'not a checkpoint', 'malformed'],
    ] as const) {
      const writer = await open();
      await writer.appendBatch([], {
        writes: [{ kind: 'metadata.set', key: checkpointKey(firstStream), value }],
      });
      await writer.close();
      const fallback = await reopenAndAppend(2000);
      expect(fallback.rejected, name).toEqual([
        expect.objectContaining({ stream: firstStream, reason }),
      ]);
      expect(fallback.rows, name).toEqual(fallback.rebuilt);
      // The session replayed from its first event.
      expect(fallback.read, name).toBeGreaterThanOrEqual(sessionEvents);
    }

    // A user checkpoint counting a session the store no longer has (purged) is stale.
    const writer = await open();
    await writer.appendBatch([], {
      writes: [
        checkpointWrite({
          kind: 'user',
          stream: 'user-ada',
          userId: 'ada',
          version: 0,
          position: 1,
          events: 1,
          updatedUs: START_US,
          owned: ['session-20250101T000000Z_001'],
          progress: userProgressProjection.initialState(),
        }),
      ],
    });
    await writer.close();
    const stale = await reopenAndAppend(3000);
    expect(stale.rejected).toEqual([
      expect.objectContaining({ stream: 'user-ada', reason: 'stale' }),
    ]);
    expect(stale.rows).toEqual(stale.rebuilt);
  }, 120_000);
});
