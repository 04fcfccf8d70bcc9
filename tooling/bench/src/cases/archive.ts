import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { openArchive } from '@wirthforge/archive';
import { createEventStore } from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';

import { perSecond, ratioMetric, type BenchCase } from '../bench-case.js';
import { chunkEvents, sessionStream } from '../bench-dataset.js';
import { databaseBytes, removeDatabase } from '../file-size.js';
import { sizeNote } from './raw-sqlite.js';

/** Waits until the writer has sealed every hot row of the store (at most a minute). */
async function waitAllSealed(storage: SqliteStorage): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    const hot = await storage.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(hot.n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('the writer did not seal the whole session within a minute');
}

/** Times a full `readAll`, checking it returns `expected` events. */
async function timedReadAll(storage: SqliteStorage, expected: number): Promise<number> {
  const start = performance.now();
  let n = 0;
  for await (const page of storage.readAllPages()) n += page.length;
  const ms = performance.now() - start;
  if (n !== expected) throw new Error(`read back ${n} of ${expected} events`);
  return ms;
}

function directoryBytes(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).reduce((sum, file) => sum + statSync(join(dir, file)).size, 0);
}

/**
 * The archive: one simulated 60 Hz session of `sizeMinutes` (one hour by default) written
 * through the event store (so its session row exists and ends) with sealing, every event
 * sealed, then moved into its monthly partition by `Archive.run` (which vacuums the live
 * file).
 *
 * - `storage.mb_per_hour_archived` / `storage.bytes_per_event_archived`: everything on
 *   disk afterwards: the live database and its WAL (truncated) plus every archive file;
 * - `archive.read_events_per_s`: a full `readAll` of the session through the archive
 *   (partition opened and segments decoded on demand, a cold cache), and
 *   `archive.read_vs_sealed` its ratio to the same read from live segments just before
 *   the move, in the same round.
 */
export const archiveCase: BenchCase = {
  name: 'archive',
  description: 'WIRTHFORGE archive: a 60 Hz session moved to a partition, bytes on disk and reads',
  once: true,
  derived: [
    ratioMetric(
      'archive.read_vs_sealed',
      'archive.read_events_per_s',
      'archive.sealed_read_events_per_s',
    ),
  ],
  async run(ctx) {
    const { sizeMinutes, seed, batchSize } = ctx.options;
    const file = ctx.tempPath('archive.sqlite');
    const dir = `${file}.archive`;
    try {
      const session = simulateSession({ seed, durationSeconds: sizeMinutes * 60 });
      const stream = sessionStream(session.sessionId);
      const storage = await openSqliteStorage({ path: file, seal: { maxAgeMs: 1000 } });
      const store = createEventStore({ storage });
      let events = 0;
      let sealedMs: number;
      try {
        for (const batch of chunkEvents(session, batchSize)) {
          await store.appendToStream(stream, batch);
          events += batch.length;
        }
        ctx.log(`archive: ${events} events written, waiting for sealing`);
        await waitAllSealed(storage);
        sealedMs = await timedReadAll(storage, events);
      } finally {
        await store.close();
      }

      const archive = openArchive({ databasePath: file, dir });
      const report = archive.run({ minAgeMs: 0 });
      const moved = report.moved.reduce((sum, m) => sum + m.events, 0);
      if (moved !== events) throw new Error(`the archive moved ${moved} of ${events} events`);
      const live = databaseBytes(file);
      const bytes = live.total + directoryBytes(dir);
      ctx.log(`archive: live ${live.db} + WAL ${live.wal} B, archive ${directoryBytes(dir)} B`);

      const reader = await openSqliteStorage({
        path: file,
        seal: false,
        coldSegments: archive.coldSegments,
      });
      let archivedMs: number;
      try {
        archivedMs = await timedReadAll(reader, events);
      } finally {
        await reader.close();
        archive.close();
      }
      return [
        {
          name: 'storage.bytes_per_event_archived',
          value: bytes / events,
          unit: 'B/event',
          better: 'lower',
          note: `live database + WAL + archive files, ${sizeNote(sizeMinutes, events, bytes, false)}`,
        },
        {
          name: 'storage.mb_per_hour_archived',
          value: (bytes * 60) / sizeMinutes / 1e6,
          unit: 'MB/h',
          better: 'lower',
          note: `live database + WAL + archive files, ${sizeNote(sizeMinutes, events, bytes)}`,
        },
        {
          name: 'archive.read_events_per_s',
          value: perSecond(events, archivedMs),
          unit: 'events/s',
          better: 'higher',
          note: 'full readAll through the archive partition (cold cache)',
        },
        {
          name: 'archive.sealed_read_events_per_s',
          value: perSecond(events, sealedMs),
          unit: 'events/s',
          better: 'higher',
          note: 'the same readAll from live segments, before the move',
        },
      ];
    } finally {
      removeDatabase(file);
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
