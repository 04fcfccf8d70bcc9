/**
 * Global order under concurrency: several pools append in parallel while readers poll
 * "everything after the last position I saw". On PostgreSQL a position taken before
 * commit can become visible after a higher one; a poller then moves past it and never
 * sees it. Here no reader may ever skip or repeat a position, and the final log has no gap.
 */
import { isConcurrencyError } from '@wirthforge/storage';
import type { NewEventRecord } from '@wirthforge/storage';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';

import type { PostgresStorage } from '../src/index.js';
import { PG_AVAILABLE, dropSchema, freshSchemaName, openTestStorage } from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

function eventWithId(id: string, ts: number): NewEventRecord {
  return {
    type: 'energy.update',
    schemaVersion: 1,
    timestampUs: ts,
    eventId: id,
    payload: Buffer.from(id, 'utf8'),
  };
}

describe.runIf(PG_AVAILABLE)('postgres global order', () => {
  it('no concurrent reader skips or repeats an event while many writers append', async () => {
    const schema = freshSchemaName('wf_order');
    schemas.push(schema);
    const first = await openTestStorage(schema);
    const writers: PostgresStorage[] = [first];
    for (let i = 1; i < 4; i++) writers.push(await openTestStorage(schema));
    const readers: PostgresStorage[] = [];
    for (let i = 0; i < 3; i++) readers.push(await openTestStorage(schema, { readPageSize: 7 }));

    // Random batch sizes and streams per writer loop, from fast-check's generator.
    const plan = fc.sample(
      fc.array(
        fc.record({
          stream: fc.integer({ min: 0, max: 5 }),
          count: fc.integer({ min: 1, max: 6 }),
        }),
        { minLength: 30, maxLength: 30 },
      ),
      { numRuns: writers.length * 3, seed: 4711 },
    );
    const acknowledged = new Map<bigint, string>();
    let writing = true;
    let ts = 1_700_000_000_000_000;

    const writerLoops = plan.map(async (batches, loop) => {
      const storage = writers[loop % writers.length]!;
      for (const [b, batch] of batches.entries()) {
        const ids = Array.from({ length: batch.count }, (_, e) => `w${loop}-b${b}-e${e}`);
        const result = await storage.appendBatch([
          {
            stream: `session-${batch.stream}`,
            expectedVersion: 'any',
            events: ids.map((id) => eventWithId(id, ts++)),
          },
        ]);
        result.streams[0]!.positions.forEach((p, i) => acknowledged.set(p, ids[i]!));
      }
    });

    const seenBy = readers.map(() => [] as { position: bigint; eventId: string | null }[]);
    const readerLoops = readers.map(async (storage, r) => {
      const seen = seenBy[r]!;
      let last = 0n;
      for (;;) {
        const done = !writing;
        for await (const event of storage.readAll({ fromPosition: last + 1n })) {
          // No skip, no repeat: each read continues exactly where the last one ended.
          expect(event.position).toBe(last + 1n);
          seen.push({ position: event.position, eventId: event.eventId });
          last = event.position;
        }
        if (done) return;
        await new Promise((resolve) => setTimeout(resolve, r));
      }
    });

    await Promise.all(writerLoops);
    writing = false;
    await Promise.all(readerLoops);

    const total = plan.flat().reduce((sum, batch) => sum + batch.count, 0);
    expect(acknowledged.size).toBe(total);
    const all = [];
    for await (const event of first.readAll()) all.push(event);
    expect(all.map((e) => e.position)).toEqual(
      Array.from({ length: total }, (_, i) => BigInt(i + 1)),
    );
    for (const event of all) expect(event.eventId).toBe(acknowledged.get(event.position));
    for (const seen of seenBy) {
      expect(seen).toEqual(all.map((e) => ({ position: e.position, eventId: e.eventId })));
    }
    // Versions per stream are gap-free as well.
    for (let s = 0; s <= 5; s++) {
      const versions = all.filter((e) => e.stream === `session-${s}`).map((e) => e.version);
      expect(versions).toEqual(versions.map((_, i) => BigInt(i + 1)));
    }
    await Promise.all([...writers, ...readers].map((s) => s.close()));
  }, 120_000);

  it('applies the pipelined appends of one storage in call order', async () => {
    const schema = freshSchemaName('wf_pipeline');
    schemas.push(schema);
    const storage = await openTestStorage(schema);
    // Exact expected versions, none awaited before the next is sent: they only hold if
    // the batches commit in the order they were called, whatever connection runs them.
    const results = await Promise.all(
      Array.from({ length: 24 }, (_, b) =>
        storage.appendBatch([
          {
            stream: 'session-pipe',
            expectedVersion: b === 0 ? 'no_stream' : BigInt(b * 3),
            events: [0, 1, 2].map((e) => eventWithId(`p-${b}-${e}`, b * 3 + e)),
          },
        ]),
      ),
    );
    expect(results.map((r) => r.streams[0]!.nextExpectedVersion)).toEqual(
      Array.from({ length: 24 }, (_, b) => BigInt((b + 1) * 3)),
    );
    expect(results.at(-1)!.lastPosition).toBe(72n);

    // Batches queued together commit together (group commit), yet each alone: a
    // conflicting one in the middle rejects, its neighbours commit.
    const mixed = await Promise.allSettled(
      [0n, 99n, 0n].map((expectedVersion, i) =>
        storage.appendBatch([
          {
            stream: `session-group-${i}`,
            expectedVersion,
            events: [eventWithId(`g-${i}`, 1000 + i)],
          },
        ]),
      ),
    );
    expect(mixed.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(isConcurrencyError((mixed[1] as PromiseRejectedResult).reason)).toBe(true);
    const after = [];
    for await (const event of storage.readAll({ fromPosition: 73n })) after.push(event);
    expect(after.map((e) => [e.position, e.stream])).toEqual([
      [73n, 'session-group-0'],
      [74n, 'session-group-2'],
    ]);
    await storage.close();
  });
});
