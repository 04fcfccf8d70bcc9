/**
 * Two and three devices, each with its own SQLite store, synchronising through one hub
 * (a fresh PostgreSQL schema per test): offline work interleaved with pushes and pulls in
 * different orders ends with the same sessions everywhere and the same merged user
 * progress; conflicts are reported and never overwritten; runs resume from checkpoints.
 */
import { createHash } from 'node:crypto';

import { sessionStream } from '@wirthforge/events';
import type { EventStore } from '@wirthforge/eventstore';
import { foldEvents, userProgressProjection } from '@wirthforge/eventstore';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import {
  mergedUserProgress,
  pull,
  push,
  sessionOwners,
  syncOnce,
  syncStatus,
} from '../src/index.js';
import type { SyncHub } from '../src/index.js';
import {
  PG_AVAILABLE,
  createDevice,
  dropSchema,
  freshSchemaName,
  openTestHub,
  recordSession,
  type TestDevice,
} from './fixtures.js';

const schemas: string[] = [];
const open: { close(): Promise<void> }[] = [];
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  for (const d of devices.splice(0)) await d.remove();
});
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

async function hub(): Promise<SyncHub> {
  const schema = freshSchemaName();
  schemas.push(schema);
  const h = await openTestHub(schema);
  open.push(h);
  return h;
}

async function device(name: string): Promise<TestDevice> {
  const d = await createDevice(name);
  devices.push(d);
  return d;
}

/** Every session stream of a store, as the digest of each event (version, type, time, frame, id, payload). */
async function sessionsDigest(store: EventStore): Promise<Map<string, string[]>> {
  const streams = [...(await sessionOwners(store)).keys()].sort();
  const out = new Map<string, string[]>();
  for (const stream of streams) {
    const list: string[] = [];
    for await (const r of store.storage.readStream(stream)) {
      const payload = createHash('sha256').update(r.payload).digest('hex').slice(0, 16);
      list.push(`${r.version}|${r.type}|${r.timestampUs}|${r.frameId}|${payload}`);
    }
    out.set(stream, list);
  }
  return out;
}

/** The same digest of every stream of a storage (the hub's). */
async function storageDigest(storage: EventStore['storage']): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for await (const r of storage.readAll()) {
    const payload = createHash('sha256').update(r.payload).digest('hex').slice(0, 16);
    const list = out.get(r.stream) ?? [];
    list.push(`${r.version}|${r.type}|${r.timestampUs}|${r.frameId}|${payload}`);
    out.set(r.stream, list);
  }
  return out;
}

async function positionOf(store: EventStore, stream: string): Promise<bigint> {
  for await (const r of store.storage.readStream(stream, { maxCount: 1 })) return r.position;
  throw new Error(`no stream ${stream}`);
}

/** A `user.action` `settings` event choosing a theme, at `timestamp`. */
async function chooseTheme(
  store: EventStore,
  sessionId: string,
  theme: string,
  timestamp: string,
): Promise<void> {
  await store.appendToStream(sessionStream(sessionId), [
    {
      session_id: sessionId,
      timestamp,
      type: 'user.action',
      data: { action: 'settings', context: { theme } },
    },
  ]);
}

