import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  checkSqliteIntegrity,
  openConnection,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
} from '../src/index.js';
import type { SqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let storage: SqliteStorage;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('backup'));
  storage = await openSqliteStorage({ path: join(dir, 'state.db'), synchronous: 'normal' });
});
afterEach(async () => {
  await storage.close();
  await remove();
});

describe('online backup', () => {
  it('copies a consistent, verified prefix while a writer appends continuously', async () => {
    let frames = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        await storage.appendBatch([
          { stream: `session-${frames % 3}`, expectedVersion: 'any', events: frame(frames, 30) },
          { stream: 'user-default', expectedVersion: 'any', events: frame(frames, 2) },
        ]);
        frames++;
      }
    })();
    try {
      while (frames < 20) await new Promise((r) => setTimeout(r, 5));
      const before = await storage.headPosition();
      const report = await storage.backup(join(dir, 'backup.db'));
      const after = await storage.headPosition();
      expect(report.integrity.ok).toBe(true);
      expect(report.headPosition).toBeGreaterThanOrEqual(before);
      expect(report.headPosition).toBeLessThanOrEqual(after);
      expect(report.bytes).toBeGreaterThan(0);

      // Read back through the storage's own reads: the writer may have sealed some of
      // the events into segments before the copy was taken.
      const copied = await openSqliteReadOnlyStorage({ path: report.path });
      try {
        const positions: number[] = [];
        for await (const event of copied.readAll()) positions.push(Number(event.position));
        expect(positions).toEqual(
          Array.from({ length: Number(report.headPosition) }, (_, i) => i + 1),
        );
        // Whole batches only: every batch wrote 32 events.
        expect(positions.length % 32).toBe(0);
      } finally {
        await copied.close();
      }
      const copy = openConnection(report.path, { readonly: true });
      try {
        expect(checkSqliteIntegrity(copy).ok).toBe(true);
      } finally {
        copy.close();
      }
    } finally {
      writing = false;
      await writer;
    }
    expect(frames).toBeGreaterThan(20);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  }, 60_000);

  it('refuses to overwrite an existing file unless asked, and leaves nothing behind', async () => {
    await storage.appendBatch([
      { stream: 'session-1', expectedVersion: 'any', events: frame(1, 5) },
    ]);
    const destination = join(dir, 'existing.db');
    writeFileSync(destination, 'keep me');
    let caught: unknown;
    try {
      await storage.backup(destination);
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'invalid_argument')).toBe(true);
    expect((caught as Error).message).toContain('already exists');
    const report = await storage.backup(destination, { overwrite: true });
    expect(report.headPosition).toBe(5n);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('cleans up its temporary file when the copy fails', async () => {
    await storage.appendBatch([
      { stream: 'session-1', expectedVersion: 'any', events: frame(1, 5) },
    ]);
    let caught: unknown;
    try {
      await storage.backup(join(dir, 'missing-directory', 'backup.db'));
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught)).toBe(true);
    expect(existsSync(join(dir, 'missing-directory'))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes('.tmp-'))).toEqual([]);
  });

  it('refuses to back a database up onto itself', async () => {
    let caught: unknown;
    try {
      await storage.backup(storage.path, { overwrite: true });
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'invalid_argument')).toBe(true);
  });
});
