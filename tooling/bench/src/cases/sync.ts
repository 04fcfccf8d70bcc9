import { randomBytes } from 'node:crypto';

import { createEventStore } from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import type { EventStorage, StoredEventRecord } from '@wirthforge/storage';
import { openPostgresStorage } from '@wirthforge/storage-postgres';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import * as sync from '@wirthforge/sync';

import { perSecond, ratioMetric, type BenchCase } from '../bench-case.js';
import { chunkEvents, sessionStream } from '../bench-dataset.js';
import { removeDatabase } from '../file-size.js';
import { postgresUrl } from './postgres.js';

/** Events per round trip: the sync's default page, and the baseline's batch. */
const PAGE = 5000;
/** Events per local commit while the session is written. */
const WRITE_BATCH = 600;

const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
  const start = performance.now();
  const value = await fn();
  return [value, performance.now() - start];
};

/** The baseline: the same events read a page at a time and appended with `appendBatch`, one page per transaction. */
async function copyByAppendBatch(from: EventStorage, to: EventStorage): Promise<number> {
  let position = 0n;
  let copied = 0;
  const versions = new Map<string, bigint>();
  for (;;) {
    const page: StoredEventRecord[] = [];
    for await (const r of from.readAll({ fromPosition: position + 1n, maxCount: PAGE }))
      page.push(r);
    if (page.length === 0) return copied;
    const byStream = new Map<string, StoredEventRecord[]>();
    for (const r of page) {
      const list = byStream.get(r.stream) ?? [];
      list.push(r);
      byStream.set(r.stream, list);
    }
    await to.appendBatch(
      [...byStream].map(([stream, list]) => {
        const version = versions.get(stream) ?? 0n;
        versions.set(stream, version + BigInt(list.length));
        return {
          stream,
          expectedVersion: version === 0n ? ('no_stream' as const) : version,
          events: list.map((r) => ({
            type: r.type,
            schemaVersion: r.schemaVersion,
            timestampUs: r.timestampUs,
            ...(r.frameId === null ? {} : { frameId: r.frameId }),
            ...(r.eventId === null ? {} : { eventId: r.eventId }),
            payload: r.payload,
          })),
        };
      }),
    );
    copied += page.length;
    position = page.at(-1)!.position;
  }
}

/**
 * Multi-device sync (`@wirthforge/sync`) of one simulated 60 Hz session of `sizeMinutes`
 * (one hour by default, the simulator's default models), written to device A's SQLite store first:
 * `sync.push_events_per_s` (A → an empty hub on PostgreSQL, pages of {@link PAGE}),
 * `sync.pull_events_per_s` (hub → an empty device B, through B's event store and its
 * inline projections), `sync.events_per_s` (the whole trip A → hub → B). The baseline,
 * `sync.baseline_append_events_per_s`, copies the same events from A's store to a fresh
 * schema with `@wirthforge/storage-postgres`'s `appendBatch`, a page per transaction, in
 * the same run: the ratios show what the sync adds (event ids for the idempotency index,
 * stream claims, version checks, checkpoints, and on pull the local projections).
 */
export const syncCase: BenchCase = {
  name: 'sync',
  description:
    'WIRTHFORGE sync: push a one-hour 60 Hz session to a PostgreSQL hub, pull it on another device',
  once: true,
  derived: [
    ratioMetric(
      'sync.push_ratio_vs_append',
      'sync.push_events_per_s',
      'sync.baseline_append_events_per_s',
    ),
    ratioMetric(
      'sync.pull_ratio_vs_append',
      'sync.pull_events_per_s',
      'sync.baseline_append_events_per_s',
    ),
  ],
  async run(ctx) {
    const { sizeMinutes, seed } = ctx.options;
    const fileA = ctx.tempPath('sync-a.sqlite');
    const fileB = ctx.tempPath('sync-b.sqlite');
    const tag = `${process.pid}_${randomBytes(4).toString('hex')}`;
    const hubSchema = `wf_bench_sync_${tag}`;
    const baseSchema = `wf_bench_sync_base_${tag}`;
    const storageA = await openSqliteStorage({ path: fileA, synchronous: 'normal' });
    const a: sync.LocalStore = { store: createEventStore({ storage: storageA }), db: storageA.db };
    let b: sync.LocalStore | undefined;
    try {
      const session = simulateSession({ seed, durationSeconds: sizeMinutes * 60 });
      const stream = sessionStream(session.sessionId);
      let events = 0;
      for (const batch of chunkEvents(session, WRITE_BATCH)) {
        await a.store.appendToStream(stream, batch);
        events += batch.length;
      }
      ctx.log(`sync: ${events} events of a ${sizeMinutes}-minute session on device A`);

      const base = await openPostgresStorage({
        connectionString: postgresUrl(),
        schema: baseSchema,
        maxConnections: 2,
      });
      let baseMs: number;
      try {
        const [copied, ms] = await timed(() => copyByAppendBatch(storageA, base));
        if (copied !== events) throw new Error(`the baseline copied ${copied} of ${events} events`);
        baseMs = ms;
        await base.db.schema.dropSchema(baseSchema).cascade().execute();
      } finally {
        await base.close();
      }
      ctx.log(`sync: baseline appendBatch ${Math.round(baseMs)} ms`);

      const config = sync.resolveSyncConfig({ url: postgresUrl(), schema: hubSchema, env: {} });
      if (config === undefined) throw new Error('no hub configured');
      const hub = await sync.openSyncHub(config);
      let pushMs: number;
      let pullMs: number;
      try {
        const [pushed, pms] = await timed(() => sync.push(a, hub, { pageSize: PAGE }));
        if (pushed.events !== events)
          throw new Error(`pushed ${pushed.events} of ${events} events`);
        pushMs = pms;
        ctx.log(`sync: push ${Math.round(pushMs)} ms`);
        const storageB = await openSqliteStorage({ path: fileB, synchronous: 'normal' });
        b = { store: createEventStore({ storage: storageB }), db: storageB.db };
        const [pulled, lms] = await timed(() => sync.pull(b!, hub, { pageSize: PAGE }));
        if (pulled.events !== events)
          throw new Error(`pulled ${pulled.events} of ${events} events`);
        if ((await b.store.headPosition()) !== BigInt(events))
          throw new Error('device B lacks events');
        pullMs = lms;
        ctx.log(`sync: pull ${Math.round(pullMs)} ms`);
      } finally {
        await hub.close();
        const cleanup = await openPostgresStorage({
          connectionString: postgresUrl(),
          schema: hubSchema,
          maxConnections: 1,
        });
        await cleanup.db.schema.dropSchema(hubSchema).cascade().execute();
        await cleanup.close();
      }
      const note = `${events} events (${sizeMinutes} min at 60 Hz, ${session.models.length} model(s)), pages of ${PAGE}`;
      return [
        {
          name: 'sync.push_events_per_s',
          value: perSecond(events, pushMs),
          unit: 'events/s',
          better: 'higher',
          note,
        },
        {
          name: 'sync.pull_events_per_s',
          value: perSecond(events, pullMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'sync.events_per_s',
          value: perSecond(events, pushMs + pullMs),
          unit: 'events/s',
          better: 'higher',
          note: 'device A → hub → device B: events over push plus pull time',
        },
        {
          name: 'sync.baseline_append_events_per_s',
          value: perSecond(events, baseMs),
          unit: 'events/s',
          better: 'higher',
          note: 'the same pages copied with storage-postgres appendBatch, no sync',
        },
      ];
    } finally {
      await a.store.close();
      await b?.store.close();
      removeDatabase(fileA);
      removeDatabase(fileB);
    }
  },
};
