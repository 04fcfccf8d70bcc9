/**
 * The daemon's sync job: off unless a hub URL and an interval are configured; when on,
 * a run pushes the daemon's sessions and pulls the others' through its store, and no
 * log line holds the hub's password (also when the hub is down). Runs against the
 * PostgreSQL server of `WF_PG_URL` (default the local one), in a schema of its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openArchive } from '@wirthforge/archive';
import { createSessionId, sessionStream } from '@wirthforge/events';
import { createEventStore, createRecorder } from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import { deleteSqliteStreams, openSqliteStorage } from '@wirthforge/storage-sqlite';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';
import { dropHubSchema, freshHubSchema, probeHub, testHubUrl } from '@wirthforge/sync/testing';
import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';

import { syncJobs } from '../src/sync-job.js';

const HUB_URL = testHubUrl();
const unreachable = await probeHub(HUB_URL);
if (unreachable !== undefined) {
  const message = `PostgreSQL is not reachable at ${HUB_URL} (${unreachable}). The daemon's sync job tests were NOT run; start PostgreSQL or set WF_PG_URL.`;
  const ci = process.env['CI'];
  if (ci !== undefined && ci !== '' && ci !== 'false') throw new Error(message);
  console.warn(`\n!!! ${message}\n`);
}

const SECRET = 'Daemon-Hub-Secret-93b1';
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

function capture(): { logger: pino.Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

interface Device {
  readonly store: EventStore;
  readonly storage: SqliteStorage;
  readonly path: string;
  readonly stream: string;
}

/**
 * A device with one ended session of its own (none with `start` undefined); with `seal`,
 * its storage seals every event soon and reads through its archive, so ended sessions
 * can be archived.
 */
