import { join } from 'node:path';

import Database from 'better-sqlite3';
import { isStorageError } from '@wirthforge/storage';
import type { StoredEventRecord } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  checkSqliteFileIntegrity,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
} from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let path: string;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('read-checksum'));
  path = join(dir, 'state.db');
  const storage = await openSqliteStorage({ path, seal: false, synchronous: 'normal' });
  try {
    for (let f = 0; f < 5; f++) {
      await storage.appendBatch([
        { stream: 'session-a', expectedVersion: 'any', events: frame(f, 4) },
        { stream: 'session-b', expectedVersion: 'any', events: frame(f, 2) },
      ]);
    }
  } finally {
    await storage.close();
  }
});
afterEach(async () => {
  await remove();
});

/** Changes one row of the file behind the storage's back, as a bad disk or a careless tool would. */
function tamper(sql: string, ...parameters: unknown[]): void {
  const raw = new Database(path);
  try {
    expect(raw.prepare(sql).run(...parameters).changes).toBe(1);
  } finally {
    raw.close();
  }
}

async function drain(read: AsyncIterable<StoredEventRecord>): Promise<StoredEventRecord[]> {
  const out: StoredEventRecord[] = [];
  for await (const record of read) out.push(record);
  return out;
}

async function refusal(read: AsyncIterable<StoredEventRecord>): Promise<unknown> {
  try {
    await drain(read);
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('reads of hot rows check each row checksum', () => {
  it('refuses a row whose payload was changed in place, naming its stream, version and position', async () => {
    // Position 14 is session-a's version 10 (frames of 4 + 2 events, session-a first).
    const raw = new Database(path, { readonly: true });
    const { payload } = raw.prepare('select payload from events where position = 14').get() as {
      payload: Buffer;
    };
    raw.close();
    payload[payload.length >> 1] = payload[payload.length >> 1]! ^ 0x10;
    tamper('update events set payload = ? where position = 14', payload);

    const storage = await openSqliteReadOnlyStorage({ path });
    try {
      for (const read of [storage.readAll(), storage.readStream('session-a')]) {
        const error = await refusal(read);
        expect(isStorageError(error) && error.code).toBe('corrupt');
        expect((error as Error).message).toContain('stream session-a: position 14 (version 10)');
      }
      // The other stream, and the rows before the damaged one, are still served.
      expect(await drain(storage.readStream('session-b'))).toHaveLength(10);
      expect(await drain(storage.readAll({ toPosition: 13n }))).toHaveLength(13);
      expect(await drain(storage.readStream('session-a', { from: 11n }))).toHaveLength(10);
    } finally {
      await storage.close();
    }
  });

  it('refuses a row whose timestamp was changed in place, on the writer storage too', async () => {
    tamper('update events set timestamp_us = timestamp_us - 1 where position = 6');
    const storage = await openSqliteStorage({ path, seal: false });
    try {
      const error = await refusal(storage.readStream('session-b', { direction: 'backwards' }));
      expect(isStorageError(error) && error.code).toBe('corrupt');
      expect((error as Error).message).toContain('stream session-b: position 6 (version 2)');
      expect(await drain(storage.readStream('session-a'))).toHaveLength(20);
    } finally {
      await storage.close();
    }
  });

  it('serves the row as stored to a checker that opts out (checkRowChecksums: false)', async () => {
    tamper("update events set payload = x'00ff00' where position = 6");
    const storage = await openSqliteReadOnlyStorage({ path, checkRowChecksums: false });
    try {
      const all = await drain(storage.readAll());
      expect(all).toHaveLength(30);
      expect([...all[5]!.payload]).toEqual([0x00, 0xff, 0x00]);
      const report = await checkSqliteFileIntegrity(path);
      expect(report.problems).toEqual([
        expect.objectContaining({ kind: 'checksum', position: 6n, stream: 'session-b' }),
      ]);
    } finally {
      await storage.close();
    }
  });
});
