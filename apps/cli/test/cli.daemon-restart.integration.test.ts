/**
 * `wfstate restore` and `wfstate migrate up` while a real daemon (`wfstated`, started here
 * on a free port) holds the writer lock: the daemon swaps or migrates its database under
 * itself (a core restart), holds requests meanwhile (503 with Retry-After), loses none of
 * the events it acknowledged and serves again afterwards; a damaged backup is refused with
 * the data and the daemon as they were.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';

import { daemonConfig, startDaemon } from '@wirthforge/daemon';
import type { Daemon } from '@wirthforge/daemon';
import { simulateSession } from '@wirthforge/simulator';
import { SEALED_EVENT_IDS_MIGRATION } from '@wirthforge/storage';
import { openConnection } from '@wirthforge/storage-sqlite';
import { afterAll, describe, expect, it } from 'vitest';

import { PUBLIC_SESSION, cli, fixtureDataDir, removeFixtureCopies, tempDir } from './fixtures.js';

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

interface Answer<T> {
  status: number;
  body: T;
  headers: Headers;
}

/** A request to the daemon with its token. */
async function call<T = Record<string, unknown>>(
  daemon: Daemon,
  method: string,
  path: string,
  body?: unknown,
): Promise<Answer<T>> {
  const response = await fetch(`${daemon.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${daemon.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, body: (await response.json()) as T, headers: response.headers };
}

async function startSession(daemon: Daemon): Promise<string> {
  const started = await call<{ session: string }>(daemon, 'POST', '/v1/sessions', {
    userId: 'ada',
  });
  expect(started.status).toBe(201);
  return started.body.session;
}

/** Simulated events of a session, without the system.start and system.end the daemon writes. */
function events(sessionId: string, seconds: number, seed: number): unknown[] {
  const out: unknown[] = [];
  for (const frame of simulateSession({
    seed,
    sessionId,
    durationSeconds: seconds,
    startTime: Date.now(),
    eventIds: false,
    models: ['ollama/llama3.2:3b'],
  })) {
    for (const event of frame.events) {
      if (event.type !== 'system.start' && event.type !== 'system.end') out.push(event);
    }
  }
  return out;
}

/** Ingests `batch`; the positions acknowledged (empty when the daemon refused it). */
async function ingest(daemon: Daemon, session: string, batch: unknown[]): Promise<Answer<unknown>> {
  return call(daemon, 'POST', `/v1/sessions/${session}/events`, { events: batch });
}

function positionsOf(answer: Answer<unknown>): number[] {
  return (answer.body as { positions: number[] }).positions;
}

/** Every position stored in a session's stream, read by the CLI beside the daemon. */
function storedPositions(dir: string, session: string): number[] {
  const c = openConnection(join(dir, 'state.db'), { readonly: true });
  try {
    const hot = c
      .prepare(
        'select e.position from events e join streams s on s.id = e.stream_id where s.name = ? order by e.position',
      )
      .pluck()
      .all(`session-${session}`) as number[];
    const sealed = c
      .prepare(
        'select g.first_position, g.last_position, g.event_count from segments g join streams s on s.id = g.stream_id where s.name = ?',
      )
      .raw(true)
      .all(`session-${session}`) as [number, number, number][];
    expect(sealed.every(([a, b, n]) => b - a + 1 === n)).toBe(true);
    return [
      ...hot,
      ...sealed.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)),
    ].sort((x, y) => x - y);
  } finally {
    c.close();
  }
}

describe('restore and migrate up with a running daemon', () => {
  it('restores a backup under the daemon: a damaged backup is refused, the daemon serves the restored data', async () => {
    const dir = fixtureDataDir('drestore');
    const out = tempDir('drestore-backups');
    cleanups.push(out.remove);
    const daemon = await daemonOn(dir);

    // Acknowledged before the backup: in the restored database.
    const before = await startSession(daemon);
    const acked = await ingest(daemon, before, events(before, 2, 3));
    expect(acked.status).toBe(200);
    expect((await call(daemon, 'POST', `/v1/sessions/${before}/end`, {})).status).toBe(200);
    const beforePositions = storedPositions(dir, before);
    expect(beforePositions).toEqual(expect.arrayContaining(positionsOf(acked)));
    const backupFile = join(out.dir, 'state.db.gz');
    const backup = await json<{ headPosition: string }>(['backup', backupFile, '--data-dir', dir]);

    // Written after the backup, by a session still running at the restore.
    const later = await startSession(daemon);
    expect((await ingest(daemon, later, events(later, 1, 4))).status).toBe(200);

    // A damaged backup (a page of the database inside overwritten) is refused: nothing changes.
    const inside = gunzipSync(readFileSync(backupFile));
    inside.fill(0x5a, 8192, 8192 + 4096);
    const damaged = join(out.dir, 'damaged.db.gz');
    writeFileSync(damaged, gzipSync(inside));
    const refused = await cli(['restore', damaged, '--yes', '--data-dir', dir, '--json']);
    expect(refused.code).not.toBe(0);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      error: { message: expect.stringContaining(damaged) as string },
    });
    expect((await call(daemon, 'GET', '/readyz')).status).toBe(200);
    expect((await call(daemon, 'GET', `/v1/sessions/${later}`)).body).toMatchObject({
      status: 'active',
    });
    expect((await ingest(daemon, later, events(later, 1, 5))).status).toBe(200);

    // The backup, restored under the daemon.
    const restored = await json<Record<string, unknown>>([
      'restore',
      backupFile,
      '--yes',
      '--data-dir',
      dir,
    ]);
    expect(Object.keys(restored).sort()).toEqual(
      [
        'endedSessions',
        'from',
        'headPosition',
        'migration',
        'previousRemoved',
        'restored',
        'via',
      ].sort(),
    );
    expect(restored).toMatchObject({
      via: 'daemon',
      restored: join(dir, 'state.db'),
      from: backupFile,
      headPosition: backup.headPosition,
      previousRemoved: true,
      endedSessions: [later],
      migration: { applied: [] },
    });

    // What the backup held is served; what came after it is gone, as a restore means.
    expect(storedPositions(dir, before)).toEqual(beforePositions);
    expect((await call(daemon, 'GET', `/v1/sessions/${before}`)).body).toMatchObject({
      status: 'ended',
    });
    expect((await call(daemon, 'GET', `/v1/sessions/${PUBLIC_SESSION}`)).status).toBe(200);
    expect((await call(daemon, 'GET', `/v1/sessions/${later}`)).status).toBe(404);
    expect(await json(['verify', '--data-dir', dir])).toMatchObject({ ok: true });

    // The daemon goes on: a new session's events are acknowledged and stored.
    const after = await startSession(daemon);
    const afterAck = await ingest(daemon, after, events(after, 1, 6));
    expect(afterAck.status).toBe(200);
    expect((await call(daemon, 'POST', `/v1/sessions/${after}/end`, {})).status).toBe(200);
    expect(storedPositions(dir, after)).toEqual(expect.arrayContaining(positionsOf(afterAck)));
    expect(storedPositions(dir, before)).toEqual(beforePositions);
  }, 180_000);

  it('migrates under the daemon while events flow: every acknowledged event is kept', async () => {
    const dir = fixtureDataDir('dmigrate');
    const daemon = await daemonOn(dir);
    const session = await startSession(daemon);
    // One simulated session fed in slices, in order (the energy folds add up across them).
    const feed = events(session, 20, 7);
    let fed = 0;
    const slice = (n: number): unknown[] => feed.slice(fed, (fed += n));
    const first = await ingest(daemon, session, slice(200));
    expect(first.status).toBe(200);

    // Nothing pending: nothing stops, the session goes on.
    const current = await json<Record<string, unknown>>(['migrate', 'up', '--data-dir', dir]);
    expect(Object.keys(current).sort()).toEqual(
      ['applied', 'endedSessions', 'previousVersion', 'schemaVersion', 'via'].sort(),
    );
    expect(current).toMatchObject({
      applied: [],
      endedSessions: [],
      previousVersion: 2,
      schemaVersion: 2,
      via: 'daemon',
    });
    expect((await ingest(daemon, session, slice(200))).status).toBe(200);

    // A daemon of another release is not asked to migrate to a schema it does not know.
    const skew = await call<{ error: { code: string; message: string } }>(
      daemon,
      'POST',
      '/v1/admin/migrate',
      { schemaVersion: 99 },
    );
    expect(skew.status).toBe(409);
    expect(skew.body.error.message).toContain('schema version 99');

    // The file as an older release left it: the last migration not applied yet.
    const w = openConnection(join(dir, 'state.db'));
    try {
      w.exec('drop table sealed_event_ids');
      w.prepare('delete from kysely_migration where name = ?').run(SEALED_EVENT_IDS_MIGRATION);
      w.prepare("update metadata set value = '1' where key = 'schema_version'").run();
    } finally {
      w.close();
    }
    expect(await json(['migrate', 'status', '--data-dir', dir])).toMatchObject({
      schemaVersion: 1,
      pending: [SEALED_EVENT_IDS_MIGRATION],
    });

    // Batches go on while the daemon migrates: each is acknowledged, or refused whole
    // (503 with Retry-After while the storage restarts, 409 once the session has ended).
    const acknowledged: number[] = [];
    let stop = false;
    let started: () => void = () => undefined;
    const feeding = new Promise<void>((resolve) => (started = resolve));
    const feeder = (async () => {
      let batch = slice(20);
      while (!stop && batch.length > 0) {
        const answer = await ingest(daemon, session, batch);
        started();
        if (answer.status === 200) {
          acknowledged.push(...positionsOf(answer));
          batch = slice(20);
          continue;
        }
        if (answer.status === 409) return;
        // Held while the storage restarts: the same batch again, as a client does.
        expect(answer.status).toBe(503);
        expect(answer.headers.get('retry-after')).toBe('1');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    await feeding;
    const migrated = await json<Record<string, unknown>>(['migrate', 'up', '--data-dir', dir]);
    stop = true;
    await feeder;
    expect(migrated).toMatchObject({
      previousVersion: 1,
      schemaVersion: 2,
      applied: [SEALED_EVENT_IDS_MIGRATION],
      endedSessions: [session],
      via: 'daemon',
    });
    expect(acknowledged.length).toBeGreaterThan(0);
    expect(await json(['migrate', 'status', '--data-dir', dir])).toMatchObject({
      upToDate: true,
    });

    // Every acknowledged event is stored, the session ended cleanly, the daemon serves.
    const stored = storedPositions(dir, session);
    expect(stored).toEqual(expect.arrayContaining([...positionsOf(first), ...acknowledged]));
    expect((await call(daemon, 'GET', `/v1/sessions/${session}`)).body).toMatchObject({
      status: 'ended',
    });
    const next = await startSession(daemon);
    const nextAck = await ingest(daemon, next, events(next, 1, 9));
    expect(nextAck.status).toBe(200);
    expect(storedPositions(dir, next)).toEqual(expect.arrayContaining(positionsOf(nextAck)));
    expect(await json(['verify', '--data-dir', dir])).toMatchObject({ ok: true });
  }, 180_000);
});
