import { join } from 'node:path';

import type { StoredEventRecord, StreamAppend } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openConnection, openSqliteStorage } from '../src/index.js';
import type { SqliteStorage } from '../src/index.js';
import { frame, tempDir } from './fixtures.js';

/** Kill points of the default run; `WF_SEAL_KILL_POINTS` asks for more. */
const KILL_POINTS = Number(process.env['WF_SEAL_KILL_POINTS'] ?? 50);
/** Batches in flight at each kill (each seals into one or two segments). */
const BATCHES = 6;
const EVENTS = 8;

let remove: () => Promise<void>;
let path: string;
let storage: SqliteStorage | undefined;

beforeEach(async () => {
  let dir: string;
  ({ dir, remove } = await tempDir('seal-crash'));
  path = join(dir, 'state.db');
});
afterEach(async () => {
  await storage?.close();
  storage = undefined;
  await remove();
});

// Built once: a retry resends exactly the same events.
const batches = new Map<number, StreamAppend[]>();
const batch = (i: number): StreamAppend[] => {
  let b = batches.get(i);
  if (b === undefined) {
    b = [
      {
        stream: i % 3 === 0 ? 'session-x' : 'session-y',
        expectedVersion: 'any',
        events: frame(i, EVENTS).map((e, j) => ({ ...e, eventId: `k-${i}-${j}` })),
      },
    ];
    batches.set(i, b);
  }
  return b;
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Segments in the file (read on a connection of its own, to time the kills). */
const segmentCount = (): number => {
  const c = openConnection(path, { readonly: true, fileMustExist: true });
  try {
    return c.prepare('select count(*) from segments').pluck().get() as number;
  } finally {
    c.close();
  }
};

/** Resolves once the file holds more than `before` segments (or after 10 s). */
const segmentWritten = async (before: number): Promise<void> => {
  const deadline = Date.now() + 10_000;
  while (segmentCount() <= before && Date.now() < deadline) await sleep(2);
};

describe('a writer killed while sealing', () => {
  it(`leaves each event exactly once (${KILL_POINTS} kill points)`, async () => {
    const open = () =>
      openSqliteStorage({ path, synchronous: 'normal', seal: { minEvents: 4, maxAgeMs: 0 } });
    const acknowledged = new Map<string, bigint>();
    let sent = 0;
    for (let k = 0; k < KILL_POINTS; k++) {
      storage = await open();
      const s = storage;
      const segmentsBefore = segmentCount();
      const inFlight: Promise<void>[] = [];
      for (let b = 0; b < BATCHES; b++) {
        const i = sent++;
        inFlight.push(
          s.appendBatch(batch(i)).then(
            (result) => {
              result.streams[0]!.positions.forEach((p, j) => acknowledged.set(`k-${i}-${j}`, p));
            },
            () => undefined,
          ),
        );
      }
      // Kill points vary: while appends are still in flight (odd k: segments the sealing
      // thread prepared meanwhile are written in the appends' groups), or once all are
      // acknowledged and the writer has written a new segment, 0 to 44 ms later, among
      // the seal transactions that follow it (once appends have been quiet, the writer
      // writes each segment the sealing thread prepares in a transaction of its own;
      // each segment holds 4 events).
      if (k % 2 === 1) await inFlight[0];
      else {
        await Promise.all(inFlight);
        await segmentWritten(segmentsBefore);
        await sleep(((k >> 1) % 12) * 4);
      }
      await s.crashWriterForTesting();
      await Promise.all(inFlight);
      await s.close();
      storage = undefined;
    }

    // Every acknowledged event exactly once, at its acknowledged position.
    const c = openConnection(path, { fileMustExist: true });
    const hotIds = c.prepare('select event_id from events').pluck().all() as string[];
    const segments = c.prepare('select count(*) from segments').pluck().get() as number;
    c.close();
    storage = await open();
    const all: StoredEventRecord[] = [];
    for await (const event of storage.readAll()) all.push(event);
    const seen = new Map<string, number>();
    for (const e of all) seen.set(e.eventId!, (seen.get(e.eventId!) ?? 0) + 1);
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    const lost = [...acknowledged].filter(
      ([id, position]) => !all.some((e) => e.eventId === id && e.position === position),
    ).length;
    console.info(
      `seal crash: kill points ${KILL_POINTS}, acknowledged ${acknowledged.size}, stored ${all.length} ` +
        `(${hotIds.length} hot, ${segments} segments), lost ${lost}, duplicated ${duplicated}`,
    );
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    // The kills did land among seals.
    expect(segments).toBeGreaterThan(0);
    expect(all.map((e) => e.position)).toEqual(all.map((_, i) => BigInt(i + 1)));
    expect((await storage.checkIntegrity()).ok).toBe(true);

    // A client retrying every batch, sealed or not, ends with each event exactly once.
    for (let i = 0; i < sent; i++) await storage.appendBatch(batch(i));
    const total = BigInt(sent * EVENTS);
    expect(
      (await storage.streamVersion('session-x')) + (await storage.streamVersion('session-y')),
    ).toBe(total);
    expect(await storage.headPosition()).toBe(total);
    expect((await storage.checkIntegrity()).ok).toBe(true);
  }, 900_000);
});
