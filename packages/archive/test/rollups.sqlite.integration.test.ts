import { join } from 'node:path';

import { sessionStream } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { AnalyticsQueries, createStoreMetrics } from '@wirthforge/metrics';
import { collectEvents } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openArchive } from '../src/index.js';
import { readEverything, tempDir, waitSealed } from './fixtures.js';

const START = Date.UTC(2026, 9, 5, 10);
const HOUR_US = 3_600_000_000;

let dir: { dir: string; remove: () => void };
let path: string;

beforeEach(() => {
  dir = tempDir();
  path = join(dir.dir, 'state.db');
});
afterEach(() => dir.remove());

async function rollupsOf(storage: Awaited<ReturnType<typeof openSqliteStorage>>) {
  const queries = new AnalyticsQueries(storage.db);
  const fromUs = START * 1000 - HOUR_US;
  const toUs = START * 1000 + HOUR_US;
  return {
    seconds: await queries.rollups({ userId: 'default', granularity: '1s', fromUs, toUs }),
    minutes: await queries.rollups({ userId: 'default', granularity: '1m', fromUs, toUs }),
    usage: await queries.usageByDay('default', fromUs, toUs),
  };
}

describe('analytics rollups and archival', () => {
  it('keep every rollup of a session whose raw events moved into a partition', async () => {
    // A session recorded with the analytics on, then sealed.
    const metrics = createStoreMetrics({ files: { database: path }, eventLoop: false });
    const storage = metrics.instrumentStorage(
      await openSqliteStorage({ path, seal: { minEvents: 500, maxAgeMs: 1 } }),
    );
    const store = createEventStore({ storage });
    const events = collectEvents({ seed: 4, durationSeconds: 15, startTime: START });
    const stream = sessionStream(events[0]!.session_id);
    for (let i = 0; i < events.length; i += 600) {
      await store.appendToStream(stream, events.slice(i, i + 600));
    }
    await waitSealed(storage);
    const before = await rollupsOf(storage);
    const raw = await readEverything(storage);
    await store.close();
    metrics.close();
    expect(before.seconds.length).toBeGreaterThanOrEqual(14);
    expect(before.seconds.reduce((n, p) => n + p.updates, 0)).toBe(
      events.filter((e) => e.type === 'energy.update').length,
    );

    // The raw events move into the archive: the live file keeps no segment of them.
    const archive = openArchive({ databasePath: path });
    try {
      const report = archive.run({ minAgeMs: 0 });
      expect(report.moved.map((m) => m.stream)).toEqual([stream]);
      const live = await openSqliteStorage({ path, seal: false });
      try {
        await expect(readEverything(live)).rejects.toThrow(/archived in partition 2026-10/);
        // Rollups and usage are read from the live file alone, unchanged.
        expect(await rollupsOf(live)).toEqual(before);
      } finally {
        await live.close();
      }
      // And the raw events are still there, through the archive.
      const withArchive = await openSqliteStorage({
        path,
        seal: false,
        coldSegments: archive.coldSegments,
      });
      try {
        expect((await readEverything(withArchive)).length).toBe(raw.length);
      } finally {
        await withArchive.close();
      }

      // Retention deletes the partition: the rollups outlive the raw events.
      archive.applyRetention({ maxPartitions: 0 }, { dryRun: false });
      const after = await openSqliteStorage({ path, seal: false });
      try {
        expect(await rollupsOf(after)).toEqual(before);
      } finally {
        await after.close();
      }
    } finally {
      archive.close();
    }
  });
});
