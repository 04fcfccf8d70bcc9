/**
 * Reads that cross every kind of source at once: sealed segments of several streams,
 * hot rows whose positions fall between them, and segments moved to an archive partition
 * (served as columns by a stand-in cold source), in pages smaller than a segment. Every
 * read must give exactly the events appended, field for field, and a damaged hot row or
 * segment must still be refused.
 */
import { join } from 'node:path';

import Database from 'better-sqlite3';
import { decodeSegmentColumns } from '@wirthforge/segments';
import { isStorageError } from '@wirthforge/storage';
import type {
  ColdSegmentSource,
  EventStorage,
  NewEventRecord,
  StoredEventRecord,
} from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection, openSqliteReadOnlyStorage, openSqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let remove: () => Promise<void>;
let path: string;

beforeEach(async () => {
  let dir: string;
  ({ dir, remove } = await tempDir('read-merge'));
  path = join(dir, 'state.db');
});
afterEach(() => remove());

/** Bytes of archived segments by first position. */
const partition = new Map<number, Uint8Array>();
const columnsSource: ColdSegmentSource = {
  segmentEvents(ref) {
    const data = partition.get(ref.firstPosition);
    if (data === undefined) throw new Error(`no segment at ${ref.firstPosition}`);
    return decodeSegmentColumns(data, { expect: { stream: ref.stream, checksum: ref.checksum } });
  },
};

/** A comparable line per record: every field, the payload as hex. */
function line(e: StoredEventRecord): string {
  return [
    e.position,
    e.stream,
    e.version,
    e.type,
    e.schemaVersion,
    e.timestampUs,
    e.frameId,
    e.eventId,
    Buffer.from(e.payload).toString('hex'),
  ].join('|');
}

async function drain(read: AsyncIterable<StoredEventRecord>): Promise<string[]> {
  const out: string[] = [];
  for await (const record of read) out.push(line(record));
  return out;
}

/** What was appended, with the positions and versions the store gives. */
const expected: StoredEventRecord[] = [];
const versions = new Map<string, bigint>();

function withIds(stream: string, events: NewEventRecord[], at: number): NewEventRecord[] {
  // Every third event carries an id, so segments hold id columns with gaps.
  return events.map((event, i) =>
    i % 3 === 0 ? { ...event, eventId: `${stream}-${at}-${i}` } : event,
  );
}

async function append(
  storage: EventStorage,
  appends: { stream: string; events: NewEventRecord[] }[],
): Promise<void> {
  await storage.appendBatch(appends.map((a) => ({ ...a, expectedVersion: 'any' as const })));
  for (const { stream, events } of appends) {
    for (const event of events) {
      const version = (versions.get(stream) ?? 0n) + 1n;
      versions.set(stream, version);
      expected.push({
        position: BigInt(expected.length + 1),
        stream,
        version,
        type: event.type,
        schemaVersion: event.schemaVersion,
        timestampUs: event.timestampUs,
        frameId: event.frameId ?? null,
        eventId: event.eventId ?? null,
        payload: event.payload,
      });
    }
  }
}

/** Moves every other segment of session-a to the "partition", as an archive does. */
function archiveHalfOfSessionA(): number {
  const c = openConnection(path);
  try {
    c.exec(`create table if not exists archived_segments (
      first_position integer primary key, last_position integer not null, stream_id integer not null,
      first_version integer not null, last_version integer not null, first_us integer not null,
      last_us integer not null, event_count integer not null, codec_version integer not null,
      checksum integer not null, partition text not null, archived_us integer not null, deleted_us integer)`);
    const rows = c
      .prepare(
        "select g.* from segments g join streams s on s.id = g.stream_id where s.name = 'session-a' order by g.first_position",
      )
      .all() as (Record<string, number> & { data: Uint8Array })[];
    let moved = 0;
    c.exec('begin');
    for (const [i, row] of rows.entries()) {
      if (i % 2 === 1) continue;
      partition.set(row['first_position']!, row.data);
      c.prepare(
        'insert into archived_segments values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, null)',
      ).run(
        row['first_position'],
        row['last_position'],
        row['stream_id'],
        row['first_version'],
        row['last_version'],
        row['first_us'],
        row['last_us'],
        row['event_count'],
        row['codec_version'],
        row['checksum'],
        '2025-08',
        1,
      );
      c.prepare('delete from sealed_event_ids where segment_id = ?').run(row['id']);
      c.prepare('delete from segments where id = ?').run(row['id']);
      moved++;
    }
    c.exec('commit');
    return moved;
  } finally {
    c.close();
  }
}

function count(sql: string): number {
  const c = openConnection(path, { readonly: true });
  try {
    return c.prepare(sql).pluck().get() as number;
  } finally {
    c.close();
  }
}

