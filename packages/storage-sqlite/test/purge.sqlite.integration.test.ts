import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

import { encodeSegment, segmentRow } from '@wirthforge/segments';
import { isStorageError } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import {
  checkSqliteFileIntegrity,
  mergePositionRanges,
  openConnection,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
  purgeSqliteFile,
  streamMetadataKeySuffix,
  vacuumSqliteFile,
} from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

const MARKER = 'PURGE-MARKER-7f3a9c';

let dir: string;
let remove: () => Promise<void>;
let path: string;

function secret(version: number) {
  return {
    type: 'ai.output',
    schemaVersion: 1,
    timestampUs: 1_755_460_090_000_000 + version,
    eventId: `secret-${version}`,
    payload: new TextEncoder().encode(`${MARKER}-${version}`),
  };
}

function filesContaining(marker: string): string[] {
  const needle = Buffer.from(marker);
  return readdirSync(dir).filter((name) => readFileSync(join(dir, name)).includes(needle));
}

beforeEach(async () => {
  ({ dir, remove } = await tempDir('purge'));
  path = join(dir, 'state.db');
  const storage = await openSqliteStorage({ path, synchronous: 'normal' });
  for (let f = 0; f < 3; f++) {
    await storage.appendBatch([
      { stream: 'session-a', expectedVersion: 'any', events: frame(f, 3) },
      { stream: 'session-b', expectedVersion: 'any', events: [secret(f)] },
    ]);
  }
  await storage.appendBatch([{ stream: 'session-b', expectedVersion: 'any', events: [secret(9)] }]);
  await storage.close();
});
afterEach(async () => {
  await remove();
});

describe('purgeSqliteFile', () => {
  it('removes a stream from every file of the directory, keeps positions gap-free and the head in place', async () => {
    expect(filesContaining(MARKER)).not.toEqual([]);
    const report = purgeSqliteFile(path, { streams: ['session-b'] });
    expect(report.streams).toEqual(['session-b']);
    expect(report.rows.events).toBe(4);
    expect(report.rows.streams).toBe(1);
    expect(report.positions).toEqual([
      [4, 4],
      [8, 8],
      [12, 13],
    ]);
    expect(report.walBytesAfter).toBe(0);
    expect(filesContaining(MARKER)).toEqual([]);

    const integrity = await checkSqliteFileIntegrity(path);
    expect(integrity.problems).toEqual([]);

    const storage = await openSqliteStorage({ path, synchronous: 'normal' });
    try {
      expect(await storage.headPosition()).toBe(13n);
      expect(await storage.streamVersion('session-b')).toBe(0n);
      const { lastPosition } = await storage.appendBatch([
        { stream: 'session-a', expectedVersion: 'any', events: frame(9, 1) },
      ]);
      expect(lastPosition).toBe(14n);
    } finally {
      await storage.close();
    }
  });

  it("removes the purged streams' stream-scoped metadata (projection checkpoints), and only theirs", () => {
    const keys = {
      purged: `projection-checkpoint${streamMetadataKeySuffix('session-b')}`,
      kept: `projection-checkpoint${streamMetadataKeySuffix('session-a')}`,
      // A stream whose name ends like the purged one's is another stream.
      lookalike: 'projection-checkpoint:xsession-b',
      setting: 'segment_max_span',
    };
    const c = openConnection(path);
    try {
      const insert = c.prepare('insert into metadata (key, value) values (?, ?)');
      for (const key of Object.values(keys)) insert.run(key, `c1:${MARKER}`);
    } finally {
      c.close();
    }
    const report = purgeSqliteFile(path, { streams: ['session-b'] });
    expect(report.rows.metadata).toBe(1);
    const left = openConnection(path, { readonly: true });
    try {
      const stored = left.prepare('select key from metadata').pluck().all() as string[];
      expect(stored).not.toContain(keys.purged);
      expect(stored).toEqual(expect.arrayContaining([keys.kept, keys.lookalike, keys.setting]));
    } finally {
      left.close();
    }
  });

  it('purges everything, and refuses while the writer lock is held', async () => {
    const storage = await openSqliteStorage({ path, synchronous: 'normal' });
    expect(() => purgeSqliteFile(path, { all: true })).toThrow(
      expect.objectContaining({ code: 'locked' }) as Error,
    );
    await storage.close();
    const report = purgeSqliteFile(path, { all: true });
    expect(report.rows.events).toBe(13);
    expect(filesContaining(MARKER)).toEqual([]);
    expect((await checkSqliteFileIntegrity(path)).ok).toBe(true);
  });

  it('refuses an unknown stream and changes nothing', () => {
    let error: unknown;
    try {
      purgeSqliteFile(path, { streams: ['session-zzz'] });
    } catch (e) {
      error = e;
    }
    expect(isStorageError(error, 'invalid_argument')).toBe(true);
    expect(filesContaining(MARKER)).not.toEqual([]);
  });
});

