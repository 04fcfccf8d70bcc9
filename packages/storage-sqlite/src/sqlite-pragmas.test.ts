import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection } from './sqlite-connection.js';
import { applyReaderPragmas, applyWriterPragmas } from './sqlite-pragmas.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wf-pragmas-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const options = {
  busyTimeoutMs: 2500,
  walAutocheckpointPages: 500,
  journalSizeLimitBytes: 8 * 1024 * 1024,
};

describe('writer pragmas', () => {
  it.each(['full', 'normal'] as const)(
    'sets WAL, then synchronous=%s, and reads every pragma back',
    (synchronous) => {
      const connection = openConnection(join(dir, `${synchronous}.db`));
      const report = applyWriterPragmas(connection, { ...options, synchronous });
      expect(report).toEqual({
        journalMode: 'wal',
        synchronous,
        foreignKeys: true,
        busyTimeoutMs: 2500,
        walAutocheckpointPages: 500,
        journalSizeLimitBytes: 8 * 1024 * 1024,
      });
      expect(connection.pragma('synchronous', { simple: true })).toBe(
        synchronous === 'full' ? 2 : 1,
      );
      connection.close();
    },
  );

  it('refuses a connection that cannot use WAL', () => {
    const connection = openConnection(':memory:');
    let caught: unknown;
    try {
      applyWriterPragmas(connection, { ...options, synchronous: 'full' });
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'io')).toBe(true);
    expect((caught as Error).message).toContain('journal_mode is memory, not wal');
    connection.close();
  });

  it('makes readers query-only', () => {
    const path = join(dir, 'r.db');
    const writer = openConnection(path);
    applyWriterPragmas(writer, { ...options, synchronous: 'full' });
    writer.exec('create table t (x)');
    const reader = openConnection(path);
    applyReaderPragmas(reader, 100);
    expect(() => reader.exec('insert into t values (1)')).toThrow(/readonly|read-only|query_only/i);
    expect(reader.pragma('busy_timeout', { simple: true })).toBe(100);
    reader.close();
    writer.close();
  });
});
