/** Test fixtures: live databases holding simulated, ended sessions. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { sessionStream } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { collectEvents } from '@wirthforge/simulator';
import type { StoredEventRecord } from '@wirthforge/storage';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import type { SqliteStorage, SqliteStorageOptions } from '@wirthforge/storage-sqlite';

/** A fresh temporary directory, removed by the returned function. */
export function tempDir(): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wf-archive-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** One simulated session to write. */
export interface SessionSpec {
  readonly seed: number;
  readonly seconds: number;
  /** Start, epoch milliseconds. */
  readonly start: number;
}

/**
 * Writes each session through the event store (so the session rows exist and end) with
 * small seal thresholds, and waits until every event is sealed. Returns the streams.
 */
export async function writeSessions(
  path: string,
  sessions: readonly SessionSpec[],
  options: Partial<SqliteStorageOptions> = {},
): Promise<string[]> {
  const storage = await openSqliteStorage({
    path,
    seal: { minEvents: 500, maxAgeMs: 1 },
    ...options,
  });
  const store = createEventStore({ storage });
  const streams: string[] = [];
  try {
    for (const spec of sessions) {
      const events = collectEvents({
        seed: spec.seed,
        durationSeconds: spec.seconds,
        startTime: spec.start,
      });
      const stream = sessionStream(events[0]!.session_id);
      for (let i = 0; i < events.length; i += 600) {
        await store.appendToStream(stream, events.slice(i, i + 600));
      }
      streams.push(stream);
    }
    await waitSealed(storage);
  } finally {
    await store.close();
  }
  return streams;
}

/** Waits until the writer has sealed every hot row. */
export async function waitSealed(storage: SqliteStorage): Promise<void> {
  // Up to 25 s: the sealing thread runs at a lower priority, and a busy machine starves it.
  for (let i = 0; i < 1000; i++) {
    const hot = await storage.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    if (Number(hot.n) === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('the writer did not seal every event');
}

/** Every event of a store, through `readAll`. */
export async function readEverything(storage: {
  readAll(): AsyncIterable<StoredEventRecord>;
}): Promise<StoredEventRecord[]> {
  const out: StoredEventRecord[] = [];
  for await (const event of storage.readAll()) out.push(event);
  return out;
}

/** A compact, comparable form of events (position, stream, version, payload bytes). */
export function fingerprint(events: readonly StoredEventRecord[]): string[] {
  return events.map(
    (e) =>
      `${e.position}|${e.stream}|${e.version}|${e.type}|${e.timestampUs}|${e.frameId}|${e.eventId}|${Buffer.from(e.payload).toString('base64')}`,
  );
}
