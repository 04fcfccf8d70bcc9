import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { isArchiveError, openArchive } from '../src/index.js';
import { fingerprint, readEverything, tempDir, writeSessions } from './fixtures.js';

const OCT_5 = Date.UTC(2026, 9, 5, 10);
const OCT_20 = Date.UTC(2026, 9, 20, 10);
const NOV_2 = Date.UTC(2026, 10, 2, 10);

let dir: { dir: string; remove: () => void };
let path: string;
let streams: string[];

beforeEach(async () => {
  dir = tempDir();
  path = join(dir.dir, 'state.db');
  streams = await writeSessions(path, [
    { seed: 1, seconds: 12, start: OCT_5 },
    { seed: 2, seconds: 8, start: OCT_20 },
    { seed: 3, seconds: 10, start: NOV_2 },
  ]);
});

afterEach(() => dir.remove());

async function snapshot(coldSegments?: ReturnType<typeof openArchive>['coldSegments']) {
  const storage = await openSqliteStorage({ path, seal: false, coldSegments });
  try {
    const all = fingerprint(await readEverything(storage));
    const perStream: string[][] = [];
    for (const stream of streams) {
      const forwards = [];
      for await (const e of storage.readStream(stream)) forwards.push(e);
      perStream.push(fingerprint(forwards));
    }
    const backwards = [];
    for await (const e of storage.readStream(streams[1]!, {
      direction: 'backwards',
      maxCount: 700,
    })) {
      backwards.push(e);
    }
    const filtered = [];
    for await (const e of storage.readAll({ types: ['user.prompt'], streams: [streams[2]!] })) {
      filtered.push(e);
    }
    const middle = [];
    for await (const e of storage.readAll({ fromPosition: 1000n, toPosition: 2500n }))
      middle.push(e);
    const integrity = await storage.checkIntegrity();
    return {
      all,
      perStream,
      backwards: fingerprint(backwards),
      filtered: fingerprint(filtered),
      middle: fingerprint(middle),
      head: await storage.headPosition(),
      versions: await Promise.all(streams.map((s) => storage.streamVersion(s))),
      integrity,
    };
  } finally {
    await storage.close();
  }
}

