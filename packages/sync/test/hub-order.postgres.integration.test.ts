/**
 * Global order on the hub under concurrency, seen from the sync's side: three devices
 * push at once (small pages, each its own pool, so many transactions interleave) while a
 * fourth device pulls again and again and two event-store subscriptions follow the hub.
 * A position that became visible after a higher one would be skipped by a reader of
 * "everything after P": a subscriber would miss it, and the puller would hold a stream
 * with a hole (reported as a version gap). Neither may happen.
 */
import { createHash } from 'node:crypto';

import { createEventStore } from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import { openPostgresStorage } from '@wirthforge/storage-postgres';
import { afterAll, describe, expect, it } from 'vitest';

import { pull, push, sessionOwners } from '../src/index.js';
import type { SyncConflict, SyncHub } from '../src/index.js';
import {
  PG_AVAILABLE,
  PG_URL,
  createDevice,
  dropSchema,
  freshSchemaName,
  openTestHub,
  recordSession,
  type TestDevice,
} from './fixtures.js';

const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

async function digest(store: EventStore): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const stream of [...(await sessionOwners(store)).keys()].sort()) {
    const list: string[] = [];
    for await (const r of store.storage.readStream(stream)) {
      list.push(`${r.version}|${createHash('sha256').update(r.payload).digest('hex')}`);
    }
    out.set(stream, list);
  }
  return out;
}

describe.runIf(PG_AVAILABLE)('hub order under concurrent pushes', () => {
  it('no subscriber and no pull skips an event while several devices push at once', async () => {
    const schema = freshSchemaName('wf_sync_order');
    schemas.push(schema);
    const writers: TestDevice[] = [];
    for (const [i, name] of ['a', 'b', 'c'].entries()) {
      const d = await createDevice(name);
      writers.push(d);
      for (let s = 0; s < 2; s++) {
        await recordSession(d.store, {
          start: new Date(Date.UTC(2025, 7, 23, 8 + i, s * 10)),
          seconds: 2,
          seed: 100 + i * 10 + s,
        });
      }
    }
    const puller = await createDevice('d');
    const hubs: SyncHub[] = [];
    for (let i = 0; i < 4; i++) hubs.push(await openTestHub(schema));

    // Two subscriptions on the hub, each on a pool of its own, reading in small pages.
    const watchers = await Promise.all(
      [0, 1].map(async () => {
        const storage = await openPostgresStorage({
          connectionString: PG_URL,
          schema,
          readPageSize: 7,
          maxConnections: 2,
        });
        return createEventStore({ storage, projections: { sessions: false, users: false } });
      }),
    );
    const seen: bigint[][] = [[], []];
    const subscriptions = watchers.map((w) => w.subscribe({ from: 'start', pollIntervalMs: 3 }));
    const following = subscriptions.map(async (subscription, i) => {
      for await (const record of subscription) seen[i]!.push(record.position);
    });

    let pushing = true;
    const conflicts: SyncConflict[] = [];
    const pulling = (async () => {
      let rounds = 0;
      while (pushing || rounds === 0) {
        const report = await pull(puller, hubs[3]!, { pageSize: 37 });
        conflicts.push(...report.conflicts);
        rounds++;
      }
      // Once every push is acknowledged: one last pull.
      conflicts.push(...(await pull(puller, hubs[3]!, { pageSize: 37 })).conflicts);
      return rounds;
    })();
    const pushes = await Promise.all(writers.map((d, i) => push(d, hubs[i]!, { pageSize: 50 })));
    pushing = false;
    const rounds = await pulling;
    expect(rounds).toBeGreaterThan(1);

    const total = pushes.reduce((sum, r) => sum + r.events, 0);
    expect(await hubs[0]!.storage.headPosition()).toBe(BigInt(total));
    // The subscriptions see 1, 2, …, total: nothing skipped, nothing repeated.
    // Wait on the checkpoints, not on the counts: a skipped event leaves a count short forever.
    while (subscriptions.some((s) => s.checkpoint < BigInt(total))) {
      await new Promise((r) => setTimeout(r, 20));
    }
    await Promise.all(subscriptions.map((s) => s.close()));
    await Promise.all(following);
    const expected = Array.from({ length: total }, (_, i) => BigInt(i + 1));
    expect(seen[0]).toEqual(expected);
    expect(seen[1]).toEqual(expected);

    // The puller holds every session of every device, complete, with no conflict.
    expect(conflicts).toEqual([]);
    const union = new Map<string, string[]>();
    for (const d of writers) for (const [k, v] of await digest(d.store)) union.set(k, v);
    expect(await digest(puller.store)).toEqual(new Map([...union].sort()));

    await Promise.all(watchers.map((w) => w.close()));
    for (const h of hubs) await h.close();
    for (const d of [...writers, puller]) await d.remove();
  }, 180_000);
});