describe.runIf(PG_AVAILABLE)('sync through a PostgreSQL hub', () => {
  it('three devices working offline and syncing in different orders converge on the same sessions and progress', async () => {
    const h = await hub();
    const [a, b, c] = [await device('a'), await device('b'), await device('c')];

    // Offline work on A and B.
    const a1 = await recordSession(a.store, {
      start: new Date('2025-08-18T10:00:00Z'),
      seconds: 3,
      seed: 1,
    });
    const b1 = await recordSession(b.store, {
      start: new Date('2025-08-18T10:05:00Z'),
      seconds: 3,
      seed: 2,
    });
    await chooseTheme(a.store, a1.sessionId, 'dark', '2025-08-18T10:00:30.000000Z');
    await chooseTheme(b.store, b1.sessionId, 'light', '2025-08-18T10:05:30.000000Z');

    expect((await push(a, h)).events).toBeGreaterThan(0);
    const bPushed = await push(b, h);
    expect(bPushed.streams).toEqual([b1.stream]);
    const bPulled = await pull(b, h);
    expect(bPulled.streams).toEqual([a1.stream]);

    // More offline work, on all three; C has never synced.
    const a2 = await recordSession(a.store, {
      start: new Date('2025-08-18T10:20:00Z'),
      seconds: 2,
      seed: 3,
    });
    const b2 = await recordSession(b.store, {
      start: new Date('2025-08-18T10:15:00Z'),
      seconds: 2,
      seed: 4,
    });
    const c1 = await recordSession(c.store, {
      start: new Date('2025-08-18T10:10:00Z'),
      seconds: 2,
      seed: 5,
    });
    await chooseTheme(b.store, b2.sessionId, 'solarized', '2025-08-18T10:15:10.000000Z');
    await chooseTheme(a.store, a2.sessionId, 'ember', '2025-08-18T10:20:30.000000Z');

    // Each device syncs in its own order.
    await pull(c, h);
    await push(c, h);
    await syncOnce(a, h);
    await push(b, h);
    await pull(b, h);
    await pull(c, h);
    await pull(a, h);
    // Nothing is left: every run now moves nothing.
    for (const d of [a, b, c]) {
      const again = await syncOnce(d, h);
      expect(again.push.events + again.pull.events).toBe(0);
    }

    const all = [a1, a2, b1, b2, c1].map((s) => s.stream).sort();
    const digests = await Promise.all([a, b, c].map((d) => sessionsDigest(d.store)));
    for (const digest of digests) expect([...digest.keys()]).toEqual(all);
    expect(digests[1]).toEqual(digests[0]);
    expect(digests[2]).toEqual(digests[0]);

    // The devices hold the sessions at different local positions…
    const firstPositions = await Promise.all([a, b, c].map((d) => positionOf(d.store, c1.stream)));
    expect(new Set(firstPositions).size).toBeGreaterThan(1);
    // …so a fold in local position order differs between them (the latest theme by position)…
    const localThemes: unknown[] = [];
    for (const d of [a, b, c]) {
      const records = [];
      for (const stream of all) records.push(...(await d.store.readStream(stream).toArray()));
      records.sort((x, y) => (x.position < y.position ? -1 : 1));
      localThemes.push(foldEvents(userProgressProjection, records).preferences['theme']);
    }
    expect(new Set(localThemes).size).toBeGreaterThan(1);
    // …while the merged progress is the same everywhere, to the hash.
    const merged = await Promise.all([a, b, c].map((d) => mergedUserProgress(d.store, 'default')));
    expect(merged[1]!.hash).toBe(merged[0]!.hash);
    expect(merged[2]!.hash).toBe(merged[0]!.hash);
    expect(merged[0]!.streams).toEqual(all);
    expect(merged[0]!.progress.total_sessions).toBe(5);
    // The latest choice by time wins: A's second session, 10:20:30 (A pulled B's later).
    expect(merged[0]!.progress.preferences['theme']).toBe('ember');

    // The hub knows three devices, each owning its own sessions.
    const status = await syncStatus(a, h, h);
    expect(status.remote?.devices.map((d) => d.streams).sort()).toEqual([1, 2, 2]);
    expect(status.local.pendingPush).toBe(0);
    expect(status.conflicts).toEqual([]);
  }, 120_000);

  it('the pulled sessions land in the local session rows through the event store', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const a1 = await recordSession(a.store, {
      start: new Date('2025-08-18T11:00:00Z'),
      seconds: 2,
      seed: 7,
    });
    await push(a, h);
    await pull(b, h);
    const rows = await b.db.selectFrom('sessions').select(['session_id', 'status']).execute();
    expect(rows).toEqual([{ session_id: a1.sessionId, status: 'ended' }]);
    // A pulled stream is never pushed back by the device that pulled it.
    const back = await push(b, h);
    expect(back.events).toBe(0);
  });

  it('reports a conflicting event id and a stream claimed by another device, overwrites nothing, and goes on', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const a1 = await recordSession(a.store, {
      start: new Date('2025-08-18T12:00:00Z'),
      seconds: 1,
      seed: 11,
    });
    const b1 = await recordSession(b.store, {
      start: new Date('2025-08-18T12:30:00Z'),
      seconds: 1,
      seed: 12,
    });
    // The same session id on both devices (same second), with other events.
    const same = await recordSession(b.store, {
      start: new Date('2025-08-18T12:00:00Z'),
      seconds: 1,
      seed: 13,
    });
    expect(same.stream).toBe(a1.stream);
    // The same event id in two different sessions, with other content.
    const shared = (store: EventStore, sessionId: string, theme: string) =>
      store.appendToStream(sessionStream(sessionId), [
        {
          session_id: sessionId,
          timestamp: '2025-08-18T12:45:00.000000Z',
          type: 'user.action',
          event_id: 'shared-event-1',
          data: { action: 'settings', context: { theme } },
        },
      ]);
    const a2 = await recordSession(a.store, {
      start: new Date('2025-08-18T12:40:00Z'),
      seconds: 1,
      seed: 14,
    });
    await shared(a.store, a2.sessionId, 'dark');
    const b2 = await recordSession(b.store, {
      start: new Date('2025-08-18T12:41:00Z'),
      seconds: 1,
      seed: 15,
    });
    await shared(b.store, b2.sessionId, 'light');
    const a3 = await recordSession(a.store, {
      start: new Date('2025-08-18T12:50:00Z'),
      seconds: 1,
      seed: 16,
    });

    await push(a, h);
    const hubBefore = await storageDigest(h.storage);
    const report = await push(b, h);
    expect(report.conflicts.map((c) => [c.kind, c.stream]).sort()).toEqual(
      [
        ['event_id', b2.stream],
        ['stream_owner', a1.stream],
      ].sort(),
    );
    expect(report.conflicts.find((c) => c.kind === 'event_id')?.eventId).toBe('shared-event-1');
    // B's session without a conflict went to the hub; A's copies were not touched.
    expect(report.streams).toEqual([b1.stream]);
    const hubAfter = await storageDigest(h.storage);
    for (const [stream, events] of hubBefore) expect(hubAfter.get(stream)).toEqual(events);
    expect(hubAfter.has(b1.stream)).toBe(true);
    expect(hubAfter.has(b2.stream)).toBe(false);

    // Remembered: the status lists them, a later push reports nothing new and skips them.
    const status = await syncStatus(b, h);
    expect(status.conflicts.map((c) => c.kind).sort()).toEqual(['event_id', 'stream_owner']);
    expect((await push(b, h)).conflicts).toEqual([]);

    // Pulling: A's session of the same name (a known conflict) does not overwrite B's
    // own, nor does A's event with B's event id (a new one); A's other session comes.
    const pulled = await pull(b, h);
    expect(pulled.conflicts.map((c) => [c.kind, c.stream])).toEqual([['event_id', a2.stream]]);
    expect(pulled.streams).toEqual([a3.stream]);
    const bDigest = await sessionsDigest(b.store);
    const aDigest = await sessionsDigest(a.store);
    expect(bDigest.get(a1.stream)).not.toEqual(aDigest.get(a1.stream));
    expect(bDigest.has(a2.stream)).toBe(false);
    expect(bDigest.get(a3.stream)).toEqual(aDigest.get(a3.stream));
  }, 60_000);

  it('resumes from its checkpoints: a push or pull after new events moves only the new ones', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const s = await recordSession(a.store, {
      start: new Date('2025-08-18T13:00:00Z'),
      seconds: 2,
      seed: 21,
    });
    const first = await push(a, h, { pageSize: 100 });
    expect(first.pages).toBeGreaterThan(1);
    await pull(b, h, { pageSize: 100 });
    await chooseTheme(a.store, s.sessionId, 'dark', '2025-08-18T13:00:05.000000Z');
    const second = await push(a, h);
    expect([second.events, second.repeated]).toEqual([1, 0]);
    const again = await pull(b, h);
    expect([again.events, again.repeated]).toEqual([1, 0]);
    expect(await sessionsDigest(b.store)).toEqual(await sessionsDigest(a.store));
    // The checkpoints live in the local store: they survive a restart.
    const reopened = await a.reopen();
    devices.splice(devices.indexOf(a), 1, reopened);
    expect((await push(reopened, h)).events).toBe(0);
  });

  it('does not pull a session over a local one of the same name that was never pushed', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const start = new Date('2025-08-18T14:00:00Z');
    const theirs = await recordSession(a.store, { start, seconds: 1, seed: 51 });
    const mine = await recordSession(b.store, { start, seconds: 1, seed: 52 });
    expect(mine.stream).toBe(theirs.stream);
    const before = await sessionsDigest(b.store);
    await push(a, h);
    const pulled = await pull(b, h);
    expect(pulled.conflicts.map((c) => [c.kind, c.stream])).toEqual([
      ['local_stream', mine.stream],
    ]);
    expect(pulled.events).toBe(0);
    expect(await sessionsDigest(b.store)).toEqual(before);
    // B's own session of that name stays local too: the hub's is A's.
    expect((await push(b, h)).events).toBe(0);
    expect((await syncStatus(b, h)).conflicts).toHaveLength(1);
  });

  it('pushes a running session once it has ended, and the sessions after it meanwhile', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const running = await recordSession(a.store, {
      start: new Date('2025-08-18T15:00:00Z'),
      seconds: 2,
      seed: 61,
      running: true,
    });
    const ended = await recordSession(a.store, {
      start: new Date('2025-08-18T15:10:00Z'),
      seconds: 1,
      seed: 62,
    });
    const first = await push(a, h);
    expect(first.streams).toEqual([ended.stream]);
    expect(first.held).toBeGreaterThan(0);
    const status = await syncStatus(a, h);
    expect(status.local.running).toBe(first.held);
    await pull(b, h);
    expect([...(await sessionsDigest(b.store)).keys()]).toEqual([ended.stream]);
    // B has nothing of the running session, so nothing there looks like a crashed session.
    expect(await b.store.openSessions()).toEqual([]);

    await a.store.endSession(running.sessionId, { reason: 'user_exit' });
    const second = await push(a, h);
    expect(second.streams).toEqual([running.stream]);
    expect(second.held).toBe(0);
    expect(second.repeated).toBeGreaterThan(0); // the ended session's events, re-read, not re-sent
    await pull(b, h);
    expect(await sessionsDigest(b.store)).toEqual(await sessionsDigest(a.store));
    expect((await syncStatus(a, h)).local).toMatchObject({ pendingPush: 0, running: 0 });
  });
});