describe('archive of ended sessions', () => {
  it('moves sealed sessions into monthly partitions and reads them back unchanged', async () => {
    const before = await snapshot();
    expect(before.all.length).toBeGreaterThan(2000);
    const archive = openArchive({ databasePath: path });
    const report = archive.run({ minAgeMs: 0 });
    expect(report.moved.map((m) => m.partition)).toEqual(['2026-10', '2026-10', '2026-11']);
    expect(report.moved.reduce((n, m) => n + m.events, 0)).toBe(before.all.length);
    expect(archive.list().map((p) => [p.name, p.streams, p.deleted])).toEqual([
      ['2026-10', 2, false],
      ['2026-11', 1, false],
    ]);

    const live = openConnection(path, { readonly: true });
    expect(live.prepare('select count(*) from segments').pluck().get()).toBe(0);
    expect(live.prepare('select count(*) from sealed_event_ids').pluck().get()).toBe(0);
    live.close();

    const after = await snapshot(archive.coldSegments);
    expect(after.all).toEqual(before.all);
    expect(after.perStream).toEqual(before.perStream);
    expect(after.backwards).toEqual(before.backwards);
    expect(after.filtered).toEqual(before.filtered);
    expect(after.filtered.length).toBeGreaterThan(0);
    expect(after.middle).toEqual(before.middle);
    expect(after.head).toBe(before.head);
    expect(after.versions).toEqual(before.versions);
    expect(after.integrity.problems).toEqual([]);
    expect(archive.verify()).toMatchObject({ ok: true, partitions: 2, events: before.all.length });
    archive.close();
  });

  it('refuses to read archived events without the archive, naming the partition', async () => {
    const archive = openArchive({ databasePath: path });
    archive.run({ minAgeMs: 0 });
    const storage = await openSqliteStorage({ path, seal: false });
    try {
      await expect(readEverything(storage)).rejects.toThrow(/archived in partition 2026-10/);
    } finally {
      await storage.close();
    }
  });

  it('keeps sessions that ended too recently', () => {
    const archive = openArchive({ databasePath: path, nowUs: () => (NOV_2 + 60_000) * 1000 });
    const report = archive.run({ minAgeMs: 7 * 86_400_000 });
    expect(report.moved.map((m) => m.partition)).toEqual(['2026-10', '2026-10']);
  });

  it('names a damaged segment and a tampered partition, and never serves them', async () => {
    const archive = openArchive({ databasePath: path });
    archive.run({ minAgeMs: 0 });
    const file = archive.partitionPath('2026-11');
    const p = openConnection(file);
    const row = p
      .prepare(
        'select first_position, last_position, data from segments order by first_position limit 1',
      )
      .get() as { first_position: number; last_position: number; data: Buffer };
    const data = Buffer.from(row.data);
    data.writeUInt8(data.readUInt8(data.length - 10) ^ 0xff, data.length - 10);
    p.prepare('update segments set data = ? where first_position = ?').run(
      data,
      row.first_position,
    );
    p.close();

    const report = archive.verify();
    expect(report.ok).toBe(false);
    const damaged = report.problems.find((x) => x.kind === 'segment');
    expect(damaged).toMatchObject({
      partition: '2026-11',
      stream: streams[2],
      fromPosition: row.first_position,
      toPosition: row.last_position,
    });
    const storage = await openSqliteStorage({
      path,
      seal: false,
      coldSegments: archive.coldSegments,
    });
    try {
      const err = await readEverything(storage).catch((e: unknown) => e);
      expect(String(err)).toMatch(
        new RegExp(
          `partition 2026-11 segment at positions ${row.first_position}\\.\\.${row.last_position}`,
        ),
      );
    } finally {
      await storage.close();
    }

    // A segment deleted behind the archive's back: the checksum and the catalog say so.
    const q = openConnection(archive.partitionPath('2026-10'));
    q.prepare(
      'delete from segments where first_position = (select max(first_position) from segments)',
    ).run();
    q.close();
    const kinds = archive.verify({ partitions: ['2026-10'] }).problems.map((x) => x.kind);
    expect(kinds).toContain('digest');
    expect(kinds).toContain('missing_segment');
    archive.close();
  });

  it('detects a partition file that is not a partition', () => {
    const archive = openArchive({ databasePath: path });
    archive.run({ minAgeMs: 0 });
    writeFileSync(archive.partitionPath('2026-10'), Buffer.alloc(8192, 7));
    const report = archive.verify();
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'unreadable', partition: '2026-10' }),
    ]);
  });

  it('restores a partition and a single session into the live database', async () => {
    const before = await snapshot();
    const sealedIds = (): unknown => {
      const live = openConnection(path, { readonly: true });
      try {
        return live.prepare('select count(*) from sealed_event_ids').pluck().get();
      } finally {
        live.close();
      }
    };
    const idsBefore = sealedIds();
    expect(idsBefore).toBeGreaterThan(0);
    const archive = openArchive({ databasePath: path });
    archive.run({ minAgeMs: 0 });
    expect(sealedIds()).toBe(0);
    const restored = archive.restore({ partition: '2026-10' });
    expect(restored).toMatchObject({ streams: 2, removedPartitions: ['2026-10'] });
    expect(existsSync(archive.partitionPath('2026-10'))).toBe(false);
    const one = archive.restore({ stream: streams[2]! });
    expect(one.streams).toBe(1);
    expect(archive.list()).toEqual([]);
    const after = await snapshot(archive.coldSegments);
    expect(after.all).toEqual(before.all);
    expect(after.integrity.problems).toEqual([]);
    // Idempotent ids point at the restored segments again.
    expect(sealedIds()).toBe(idsBefore);
    expect(() => archive.restore({ partition: '2026-10' })).toThrow(/holds no archived segments/);
    try {
      archive.restore({ partition: 'october' });
    } catch (error) {
      expect(isArchiveError(error, 'invalid_argument')).toBe(true);
    }
  });

  it('applies retention to whole partitions, lists them in a dry run, and shrinks the live file', async () => {
    const before = await snapshot();
    const archive = openArchive({ databasePath: path, nowUs: () => Date.UTC(2027, 0, 15) * 1000 });
    const liveBytes = statSync(path).size;
    archive.run({ minAgeMs: 0 });
    expect(statSync(path).size).toBeLessThan(liveBytes / 2);

    const dry = archive.applyRetention({ maxAgeDays: 60 }, { dryRun: true });
    expect(dry.deleted.map((d) => [d.partition, d.reasons])).toEqual([['2026-10', ['age']]]);
    expect(existsSync(archive.partitionPath('2026-10'))).toBe(true);
    expect(
      archive
        .applyRetention({ maxPartitions: 1 }, { dryRun: true })
        .deleted.map((d) => d.partition),
    ).toEqual(['2026-10']);
    const bytes10 = statSync(archive.partitionPath('2026-10')).size;
    expect(
      archive
        .applyRetention({ maxTotalBytes: archive.totalBytes() - bytes10 }, { dryRun: true })
        .deleted.map((d) => d.partition),
    ).toEqual(['2026-10']);

    const applied = archive.applyRetention({ maxAgeDays: 60 });
    expect(applied.deleted.map((d) => d.partition)).toEqual(['2026-10']);
    expect(existsSync(archive.partitionPath('2026-10'))).toBe(false);
    expect(archive.list().find((p) => p.name === '2026-10')?.deleted).toBe(true);

    const after = await snapshot(archive.coldSegments);
    const kept = before.all.filter((line) => line.split('|')[1] === streams[2]);
    expect(after.all).toEqual(kept);
    expect(after.head).toBe(before.head);
    expect(after.integrity.problems).toEqual([]);
    expect(archive.verify().ok).toBe(true);
    // Session summaries outlive their events.
    const live = openConnection(path, { readonly: true });
    expect(live.prepare('select count(*) from sessions').pluck().get()).toBe(3);
    live.close();
    expect(readFileSync(path).length).toBeGreaterThan(0);
  });
});