describe('reads across segments, hot rows and archived segments', () => {
  it('give exactly what was appended, in pages, filtered or not, and refuse damage', async () => {
    expected.length = 0;
    versions.clear();
    partition.clear();
    // session-a and session-c reach the seal threshold; session-b stays hot between them.
    let storage = await openSqliteStorage({ path, seal: { minEvents: 20, maxAgeMs: 600_000 } });
    for (let f = 0; f < 12; f++) {
      await append(storage, [
        { stream: 'session-a', events: withIds('a', frame(f, 10), f) },
        { stream: 'session-b', events: withIds('b', frame(f, 1), f) },
        { stream: 'session-c', events: withIds('c', frame(f, 3), f) },
      ]);
    }
    for (let i = 0; i < 500; i++) {
      const sealedA = count(
        "select coalesce(sum(event_count), 0) from segments g join streams s on s.id = g.stream_id where s.name = 'session-a'",
      );
      const sealedC = count(
        "select coalesce(sum(event_count), 0) from segments g join streams s on s.id = g.stream_id where s.name = 'session-c'",
      );
      if (sealedA >= 100 && sealedC >= 20) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await storage.close();
    expect(archiveHalfOfSessionA()).toBeGreaterThan(0);

    // More hot rows after the segments, through a storage that does not seal.
    storage = await openSqliteStorage({
      path,
      seal: false,
      readPageSize: 7,
      coldSegments: columnsSource,
    });
    try {
      for (let f = 12; f < 14; f++) {
        await append(storage, [
          { stream: 'session-b', events: withIds('b', frame(f, 2), f) },
          { stream: 'session-a', events: withIds('a', frame(f, 4), f) },
        ]);
      }
      expect(count('select count(*) from segments')).toBeGreaterThan(0);
      expect(count('select count(*) from archived_segments')).toBeGreaterThan(0);
      expect(count('select count(*) from events')).toBeGreaterThan(0);

      const all = expected.map(line);
      const of = (keep: (e: StoredEventRecord) => boolean): string[] =>
        expected.filter(keep).map(line);
      expect(await drain(storage.readAll())).toEqual(all);
      expect(await drain(storage.readAll({ fromPosition: 50n, toPosition: 170n }))).toEqual(
        of((e) => e.position >= 50n && e.position <= 170n),
      );
      expect(await drain(storage.readAll({ types: ['model.output'] }))).toEqual(
        of((e) => e.type === 'model.output'),
      );
      expect(
        await drain(storage.readAll({ streams: ['session-b', 'session-c'], fromPosition: 9n })),
      ).toEqual(of((e) => e.stream !== 'session-a' && e.position >= 9n));
      expect(
        await drain(
          storage.readAll({ streams: ['session-a'], types: ['energy.update'], maxCount: 61 }),
        ),
      ).toEqual(of((e) => e.stream === 'session-a' && e.type === 'energy.update').slice(0, 61));
      const a = of((e) => e.stream === 'session-a');
      expect(await drain(storage.readStream('session-a'))).toEqual(a);
      expect(
        await drain(storage.readStream('session-a', { direction: 'backwards', maxCount: 45 })),
      ).toEqual(a.slice().reverse().slice(0, 45));
      expect(await drain(storage.readStream('session-a', { from: 15n, to: 98n }))).toEqual(
        a.slice(14, 98),
      );

      // The read-only handle reads the same, a page at a time.
      const readOnly = await openSqliteReadOnlyStorage({
        path,
        readPageSize: 9,
        coldSegments: columnsSource,
      });
      try {
        const pages: string[][] = [];
        for await (const page of readOnly.readAllPages()) pages.push(page.map(line));
        expect(pages.every((page) => page.length > 0 && page.length <= 9)).toBe(true);
        expect(pages.flat()).toEqual(all);
        const streamPages: string[] = [];
        for await (const page of readOnly.readStreamPages('session-a')) {
          streamPages.push(...page.map(line));
        }
        expect(streamPages).toEqual(a);
      } finally {
        await readOnly.close();
      }
    } finally {
      await storage.close();
    }

    // A hot row changed in place between segments: refused, not served.
    const hotB = count(
      "select min(e.position) from events e join streams s on s.id = e.stream_id where s.name = 'session-b'",
    );
    const raw = new Database(path);
    raw.prepare("update events set payload = x'82a16500a16601' where position = ?").run(hotB);
    raw.close();
    storage = await openSqliteStorage({ path, seal: false, coldSegments: columnsSource });
    try {
      const error = await drain(storage.readAll()).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isStorageError(error, 'corrupt')).toBe(true);
      expect((error as Error).message).toContain(`position ${hotB}`);
    } finally {
      await storage.close();
    }

    // An archived segment whose bytes are damaged: refused, naming the checksum.
    const [first, data] = [...partition.entries()][0]!;
    const damaged = data.slice();
    damaged[damaged.length - 1]! ^= 0xff;
    partition.set(first, damaged);
    storage = await openSqliteStorage({ path, seal: false, coldSegments: columnsSource });
    try {
      await expect(drain(storage.readStream('session-a'))).rejects.toThrow(/checksum/i);
    } finally {
      await storage.close();
    }
  }, 120_000);
});
