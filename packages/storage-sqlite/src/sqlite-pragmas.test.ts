import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection } from './sqlite-connection.js';
import {
  WRITER_CACHE_KIB,
  applyReaderPragmas,
  applyWriterPragmas,
  setCacheSize,
} from './sqlite-pragmas.js';

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
        cacheSizeKiB: WRITER_CACHE_KIB,
      });
      expect(connection.pragma('cache_size', { simple: true })).toBe(-WRITER_CACHE_KIB);
      expect(connection.pragma('synchronous', { simple: true })).toBe(
        synchronous === 'full' ? 2 : 1,
      );
      connection.close();
    },
  );

  it("caps the page cache below better-sqlite3's 16 000 KiB, or at the size given", () => {
    expect(WRITER_CACHE_KIB).toBeLessThan(16_000);
    const connection = openConnection(join(dir, 'cache.db'));
    const report = applyWriterPragmas(connection, {
      ...options,
      synchronous: 'full',
      cacheSizeKiB: 512,
    });
    expect(report.cacheSizeKiB).toBe(512);
    expect(connection.pragma('cache_size', { simple: true })).toBe(-512);
    connection.close();
  });

  it.each([0, -5, 1.5, Number.NaN])('refuses a cache size of %s KiB, naming it', (kib) => {
    const connection = openConnection(join(dir, 'bad-cache.db'));
    let caught: unknown;
    try {
      applyWriterPragmas(connection, { ...options, synchronous: 'full', cacheSizeKiB: kib });
    } catch (error) {
      caught = error;
    }
    expect(isStorageError(caught, 'invalid_argument')).toBe(true);
    expect((caught as Error).message).toContain(
      `cache size must be a positive whole number of KiB, got ${kib}`,
    );
    connection.close();
  });

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
    // Without a cache size, SQLite's default stays; with one, it is set.
    expect(reader.pragma('cache_size', { simple: true })).toBe(-16_000);
    const small = openConnection(path);
    applyReaderPragmas(small, 100, 256);
    expect(small.pragma('cache_size', { simple: true })).toBe(-256);
    setCacheSize(small, 128);
    expect(small.pragma('cache_size', { simple: true })).toBe(-128);
    small.close();
    reader.close();
    writer.close();
  });
});
