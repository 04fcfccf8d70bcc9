/**
 * The deletion of streams and the `VACUUM` beside a writer that holds the lock, each on a
 * maintenance thread: the calling thread stays free while SQLite makes them wait.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  checkSqliteFileIntegrity,
  deleteSqliteStreams,
  openConnection,
  openSqliteStorage,
  vacuumSqliteFileBesideWriter,
} from '../src/index.js';
import type { SqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

const MARKER = 'THREAD-PURGE-MARKER-41c9';

let dir: string;
let remove: () => Promise<void>;
let path: string;
let storage: SqliteStorage;

function secret(version: number) {
  return {
    type: 'ai.output',
    schemaVersion: 1,
    timestampUs: 1_755_460_090_000_000 + version,
    eventId: `thread-secret-${version}`,
    payload: new TextEncoder().encode(`${MARKER}-${version}-${'x'.repeat(2000)}`),
  };
}

function filesContaining(marker: string): string[] {
  const needle = Buffer.from(marker);
  return readdirSync(dir).filter((name) => readFileSync(join(dir, name)).includes(needle));
}

/**
 * Runs `work` while another connection holds the write lock, and counts the turns of this
 * thread's event loop until the lock is released (after `turns` of them): a job that
 * blocked this thread would let none run.
 */
async function whileLocked<T>(
  work: () => Promise<T>,
  turns = 5,
): Promise<{ result: T; turnsWhileWaiting: number }> {
  const holder = openConnection(path);
  holder.exec('BEGIN IMMEDIATE');
  let settled = false;
  const pending = work().finally(() => (settled = true));
  let turnsWhileWaiting = 0;
  try {
    while (turnsWhileWaiting < turns && !settled) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      turnsWhileWaiting++;
    }
  } finally {
    holder.exec('ROLLBACK');
    holder.close();
  }
  return { result: await pending, turnsWhileWaiting };
}

beforeEach(async () => {
  ({ dir, remove } = await tempDir('maintenance-thread'));
  path = join(dir, 'state.db');
  storage = await openSqliteStorage({ path, synchronous: 'normal' });
  for (let f = 0; f < 40; f++) {
    await storage.appendBatch([
      { stream: 'session-a', expectedVersion: 'any', events: frame(f, 3) },
      { stream: 'session-b', expectedVersion: 'any', events: [secret(f)] },
    ]);
  }
});
afterEach(async () => {
  await storage.close();
  await remove();
});

describe('deleteSqliteStreams', () => {
  it('deletes streams beside the open writer, off this thread, while the lock makes it wait', async () => {
    const { result, turnsWhileWaiting } = await whileLocked(() =>
      deleteSqliteStreams(path, { streams: ['session-b'] }, { actor: 'test' }),
    );
    // The deletion waited for the lock all along, and this thread kept running.
    expect(turnsWhileWaiting).toBe(5);
    expect(result.streams).toEqual(['session-b']);
    expect(result.rows.events).toBe(40);
    // The writer goes on with the other stream.
    const { lastPosition } = await storage.appendBatch([
      { stream: 'session-a', expectedVersion: 'any', events: frame(99, 1) },
    ]);
    expect(lastPosition).toBe(161n);
    expect(await storage.streamVersion('session-b')).toBe(0n);
  });

  it('refuses an unknown stream with invalid_argument, and deletes nothing', async () => {
    await expect(deleteSqliteStreams(path, { streams: ['session-none'] })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    expect(await storage.streamVersion('session-b')).toBe(40n);
  });

  it('gives up with busy after its busy timeout while the lock stays held', async () => {
    const holder = openConnection(path);
    holder.exec('BEGIN IMMEDIATE');
    try {
      await expect(
        deleteSqliteStreams(path, { streams: ['session-b'] }, { busyTimeoutMs: 50 }),
      ).rejects.toMatchObject({ code: 'busy' });
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    expect(await storage.streamVersion('session-b')).toBe(40n);
  });
});

describe('vacuumSqliteFileBesideWriter', () => {
  it('rebuilds the file without free pages beside the open writer, off this thread', async () => {
    await deleteSqliteStreams(path, { streams: ['session-b'] });
    await storage.checkpoint('truncate');
    const before = statSync(path).size;
    const { result, turnsWhileWaiting } = await whileLocked(() =>
      vacuumSqliteFileBesideWriter(path),
    );
    expect(turnsWhileWaiting).toBe(5);
    expect(result.freePagesBefore).toBeGreaterThan(0);
    await storage.checkpoint('truncate');
    expect(statSync(path).size).toBeLessThan(before);
    expect(filesContaining(MARKER)).toEqual([]);
    expect((await checkSqliteFileIntegrity(path)).problems).toEqual([]);
    // The writer commits after it.
    const { lastPosition } = await storage.appendBatch([
      { stream: 'session-a', expectedVersion: 'any', events: frame(98, 1) },
    ]);
    expect(lastPosition).toBe(161n);
  });
});
