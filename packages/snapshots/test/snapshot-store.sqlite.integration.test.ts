import { join } from 'node:path';
import { SYSTEM_STREAM } from '@wirthforge/events';
import { SessionRepository } from '@wirthforge/storage';
import { openConnection, type SqliteConnection } from '@wirthforge/storage-sqlite';
import {
  energyProjection,
  sessionSummaryProjection,
  stateHash,
  type EventStore,
  type Projection,
} from '@wirthforge/eventstore';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  SNAPSHOT_SCHEMA_VERSION,
  createSnapshotStore,
  encodeSnapshot,
  isSnapshotError,
  recoverSessions,
  snapshotMarkerStream,
  startSnapshotScheduler,
  type CreatedSnapshot,
  type SnapshotBody,
} from '../src/index.js';
import { SessionBuilder, openStore, replay, replayHash, tempDir } from './fixtures.js';

/** The `data` of a stored event (known or not). */
const dataOf = (event: unknown): Record<string, unknown> =>
  (event as { data: Record<string, unknown> }).data;
const timestampOf = (record: { event: unknown }): string =>
  (record.event as { timestamp: string }).timestamp;

const PROJECTIONS = [energyProjection, sessionSummaryProjection] as Projection<unknown>[];

let dir: { dir: string; remove: () => Promise<void> };
let path: string;
let store: EventStore;

beforeEach(async () => {
  dir = await tempDir();
  path = join(dir.dir, 'state.db');
  store = await openStore(path);
});

afterEach(async () => {
  if (!store.closed) await store.close();
  await dir.remove();
});

async function session(id: string, frames: number): Promise<SessionBuilder> {
  const b = new SessionBuilder(id);
  await store.appendToStream(b.stream, [b.start(), ...b.frames(frames)]);
  return b;
}

/** Runs `change` on the database file with the store closed, then reopens the store. */
async function tamper(change: (db: SqliteConnection) => void): Promise<void> {
  await store.close();
  const db = openConnection(path);
  try {
    change(db);
  } finally {
    db.close();
  }
  store = await openStore(path);
}

