/**
 * Live databases with ended, sealed sessions (and their archive) for the archive rows:
 * written through the event store, so session rows exist and end, then every event
 * sealed, then (optionally) moved into monthly partitions.
 */
import { cpSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { openArchive } from '@wirthforge/archive';
import { sessionStream } from '@wirthforge/events';
import {
  createEventStore,
  energyProjection,
  foldEvents,
  sessionSummaryProjection,
  stateHash,
} from '@wirthforge/eventstore';
import { collectEvents } from '@wirthforge/simulator';
import { openSqliteReadOnlyStorage, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { sleep } from './fault-harness.js';

const require = createRequire(import.meta.url);

/** The built archive package, for child processes. */
export const ARCHIVE_MODULE = require.resolve('@wirthforge/archive');

/** Sessions over three months (partitions 2026-08, 2026-09, 2026-10). */
export const ARCHIVE_SESSIONS: readonly { seed: number; seconds: number; start: number }[] = [
  { seed: 11, seconds: 5, start: Date.UTC(2026, 7, 3) },
  { seed: 12, seconds: 4, start: Date.UTC(2026, 7, 30) },
  { seed: 13, seconds: 5, start: Date.UTC(2026, 8, 14) },
  { seed: 14, seconds: 4, start: Date.UTC(2026, 9, 1) },
  { seed: 15, seconds: 4, start: Date.UTC(2026, 9, 2) },
];

/** Writes the sessions into `dir/state.db` and waits until every event is sealed. */
export async function writeSealedSessions(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const storage = await openSqliteStorage({
    path: join(dir, 'state.db'),
    seal: { minEvents: 500, maxAgeMs: 1 },
  });
  const store = createEventStore({ storage });
  try {
    for (const spec of ARCHIVE_SESSIONS) {
      const events = collectEvents({
        seed: spec.seed,
        durationSeconds: spec.seconds,
        startTime: spec.start,
      });
      const stream = sessionStream(events[0]!.session_id);
      for (let i = 0; i < events.length; i += 600) {
        await store.appendToStream(stream, events.slice(i, i + 600));
      }
    }
    for (let i = 0; ; i++) {
      const hot = await storage.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(hot.n) === 0) break;
      if (i > 2400) throw new Error('the writer did not seal every event in 60 s');
      await sleep(25);
    }
  } finally {
    await store.close();
  }
}

/** Moves every ended session of `dir/state.db` into its partition. */
export function archiveAll(dir: string): void {
  const archive = openArchive({ databasePath: join(dir, 'state.db') });
  try {
    archive.run({ minAgeMs: 0 });
  } finally {
    archive.close();
  }
}

/** Copies a data directory (live database and archive; the files are closed). */
export function copyDataDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

/** What a full read of a data directory gives. */
export interface StoreContents {
  /** `position|stream|version|event id|payload` per event, in position order. */
  readonly lines: string[];
  /** The state hash of each stream's replay (energy state and session summary). */
  readonly hashes: Map<string, string>;
}

/**
 * Reads every event of `dir/state.db` (archived ones through the partitions) and replays
 * each stream through the event store.
 */
export async function readContents(dir: string): Promise<StoreContents> {
  const databasePath = join(dir, 'state.db');
  const archive = openArchive({ databasePath });
  const storage = await openSqliteReadOnlyStorage({
    path: databasePath,
    coldSegments: archive.coldSegments,
  });
  const store = createEventStore({ storage, cache: false });
  const lines: string[] = [];
  const streams = new Set<string>();
  const hashes = new Map<string, string>();
  try {
    for await (const r of storage.readAll()) {
      lines.push(
        `${r.position}|${r.stream}|${r.version}|${r.eventId ?? ''}|${Buffer.from(r.payload).toString('base64')}`,
      );
      streams.add(r.stream);
    }
    for (const stream of streams) {
      const records = await store.readStream(stream).toArray();
      hashes.set(
        stream,
        stateHash({
          [energyProjection.name]: foldEvents(energyProjection, records),
          [sessionSummaryProjection.name]: foldEvents(sessionSummaryProjection, records),
        }),
      );
    }
  } finally {
    await store.close();
    archive.close();
  }
  return { lines, hashes };
}
