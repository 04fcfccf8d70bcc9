import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { SCHEMA_VERSION } from '@wirthforge/storage';
import type { SqliteStorageOptions } from '../src/index.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openSqliteStorage, readLockFile } from '../src/index.js';
import { frame, rejection, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let path: string;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('storage'));
  path = join(dir, 'state.db');
});
afterEach(() => remove());

describe('openSqliteStorage', () => {
  it.each<[string, Partial<SqliteStorageOptions>, string]>([
    ['an empty path', { path: '' }, 'options.path'],
    ['an in-memory database', { path: ':memory:' }, 'expected a file path'],
    ['an unknown synchronous mode', { synchronous: 'off' as 'full' }, 'options.synchronous'],
    ['a negative busy timeout', { busyTimeoutMs: -1 }, 'options.busyTimeoutMs'],
    ['a zero page size', { readPageSize: 0 }, 'options.readPageSize'],
    [
      'a fractional autocheckpoint',
      { walAutocheckpointPages: 1.5 },
      'options.walAutocheckpointPages',
    ],
  ])('rejects %s with invalid_argument', async (_title, options, where) => {
    const error = await rejection(openSqliteStorage({ path, ...options }));
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toContain(where);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it('holds the lock while open, then releases it and removes the WAL files on close', async () => {
    const storage = await openSqliteStorage({ path });
    expect(readLockFile(`${path}.lock`)?.pid).toBe(process.pid);
    await storage.appendBatch([{ stream: 'session-1', expectedVersion: 'any', events: frame(1) }]);
    expect(existsSync(`${path}-wal`)).toBe(true);
    await storage.close();
    expect(storage.isClosed).toBe(true);
    expect(existsSync(`${path}.lock`)).toBe(false);
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(existsSync(`${path}-shm`)).toBe(false);
  });

  it('acknowledges appends sent before close', async () => {
    const storage = await openSqliteStorage({ path });
    const pending = Array.from({ length: 10 }, (_, i) =>
      storage.appendBatch([{ stream: 'session-1', expectedVersion: 'any', events: frame(i, 6) }]),
    );
    await storage.close();
    const results = await Promise.all(pending);
    expect(results.at(-1)!.lastPosition).toBe(60n);
    const reopened = await openSqliteStorage({ path });
    expect(await reopened.headPosition()).toBe(60n);
    await reopened.close();
  });

  it('commits batches sent together as a group in order, a failing batch rejected alone', async () => {
    const storage = await openSqliteStorage({ path });
    try {
      const sent = Array.from({ length: 30 }, (_, i) =>
        storage.appendBatch([
          // Batch 15 expects a version the stream cannot have at its turn.
          {
            stream: 'session-g',
            expectedVersion: i === 15 ? 0n : BigInt(2 * (i < 15 ? i : i - 1)),
            events: frame(i, 2),
          },
        ]),
      );
      const settled = await Promise.allSettled(sent);
      const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [i] : []));
      expect(failed).toEqual([15]);
      const failure = settled[15] as PromiseRejectedResult;
      expect((failure.reason as { code: string }).code).toBe('concurrency');
      const positions = settled.flatMap((s) =>
        s.status === 'fulfilled' ? s.value.streams[0]!.positions : [],
      );
      expect(positions).toEqual(Array.from({ length: 58 }, (_, i) => BigInt(i + 1)));
      expect(await storage.streamVersion('session-g')).toBe(58n);
    } finally {
      await storage.close();
    }
  });

  it('rejects a group size of 0 with invalid_argument', async () => {
    const error = await rejection(openSqliteStorage({ path, maxGroupEvents: 0 }));
    expect(error.message).toContain('options.maxGroupEvents');
  });

  it('checkpoints on demand and truncates the WAL', async () => {
    const storage = await openSqliteStorage({ path, checkpointIntervalMs: 0 });
    try {
      for (let f = 0; f < 5; f++) {
        await storage.appendBatch([
          { stream: 'session-1', expectedVersion: 'any', events: frame(f) },
        ]);
      }
      const passive = await storage.checkpoint();
      expect(passive.busy).toBe(false);
      expect(passive.checkpointedFrames).toBe(passive.logFrames);
      const truncate = await storage.checkpoint('truncate');
      expect(truncate).toEqual({ busy: false, logFrames: 0, checkpointedFrames: 0 });
    } finally {
      await storage.close();
    }
  });

  it('truncates the WAL by itself once writes stop', async () => {
    const storage = await openSqliteStorage({
      path,
      checkpointIntervalMs: 20,
      idleCheckpointMs: 50,
    });
    try {
      for (let f = 0; f < 5; f++) {
        await storage.appendBatch([
          { stream: 'session-1', expectedVersion: 'any', events: frame(f) },
        ]);
      }
      expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
      // Polls the file's state; the deadline only bounds a failing run.
      const deadline = Date.now() + 20_000;
      while (statSync(`${path}-wal`).size > 0 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(statSync(`${path}-wal`).size).toBe(0);
      expect(await storage.headPosition()).toBe(300n);
    } finally {
      await storage.close();
    }
  }, 30_000);

  it('reports the SQLite version and exposes a Kysely reader that cannot write', async () => {
    const storage = await openSqliteStorage({ path });
    try {
      expect(storage.sqliteVersion).toMatch(/^3\.\d+\.\d+$/);
      const version = await storage.db
        .selectFrom('metadata')
        .select('value')
        .where('key', '=', 'schema_version')
        .executeTakeFirstOrThrow();
      expect(version.value).toBe(String(SCHEMA_VERSION));
      await expect(
        storage.db.insertInto('metadata').values({ key: 'x', value: 'y' }).execute(),
      ).rejects.toThrow(/readonly|read-only/i);
    } finally {
      await storage.close();
    }
  });
});
