/**
 * `snapshot create|list|verify|prune`, `recover` and `metrics` without a daemon: wfstate
 * takes the writer lock itself.
 */
import { join } from 'node:path';

import { toIsoMicros } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, describe, expect, it } from 'vitest';

import {
  PRIVATE_SESSION,
  PUBLIC_SESSION,
  cli,
  fixtureDataDir,
  removeFixtureCopies,
} from './fixtures.js';

afterAll(removeFixtureCopies);

async function json<T = Record<string, unknown>>(argv: readonly string[], code = 0): Promise<T> {
  const run = await cli([...argv, '--json']);
  expect(run.code, run.stderr).toBe(code);
  return JSON.parse(run.stdout) as T;
}

interface Created {
  created: { id: number; stream: string; kind: string; baseId: number | null }[];
  via: string;
}

/** Leaves a session open, as a crash does: started, a few events, no end. */
async function crashedSession(dir: string): Promise<string> {
  const storage = await openSqliteStorage({ path: join(dir, 'state.db'), synchronous: 'normal' });
  const store = createEventStore({ storage });
  try {
    const session = await store.startSession({
      userId: 'ada',
      mode: 'offline',
      version: '1.0.0',
    });
    const base = Date.now() * 1000;
    await store.appendToStream(
      session.stream,
      Array.from({ length: 30 }, (_, i) => ({
        session_id: session.id,
        timestamp: toIsoMicros(base + (i + 1) * 1000),
        type: 'health.heartbeat' as const,
        data: { system_health: 'healthy' as const, fps: 60, memory_usage_mb: 100 },
      })),
    );
    return session.id;
  } finally {
    await storage.close();
  }
}