async function device(name: string, start: Date | undefined, seal = false): Promise<Device> {
  const dir = mkdtempSync(join(tmpdir(), `wfd-sync-${name}-`));
  const path = join(dir, 'state.db');
  // As the daemon opens it: archived events read through the archive.
  const archive = seal ? openArchive({ databasePath: path }) : undefined;
  const storage = await openSqliteStorage({
    path,
    synchronous: 'normal',
    ...(archive === undefined
      ? {}
      : { seal: { minEvents: 100, maxAgeMs: 1 }, coldSegments: archive.coldSegments }),
  });
  const store = createEventStore({ storage });
  cleanups.push(async () => {
    await store.close();
    archive?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  if (start === undefined) return { store, storage, path, stream: '' };
  const sessionId = createSessionId(start, 1);
  const session = simulateSession({
    seed: start.getUTCHours(),
    sessionId,
    startTime: start,
    durationSeconds: 1,
    models: ['ollama/llama3.2:3b'],
  });
  const recorder = createRecorder(store, {
    clock: 'external',
    maxPendingFrames: session.frameCount + 1,
  });
  for (const frame of session) {
    for (const event of frame.events) recorder.record(event);
    recorder.endFrame();
  }
  await recorder.close();
  return { store, storage, path, stream: sessionStream(sessionId) };
}

/** Waits until every event of `storage` is sealed (none left in the hot table). */
async function sealed(storage: SqliteStorage): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const hot = await storage.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(hot.n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the events were not sealed');
}

/** Events of the archive partitions beside `path`. */
function archivedEvents(path: string): number {
  const archive = openArchive({ databasePath: path });
  try {
    return archive.list().reduce((sum, p) => sum + p.events, 0);
  } finally {
    archive.close();
  }
}

describe('the sync job is opt-in', () => {
  it('is not scheduled without a hub URL and an interval', () => {
    const { logger, lines } = capture();
    const store = {} as EventStore;
    const db = {} as SqliteStorage['db'];
    expect(syncJobs({ store, db, logger, env: { HOME: '/nonexistent' } })).toEqual([]);
    // A URL alone is for `wfstate sync`: the daemon needs an interval too.
    expect(
      syncJobs({ store, db, logger, env: { HOME: '/nonexistent', WF_SYNC_URL: HUB_URL } }),
    ).toEqual([]);
    // A bad setting leaves sync off, says why, and does not stop the daemon.
    const bad = syncJobs({
      store,
      db,
      logger,
      env: {
        HOME: '/nonexistent',
        WF_SYNC_URL: `postgres://a:${SECRET}@h/db`,
        WF_SYNC_INTERVAL_MS: '5',
      },
    });
    expect(bad).toEqual([]);
    expect(lines.join('')).toContain('WF_SYNC_INTERVAL_MS');
    expect(lines.join('')).not.toContain(SECRET);
  });
});

describe.runIf(unreachable === undefined)('the sync job', () => {
  it('pushes and pulls on each run, and logs the hub without its password', async () => {
    const schema = freshHubSchema('wf_daemon_sync');
    cleanups.push(() => dropHubSchema(HUB_URL, schema));
    const url = new URL(HUB_URL);
    url.password = SECRET;
    const env = {
      HOME: '/nonexistent',
      WF_SYNC_URL: url.toString(),
      WF_SYNC_SCHEMA: schema,
      WF_SYNC_INTERVAL_MS: '60000',
    };
    const a = await device('a', new Date('2025-08-22T08:00:00Z'));
    const b = await device('b', new Date('2025-08-22T09:00:00Z'));
    const logA = capture();
    const logB = capture();
    const [jobA] = syncJobs({ store: a.store, db: a.storage.db, logger: logA.logger, env });
    const [jobB] = syncJobs({ store: b.store, db: b.storage.db, logger: logB.logger, env });
    expect(jobA?.intervalMs).toBe(60_000);
    const signal = new AbortController().signal;
    const first = await jobA!.run(signal);
    expect(first).toMatchObject({ pulled: 0, conflicts: 0 });
    expect((first as { pushed: number }).pushed).toBeGreaterThan(0);
    const second = (await jobB!.run(signal)) as { pushed: number; pulled: number };
    expect(second.pushed).toBeGreaterThan(0);
    expect(second.pulled).toBe((first as { pushed: number }).pushed);
    const third = (await jobA!.run(signal)) as { pushed: number; pulled: number };
    expect([third.pushed, third.pulled]).toEqual([0, second.pushed]);
    expect(await a.store.headPosition()).toBe(await b.store.headPosition());
    const logged = [...logA.lines, ...logB.lines].join('');
    expect(logged).toContain('sync with a hub is on');
    expect(logged).toContain('***');
    expect(logged).not.toContain(SECRET);
  }, 60_000);

  it('deletes a session purged on another device here, its archived segments too', async () => {
    const schema = freshHubSchema('wf_daemon_sync');
    cleanups.push(() => dropHubSchema(HUB_URL, schema));
    const env = {
      HOME: '/nonexistent',
      WF_SYNC_URL: HUB_URL,
      WF_SYNC_SCHEMA: schema,
      WF_SYNC_INTERVAL_MS: '60000',
    };
    const signal = new AbortController().signal;
    const a = await device('pa', new Date('2025-08-23T08:00:00Z'));
    const b = await device('pb', undefined, true);
    const { logger } = capture();
    const [jobA] = syncJobs({ store: a.store, db: a.storage.db, logger, env });
    const [jobB] = syncJobs({ store: b.store, db: b.storage.db, logger, env });
    await jobA!.run(signal);
    const pulled = (await jobB!.run(signal)) as { pulled: number };
    expect(pulled.pulled).toBeGreaterThan(0);
    // B archives the session it pulled: its events leave B's live file.
    await sealed(b.storage);
    const archive = openArchive({ databasePath: b.path });
    try {
      expect(archive.run({ minAgeMs: 0, reclaim: false }).moved.map((m) => m.stream)).toEqual([
        a.stream,
      ]);
    } finally {
      archive.close();
    }
    expect(archivedEvents(b.path)).toBe(pulled.pulled);

    // A purges the session and pushes the purge; B's next run deletes it, archive included.
    await deleteSqliteStreams(a.path, { streams: [a.stream] }, { actor: 'wfstate purge' });
    await a.store.rebuildProjections();
    await jobA!.run(signal);
    expect(await jobB!.run(signal)).toMatchObject({ purged: [a.stream] });
    expect(archivedEvents(b.path)).toBe(0);
    const left = await b.storage.db
      .selectFrom('streams')
      .select('name')
      .where('name', '=', a.stream)
      .execute();
    expect(left).toEqual([]);
    const audit = await b.storage.db.selectFrom('audit').select(['action', 'actor']).execute();
    expect(audit).toContainEqual({ action: 'purge', actor: 'wfstate daemon sync' });
  }, 120_000);

  it('fails a run with an error that names the hub without its password when the hub is down', async () => {
    const { logger, lines } = capture();
    const a = await device('c', new Date('2025-08-22T10:00:00Z'));
    const env = {
      HOME: '/nonexistent',
      WF_SYNC_URL: `postgres://ada:${SECRET}@127.0.0.1:1/test`,
      WF_SYNC_INTERVAL_MS: '60000',
    };
    const [job] = syncJobs({ store: a.store, db: a.storage.db, logger, env });
    const error = await job!.run(new AbortController().signal).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    // What the scheduler logs of a failed run: the error, serialised by pino.
    logger.error({ err: error }, 'job failed');
    const logged = lines.join('');
    expect(logged).toContain('postgres://ada:***@127.0.0.1:1/test');
    expect(logged).not.toContain(SECRET);
  });
});
