/**
 * Deletions across devices: a session purged on one device (`wfstate purge`, here its
 * deletions beside the device's writer, as the daemon runs them) is deleted from the hub
 * at that device's next push and from every other device at its next pull, whichever
 * device wrote it; no device pushes or pulls it again, and the devices converge on the
 * same sessions and the same merged progress.
 */
import { deleteSqliteStreams } from '@wirthforge/storage-sqlite';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { mergedUserProgress, pull, push, sessionOwners, syncOnce } from '../src/index.js';
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
  const schema = freshSchemaName('wf_sync_purge');
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

/** The local purge of a session, as `wfstate purge` or the daemon deletes it. */
async function purgeHere(d: TestDevice, stream: string): Promise<void> {
  await deleteSqliteStreams(d.path, { streams: [stream] }, { actor: 'wfstate purge' });
  await d.store.rebuildProjections();
}

async function sessionsOf(d: TestDevice): Promise<string[]> {
  return [...(await sessionOwners(d.store)).keys()].sort();
}

async function hubStreams(h: SyncHub): Promise<string[]> {
  const names = new Set<string>();
  for await (const r of h.storage.readAll()) names.add(r.stream);
  return [...names].sort();
}

describe.runIf(PG_AVAILABLE)('purges through a PostgreSQL hub', () => {
  it('a purge on either device reaches the hub and the other device, and nothing comes back', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const a1 = await recordSession(a.store, {
      start: new Date('2025-08-18T10:00:00Z'),
      seconds: 2,
      seed: 1,
    });
    const a2 = await recordSession(a.store, {
      start: new Date('2025-08-18T10:10:00Z'),
      seconds: 2,
      seed: 2,
    });
    const b1 = await recordSession(b.store, {
      start: new Date('2025-08-18T10:05:00Z'),
      seconds: 2,
      seed: 3,
    });
    await syncOnce(a, h);
    await syncOnce(b, h);
    await syncOnce(a, h);
    const all = [a1, a2, b1].map((s) => s.stream).sort();
    expect(await sessionsOf(a)).toEqual(all);
    expect(await sessionsOf(b)).toEqual(all);
    const headBefore = await h.storage.headPosition();

    // A purges a session of its own; B purges one it pulled from A. Both offline.
    await purgeHere(a, a1.stream);
    await purgeHere(b, a2.stream);

    // Each push sends its device's purge; the hub deletes the events, its head stays.
    const aPushed = await push(a, h);
    expect(aPushed.purged).toEqual([a1.stream]);
    expect(aPushed.events).toBe(0);
    const bPushed = await push(b, h);
    expect(bPushed.purged).toEqual([a2.stream]);
    expect(await hubStreams(h)).toEqual([b1.stream]);
    expect(await h.storage.headPosition()).toBe(headBefore);
    const records = await h.db.selectFrom('sync_purges').select(['stream', 'device_id']).execute();
    expect(records.map((r) => r.stream).sort()).toEqual([a1.stream, a2.stream].sort());

    // Each pull deletes what the other device purged, the owner's own session included.
    const bPulled = await pull(b, h);
    expect(bPulled.purged).toEqual([a1.stream]);
    expect(bPulled.events).toBe(0);
    const aPulled = await pull(a, h);
    expect(aPulled.purged).toEqual([a2.stream]);
    expect(await sessionsOf(a)).toEqual([b1.stream]);
    expect(await sessionsOf(b)).toEqual([b1.stream]);
    expect(await a.store.streamVersion(a2.stream)).toBe(0n);

    // New work goes on; nothing purged is pushed, pulled or deleted again.
    const a3 = await recordSession(a.store, {
      start: new Date('2025-08-18T11:00:00Z'),
      seconds: 2,
      seed: 4,
    });
    for (const d of [a, b, a, b]) {
      const again = await syncOnce(d, h);
      expect(again.push.purged).toEqual([]);
      expect(again.pull.purged).toEqual([]);
    }
    const left = [b1.stream, a3.stream].sort();
    expect(await sessionsOf(a)).toEqual(left);
    expect(await sessionsOf(b)).toEqual(left);
    expect(await hubStreams(h)).toEqual(left);
    const merged = await Promise.all([a, b].map((d) => mergedUserProgress(d.store, 'default')));
    expect(merged[1]!.hash).toBe(merged[0]!.hash);
    expect(merged[0]!.progress.total_sessions).toBe(2);

    // A device that joins later never sees the purged sessions.
    const c = await device('c');
    const cPulled = await pull(c, h);
    expect(cPulled.purged).toEqual([]);
    expect(await sessionsOf(c)).toEqual(left);
    expect((await mergedUserProgress(c.store, 'default')).hash).toBe(merged[0]!.hash);
  }, 120_000);

  it('does not send the name of a purged session that never reached the hub', async () => {
    const h = await hub();
    const a = await device('a');
    const local = await recordSession(a.store, {
      start: new Date('2025-08-18T12:00:00Z'),
      seconds: 1,
      seed: 5,
    });
    await purgeHere(a, local.stream);
    const pushed = await push(a, h);
    expect(pushed.purged).toEqual([]);
    expect(await h.db.selectFrom('sync_purges').select('stream').execute()).toEqual([]);
  }, 60_000);

  it("neither deletes nor sends a local session that only shares a hub session's name", async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    // B starts sessions in the same seconds as A's: same ids, other content, never synchronised.
    const x = new Date('2025-08-18T14:00:00Z');
    const y = new Date('2025-08-18T15:00:00Z');
    const ax = await recordSession(a.store, { start: x, seconds: 1, seed: 7 });
    const ay = await recordSession(a.store, { start: y, seconds: 1, seed: 8 });
    const bx = await recordSession(b.store, { start: x, seconds: 1, seed: 9 });
    const by = await recordSession(b.store, { start: y, seconds: 1, seed: 10 });
    expect([bx.stream, by.stream]).toEqual([ax.stream, ay.stream]);
    await push(a, h);
    const bSynced = await syncOnce(b, h);
    expect(bSynced.push.conflicts.map((c) => c.kind)).toEqual(['stream_owner', 'stream_owner']);
    const bxVersion = await b.store.streamVersion(bx.stream);

    // A purges its X: B's own X stays.
    await purgeHere(a, ax.stream);
    expect((await push(a, h)).purged).toEqual([ax.stream]);
    expect((await pull(b, h)).purged).toEqual([]);
    expect(await b.store.streamVersion(bx.stream)).toBe(bxVersion);

    // B purges its own Y: A's Y stays on the hub and on A.
    await purgeHere(b, by.stream);
    expect((await push(b, h)).purged).toEqual([]);
    expect(await hubStreams(h)).toEqual([ay.stream]);
    expect((await pull(a, h)).purged).toEqual([]);
    expect(await sessionsOf(a)).toEqual([ay.stream]);
  }, 60_000);

  it('a purge recorded on the hub before its deletion finished is completed by the next push', async () => {
    const h = await hub();
    const [a, b] = [await device('a'), await device('b')];
    const a1 = await recordSession(a.store, {
      start: new Date('2025-08-18T13:00:00Z'),
      seconds: 1,
      seed: 6,
    });
    await push(a, h);
    await pull(b, h);
    // A push killed after recording the purge and before the hub's deletion.
    await purgeHere(a, a1.stream);
    await h.db
      .insertInto('sync_purges')
      .values({ stream: a1.stream, device_id: 'killed-push', purged_us: 1 })
      .execute();
    expect(await hubStreams(h)).toEqual([a1.stream]);
    // A pull meanwhile deletes B's copy and takes none of the hub's remaining events.
    const bPulled = await pull(b, h);
    expect(bPulled.purged).toEqual([a1.stream]);
    expect(await sessionsOf(b)).toEqual([]);
    await push(a, h);
    expect(await hubStreams(h)).toEqual([]);
    expect((await pull(b, h)).events).toBe(0);
  }, 60_000);
});