describe('wfstate snapshot', () => {
  it('creates, lists, verifies and prunes snapshots with the writer lock', async () => {
    const dir = fixtureDataDir('snap');
    const first = await json<Created>(['snapshot', 'create', PUBLIC_SESSION, '--data-dir', dir]);
    expect(first.via).toBe('writer');
    expect(first.created).toEqual([
      expect.objectContaining({ stream: `session-${PUBLIC_SESSION}`, kind: 'full', baseId: null }),
    ]);
    const all = await json<Created>(['snapshot', 'create', '--all', '--full', '--data-dir', dir]);
    expect(all.created.map((c) => c.stream).sort()).toEqual(
      [`session-${PRIVATE_SESSION}`, `session-${PUBLIC_SESSION}`].sort(),
    );
    expect(all.created.every((c) => c.kind === 'full')).toBe(true);
    for (let i = 0; i < 3; i++)
      await json(['snapshot', 'create', PUBLIC_SESSION, '--full', '--data-dir', dir]);

    const listed = await json<{ snapshots: { id: number; stream: string }[] }>([
      'snapshot',
      'list',
      PUBLIC_SESSION,
      '--data-dir',
      dir,
    ]);
    expect(listed.snapshots).toHaveLength(5);
    expect(listed.snapshots.every((s) => s.stream === `session-${PUBLIC_SESSION}`)).toBe(true);
    const text = await cli(['snapshot', 'list', '--data-dir', dir]);
    expect(text.stdout).toContain(`session-${PRIVATE_SESSION}`);

    expect(await json(['snapshot', 'verify', '--data-dir', dir])).toEqual({
      ok: true,
      checked: 6,
      valid: 6,
      bad: [],
    });
    // replay --verify: the newest snapshot plus the events after it equals the replay.
    const replay = await json<{
      verified: boolean;
      snapshot: { id: number; rejected: unknown[] } | null;
    }>(['replay', PUBLIC_SESSION, '--verify', '--data-dir', dir]);
    expect(replay.verified).toBe(true);
    expect(replay.snapshot).toMatchObject({
      id: Math.max(...listed.snapshots.map((s) => s.id)),
      rejected: [],
    });

    // Destructive: refused without --yes, nothing deleted.
    const refused = await cli(['snapshot', 'prune', '--data-dir', dir]);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain('--yes');
    const pruned = await json<{ deleted: number[]; kept: number }>([
      'snapshot',
      'prune',
      '--yes',
      '--data-dir',
      dir,
    ]);
    // Three full snapshots are kept per stream: the public session had five.
    expect(pruned.deleted).toHaveLength(2);
    expect(pruned.kept).toBe(4);
  }, 120_000);

  it('names a corrupt snapshot and exits 5', async () => {
    const dir = fixtureDataDir('snapbad');
    const { created } = await json<Created>([
      'snapshot',
      'create',
      PUBLIC_SESSION,
      '--data-dir',
      dir,
    ]);
    const connection = openConnection(join(dir, 'state.db'));
    try {
      connection
        .prepare('update snapshots set data = zeroblob(length(data)) where id = ?')
        .run(created[0]!.id);
    } finally {
      connection.close();
    }
    const report = await json<{ ok: boolean; bad: { id: number; reason: string }[] }>(
      ['snapshot', 'verify', '--data-dir', dir],
      5,
    );
    // replay --verify compares with the snapshots too, and fails on the bad one.
    const replay = await json<{ verified: boolean; differences: { field: string }[] }>(
      ['replay', PUBLIC_SESSION, '--verify', '--data-dir', dir],
      5,
    );
    expect(replay.verified).toBe(false);
    expect(replay.differences.map((d) => d.field)).toEqual([`snapshot ${created[0]!.id}`]);
    expect(report.ok).toBe(false);
    expect(report.bad).toEqual([
      expect.objectContaining({ id: created[0]!.id, reason: 'checksum_mismatch' }),
    ]);
    // `wfstate verify` checks the snapshots too, and names the bad one.
    const verify = await json<{
      ok: boolean;
      snapshotsChecked: number;
      problems: { kind: string; where: string; message: string }[];
    }>(['verify', '--data-dir', dir], 5);
    expect(verify.ok).toBe(false);
    expect(verify.snapshotsChecked).toBeGreaterThanOrEqual(1);
    expect(verify.problems).toEqual([
      expect.objectContaining({
        kind: 'snapshot',
        where: expect.stringContaining(`snapshot ${created[0]!.id} of session-`) as string,
        message: expect.stringMatching(/^checksum_mismatch: /) as string,
      }),
    ]);
  }, 120_000);

  it('repair drops the corrupt snapshots after its backup, one line per snapshot', async () => {
    const dir = fixtureDataDir('snaprepair');
    const made: number[] = [];
    for (let i = 0; i < 3; i++) {
      const { created } = await json<Created>([
        'snapshot',
        'create',
        PUBLIC_SESSION,
        '--full',
        '--data-dir',
        dir,
      ]);
      made.push(created[0]!.id);
    }
    const [good, bad1, bad2] = made as [number, number, number];
    const connection = openConnection(join(dir, 'state.db'));
    try {
      // One bit of one snapshot, and the other zeroed.
      const data = Buffer.from(
        connection.prepare('select data from snapshots where id = ?').pluck().get(bad1) as Buffer,
      );
      data.writeUInt8(data.readUInt8(data.length >> 1) ^ 0x10, data.length >> 1);
      connection.prepare('update snapshots set data = ? where id = ?').run(data, bad1);
      connection
        .prepare('update snapshots set data = zeroblob(length(data)) where id = ?')
        .run(bad2);
    } finally {
      connection.close();
    }
    expect((await cli(['repair', '--data-dir', dir])).code).toBe(6);
    const backup = join(dir, 'before-repair.db.gz');
    const text = await cli(['repair', '--yes', '--backup', backup, '--data-dir', dir]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`dropped snapshot ${bad1} of session-${PUBLIC_SESSION}: `);
    expect(text.stdout).toContain(`dropped snapshot ${bad2} of session-${PUBLIC_SESSION}: `);
    expect(text.stdout).not.toContain(`dropped snapshot ${good} `);

    const listed = await json<{ snapshots: { id: number }[] }>([
      'snapshot',
      'list',
      '--data-dir',
      dir,
    ]);
    expect(listed.snapshots.map((s) => s.id)).toEqual([good]);
    expect(await json(['snapshot', 'verify', '--data-dir', dir])).toMatchObject({
      ok: true,
      checked: 1,
    });
    // The backup, taken first, still holds all three.
    const restoredDir = fixtureDataDir('snaprepaired');
    expect((await cli(['restore', backup, '--yes', '--data-dir', restoredDir])).code).toBe(0);
    const before = await json<{ snapshots: { id: number }[] }>([
      'snapshot',
      'list',
      '--data-dir',
      restoredDir,
    ]);
    expect(before.snapshots.map((s) => s.id).sort()).toEqual([...made].sort());
    // Nothing left to drop.
    const again = await json<{ droppedSnapshots: unknown[]; ok: boolean }>([
      'repair',
      '--yes',
      '--data-dir',
      dir,
    ]);
    expect(again).toMatchObject({ droppedSnapshots: [], ok: true });
  }, 120_000);

  it('refuses a session that does not exist, and a missing argument', async () => {
    const dir = fixtureDataDir('snapmissing');
    expect(
      (await cli(['snapshot', 'create', '20990101T000000Z_001', '--data-dir', dir])).code,
    ).toBe(3);
    expect((await cli(['snapshot', 'create', '--data-dir', dir])).code).toBe(2);
  }, 60_000);
});

