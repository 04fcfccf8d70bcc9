import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { openArchive } from '@wirthforge/archive';
import { sessionStream } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { METRIC_NAMES, valueOf } from '@wirthforge/metrics';
import { collectEvents } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { archiveJobs } from '../src/archive-job.js';
import { createDaemonMetrics } from '../src/daemon-metrics.js';

const logger = pino({ level: 'silent' });
let dir: string;
let databasePath: string;

/** Two ended sessions in August 2025, every event sealed. */
async function writeSessions(): Promise<number> {
  const storage = await openSqliteStorage({
    path: databasePath,
    seal: { minEvents: 400, maxAgeMs: 1 },
  });
  const store = createEventStore({ storage });
  let events = 0;
  try {
    for (const [seed, day] of [
      [1, 3],
      [2, 9],
    ] as const) {
      const all = collectEvents({ seed, durationSeconds: 4, startTime: Date.UTC(2025, 7, day) });
      await store.appendToStream(sessionStream(all[0]!.session_id), all);
      events += all.length;
    }
    for (let i = 0; i < 400; i++) {
      const hot = await storage.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(hot.n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  } finally {
    await store.close();
  }
  return events;
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wfd-archive-'));
  databasePath = join(dir, 'state.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the archive job', () => {
  it('moves ended sessions on a worker thread while the store stays open, then applies retention', async () => {
    const events = await writeSessions();
    const archive = openArchive({ databasePath });
    // The daemon's storage stays open (its writer holds the lock) while the job runs.
    const storage = await openSqliteStorage({
      path: databasePath,
      coldSegments: archive.coldSegments,
    });
    try {
      const [job] = archiveJobs({
        databasePath,
        logger,
        env: { WF_ARCHIVE_MIN_AGE_DAYS: '0' },
      });
      expect(job?.name).toBe('archive');
      const result = await job!.run(new AbortController().signal);
      expect(result).toMatchObject({
        sessionsMoved: 2,
        eventsMoved: events,
        partitionsDeleted: [],
      });
      expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(true);
      // The daemon's metrics count the archive's files in the storage sizes.
      const metrics = createDaemonMetrics({ logger, databasePath });
      try {
        const size = (kind: string): number | undefined =>
          valueOf(metrics.store.snapshot(), METRIC_NAMES.storageSize, { kind });
        expect(size('archive')).toBeGreaterThan(0);
        expect(size('database')).toBeGreaterThan(0);
      } finally {
        await metrics.close();
      }
      let read = 0;
      for await (const _ of storage.readAll()) read++;
      expect(read).toBe(events);

      const [retention] = archiveJobs({
        databasePath,
        logger,
        env: { WF_ARCHIVE_MIN_AGE_DAYS: '0', WF_RETENTION_MAX_PARTITIONS: '0' },
      });
      const second = await retention!.run(new AbortController().signal);
      expect(second).toMatchObject({ sessionsMoved: 0, partitionsDeleted: ['2025-08'] });
      expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(false);
    } finally {
      await storage.close();
      archive.close();
    }
  }, 120_000);

  it('is off when its interval is 0 and when a setting is not valid', () => {
    expect(archiveJobs({ databasePath, logger, env: { WF_ARCHIVE_INTERVAL_MS: '0' } })).toEqual([]);
    expect(archiveJobs({ databasePath, logger, env: { WF_RETENTION_MAX_BYTES: 'lots' } })).toEqual(
      [],
    );
    expect(archiveJobs({ databasePath, logger, env: {} }).map((j) => j.intervalMs)).toEqual([
      3_600_000,
    ]);
  });
});