describe('snapshots over SQLite', () => {
  it('writes full and incremental snapshots with a marker each, and loads the state a replay gives', async () => {
    const snapshots = createSnapshotStore(store, { fullEvery: 2 });
    const b = await session('20250817T194800Z_001', 40);
    const first = await snapshots.create(b.stream, { reason: 'manual' });
    expect(first).toMatchObject({
      kind: 'full',
      baseId: null,
      eventsSinceLast: Number(first.streamVersion),
    });
    await store.appendToStream(b.stream, b.frames(10));
    const second = await snapshots.create(b.stream, { reason: 'periodic' });
    expect(second).toMatchObject({ kind: 'incremental', baseId: first.id });
    expect(second.sizeBytes).toBeLessThan(first.sizeBytes);
    await store.appendToStream(b.stream, b.frames(5));
    const third = await snapshots.create(b.stream);
    expect(third.kind).toBe('full');

    // The markers go to the session's own marker stream, none to `system`.
    expect(first.markerStream).toBe(snapshotMarkerStream(b.stream));
    expect(first.markerStream).toBe(`snapshots:${b.stream}`);
    expect(await store.readStream(SYSTEM_STREAM).toArray()).toEqual([]);
    const markers = await store.readStream(first.markerStream).toArray();
    expect(markers.map((m) => m.position)).toEqual([
      first.markerPosition,
      second.markerPosition,
      third.markerPosition,
    ]);
    expect(markers.map((m) => (m.event as { session_id: string }).session_id)).toEqual([
      b.sessionId,
      b.sessionId,
      b.sessionId,
    ]);
    expect(markers.map((m) => [m.event.type, dataOf(m.event).snapshot_id])).toEqual([
      ['state.snapshot_created', first.id],
      ['state.snapshot_created', second.id],
      ['state.snapshot_created', third.id],
    ]);
    expect(dataOf(markers[1]!.event)).toMatchObject({
      snapshot_type: 'periodic',
      events_since_last: second.eventsSinceLast,
      state_size_bytes: second.sizeBytes,
    });
    expect(second.eventsSinceLast).toBe(Number(second.streamVersion - first.streamVersion));

    await store.appendToStream(b.stream, b.frames(3));
    const loaded = await snapshots.load(b.stream);
    expect(loaded).toMatchObject({
      snapshotId: third.id,
      rejected: [],
      eventsReplayed: Number(loaded.version - third.streamVersion),
    });
    expect(loaded.eventsReplayed).toBeGreaterThan(0);
    expect(stateHash(loaded.states)).toBe(await replayHash(store, b.stream, PROJECTIONS));

    // The delta loads too (the full one after it removed, by an ordinary prune of keepFull 1).
    const fresh = createSnapshotStore(store, { keepFull: 1 });
    const at = await fresh.stateAt(b.stream, { version: second.streamVersion });
    expect(at.snapshotId).toBe(second.id);
    expect(stateHash(at.states)).toBe(
      await replayHash(store, b.stream, PROJECTIONS, (r) => r.version <= second.streamVersion),
    );
  });

  it('keeps -0 and every number exactly through a snapshot', async () => {
    const b = new SessionBuilder('20250817T194800Z_002');
    const events = [b.start(), ...b.frames(3)];
    (events[1]!.data as { energy: number }).energy = -0;
    await store.appendToStream(b.stream, events);
    const snapshots = createSnapshotStore(store);
    await snapshots.create(b.stream);
    const loaded = await createSnapshotStore(store).load(b.stream);
    expect(loaded.eventsReplayed).toBe(0);
    expect(stateHash(loaded.states)).toBe(await replayHash(store, b.stream, PROJECTIONS));
  });

  describe('corruption', () => {
    async function twoSnapshots(): Promise<{ b: SessionBuilder; older: number; newer: number }> {
      const b = await session('20250817T194800Z_003', 30);
      const snapshots = createSnapshotStore(store, { fullEvery: 1 });
      const older = (await snapshots.create(b.stream)).id;
      await store.appendToStream(b.stream, b.frames(10));
      const newer = (await snapshots.create(b.stream)).id;
      await store.appendToStream(b.stream, b.frames(2));
      return { b, older, newer };
    }

    const cases: [string, string, (db: SqliteConnection, id: number) => void][] = [
      [
        'a flipped byte',
        'checksum_mismatch',
        (db, id) => {
          const { data } = db.prepare('select data from snapshots where id = ?').get(id) as {
            data: Buffer;
          };
          data[Math.floor(data.length / 2)]! ^= 0x40;
          db.prepare('update snapshots set data = ? where id = ?').run(data, id);
        },
      ],
      [
        'a truncated blob',
        'checksum_mismatch',
        (db, id) => {
          const { data } = db.prepare('select data from snapshots where id = ?').get(id) as {
            data: Buffer;
          };
          db.prepare('update snapshots set data = ? where id = ?').run(
            data.subarray(0, data.length >> 1),
            id,
          );
        },
      ],
      [
        'a zeroed blob',
        'checksum_mismatch',
        (db, id) => {
          const { data } = db.prepare('select data from snapshots where id = ?').get(id) as {
            data: Buffer;
          };
          db.prepare('update snapshots set data = ? where id = ?').run(
            Buffer.alloc(data.length),
            id,
          );
        },
      ],
    ];

    for (const [what, reason, change] of cases) {
      it(`detects ${what}, names it, and falls back to the previous snapshot`, async () => {
        const { b, older, newer } = await twoSnapshots();
        await tamper((db) => change(db, newer));
        const snapshots = createSnapshotStore(store);
        const loaded = await snapshots.load(b.stream);
        expect(loaded.rejected).toEqual([expect.objectContaining({ id: newer, reason })]);
        expect(loaded.rejected[0]!.message).toContain(`snapshot ${newer}`);
        expect(loaded.snapshotId).toBe(older);
        expect(stateHash(loaded.states)).toBe(await replayHash(store, b.stream, PROJECTIONS));
        const report = await snapshots.verify();
        expect(report).toMatchObject({
          checked: 2,
          valid: 1,
          bad: [expect.objectContaining({ id: newer, reason })],
        });
      });
    }

    it('detects a valid snapshot of another stream swapped in', async () => {
      const { b, older, newer } = await twoSnapshots();
      const other = await session('20250817T194800Z_004', 80);
      const foreign = await createSnapshotStore(store).create(other.stream);
      await tamper((db) => {
        db.prepare(
          `update snapshots set (data, checksum, stream_version, position) =
             (select data, checksum, stream_version, position from snapshots where id = ?) where id = ?`,
        ).run(foreign.id, newer);
      });
      const snapshots = createSnapshotStore(store);
      const loaded = await snapshots.load(b.stream);
      expect(loaded.rejected).toEqual([
        expect.objectContaining({ id: newer, reason: 'wrong_stream' }),
      ]);
      expect(loaded.rejected[0]!.message).toContain(other.stream);
      expect(loaded.snapshotId).toBe(older);
      expect(stateHash(loaded.states)).toBe(await replayHash(store, b.stream, PROJECTIONS));
    });

    it('falls back to a full replay when no snapshot is valid, and recovery says why', async () => {
      const { b, older, newer } = await twoSnapshots();
      await tamper((db) => {
        db.prepare('update snapshots set checksum = checksum + 1').run();
      });
      const snapshots = createSnapshotStore(store);
      const loaded = await snapshots.load(b.stream);
      expect(loaded.rejected.map((r) => [r.id, r.reason])).toEqual([
        [newer, 'checksum_mismatch'],
        [older, 'checksum_mismatch'],
      ]);
      expect(loaded).toMatchObject({ snapshotId: null, eventsReplayed: Number(loaded.version) });
      const [recovered] = await recoverSessions(snapshots, { then: 'close' });
      expect(recovered).toMatchObject({
        sessionId: b.sessionId,
        snapshotId: null,
        outcome: 'closed',
      });
      const [event] = await store
        .readStream(b.stream, { direction: 'backwards', maxCount: 1 })
        .toArray();
      expect(event!.event).toMatchObject({
        type: 'session.recovered',
        data: { reason: 'corrupt_snapshot' },
      });
    });

    it('refuses a snapshot beyond the log, one of a newer schema, and an old one without an upcaster', async () => {
      const b = await session('20250817T194800Z_005', 20);
      const snapshots = createSnapshotStore(store);
      const good = await snapshots.create(b.stream);
      // The stream's last event (a marker in the system stream came after it).
      const [last] = await store
        .readStream(b.stream, { direction: 'backwards', maxCount: 1 })
        .toArray();
      const version = Number(last!.version);
      const head = Number(last!.position);
      const states = await replay(store, b.stream, PROJECTIONS);
      const insert = async (body: Partial<SnapshotBody>): Promise<number> => {
        const full: SnapshotBody = {
          stream: b.stream,
          kind: 'full',
          schemaVersion: SNAPSHOT_SCHEMA_VERSION,
          streamVersion: version,
          position: head,
          baseId: null,
          baseChecksum: null,
          projections: PROJECTIONS.map((p) => p.name),
          state: states,
          delta: null,
          meta: { events: version, maxFrameId: null, maxTimestamp: null },
          ...body,
        };
        const encoded = encodeSnapshot(full);
        const result = await store.commitBatch([], {
          writes: [
            {
              kind: 'snapshot.insert',
              stream: b.stream,
              snapshotKind: 'full',
              streamVersion: BigInt(full.streamVersion),
              position: BigInt(full.position),
              schemaVersion: full.schemaVersion,
              createdUs: 1,
              checksum: encoded.checksum,
              data: encoded.bytes,
            },
          ],
        });
        return Number(result.writes[0]!.insertedId);
      };
      const old = await insert({
        schemaVersion: 0,
        streamVersion: version - 1,
        position: head - 1,
        state: { energy: 1 },
      });
      const newer = await insert({ schemaVersion: SNAPSHOT_SCHEMA_VERSION + 1 });
      const beyond = await insert({ streamVersion: version + 5, position: head + 5 });
      const loaded = await snapshots.load(b.stream);
      expect(loaded.rejected.map((r) => [r.id, r.reason])).toEqual([
        [beyond, 'beyond_log'],
        [newer, 'schema_not_upcastable'],
      ]);
      expect(loaded.snapshotId).toBe(good.id);
      const before = await snapshots.stateAt(b.stream, { version: BigInt(version - 1) });
      expect(before.rejected.map((r) => [r.id, r.reason])).toEqual([
        [old, 'schema_not_upcastable'],
      ]);
      expect(before.rejected[0]!.message).toContain('no upcaster from version 0');
      expect(before.snapshotId).toBeNull();

      // With an upcaster, the old one loads (upcast), when it is the newest left.
      const upcasting = createSnapshotStore(store, {
        upcasters: { 0: () => ({ ...states }) },
      });
      const at = await upcasting.stateAt(b.stream, { version: BigInt(version - 1) });
      expect(at.snapshotId).toBe(old);
      expect(stateHash(at.states)).toBe(stateHash(states));
    });
  });

  it('prunes to the last K full snapshots and their deltas, never the one a load needs', async () => {
    const b = await session('20250817T194800Z_006', 10);
    const snapshots = createSnapshotStore(store, { fullEvery: 2, keepFull: 2 });
    const created: CreatedSnapshot[] = [];
    for (let i = 0; i < 8; i++) {
      await store.appendToStream(b.stream, b.frames(2));
      created.push(await snapshots.create(b.stream));
    }
    expect(created.map((c) => c.kind)).toEqual([
      'full',
      'incremental',
      'full',
      'incremental',
      'full',
      'incremental',
      'full',
      'incremental',
    ]);
    const report = await snapshots.prune();
    expect([...report.deleted].sort((x, y) => x - y)).toEqual(created.slice(0, 4).map((c) => c.id));
    expect((await snapshots.repository.list(b.stream)).map((s) => s.id)).toEqual(
      created
        .slice(4)
        .map((c) => c.id)
        .reverse(),
    );

    // The newest full and its delta corrupt: the snapshot a load needs is an older
    // delta (and its base), outside the last full one, and stays.
    await tamper((db) => {
      db.prepare('update snapshots set checksum = checksum + 1 where id in (?, ?)').run(
        created[6]!.id,
        created[7]!.id,
      );
    });
    const again = createSnapshotStore(store, { keepFull: 1 });
    const kept = await again.prune();
    expect(kept.deleted).toEqual([]);
    const loaded = await again.load(b.stream);
    expect(loaded.snapshotId).toBe(created[5]!.id);
    expect(stateHash(loaded.states)).toBe(await replayHash(store, b.stream, PROJECTIONS));
  });

  it('keeps the newest full snapshot of each span of versions, for point-in-time reads far back', async () => {
    const b = await session('20250817T194800Z_007', 2);
    const snapshots = createSnapshotStore(store, { fullEvery: 1, keepFull: 1, keepOnePer: 20 });
    const created: CreatedSnapshot[] = [];
    for (let i = 0; i < 10; i++) {
      await store.appendToStream(b.stream, b.frames(3));
      created.push(await snapshots.create(b.stream));
    }
    // Newest first, one per span of 20 versions (the newest of each), and the last one.
    const kept = new Map<bigint, number>();
    for (const c of [...created].reverse()) {
      const span = c.streamVersion / 20n;
      if (!kept.has(span)) kept.set(span, c.id);
    }
    expect(kept.size).toBeGreaterThanOrEqual(3);
    const report = await snapshots.prune();
    const keptIds = new Set(kept.values());
    expect([...report.deleted].sort((x, y) => x - y)).toEqual(
      created.map((c) => c.id).filter((id) => !keptIds.has(id)),
    );
    // A point far back starts from the snapshot of its span.
    const oldest = created.find((c) => keptIds.has(c.id))!;
    const at = await snapshots.stateAt(b.stream, { version: oldest.streamVersion + 2n });
    expect(at.snapshotId).toBe(oldest.id);
    expect(at.eventsReplayed).toBe(2);
    expect(stateHash(at.states)).toBe(
      await replayHash(store, b.stream, PROJECTIONS, (r) => r.version <= oldest.streamVersion + 2n),
    );
    // `keepOnePer: false`: only the last full snapshot is left.
    const none = await createSnapshotStore(store, { keepFull: 1, keepOnePer: false }).prune();
    expect(none.kept).toBe(1);
  });

  it('answers point-in-time reads by position, version, frame and timestamp, through the store', async () => {
    const b = await session('20250817T194800Z_007', 30);
    const snapshots = createSnapshotStore(store, { fullEvery: 2 });
    await snapshots.create(b.stream);
    await store.appendToStream(b.stream, b.frames(30));
    await snapshots.create(b.stream);
    await store.appendToStream(b.stream, b.frames(30));
    const records = await store.readStream(b.stream).toArray();
    for (const record of [records[5]!, records[70]!, records[130]!, records.at(-1)!]) {
      const frame = (record.event as { frame_id?: number }).frame_id ?? 0;
      const checks: [
        Parameters<typeof snapshots.stateAt>[1],
        (r: (typeof records)[number]) => boolean,
      ][] = [
        [{ position: record.position }, (r) => r.position <= record.position],
        [{ version: record.version }, (r) => r.version <= record.version],
        [
          { frameId: frame },
          (r) => ((r.event as { frame_id?: number }).frame_id ?? frame) <= frame,
        ],
        [{ timestamp: timestampOf(record) }, (r) => timestampOf(r) <= timestampOf(record)],
      ];
      for (const [at, until] of checks) {
        const state = await snapshots.stateAt(b.stream, at);
        // The events before the first one past the point.
        const end = records.findIndex((r) => !until(r));
        const expected = end === -1 ? records : records.slice(0, end);
        expect(
          state.version,
          JSON.stringify(at, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)),
        ).toBe(expected.at(-1)!.version);
        expect(stateHash(state.states)).toBe(await replayHash(store, b.stream, PROJECTIONS, until));
      }
    }
    await expect(snapshots.stateAt(b.stream, { version: 10_000n })).rejects.toSatisfy((e) =>
      isSnapshotError(e, 'not_found'),
    );
    await expect(snapshots.stateAt(b.stream, {} as never)).rejects.toSatisfy((e) =>
      isSnapshotError(e, 'invalid_argument'),
    );
  });

  it('schedules snapshots every N events and at session end, off the commit, and before a migration', async () => {
    const snapshots = createSnapshotStore(store, { fullEvery: 2 });
    const seen: string[] = [];
    const scheduler = startSnapshotScheduler(snapshots, {
      everyEvents: 50,
      onSnapshot: (s) => seen.push(`${s.reason}:${s.kind}:${s.streamVersion}`),
    });
    const b = await session('20250817T194800Z_008', 5);
    for (let i = 0; i < 12; i++) await store.appendToStream(b.stream, b.frames(5));
    await scheduler.flush();
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(seen.every((s) => s.startsWith('periodic:'))).toBe(true);
    const other = await session('20250817T194800Z_009', 5);
    const migration = await snapshots.beforeMigration();
    expect(migration.map((m) => [m.stream, m.reason, m.kind])).toEqual([
      [b.stream, 'migration', 'full'],
      [other.stream, 'migration', 'full'],
    ]);
    await store.endSession(b.sessionId, { reason: 'user_exit' });
    await scheduler.flush();
    expect(seen.at(-1)).toBe(`session_end:full:${await store.streamVersion(b.stream)}`);
    await scheduler.stop();
    const loaded = await snapshots.load(b.stream);
    expect(loaded.eventsReplayed).toBe(0);
    expect(stateHash(loaded.states)).toBe(await replayHash(store, b.stream, PROJECTIONS));
  });

  it('recovers sessions without a clean end from the newest snapshot, then closes or resumes them', async () => {
    const a = await session('20250817T194800Z_010', 40);
    const snapshots = createSnapshotStore(store);
    const snapshotA = await snapshots.create(a.stream);
    await store.appendToStream(a.stream, a.frames(7));
    const c = await session('20250817T194800Z_011', 10);
    const ended = await session('20250817T194800Z_012', 3);
    await store.endSession(ended.sessionId, { reason: 'user_exit' });
    await store.close();
    store = await openStore(path);

    const closing = createSnapshotStore(store);
    const versionA = await store.streamVersion(a.stream);
    const expectedA = await replayHash(store, a.stream, PROJECTIONS);
    const recovered = await recoverSessions(closing, { then: 'close' });
    expect(recovered.map((r) => r.sessionId)).toEqual([a.sessionId, c.sessionId]);
    expect(recovered[0]).toMatchObject({ outcome: 'closed', snapshotId: snapshotA.id });
    expect(recovered[0]!.eventsReplayed).toBe(Number(versionA - snapshotA.streamVersion));
    expect(recovered[0]!.state.version).toBe(versionA);
    expect(recovered[0]!.hash).toBe(expectedA);
    const [event] = await store
      .readStream(a.stream, { from: versionA + 1n, maxCount: 1 })
      .toArray();
    expect(event!.event).toMatchObject({
      type: 'session.recovered',
      data: {
        recovered_from: {
          snapshot_id: recovered[0]!.snapshotId,
          version: Number(recovered[0]!.state.snapshotVersion),
        },
        events_replayed: recovered[0]!.eventsReplayed,
        reason: 'unclean_shutdown',
        outcome: 'closed',
      },
    });
    const sessions = new SessionRepository(
      (store.storage as unknown as { db: ConstructorParameters<typeof SessionRepository>[0] }).db,
    );
    expect((await sessions.get(a.sessionId))?.status).toBe('recovered');
    expect((await sessions.get(ended.sessionId))?.status).toBe('ended');
    expect(await store.openSessions()).toEqual([]);
  });

  it('resumes a recovered session when asked', async () => {
    const a = await session('20250817T194800Z_013', 12);
    const recovered = await recoverSessions(createSnapshotStore(store), { then: 'resume' });
    expect(recovered).toEqual([
      expect.objectContaining({ sessionId: a.sessionId, outcome: 'resumed', snapshotId: null }),
    ]);
    expect((await store.openSessions()).map((s) => s.sessionId)).toEqual([a.sessionId]);
    await store.appendToStream(a.stream, a.frames(1));
  });
});