describe('wfstate recover', () => {
  it('recovers a session a crash left open, once', async () => {
    const dir = fixtureDataDir('recover');
    const crashed = await crashedSession(dir);
    await json(['snapshot', 'create', crashed, '--data-dir', dir]);
    const report = await json<{
      recovered: {
        sessionId: string;
        outcome: string;
        snapshotId: number | null;
        eventsReplayed: number;
        rejected: unknown[];
      }[];
    }>(['recover', '--data-dir', dir]);
    expect(report.recovered).toEqual([
      expect.objectContaining({ sessionId: crashed, outcome: 'closed', rejected: [] }),
    ]);
    // The snapshot covered the marker-free stream: nothing left to replay after it.
    expect(report.recovered[0]!.snapshotId).not.toBeNull();
    const row = await json<{ row: { status: string } }>([
      'sessions',
      'show',
      crashed,
      '--data-dir',
      dir,
    ]);
    expect(row.row.status).toBe('recovered');
    expect(await json(['recover', '--data-dir', dir])).toMatchObject({ recovered: [] });
    expect(await json(['verify', '--data-dir', dir])).toMatchObject({ ok: true });
  }, 120_000);

  it('recovers only the session named', async () => {
    const dir = fixtureDataDir('recoverone');
    const a = await crashedSession(dir);
    const b = await crashedSession(dir);
    const one = await json<{ recovered: { sessionId: string }[] }>([
      'recover',
      b,
      '--data-dir',
      dir,
    ]);
    expect(one.recovered.map((r) => r.sessionId)).toEqual([b]);
    const still = await json<{ sessions: { sessionId: string; status: string }[] }>([
      'sessions',
      'list',
      '--status',
      'active',
      '--data-dir',
      dir,
    ]);
    expect(still.sessions.map((s) => s.sessionId)).toEqual([a]);
    const ended = await json<{ recovered: unknown[] }>([
      'recover',
      PUBLIC_SESSION,
      '--data-dir',
      dir,
    ]);
    expect(ended.recovered).toEqual([]);
  }, 120_000);
});

describe('wfstate metrics', () => {
  it("prints the files' metrics without a daemon, as a table, JSON or Prometheus text", async () => {
    const dir = fixtureDataDir('metrics');
    const report = await json<{
      source: string;
      samples: { name: string; labels: Record<string, string>; value: number }[];
    }>(['metrics', '--data-dir', dir]);
    expect(report.source).toBe('files');
    const sizes = report.samples.filter((s) => s.labels.kind === 'database');
    expect(sizes.length).toBeGreaterThan(0);
    expect(sizes.every((s) => s.value > 0)).toBe(true);
    const text = await cli(['metrics', '--prometheus', '--data-dir', dir]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^# HELP /m);
    expect(text.stdout).toMatch(/^# TYPE /m);
  }, 60_000);
});

describe('wfstate backup --deep', () => {
  it('checks the copy deeply when asked, and says which check ran', async () => {
    const dir = fixtureDataDir('deep');
    const quick = await json<{ deep: boolean; verified: boolean }>([
      'backup',
      join(dir, 'quick.db.gz'),
      '--data-dir',
      dir,
    ]);
    expect(quick).toMatchObject({ deep: false, verified: true });
    const deep = await json<{ deep: boolean; verified: boolean; sha256: string }>([
      'backup',
      join(dir, 'deep.db.gz'),
      '--deep',
      '--data-dir',
      dir,
    ]);
    expect(deep).toMatchObject({ deep: true, verified: true });
  }, 60_000);
});
