/**
 * Reads of ranges an archive moved out of the database (`archived_segments` rows whose
 * bytes a `ColdSegmentSource` serves), with a stand-in source over a map.
 */
import { join } from 'node:path';

import { decodeSegment } from '@wirthforge/segments';
import type { ColdSegmentRef, ColdSegmentSource, StoredEventRecord } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection, openSqliteStorage } from '../src/index.js';
import { frame, rejection, tempDir } from './fixtures.js';

let remove: () => Promise<void>;
let path: string;

beforeEach(async () => {
  let dir: string;
  ({ dir, remove } = await tempDir('archived'));
  path = join(dir, 'state.db');
});
afterEach(() => remove());

/** Bytes of archived segments by first position, and the reads that asked for them. */
const partition = new Map<number, Uint8Array>();
const asked: ColdSegmentRef[] = [];
const source: ColdSegmentSource = {
  segmentEvents(ref) {
    asked.push(ref);
    const data = partition.get(ref.firstPosition);
    if (data === undefined) throw new Error(`no segment at ${ref.firstPosition}`);
    const { events } = decodeSegment(data, {
      expect: { stream: ref.stream, checksum: ref.checksum },
    });
    return { events, positions: Float64Array.from(events, (e) => Number(e.position)) };
  },
};

async function everything(coldSegments?: ColdSegmentSource) {
  const storage = await openSqliteStorage({ path, seal: false, coldSegments });
  try {
    const all: StoredEventRecord[] = [];
    for await (const e of storage.readAll()) all.push(e);
    const a: StoredEventRecord[] = [];
    for await (const e of storage.readStream('session-a')) a.push(e);
    const back: StoredEventRecord[] = [];
    for await (const e of storage.readStream('session-a', {
      direction: 'backwards',
      maxCount: 25,
    })) {
      back.push(e);
    }
    const onlyB: StoredEventRecord[] = [];
    for await (const e of storage.readAll({ streams: ['session-b'], fromPosition: 5n }))
      onlyB.push(e);
    return {
      all: all.map((e) => `${e.position}:${e.stream}:${e.version}`),
      a: a.map((e) => Number(e.version)),
      back: back.map((e) => Number(e.version)),
      onlyB: onlyB.map((e) => Number(e.position)),
      head: await storage.headPosition(),
      integrity: await storage.checkIntegrity(),
    };
  } finally {
    await storage.close();
  }
}

/** Moves the segments of session-a the way an archive does: catalog row in, segment out. */
function archiveSessionA(): void {
  const c = openConnection(path);
  try {
    c.exec(`create table archived_segments (
      first_position integer primary key, last_position integer not null, stream_id integer not null,
      first_version integer not null, last_version integer not null, first_us integer not null,
      last_us integer not null, event_count integer not null, codec_version integer not null,
      checksum integer not null, partition text not null, archived_us integer not null, deleted_us integer)`);
    const rows = c
      .prepare(
        "select g.* from segments g join streams s on s.id = g.stream_id where s.name = 'session-a'",
      )
      .all() as (Record<string, number> & { data: Uint8Array })[];
    // Odd segments move, even ones stay: a stream read interleaves both.
    c.exec('begin');
    for (const [i, row] of rows.entries()) {
      if (i % 2 === 0) continue;
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
    }
    c.exec('commit');
  } finally {
    c.close();
  }
}

describe('archived segments', () => {
  it('are read from the cold source, merged in order, and count in the head and the checks', async () => {
    const storage = await openSqliteStorage({ path, seal: { minEvents: 10, maxAgeMs: 0 } });
    for (let i = 0; i < 8; i++) {
      await storage.appendBatch([
        {
          stream: i % 4 === 3 ? 'session-b' : 'session-a',
          expectedVersion: 'any',
          events: frame(i, 10),
        },
      ]);
    }
    for (let i = 0; i < 200; i++) {
      const hot = await storage.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(hot.n) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await storage.close();
    const before = await everything();
    archiveSessionA();

    const after = await everything(source);
    expect(asked.length).toBeGreaterThan(0);
    expect(after.all).toEqual(before.all);
    expect(after.a).toEqual(before.a);
    expect(after.back).toEqual(before.back);
    expect(after.onlyB).toEqual(before.onlyB);
    expect(after.head).toBe(before.head);
    expect(after.integrity.problems).toEqual([]);

    // Without the archive, a read that reaches an archived range says where it is.
    const error = await rejection(everything());
    expect(error.code).toBe('corrupt');
    expect(error.message).toMatch(/archived in partition 2025-08/);

    // Tombstones (retention deleted the partition): reads pass over them, positions stay taken.
    const c = openConnection(path);
    c.prepare('update archived_segments set deleted_us = 2').run();
    const last = c.prepare('select max(last_position) from archived_segments').pluck().get();
    c.close();
    const retired = await everything();
    expect(retired.all).toEqual(
      before.all.filter((line) => line.includes(':session-b:') || !partitionHas(line)),
    );
    expect(retired.head).toBe(before.head);
    expect(retired.integrity.problems).toEqual([]);
    expect(Number(before.head)).toBeGreaterThanOrEqual(last as number);
  }, 60_000);
});

/** Whether the event of a `position:stream:version` line lies in an archived segment. */
function partitionHas(line: string): boolean {
  const position = Number(line.split(':')[0]);
  for (const data of partition.values()) {
    const { events } = decodeSegment(data);
    if (events.some((e) => Number(e.position) === position)) return true;
  }
  return false;
}
