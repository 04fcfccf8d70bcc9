/**
 * Purge (of a session and of everything) and vacuum through the daemon: their file work
 * runs off the main thread, so the daemon keeps answering while SQLite makes them wait
 * (a purge of everything holds the other requests with 503 and Retry-After, its storage
 * closed), and it stays up and usable afterwards.
 */
import { join } from 'node:path';

import { openConnection } from '@wirthforge/storage-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { api, sessionEvents, startSession, startTestDaemon } from './daemon-harness.js';

let daemon: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  daemon = await startTestDaemon();
});
afterAll(async () => {
  await daemon.cleanup();
});

/** A session with a few seconds of events, ended. */
async function endedSession(): Promise<string> {
  const session = await startSession(daemon, { userId: 'ada' });
  const ingested = await api(daemon, 'POST', `/v1/sessions/${session}/events`, {
    body: { events: sessionEvents(session, 2) },
  });
  expect(ingested.status).toBe(200);
  const ended = await api(daemon, 'POST', `/v1/sessions/${session}/end`, { body: {} });
  expect(ended.status).toBe(200);
  return session;
}

/**
 * Sends `request` while another connection holds the database's write lock, and asks
 * `/healthz` and `/v1/sessions` meanwhile: with the file work on the main thread, the
 * daemon could answer none of them until the lock went. Releases the lock after
 * `probes` answered, then returns the request's response and how many answers came
 * while it was still pending.
 */
async function whileLocked<T>(
  request: () => Promise<T>,
  probes = 4,
): Promise<{ response: T; answeredMeanwhile: number }> {
  const holder = openConnection(join(daemon.dataDir, 'state.db'));
  holder.exec('BEGIN IMMEDIATE');
  let settled = false;
  const pending = request().finally(() => (settled = true));
  let answeredMeanwhile = 0;
  try {
    for (let i = 0; i < probes && !settled; i++) {
      const health = await api<{ status: string }>(daemon, 'GET', '/healthz');
      expect(health.body.status).toBe('ok');
      const list = await api(daemon, 'GET', '/v1/sessions');
      expect(list.status).toBe(200);
      if (!settled) answeredMeanwhile++;
    }
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
  return { response: await pending, answeredMeanwhile };
}

describe('POST /v1/admin/vacuum', () => {
  it('rebuilds the file off the main thread: the daemon answers while it waits', async () => {
    await endedSession();
    const { response, answeredMeanwhile } = await whileLocked(() =>
      api<{ freePagesBefore: number; walBytesAfter: number; path: string }>(
        daemon,
        'POST',
        '/v1/admin/vacuum',
        { body: {} },
      ),
    );
    expect(answeredMeanwhile).toBe(4);
    expect(response.status).toBe(200);
    expect(response.body.path).toBe(join(daemon.dataDir, 'state.db'));
    expect(response.body.freePagesBefore).toBeGreaterThanOrEqual(0);
  });
});

describe('POST /v1/admin/purge', () => {
  it('purges a session off the main thread: the daemon answers while it waits', async () => {
    const session = await endedSession();
    const { response, answeredMeanwhile } = await whileLocked(() =>
      api<{ all: boolean; streams: string[]; rows: { events: number; sessions: number } }>(
        daemon,
        'POST',
        '/v1/admin/purge',
        { body: { stream: `session-${session}` } },
      ),
    );
    expect(answeredMeanwhile).toBe(4);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ all: false, rows: { sessions: 1 } });
    expect(response.body.streams).toContain(`session-${session}`);
    // Only this session's streams (its own, and the stream of its snapshot markers).
    for (const stream of response.body.streams) expect(stream).toContain(session);
    expect(response.body.rows.events).toBeGreaterThan(0);
    expect((await api(daemon, 'GET', `/v1/sessions/${session}`)).status).toBe(404);
  });

  it('refuses a body naming neither or both of a stream and all', async () => {
    for (const body of [{}, { stream: 'session-x', all: true }, { all: false }]) {
      const refused = await api<{ error: { code: string } }>(daemon, 'POST', '/v1/admin/purge', {
        body,
      });
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error.code).toBe('invalid_request');
    }
  });

  it('purges every session with all: refuses while one runs, then removes them all and stays usable', async () => {
    const ended = [await endedSession(), await endedSession()];
    const running = await startSession(daemon, { userId: 'ada' });
    const refused = await api<{ error: { code: string; message: string } }>(
      daemon,
      'POST',
      '/v1/admin/purge',
      { body: { all: true } },
    );
    expect(refused.status).toBe(409);
    expect(refused.body.error.message).toContain(`/v1/sessions/${running}/end`);
    // Nothing went.
    for (const s of ended) expect((await api(daemon, 'GET', `/v1/sessions/${s}`)).status).toBe(200);

    expect((await api(daemon, 'POST', `/v1/sessions/${running}/end`, { body: {} })).status).toBe(
      200,
    );
    // The purge of everything closes the storage: requests are held meanwhile (503 with
    // Retry-After), /healthz answers (the file work is on a worker thread).
    const holder = openConnection(join(daemon.dataDir, 'state.db'));
    holder.exec('BEGIN IMMEDIATE');
    let settled = false;
    const pending = api<{
      all: boolean;
      streams: string[];
      sessions: string[];
      users: string[];
      rows: { sessions: number; users: number; audit: number };
      rebuilt: { sessions: number; users: number };
      walBytesAfter: number;
    }>(daemon, 'POST', '/v1/admin/purge', { body: { all: true } }).finally(() => (settled = true));
    let held = 0;
    try {
      while (!settled && held < 4) {
        const list = await api<{ error: { code: string } }>(daemon, 'GET', '/v1/sessions');
        if (list.status === 200) continue; // not held yet
        expect(list.status).toBe(503);
        expect(list.headers.get('retry-after')).toBe('1');
        expect(list.body.error.code).toBe('not_ready');
        const health = await api<{ status: string }>(daemon, 'GET', '/healthz');
        expect(health.body.status).toBe('ok');
        if (!settled) held++;
      }
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    const response = await pending;
    expect(held).toBe(4);
    expect(response.status).toBe(200);
    expect(response.body.all).toBe(true);
    expect(response.body.sessions).toEqual(expect.arrayContaining([...ended, running]));
    expect(response.body.streams).toEqual(
      expect.arrayContaining([...ended, running].map((s) => `session-${s}`)),
    );
    // Everything: the user's progress too.
    expect(response.body.users).toEqual(['ada']);
    expect(response.body.rows.users).toBe(1);
    expect(response.body.rebuilt).toEqual({ sessions: 0, users: 0 });
    const listed = await api<{ sessions: unknown[] }>(daemon, 'GET', '/v1/sessions');
    expect(listed.body.sessions).toEqual([]);
    expect((await api(daemon, 'GET', '/v1/user?id=ada')).status).toBe(404);

    // The daemon goes on: a new session takes events, and a second purge of everything
    // removes it; a third has nothing left but succeeds.
    const next = await endedSession();
    expect((await api(daemon, 'GET', `/v1/sessions/${next}`)).status).toBe(200);
    const again = await api<{ streams: string[] }>(daemon, 'POST', '/v1/admin/purge', {
      body: { all: true },
    });
    expect(again.status).toBe(200);
    expect(again.body.streams).toContain(`session-${next}`);
    const empty = await api<{ streams: string[]; rows: { events: number } }>(
      daemon,
      'POST',
      '/v1/admin/purge',
      { body: { all: true } },
    );
    expect(empty.status).toBe(200);
    expect(empty.body).toMatchObject({ streams: [], rows: { events: 0 } });
  });
});
