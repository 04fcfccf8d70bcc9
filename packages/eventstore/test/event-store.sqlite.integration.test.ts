import { createHash } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { WirthforgeEvent } from '@wirthforge/events';
import { SessionRepository, UserRepository } from '@wirthforge/storage';
import { openSqliteStorage, type SqliteStorage } from '@wirthforge/storage-sqlite';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEventStore,
  energyProjection,
  foldEventsInPlace,
  isIdempotencyConflictError,
  sessionSummaryProjection,
  stateHash,
  type EventStore,
} from '../src/index.js';
import { sessionEventsArbitrary } from '../src/testing/index.js';
import { SessionEvents } from './event-builders.js';
import { fixedClock, tempDir } from './store-fixtures.js';

/** 2025-08-17T19:48:00Z */
const T0 = 1_755_460_080_000_000;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A SQLite store in a fresh directory, and how to open it again. */
async function sqliteStore(): Promise<{
  dir: string;
  storage: SqliteStorage;
  store: EventStore;
  reopen: () => Promise<{ storage: SqliteStorage; store: EventStore }>;
}> {
  const { dir, remove } = await tempDir();
  const path = join(dir, 'state.db');
  const opened: EventStore[] = [];
  const open = async () => {
    // No checkpoint timer: the files change only when this test writes.
    const storage = await openSqliteStorage({ path, checkpointIntervalMs: 0 });
    const store = createEventStore({ storage, clock: fixedClock(T0, 1000) });
    opened.push(store);
    return { storage, store };
  };
  cleanups.push(async () => {
    for (const store of opened) await store.close();
    await remove();
  });
  return { dir, ...(await open()), reopen: open };
}