describe('openSqliteReadOnlyStorage', () => {
  it('reads while a writer holds the lock, and refuses to write', async () => {
    const writer = await openSqliteStorage({ path, synchronous: 'normal' });
    const reader = await openSqliteReadOnlyStorage({ path });
    try {
      await writer.appendBatch([
        { stream: 'session-a', expectedVersion: 'any', events: frame(7, 2) },
      ]);
      const types: string[] = [];
      for await (const e of reader.readAll()) types.push(e.type);
      expect(types).toHaveLength(15);
      expect(await reader.headPosition()).toBe(15n);
      expect(await reader.streamVersion('session-b')).toBe(4n);
      await expect(reader.appendBatch()).rejects.toMatchObject({ code: 'readonly' });
    } finally {
      await reader.close();
      await writer.close();
    }
  });

  it('refuses a missing file and a file without a schema', async () => {
    await expect(openSqliteReadOnlyStorage({ path: join(dir, 'none.db') })).rejects.toMatchObject({
      code: 'io',
    });
  });
});

describe('vacuumSqliteFile', () => {
  it('gives free pages back and empties the WAL', async () => {
    const storage = await openSqliteStorage({ path, synchronous: 'normal' });
    await storage.close();
    purgeSqliteFile(path, { streams: ['session-a'] });
    const report = vacuumSqliteFile(path);
    expect(report.bytesAfter).toBeLessThanOrEqual(report.bytesBefore);
    expect(readdirSync(dir).filter((f) => f.endsWith('-wal'))).toEqual([]);
    expect((await checkSqliteFileIntegrity(path)).ok).toBe(true);
  });
});

describe('gap checks over several covering ranges', () => {
  it('merges adjacent ranges, and counts a gap covered by consecutive segments as present', async () => {
    expect(
      mergePositionRanges([
        [5, 6],
        [1, 2],
        [3, 4],
        [9, 9],
      ]),
    ).toEqual([
      [1, 6],
      [9, 9],
    ]);
    // Positions 1..6 of session-a sealed as two consecutive segments, their rows gone.
    const c = openConnection(path);
    try {
      c.pragma('foreign_keys = OFF');
      const rows = c
        .prepare(
          "select position, version from events where stream_id = (select id from streams where name = 'session-a') order by position limit 4",
        )
        .all() as { position: number; version: number }[];
      expect(rows.map((r) => r.position)).toEqual([1, 2, 3, 5]);
      // Seal session-a versions 1..3 (positions 1..3) in two segments: 1..2 and 3..3.
      const streamId = c
        .prepare("select id from streams where name = 'session-a'")
        .pluck()
        .get() as number;
      const sealed = (
        c
          .prepare(
            'select e.position, e.version, t.name as type, e.schema_version, e.timestamp_us, e.frame_id, e.event_id, e.payload ' +
              'from events e join event_types t on t.id = e.type_id where e.position in (1, 2, 3) order by e.position',
          )
          .all() as {
          position: number;
          version: number;
          type: string;
          schema_version: number;
          timestamp_us: number;
          frame_id: number | null;
          event_id: string | null;
          payload: Uint8Array;
        }[]
      ).map((r) => ({
        position: BigInt(r.position),
        stream: 'session-a',
        version: BigInt(r.version),
        type: r.type,
        schemaVersion: r.schema_version,
        timestampUs: r.timestamp_us,
        frameId: r.frame_id,
        eventId: r.event_id,
        payload: r.payload,
      }));
      const insert = c.prepare(
        'insert into segments (stream_id, first_position, last_position, first_version, last_version, first_us, last_us, event_count, codec_version, checksum, data) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      );
      for (const part of [sealed.slice(0, 2), sealed.slice(2)]) {
        const row = segmentRow(encodeSegment(part), streamId);
        insert.run(
          row.stream_id,
          row.first_position,
          row.last_position,
          row.first_version,
          row.last_version,
          row.first_us,
          row.last_us,
          row.event_count,
          row.codec_version,
          row.checksum,
          row.data,
        );
      }
      c.prepare('delete from events where position in (1, 2, 3)').run();
    } finally {
      c.close();
    }
    const report = await checkSqliteFileIntegrity(path);
    expect(report.problems).toEqual([]);
  });
});
