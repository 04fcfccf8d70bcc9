/**
 * Write commands while a real daemon (`wfstated`, started here on a free port) holds the
 * writer lock: they go through its API (import, snapshot create and prune, purge of a
 * session or of everything, vacuum, repair; restore and migrate up in
 * `cli.daemon-restart.integration.test.ts`), `sync push|pull` refuses with exit 4, says
 * why and says to stop the daemon; reads work beside it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';

import { DAEMON_INFO_FILE, TOKEN_FILE, daemonConfig, startDaemon } from '@wirthforge/daemon';
import type { Daemon } from '@wirthforge/daemon';
import { openConnection } from '@wirthforge/storage-sqlite';
import { afterAll, describe, expect, it } from 'vitest';

import { DAEMON_INFO_FILE as CLI_INFO_FILE, DAEMON_TOKEN_FILE } from '../src/daemon-api.js';
import {
  MARKER,
  PRIVATE_SESSION,
  PUBLIC_SESSION,
  archivedSegmentSlices,
  cli,
  filesContaining,
  fixtureDataDir,
  removeFixtureCopies,
  PURGE_JSON_KEYS,
  rowCount,
  sealEverything,
  streamHolds,
  tempDir,
} from './fixtures.js';

const daemons: Daemon[] = [];
const cleanups: (() => void)[] = [];
afterAll(async () => {
  for (const daemon of daemons) await daemon.stop('test done');
  removeFixtureCopies();
  for (const c of cleanups) c();
});

async function daemonOn(dataDir: string): Promise<Daemon> {
  const daemon = await startDaemon(
    daemonConfig({ dataDir, port: 0, sync: 'normal', logLevel: 'silent' }),
  );
  daemons.push(daemon);
  return daemon;
}

async function json<T = Record<string, unknown>>(argv: readonly string[], code = 0): Promise<T> {
  const run = await cli([...argv, '--json']);
  expect(run.code, run.stderr).toBe(code);
  return JSON.parse(run.stdout) as T;
}

describe('wfstate with a running daemon', () => {
  it('reads the files the daemon writes', () => {
    expect(CLI_INFO_FILE).toBe(DAEMON_INFO_FILE);
    expect(DAEMON_TOKEN_FILE).toBe(TOKEN_FILE);
  });

  it('imports through the daemon, and a second import changes nothing', async () => {
    const source = fixtureDataDir('dsource');
    const out = tempDir('dexport');
    cleanups.push(out.remove);
    const file = join(out.dir, 'session.ndjson');
    const exported = await json<{ events: number }>([
      'export',
      PUBLIC_SESSION,
      '--format',
      'ndjson',
      '-o',
      file,
      '--data-dir',
      source,
    ]);
    const target = tempDir('dtarget');
    cleanups.push(target.remove);
    const daemon = await daemonOn(target.dir);

    interface I {
      appended: number;
      skipped: number;
      via: string;
    }
    const first = await json<I>(['import', file, '--data-dir', target.dir]);
    expect(first).toMatchObject({ via: 'daemon', appended: exported.events, skipped: 0 });
    const second = await json<I>(['import', file, '--data-dir', target.dir]);
    expect(second).toMatchObject({ via: 'daemon', appended: 0, skipped: exported.events });

    // The daemon serves what was imported, and the store checks out.
    const response = await fetch(`${daemon.url}/v1/sessions/${PUBLIC_SESSION}`, {
      headers: { authorization: `Bearer ${daemon.token}` },
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ended' });
    expect(await json(['verify', '--data-dir', target.dir])).toMatchObject({ ok: true });
    type R = { verified: boolean; stateHash: string };
    const replayed = await json<R>([
      'replay',
      PUBLIC_SESSION,
      '--verify',
      '--data-dir',
      target.dir,
    ]);
    const original = await json<R>(['replay', PUBLIC_SESSION, '--data-dir', source]);
    expect(replayed.verified).toBe(true);
    expect(replayed.stateHash).toBe(original.stateHash);
  }, 120_000);

  it('creates and prunes snapshots through the daemon; lists and verifies beside it', async () => {
    const dir = fixtureDataDir('dsnap');
    await daemonOn(dir);
    for (let i = 0; i < 5; i++) {
      const created = await json<{ via: string; created: { stream: string; kind: string }[] }>([
        'snapshot',
        'create',
        PUBLIC_SESSION,
        '--full',
        '--data-dir',
        dir,
      ]);
      expect(created).toMatchObject({
        via: 'daemon',
        created: [{ stream: `session-${PUBLIC_SESSION}`, kind: 'full' }],
      });
    }
    const listed = await json<{ snapshots: unknown[] }>(['snapshot', 'list', '--data-dir', dir]);
    expect(listed.snapshots).toHaveLength(5);
    expect(await json(['snapshot', 'verify', '--data-dir', dir])).toMatchObject({
      ok: true,
      checked: 5,
    });
    expect((await cli(['snapshot', 'prune', '--data-dir', dir])).code).toBe(6);
    const pruned = await json<{ via: string; deleted: number[]; kept: number }>([
      'snapshot',
      'prune',
      '--yes',
      '--data-dir',
      dir,
    ]);
    expect(pruned).toMatchObject({ via: 'daemon', kept: 3 });
    expect(pruned.deleted).toHaveLength(2);
  }, 120_000);

  it('purges an archived session, vacuums and repairs through the daemon', async () => {
    const dir = fixtureDataDir('dpurge');
    await sealEverything(dir);
    await json(['archive', 'run', '--min-age-days', '0', '--data-dir', dir]);
    const stream = `session-${PRIVATE_SESSION}`;
    const slices = archivedSegmentSlices(dir, stream);
    expect(slices.length).toBeGreaterThan(0);
    expect(await streamHolds(dir, stream, MARKER)).toBe(true);
    const checkpoints = (): number => {
      const c = openConnection(join(dir, 'state.db'), { readonly: true });
      try {
        return c
          .prepare("select count(*) from metadata where key = 'projection-checkpoint:' || ?")
          .pluck()
          .get(stream) as number;
      } finally {
        c.close();
      }
    };
    // A projection checkpoint of the session, as a store writing checkpoints leaves one.
    const w = openConnection(join(dir, 'state.db'));
    try {
      w.prepare(
        "insert into metadata (key, value) values ('projection-checkpoint:' || ?, '{}')",
      ).run(stream);
    } finally {
      w.close();
    }
    expect(checkpoints()).toBe(1);
    const daemon = await daemonOn(dir);
    const headers = { authorization: `Bearer ${daemon.token}` };

    // A running session is not purged: it must end first.
    const started = await fetch(`${daemon.url}/v1/sessions`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'ada' }),
    });
    const { session } = (await started.json()) as { session: string };
    const running = await cli(['purge', session, '--yes', '--data-dir', dir]);
    expect(running.code).not.toBe(0);
    expect(running.stderr).toContain(`/v1/sessions/${session}/end`);

    const purged = await json<{
      via: string;
      streams: string[];
      rows: { sessions: number };
      archive: { segments: number; partitions: { partition: string; removed: boolean }[] };
    }>(['purge', PRIVATE_SESSION, '--yes', '--data-dir', dir]);
    expect(purged).toMatchObject({
      via: 'daemon',
      streams: [stream],
      rows: { sessions: 1 },
      archive: { segments: slices.length, partitions: [{ partition: '2025-08', removed: false }] },
    });
    expect(filesContaining(dir, MARKER)).toEqual([]);
    for (const slice of slices) {
      expect(filesContaining(dir, slice.toString('latin1'), 'latin1')).toEqual([]);
    }
    expect(checkpoints()).toBe(0);
    // The daemon no longer knows it; the other session is still served from the archive.
    expect((await fetch(`${daemon.url}/v1/sessions/${PRIVATE_SESSION}`, { headers })).status).toBe(
      404,
    );
    const other = await fetch(`${daemon.url}/v1/sessions/${PUBLIC_SESSION}/events?limit=5`, {
      headers,
    });
    expect(other.status).toBe(200);
    expect(await json(['verify', '--deep', '--data-dir', dir])).toMatchObject({ ok: true });

    const vacuumed = await json<Record<string, unknown>>(['vacuum', '--data-dir', dir]);
    expect(Object.keys(vacuumed).sort()).toEqual(
      ['bytesAfter', 'bytesBefore', 'freePagesBefore', 'path', 'via', 'walBytesAfter'].sort(),
    );
    expect(vacuumed).toMatchObject({ via: 'daemon', path: join(dir, 'state.db') });

    // repair: a corrupt snapshot is dropped by the daemon, after the backup.
    const { created } = await json<{ created: { id: number }[] }>([
      'snapshot',
      'create',
      PUBLIC_SESSION,
      '--full',
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
    const repaired = await json<{
      via: string;
      droppedSnapshots: { id: number }[];
      backup: { path: string };
      ok: boolean;
    }>(['repair', '--yes', '--data-dir', dir]);
    expect(repaired).toMatchObject({
      via: 'daemon',
      droppedSnapshots: [{ id: created[0]!.id }],
      ok: true,
    });
    expect(existsSync(repaired.backup.path)).toBe(true);
    expect(await json(['snapshot', 'verify', '--data-dir', dir])).toMatchObject({ ok: true });

    // Nothing pending: migrate up and init have nothing to write.
    expect(await json(['migrate', 'up', '--data-dir', dir])).toMatchObject({
      applied: [],
      via: 'daemon',
    });
    expect(await json(['init', '--data-dir', dir])).toMatchObject({
      created: false,
      via: 'daemon',
    });
  }, 180_000);

  it('purges every session through the daemon (after confirmation), which stays up and usable', async () => {
    const dir = fixtureDataDir('dpurgeall');
    await sealEverything(dir);
    await json(['archive', 'run', '--min-age-days', '0', '--data-dir', dir]);
    const slices = archivedSegmentSlices(dir, `session-${PRIVATE_SESSION}`);
    expect(slices.length).toBeGreaterThan(0);
    expect(await streamHolds(dir, `session-${PRIVATE_SESSION}`, MARKER)).toBe(true);
    const daemon = await daemonOn(dir);
    const headers = { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/json' };

    // Without --yes (and no terminal to ask on) nothing is removed.
    const unconfirmed = await cli(['purge', '--all', '--data-dir', dir]);
    expect(unconfirmed.code).toBe(6);
    expect(await json(['sessions', 'show', PUBLIC_SESSION, '--data-dir', dir])).toMatchObject({
      sessionId: PUBLIC_SESSION,
    });

    const shape = PURGE_JSON_KEYS;
    interface Purged {
      all: boolean;
      via: string;
      streams: string[];
      sessions: string[];
      users: string[];
      rows: { events: number; sessions: number };
      archive: { segments: number };
      rebuilt: { sessions: number };
      walBytesAfter: number;
    }
    // A running session is not purged: the daemon refuses, naming it, and nothing goes.
    const recording = await fetch(`${daemon.url}/v1/sessions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ userId: 'ada' }),
    });
    const { session: running } = (await recording.json()) as { session: string };
    const refused = await cli(['purge', '--all', '--yes', '--data-dir', dir]);
    expect(refused.code).toBe(7);
    expect(refused.stderr).toContain(`/v1/sessions/${running}/end`);
    expect(await json(['sessions', 'show', PRIVATE_SESSION, '--data-dir', dir])).toMatchObject({
      sessionId: PRIVATE_SESSION,
    });
    const stopped = await fetch(`${daemon.url}/v1/sessions/${running}/end`, {
      method: 'POST',
      headers,
      body: '{}',
    });
    expect(stopped.status).toBe(200);

    const purged = await json<Purged>(['purge', '--all', '--yes', '--data-dir', dir]);
    expect(Object.keys(purged).sort()).toEqual(shape);
    expect(purged).toMatchObject({
      all: true,
      via: 'daemon',
      rows: { sessions: 3 },
      rebuilt: { sessions: 0, users: 0 },
    });
    expect(purged.users).toEqual(expect.arrayContaining(['ada']));
    // Everything, as without the daemon: users' progress and every stream included.
    for (const table of ['streams', 'users', 'events', 'sessions'] as const) {
      expect(rowCount(dir, table), table).toBe(0);
    }
    expect([...purged.sessions].sort()).toEqual([PRIVATE_SESSION, PUBLIC_SESSION, running].sort());
    expect(purged.streams).toEqual(
      expect.arrayContaining([`session-${PUBLIC_SESSION}`, `session-${PRIVATE_SESSION}`]),
    );
    expect(purged.archive.segments).toBeGreaterThan(0);
    // Nothing of the private session's content is left in any file of the directory.
    expect(filesContaining(dir, MARKER)).toEqual([]);
    for (const slice of slices) {
      expect(filesContaining(dir, slice.toString('latin1'), 'latin1')).toEqual([]);
    }
    expect(
      await json<{ sessions: unknown[] }>(['sessions', 'list', '--data-dir', dir]),
    ).toMatchObject({ sessions: [] });
    expect(await json(['verify', '--data-dir', dir])).toMatchObject({ ok: true });

    // The daemon goes on: a new session starts, takes events and ends.
    const started = await fetch(`${daemon.url}/v1/sessions`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ userId: 'ada' }),
    });
    expect(started.status).toBe(201);
    const { session } = (await started.json()) as { session: string };
    const ended = await fetch(`${daemon.url}/v1/sessions/${session}/end`, {
      method: 'POST',
      headers,
      body: '{}',
    });
    expect(ended.status).toBe(200);
    const listed = await json<{ sessions: { sessionId: string }[] }>([
      'sessions',
      'list',
      '--data-dir',
      dir,
    ]);
    expect(listed.sessions.map((s) => s.sessionId)).toEqual([session]);
  }, 180_000);

  it('refuses the writes its API does not offer with exit 4, naming the daemon and why', async () => {
    const dir = fixtureDataDir('dlocked');
    await daemonOn(dir);
    for (const argv of [
      ['sync', 'push', '--hub', 'postgres://127.0.0.1:1/none'],
      ['sync', 'pull', '--hub', 'postgres://127.0.0.1:1/none'],
    ]) {
      const run = await cli([...argv, '--data-dir', dir, '--json']);
      expect(run.code, argv.join(' ')).toBe(4);
      const body = JSON.parse(run.stdout) as { error: { message: string; hint: string } };
      expect(body.error.message).toContain(`pid ${process.pid}`);
      expect(body.error.message).toMatch(/cannot go through its API: \S/);
      expect(body.error.hint).toContain('stop the daemon');
    }
    // Nothing was removed.
    expect(await json(['sessions', 'show', PUBLIC_SESSION, '--data-dir', dir])).toMatchObject({
      sessionId: PUBLIC_SESSION,
    });
  }, 120_000);

  it('leaves the sessions the daemon records alone in recover', async () => {
    const dir = fixtureDataDir('drecover');
    const daemon = await daemonOn(dir);
    const started = await fetch(`${daemon.url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'ada' }),
    });
    const { session } = (await started.json()) as { session: string };
    const refused = await cli(['recover', session, '--data-dir', dir]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`/v1/sessions/${session}/end`);
    expect(await json(['recover', '--data-dir', dir])).toMatchObject({
      recovered: [],
      via: 'daemon',
      active: [session],
    });
  }, 120_000);

  it("prints the daemon's live metrics", async () => {
    const dir = fixtureDataDir('dmetrics');
    await daemonOn(dir);
    const report = await json<{
      source: string;
      daemonPid: number;
      samples: { name: string; value: number }[];
    }>(['metrics', '--data-dir', dir]);
    expect(report).toMatchObject({ source: 'daemon', daemonPid: process.pid });
    // A series of the daemon's process, which the files alone cannot give.
    expect(report.samples.map((s) => s.name)).toContain('nodejs_eventloop_delay_max_seconds');
    const text = await cli(['metrics', '--prometheus', '--data-dir', dir]);
    expect(text.stdout).toMatch(/^# TYPE wirthforge_daemon_/m);
  }, 60_000);
});
