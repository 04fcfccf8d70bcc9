/**
 * `purgeArchived`: an archived session leaves every partition file for good (not one
 * byte of its compressed segments stays on disk), the other sessions stay readable and
 * verified, a partition left empty goes, and a purge interrupted after its tombstones is
 * finished by the next one.
 */
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';

import { openConnection, openSqliteStorage, purgeSqliteFile } from '@wirthforge/storage-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openArchive, purgeArchived } from '../src/index.js';
import { fingerprint, readEverything, tempDir, writeSessions } from './fixtures.js';

const JAN_10 = Date.UTC(2026, 0, 10, 10);
const JAN_20 = Date.UTC(2026, 0, 20, 10);
const FEB_2 = Date.UTC(2026, 1, 2, 10);

let dir: { dir: string; remove: () => void };
let path: string;
let streams: string[];
let expected: string[];

beforeAll(async () => {
  dir = tempDir();
  path = join(dir.dir, 'state.db');
  streams = await writeSessions(path, [
    { seed: 41, seconds: 6, start: JAN_10 },
    { seed: 42, seconds: 5, start: JAN_20 },
    { seed: 43, seconds: 4, start: FEB_2 },
  ]);
  const storage = await openSqliteStorage({ path, seal: false });
  expected = fingerprint(await readEverything(storage));
  await storage.close();
  const archive = openArchive({ databasePath: path });
  try {
    expect(archive.run({ minAgeMs: 0 }).moved).toHaveLength(3);
  } finally {
    archive.close();
  }
}, 120_000);
afterAll(() => dir.remove());

/** Every file under the data directory whose bytes contain `needle`. */
function filesContaining(root: string, needle: Buffer): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    const file = join(entry.parentPath, entry.name);
    if (entry.isFile() && readFileSync(file).includes(needle)) found.push(file);
  }
  return found;
}

/** 48 bytes from the middle of each archived segment of `stream` (compressed, unique). */
function segmentSlices(partition: string, stream: string): Buffer[] {
  const p = openConnection(join(dir.dir, 'archive', `${partition}.db`), { readonly: true });
  try {
    return (
      p.prepare('select data from segments where stream = ?').pluck().all(stream) as Buffer[]
    ).map((data) => {
      const middle = Math.floor(data.length / 2);
      return Buffer.from(data.subarray(middle - 24, middle + 24));
    });
  } finally {
    p.close();
  }
}

async function readAndCheck(): Promise<{ events: string[]; ok: boolean }> {
  const archive = openArchive({ databasePath: path });
  const storage = await openSqliteStorage({
    path,
    seal: false,
    coldSegments: archive.coldSegments,
  });
  try {
    const events = fingerprint(await readEverything(storage));
    const integrity = await storage.checkIntegrity();
    return { events, ok: integrity.ok && archive.verify().ok };
  } finally {
    await storage.close();
    archive.close();
  }
}

describe('purgeArchived', () => {
  it('removes a session from its partition for good and leaves the others readable', async () => {
    const slices = segmentSlices('2026-01', streams[0]!);
    expect(slices.length).toBeGreaterThan(0);
    for (const slice of slices) expect(filesContaining(dir.dir, slice)).not.toEqual([]);

    const report = purgeArchived({ databasePath: path }, { streams: [streams[0]!] });
    expect(report.streams).toEqual([streams[0]]);
    expect(report.segments).toBe(slices.length);
    expect(report.partitions).toMatchObject([{ partition: '2026-01', removed: false }]);
    expect(report.positions.length).toBeGreaterThan(0);
    // The live rows go with the storage's purge; then the store checks out.
    purgeSqliteFile(path, { streams: [streams[0]!] });

    for (const slice of slices) expect(filesContaining(dir.dir, slice)).toEqual([]);
    const after = await readAndCheck();
    expect(after.ok).toBe(true);
    expect(after.events).toEqual(expected.filter((e) => !e.includes(`|${streams[0]}|`)));
    expect(after.events.length).toBeGreaterThan(0);

    // Nothing archived of it any more: a second purge changes nothing.
    expect(purgeArchived({ databasePath: path }, { streams: [streams[0]!] })).toMatchObject({
      segments: 0,
      catalogRows: 0,
    });
  }, 120_000);

  it('finishes a purge interrupted after its tombstones, and removes a partition left empty', async () => {
    // The first step of a purge, as a kill right after it would leave it.
    const live = openConnection(path);
    try {
      live
        .prepare(
          'update archived_segments set deleted_us = 1 where stream_id = (select id from streams where name = ?)',
        )
        .run(streams[2]!);
    } finally {
      live.close();
    }
    const between = await readAndCheck();
    expect(between.ok).toBe(true);
    expect(between.events.some((e) => e.includes(`|${streams[2]}|`))).toBe(false);

    const report = purgeArchived({ databasePath: path }, { streams: [streams[2]!] });
    expect(report.partitions).toMatchObject([{ partition: '2026-02', removed: true }]);
    expect(existsSync(join(dir.dir, 'archive', '2026-02.db'))).toBe(false);
    purgeSqliteFile(path, { streams: [streams[2]!] });
    const after = await readAndCheck();
    expect(after.ok).toBe(true);
    expect(after.events).toEqual(
      expected.filter((e) => e.includes(`|${streams[1]}|`) || !e.includes('|session-')),
    );
  }, 120_000);

  it('purges everything: no partition file is left', async () => {
    const report = purgeArchived({ databasePath: path }, { all: true });
    expect(report.streams).toEqual([streams[1]]);
    expect(readdirSync(join(dir.dir, 'archive')).filter((f) => f.endsWith('.db'))).toEqual([]);
    purgeSqliteFile(path, { all: true });
    const after = await readAndCheck();
    expect(after).toEqual({ events: [], ok: true });
  }, 120_000);
});
