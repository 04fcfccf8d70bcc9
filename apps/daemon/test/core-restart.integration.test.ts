/**
 * The storage restart under a running daemon (`POST /v1/admin/restore` and `/migrate`):
 * a file that is not a usable database is refused before anything stops, WebSockets are
 * closed as going away, ended sessions are listed, the daemon serves the swapped database
 * afterwards and stops cleanly.
 */
import { copyFileSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import { SCHEMA_VERSION } from '@wirthforge/storage';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';

import { WS_CLOSE_GOING_AWAY } from '../src/stream-route.js';
import {
  api,
  openStream,
  sessionEvents,
  startSession,
  startTestDaemon,
  tempDataDir,
} from './daemon-harness.js';

let daemon: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  daemon = await startTestDaemon();
});
afterAll(async () => {
  await daemon.cleanup();
});

async function endedSession(): Promise<{ session: string; positions: number[] }> {
  const session = await startSession(daemon, { userId: 'ada' });
  const ingested = await api<{ positions: number[] }>(
    daemon,
    'POST',
    `/v1/sessions/${session}/events`,
    { body: { events: sessionEvents(session, 1, 3, false) } },
  );
  expect(ingested.status).toBe(200);
  expect((await api(daemon, 'POST', `/v1/sessions/${session}/end`, { body: {} })).status).toBe(200);
  return { session, positions: ingested.body.positions };
}

describe('POST /v1/admin/restore', () => {
  it('refuses a file outside the data directory, a missing one and a damaged one, changing nothing', async () => {
    const kept = await endedSession();
    const outside = join(tempDataDir(), 'copy.db');
    onTestFinished(() => rmSync(dirname(outside), { recursive: true, force: true }));
    await daemon.storage.backup(outside);
    const refusedOutside = await api<{ error: { message: string } }>(
      daemon,
      'POST',
      '/v1/admin/restore',
      { body: { file: outside } },
    );
    expect(refusedOutside.status).toBe(400);
    expect(refusedOutside.body.error.message).toContain('body.file');
    const refusedSelf = await api(daemon, 'POST', '/v1/admin/restore', {
      body: { file: 'state.db' },
    });
    expect(refusedSelf.status).toBe(400);
    expect(
      (await api(daemon, 'POST', '/v1/admin/restore', { body: { file: 'none.db' } })).status,
    ).toBe(404);

    const damaged = join(daemon.dataDir, 'damaged.db');
    copyFileSync(outside, damaged);
    const bytes = readFileSync(damaged);
    bytes.fill(0x5a, 4096, 4096 * 3);
    writeFileSync(damaged, bytes);
    const refused = await api<{ error: { message: string } }>(daemon, 'POST', '/v1/admin/restore', {
      body: { file: 'damaged.db' },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error.message).toContain('the current database was not touched');
    expect(existsSync(damaged)).toBe(true);
    // The daemon goes on with its data, without a restart.
    expect((await api(daemon, 'GET', `/v1/sessions/${kept.session}`)).status).toBe(200);
    expect((await api(daemon, 'GET', '/readyz')).status).toBe(200);
  });

  it('swaps a good file in: WebSockets closed as going away, running sessions ended, served afterwards', async () => {
    const before = await endedSession();
    const copy = join(daemon.dataDir, 'copy.db');
    await daemon.storage.backup(copy);
    const later = await endedSession();
    const running = await startSession(daemon, { userId: 'ada' });
    const socket = await openStream(daemon);

    const restored = await api<{
      restored: string;
      headPosition: number;
      previousRemoved: boolean;
      endedSessions: string[];
      migration: { applied: string[] };
    }>(daemon, 'POST', '/v1/admin/restore', { body: { file: 'copy.db' } });
    expect(restored.status).toBe(200);
    expect(restored.body).toMatchObject({
      restored: join(daemon.dataDir, 'state.db'),
      previousRemoved: true,
      endedSessions: [running],
      migration: { applied: [] },
    });
    expect((await socket.closed).code).toBe(WS_CLOSE_GOING_AWAY);
    expect(existsSync(copy)).toBe(false);

    // The copy's sessions are served, those after it are gone; new ones are taken.
    expect((await api(daemon, 'GET', `/v1/sessions/${before.session}`)).status).toBe(200);
    expect((await api(daemon, 'GET', `/v1/sessions/${later.session}`)).status).toBe(404);
    const page = await api<{ events: { position: number }[] }>(
      daemon,
      'GET',
      `/v1/sessions/${before.session}/events?limit=1000`,
    );
    expect(page.body.events.map((e) => e.position)).toEqual(
      expect.arrayContaining(before.positions),
    );
    const next = await endedSession();
    expect((await api(daemon, 'GET', `/v1/sessions/${next.session}`)).status).toBe(200);
    expect(Number(await daemon.store.headPosition())).toBeGreaterThanOrEqual(
      Math.max(...next.positions),
    );
  });
});

describe('POST /v1/admin/migrate', () => {
  it('has nothing to do on a current schema, and refuses a schema version of another release', async () => {
    const running = await startSession(daemon, { userId: 'ada' });
    const current = await api(daemon, 'POST', '/v1/admin/migrate', {
      body: { schemaVersion: SCHEMA_VERSION },
    });
    expect(current.status).toBe(200);
    expect(current.body).toEqual({
      previousVersion: SCHEMA_VERSION,
      schemaVersion: SCHEMA_VERSION,
      applied: [],
      restarted: false,
      endedSessions: [],
    });
    const skew = await api<{ error: { code: string } }>(daemon, 'POST', '/v1/admin/migrate', {
      body: { schemaVersion: SCHEMA_VERSION + 1 },
    });
    expect(skew.status).toBe(409);
    expect(skew.body.error.code).toBe('conflict');
    // Nothing stopped: the session still takes events.
    const ingested = await api(daemon, 'POST', `/v1/sessions/${running}/events`, {
      body: { events: sessionEvents(running, 1, 4, false) },
    });
    expect(ingested.status).toBe(200);
  });
});