/** Every file of a directory: its size and the hash of its bytes. */
async function filesOf(dir: string, skipContent: (name: string) => boolean): Promise<unknown> {
  const out: Record<string, unknown> = {};
  for (const name of (await readdir(dir)).sort()) {
    const bytes = await readFile(join(dir, name));
    out[name] = skipContent(name)
      ? 'present'
      : { size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
  }
  return out;
}

function withoutIds(events: readonly WirthforgeEvent[]): WirthforgeEvent[] {
  return events.map((event) => {
    const { event_id: _dropped, ...rest } = event;
    return rest;
  });
}

describe('event store on SQLite', () => {
  it('writes nothing of a private session to disk', async () => {
    const { dir, storage, store } = await sqliteStore();
    const shared = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const sb = new SessionEvents(shared.id, T0 + 1_000_000);
    await store.appendToStream(shared.stream, [sb.update(1, 5), sb.prompt('visible')]);
    await storage.checkpoint('truncate');
    // The shared-memory index changes with every read, so only its presence counts.
    const shm = (name: string) => name.endsWith('-shm');
    const files = await filesOf(dir, shm);
    const head = await store.headPosition();
    const sessions = await new SessionRepository(storage.db).list();
    const users = await new UserRepository(storage.db).list();

    const secret = await store.startSession({
      userId: 'ada',
      mode: 'private',
      version: '1.0.0',
      private: true,
    });
    const b = new SessionEvents(secret.id, T0 + 2_000_000);
    for (let frame = 1; frame <= 120; frame++) {
      await store.commitBatch([
        store.prepareAppend(secret.stream, [
          b.update(frame, 1.5),
          b.update(frame, 2.5, 'ollama/mistral:7b'),
        ]),
      ]);
    }
    await store.transaction((tx) => {
      tx.appendToStream(secret.stream, [
        b.prompt('secret words'),
        b.token('secret words', 0, true),
      ]);
      tx.write({ kind: 'metadata.set', key: 'private.note', value: 'kept in memory' });
    });
    const energy = await store.aggregateStream(secret.stream, energyProjection);
    expect(energy.version).toBe(243n);
    expect((await store.openSessions()).map((s) => [s.sessionId, s.private])).toEqual([
      [shared.id, false],
      [secret.id, true],
    ]);
    await store.endSession(secret.id, { reason: 'user_exit' });
    expect((await store.readStream(secret.stream).toArray()).at(-1)?.event.type).toBe('system.end');

    expect(await filesOf(dir, shm)).toEqual(files);
    expect(await store.headPosition()).toBe(head);
    expect(await new SessionRepository(storage.db).list()).toEqual(sessions);
    expect(await new UserRepository(storage.db).list()).toEqual(users);
    expect(await new SessionRepository(storage.db).get(secret.id)).toBeUndefined();
    expect(await storage.streamVersion(secret.stream)).toBe(0n);
    const streams = new Set((await store.readAll().toArray()).map((r) => r.stream));
    expect([...streams]).toEqual([shared.stream]);
    await store.close();
    // Closing the store drops the private session.
    const { store: reopened } = await sqliteStoreAgain(dir);
    expect(await reopened.readStream(secret.stream).toArray()).toEqual([]);
  });

  it('keeps idempotency and the projections exact across a restart', async () => {
    const { store, reopen } = await sqliteStore();
    const b = new SessionEvents();
    const stream = `session-${b.sessionId}`;
    const events = [
      { ...b.start(), event_id: 'start-1' },
      { ...b.update(1, 12.5), event_id: 'frame-1' },
      { ...b.update(2, 7.5), event_id: 'frame-2' },
    ];
    const first = await store.appendToStream(stream, events, { expectedVersion: 'no_stream' });
    await store.close();

    const { storage, store: again } = await reopen();
    const retry = await again.appendToStream(stream, events, { expectedVersion: 'no_stream' });
    expect(retry.positions).toEqual(first.positions);
    // A retry mixed with a new event writes only the new one and counts it once.
    const mixed = await again.appendToStream(stream, [events[2]!, b.update(3, 30)]);
    expect(mixed.positions).toEqual([3n, 4n]);
    let caught: unknown;
    try {
      await again.appendToStream(stream, [{ ...b.update(2, 8), event_id: 'frame-2' }]);
    } catch (error) {
      caught = error;
    }
    expect(isIdempotencyConflictError(caught)).toBe(true);
    expect(await new SessionRepository(storage.db).get(b.sessionId)).toMatchObject({
      totalEvents: 4,
      totalEnergy: 50,
    });
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 50 });
  });

  it('replays a recorded session to the very state it had live', async () => {
    const [generated] = fc.sample(
      sessionEventsArbitrary({ minEvents: 1500, maxEvents: 2000, userId: 'ada', ending: 'none' }),
      { numRuns: 1, seed: 20250817 },
    );
    const events = withoutIds(generated!);
    const stream = `session-${events[0]!.session_id}`;
    const { store, reopen } = await sqliteStore();
    const subscription = store.subscribe({ from: 'start' });
    let live = energyProjection.initialState();
    const consumer = (async () => {
      let seen = 0;
      for await (const record of subscription) {
        live = foldEventsInPlace(energyProjection, live, [record]);
        if (++seen === events.length) break;
      }
    })();
    for (let i = 0; i < events.length; i += 60) {
      await store.commitBatch([store.prepareAppend(stream, events.slice(i, i + 60))]);
    }
    await consumer;
    const liveSummary = await store.aggregateStream(stream, sessionSummaryProjection);
    await store.close();

    const { store: again } = await reopen();
    const replayed = await again.aggregateStream(stream, energyProjection);
    expect(replayed.version).toBe(BigInt(events.length));
    expect(stateHash(replayed.state)).toBe(stateHash(live));
    const summary = await again.aggregateStream(stream, sessionSummaryProjection);
    expect(stateHash(summary.state)).toBe(stateHash(liveSummary.state));
    // The session never ended: after the restart it is reported open.
    expect((await again.openSessions()).map((s) => [s.sessionId, s.totalEvents])).toEqual([
      [events[0]!.session_id, events.length],
    ]);
  });

  it('delivers every event once to a subscriber while producers append concurrently', async () => {
    const { store } = await sqliteStore();
    const subscription = store.subscribe({ from: 'start', pageSize: 16 });
    const producers = ['20250817T194800Z_021', '20250817T194800Z_022'].map(
      (id) => new SessionEvents(id),
    );
    const perProducer = 25;
    const total = producers.length * perProducer * 3;
    const consumed: bigint[] = [];
    const consumer = (async () => {
      for await (const record of subscription) {
        consumed.push(record.position);
        if (consumed.length === total) break;
      }
    })();
    await Promise.all(
      producers.map(async (b) => {
        for (let i = 0; i < perProducer; i++) {
          await store.appendToStream(`session-${b.sessionId}`, [
            b.update(i, 1),
            b.update(i, 2),
            b.prompt(`p${i}`),
          ]);
        }
      }),
    );
    await consumer;
    expect(consumed).toEqual(Array.from({ length: total }, (_, i) => BigInt(i + 1)));
  });

  it('rebuilds the session and user rows from the events', async () => {
    const { storage, store } = await sqliteStore();
    for (const userId of ['ada', 'bob', 'ada']) {
      const session = await store.startSession({ userId, mode: 'offline', version: '1.0.0' });
      const b = new SessionEvents(session.id, T0 + 1_000_000);
      await store.appendToStream(session.stream, [b.update(1, 3), b.update(2, 4), b.prompt('p')]);
      if (userId === 'bob') await store.endSession(session.id, { reason: 'crash' });
    }
    const sessions = await new SessionRepository(storage.db).list();
    const users = await new UserRepository(storage.db).list();
    // Rows damaged behind the store's back.
    await storage.appendBatch([], {
      writes: [
        { ...sessionUpsertOf(sessions[0]!), totalEvents: 999, totalEnergy: -1 },
        {
          kind: 'user.upsert',
          userId: 'ada',
          level: 5,
          xp: 0,
          totalEnergy: 0,
          sessionsCount: 0,
          updatedUs: 0,
        },
      ],
    });
    const report = await store.rebuildProjections();
    expect(report).toMatchObject({ events: 13, sessions: 3, users: 2, position: 13n });
    expect(await new SessionRepository(storage.db).list()).toEqual(sessions);
    expect(await new UserRepository(storage.db).list()).toEqual(users);
    expect(users.map((u) => [u.userId, u.totalEnergy, u.sessionsCount])).toEqual([
      ['ada', 14, 2],
      ['bob', 7, 1],
    ]);
    // And the store goes on from the rebuilt state.
    const session = sessions.find((s) => s.userId === 'ada' && s.status === 'active')!;
    const b = new SessionEvents(session.sessionId, T0 + 9_000_000);
    await store.appendToStream(session.stream, [b.update(9, 1)]);
    expect(await new UserRepository(storage.db).get('ada')).toMatchObject({ totalEnergy: 15 });
  });
});

async function sqliteStoreAgain(dir: string): Promise<{ store: EventStore }> {
  const storage = await openSqliteStorage({ path: join(dir, 'state.db'), checkpointIntervalMs: 0 });
  const store = createEventStore({ storage });
  cleanups.push(() => store.close());
  return { store };
}

function sessionUpsertOf(row: Awaited<ReturnType<SessionRepository['list']>>[number]) {
  return {
    kind: 'session.upsert' as const,
    sessionId: row.sessionId,
    stream: row.stream,
    userId: row.userId,
    status: row.status,
    startedUs: row.startedUs,
    endedUs: row.endedUs,
    cleanEnd: row.cleanEnd,
    totalEvents: row.totalEvents,
    totalEnergy: row.totalEnergy,
    totalTokens: row.totalTokens,
    updatedUs: row.updatedUs,
  };
}
