import { join } from 'node:path';

import {
  createMemoryStorage,
  isIdempotencyConflictError,
  isStorageError,
  readAllPages,
  readStreamPages,
} from '@wirthforge/storage';
import type {
  AppendBatchResult,
  EventStorage,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
  StreamAppend,
} from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection, openSqliteStorage, purgeSqliteFile } from '../src/index.js';
import type { SqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

let remove: () => Promise<void>;
let path: string;
let storage: SqliteStorage | undefined;

beforeEach(async () => {
  let dir: string;
  ({ dir, remove } = await tempDir('seal'));
  path = join(dir, 'state.db');
});
afterEach(async () => {
  await storage?.close();
  storage = undefined;
  await remove();
});

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of iterable) out.push(item);
  return out;
}

/** Runs `query` on a read-only connection of its own. */
function raw<T>(query: (c: ReturnType<typeof openConnection>) => T): T {
  const c = openConnection(path, { readonly: true, fileMustExist: true });
  try {
    return query(c);
  } finally {
    c.close();
  }
}

const hotRows = (): number =>
  raw((c) => c.prepare('select count(*) from events').pluck().get() as number);
const segmentRows = (): number =>
  raw((c) => c.prepare('select count(*) from segments').pluck().get() as number);

/** Waits until the writer has sealed all but at most `hot` rows. */
async function sealedDownTo(hot: number): Promise<void> {
  for (let i = 0; i < 500 && hotRows() > hot; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(hotRows()).toBeLessThanOrEqual(hot);
}

/** Appends the same batches to both storages, in order. */
async function appendBoth(
  a: EventStorage,
  b: EventStorage,
  batches: readonly StreamAppend[][],
): Promise<void> {
  for (const batch of batches) {
    const [ra, rb] = [await a.appendBatch(batch), await b.appendBatch(batch)];
    expect(ra.streams.map((s) => s.positions)).toEqual(rb.streams.map((s) => s.positions));
  }
}

/** Three interleaved streams, with event ids on one of them. */
function workload(frames: number): StreamAppend[][] {
  const batches: StreamAppend[][] = [];
  for (let f = 0; f < frames; f++) {
    batches.push([
      { stream: 'session-a', expectedVersion: 'any', events: frame(f, 7) },
      {
        stream: 'session-b',
        expectedVersion: 'any',
        events: frame(f, 3).map((e, i) => ({ ...e, eventId: `b-${f}-${i}` })),
      },
      ...(f % 5 === 0
        ? [{ stream: 'user-1', expectedVersion: 'any' as const, events: frame(f, 1) }]
        : []),
    ]);
  }
  return batches;
}

const plain = (events: readonly StoredEventRecord[]) =>
  events.map((e) => ({ ...e, payload: Array.from(e.payload) }));

describe('sealing', () => {
  it('seals the hot tail into segments, shrinking the hot table, and reads stay identical', async () => {
    storage = await openSqliteStorage({
      path,
      readPageSize: 50,
      seal: { minEvents: 64, maxAgeMs: 60_000 },
      segmentCacheSize: 2,
    });
    const memory = createMemoryStorage();
    await appendBoth(storage, memory, workload(150));
    const head = await storage.headPosition();
    expect(head).toBe(await memory.headPosition());
    // Each stream keeps fewer than minEvents hot rows; the rest is sealed.
    await sealedDownTo(3 * 64);
    expect(segmentRows()).toBeGreaterThanOrEqual(20);
    expect(hotRows()).toBeLessThan(Number(head) / 5);

    const streamReads: [string, ReadStreamOptions][] = [
      ['session-a', {}],
      ['session-a', { direction: 'backwards' }],
      ['session-a', { from: 60n, to: 700n }],
      ['session-a', { from: 1000n, direction: 'backwards', maxCount: 333 }],
      ['session-b', { from: 63n, maxCount: 130 }],
      ['session-b', { to: 65n, direction: 'backwards' }],
      ['user-1', {}],
      ['unknown', {}],
    ];
    for (const [name, options] of streamReads) {
      const expected = plain(await collect(memory.readStream(name, options)));
      expect(plain(await collect(storage.readStream(name, options)))).toEqual(expected);
      expect(plain((await collect(readStreamPages(storage, name, options))).flat())).toEqual(
        expected,
      );
      expect(await storage.streamVersion(name)).toBe(await memory.streamVersion(name));
    }
    const allReads: ReadAllOptions[] = [
      {},
      { fromPosition: 100n, toPosition: 1300n },
      { maxCount: 77, fromPosition: 5n },
      { types: ['model.output'] },
      { streams: ['session-b', 'user-1'] },
      { streams: ['user-1'], types: ['model.output'], fromPosition: 40n },
      { fromPosition: head - 10n },
    ];
    for (const options of allReads) {
      const expected = plain(await collect(memory.readAll(options)));
      expect(plain(await collect(storage.readAll(options)))).toEqual(expected);
      expect(plain((await collect(readAllPages(storage, options))).flat())).toEqual(expected);
    }
    expect((await storage.checkIntegrity()).ok).toBe(true);
  });

  it('seals while a saturating load goes on once the hot backlog reaches its bound', async () => {
    // Bound: 8 segments of 50 = 400 hot events. Batches of 100 events, 8 in flight, with
    // no quiet gap, until a segment is written (at most 60,000 events): sealing may wait
    // out the load only until the backlog is that long, never for the whole load.
    storage = await openSqliteStorage({ path, seal: { minEvents: 50, maxAgeMs: 60_000 } });
    const s = storage;
    let sealedDuringLoad = 0;
    let batches = 0;
    const pending: Promise<AppendBatchResult>[] = [];
    while (batches < 600 && sealedDuringLoad === 0) {
      pending.push(
        s.appendBatch([
          { stream: 'session-load', expectedVersion: 'any', events: frame(batches, 100) },
        ]),
      );
      batches++;
      if (pending.length >= 8) await pending.shift();
      if (batches % 10 === 0) sealedDuringLoad = segmentRows();
    }
    await Promise.all(pending);
    expect(sealedDuringLoad).toBeGreaterThan(0);
    // Once the load stops, the rest is sealed down to less than a segment.
    await sealedDownTo(49);
    expect((await collect(s.readStream('session-load'))).length).toBe(batches * 100);
    expect((await s.checkIntegrity()).ok).toBe(true);
  });

  it('keeps idempotent event ids after sealing and after a restart', async () => {
    const open = () => openSqliteStorage({ path, seal: { minEvents: 8, maxAgeMs: 0 } });
    storage = await open();
    const batches = workload(20);
    const first: AppendBatchResult[] = [];
    for (const batch of batches) first.push(await storage.appendBatch(batch));
    await sealedDownTo(0);
    const sealedIds = raw(
      (c) => c.prepare('select count(*) from sealed_event_ids').pluck().get() as number,
    );
    expect(sealedIds).toBe(20 * 3);

    const check = async (s: SqliteStorage) => {
      for (let i = 0; i < batches.length; i++) {
        const again = await s.appendBatch([batches[i]![1]!]);
        expect(again.streams[0]!.positions).toEqual(first[i]!.streams[1]!.positions);
      }
      const changed = batches[7]![1]!;
      let error: unknown;
      try {
        await s.appendBatch([
          {
            ...changed,
            events: [{ ...changed.events[0]!, payload: Uint8Array.of(0xc0) }],
          },
        ]);
      } catch (e) {
        error = e;
      }
      expect(isIdempotencyConflictError(error)).toBe(true);
      expect((error as Error).message).toContain('b-7-0');
      expect(await s.streamVersion('session-b')).toBe(60n);
    };
    await check(storage);
    await storage.close();
    storage = await open();
    await check(storage);
    expect((await storage.checkIntegrity()).ok).toBe(true);
  });

  it('never serves a damaged segment: reads and the integrity check name it', async () => {
    storage = await openSqliteStorage({ path, seal: { minEvents: 16, maxAgeMs: 0 } });
    for (const batch of workload(10)) await storage.appendBatch(batch);
    await sealedDownTo(0);
    await storage.close();
    // Flip one byte in the middle of one of session-a's segments.
    const target = (() => {
      const c = openConnection(path, { fileMustExist: true });
      try {
        const row = c
          .prepare(
            "select s.id, s.first_position, s.last_position, s.data from segments s join streams t on t.id = s.stream_id where t.name = 'session-a' order by s.id limit 1 offset 1",
          )
          .get() as { id: number; first_position: number; last_position: number; data: Buffer };
        const data = Buffer.from(row.data);
        data[data.length >> 1] = data[data.length >> 1]! ^ 0x40;
        c.prepare('update segments set data = ? where id = ?').run(data, row.id);
        return row;
      } finally {
        c.close();
      }
    })();
    storage = await openSqliteStorage({ path, seal: false });
    const failures = [
      collect(storage.readStream('session-a')),
      collect(storage.readStream('session-a', { direction: 'backwards' })),
      collect(storage.readAll()),
      collect(storage.readAll({ streams: ['session-a'] })),
    ];
    for (const failure of failures) {
      let error: unknown;
      try {
        await failure;
      } catch (e) {
        error = e;
      }
      expect(isStorageError(error, 'corrupt')).toBe(true);
      expect((error as Error).message).toContain(`segment ${target.id} (stream session-a`);
      expect((error as Error).message).toContain(
        `positions ${target.first_position}..${target.last_position}`,
      );
    }
    // Reads that do not need it still work.
    expect((await collect(storage.readStream('session-b'))).length).toBe(30);
    const report = await storage.checkIntegrity();
    expect(report.ok).toBe(false);
    const problem = report.problems.find((p) => p.kind === 'segment');
    expect(problem).toMatchObject({
      kind: 'segment',
      segmentId: target.id,
      stream: 'session-a',
      from: BigInt(target.first_position),
      to: BigInt(target.last_position),
    });
  });

  it('leaves a stream with a damaged hot row hot, and goes on sealing the others', async () => {
    // A damaged row of session-a, written before the store opens, hot.
    storage = await openSqliteStorage({ path, seal: false });
    for (const batch of workload(4)) await storage.appendBatch(batch);
    await storage.close();
    const damaged = (() => {
      const c = openConnection(path, { fileMustExist: true });
      try {
        const row = c
          .prepare(
            "select e.position, e.payload from events e join streams t on t.id = e.stream_id where t.name = 'session-a' and e.version = 2",
          )
          .get() as { position: number; payload: Buffer };
        const payload = Buffer.from(row.payload);
        payload[0] = payload[0]! ^ 0x01;
        c.prepare('update events set payload = ? where position = ?').run(payload, row.position);
        return row.position;
      } finally {
        c.close();
      }
    })();
    const sessionRows = (name: string): [hot: number, segments: number] =>
      raw((c) => [
        c
          .prepare(
            'select count(*) from events e join streams t on t.id = e.stream_id where t.name = ?',
          )
          .pluck()
          .get(name) as number,
        c
          .prepare(
            'select count(*) from segments s join streams t on t.id = s.stream_id where t.name = ?',
          )
          .pluck()
          .get(name) as number,
      ]);
    storage = await openSqliteStorage({ path, seal: { minEvents: 4, maxAgeMs: 0 } });
    for (const batch of workload(12).slice(4)) await storage.appendBatch(batch);
    for (let i = 0; i < 500 && sessionRows('session-b')[0] > 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // session-b (and user-1) sealed completely; session-a not at all: its hot range
    // starts with the damaged row, which is never laundered into a segment.
    expect(sessionRows('session-b')).toEqual([0, 9]);
    expect(sessionRows('session-a')).toEqual([7 * 12, 0]);
    const report = await storage.checkIntegrity();
    expect(report.problems).toEqual([
      expect.objectContaining({ kind: 'checksum', position: BigInt(damaged) }),
    ]);
  });

  it('purges a sealed session with its segments and sealed event ids', async () => {
    storage = await openSqliteStorage({ path, seal: { minEvents: 8, maxAgeMs: 0 } });
    for (const batch of workload(12)) await storage.appendBatch(batch);
    await sealedDownTo(0);
    await storage.close();
    storage = undefined;
    const report = purgeSqliteFile(path, { streams: ['session-b'] });
    expect(report.rows.segments).toBeGreaterThan(0);
    const left = raw((c) => ({
      ids: c.prepare('select count(*) from sealed_event_ids').pluck().get() as number,
      segments: c
        .prepare(
          "select count(*) from segments s join streams t on t.id = s.stream_id where t.name = 'session-b'",
        )
        .pluck()
        .get() as number,
    }));
    expect(left).toEqual({ ids: 0, segments: 0 });
    storage = await openSqliteStorage({ path, seal: false });
    expect(await collect(storage.readStream('session-b'))).toEqual([]);
    expect((await collect(storage.readStream('session-a'))).length).toBe(12 * 7);
    expect((await storage.checkIntegrity()).ok).toBe(true);
    // The purged ids are free again: appending one writes a new event after the head.
    const head = await storage.headPosition();
    const again = await storage.appendBatch([workload(1)[0]![1]!]);
    expect(again.streams[0]!.positions).toEqual([head + 1n, head + 2n, head + 3n]);
  });
});
