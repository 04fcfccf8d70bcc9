import { randomBytes } from 'node:crypto';

import { encodeEvent } from '@wirthforge/events';
import type { SimEvent } from '@wirthforge/simulator';
import type { EventStorage, ExpectedVersion, NewEventRecord } from '@wirthforge/storage';
import { perSecond, type BenchCase, ratioMetric } from '../bench-case.js';

/** The PostgreSQL server of the case: `WF_PG_URL`, default the local test database. */
export function postgresUrl(): string {
  return process.env['WF_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';
}

/** What the case uses of `@wirthforge/storage-postgres`. */
interface PostgresStorageLike extends EventStorage {
  readonly db: {
    readonly schema: {
      dropSchema(name: string): { cascade(): { execute(): Promise<unknown> } };
    };
  };
}
interface PostgresModule {
  openPostgresStorage(options: {
    connectionString: string;
    schema: string;
    maxConnections?: number;
  }): Promise<PostgresStorageLike>;
}

/**
 * Loads `@wirthforge/storage-postgres` on use, so that a package that is not built fails
 * this case (under FAILED) while the others still run.
 */
async function loadPostgres(): Promise<PostgresModule> {
  return import('@wirthforge/storage-postgres');
}

/** Appends `batches` to `stream` with exact expected versions, `inFlight` batches at a time. */
async function appendAll(
  storage: EventStorage,
  stream: string,
  batches: readonly (readonly SimEvent[])[],
  inFlight: number,
  idPrefix = '',
): Promise<number> {
  let version = 0n;
  let events = 0;
  const pending: Promise<unknown>[] = [];
  for (const batch of batches) {
    const records: NewEventRecord[] = batch.map((event) => {
      const record = encodeEvent(event);
      // Event ids are global: concurrent writers of the same dataset prefix theirs.
      return idPrefix === '' || record.eventId === undefined
        ? record
        : { ...record, eventId: `${idPrefix}${record.eventId}` };
    });
    const expectedVersion: ExpectedVersion = version === 0n ? 'no_stream' : version;
    const expectedNext = version + BigInt(records.length);
    pending.push(
      storage.appendBatch([{ stream, expectedVersion, events: records }]).then((result) => {
        if (result.streams[0]?.nextExpectedVersion !== expectedNext) {
          throw new Error(`stream version after a batch is not ${expectedNext}`);
        }
      }),
    );
    version = expectedNext;
    events += records.length;
    if (pending.length >= inFlight) await pending.shift();
  }
  await Promise.all(pending);
  return events;
}

/** Batches in flight on one pool (as the SQLite storage case's sustained figure). */
const IN_FLIGHT = 4;
/** Batches in flight for the burst figure: the ones queued behind a COMMIT share the next. */
const BURST_IN_FLIGHT = 256;
/** Concurrent writers (each its own pool and stream) for the contention figure. */
const WRITERS = 4;

/**
 * WIRTHFORGE storage on PostgreSQL (`@wirthforge/storage-postgres`, pooled `pg`, one
 * transaction per batch, appends ordered by a transaction-scoped advisory lock), each
 * event encoded inside the timed loop, in a fresh schema dropped afterwards:
 * `postgres.append_events_per_s` with {@link IN_FLIGHT} batches in flight on one pool;
 * `_awaited` with each commit awaited; `_burst` with {@link BURST_IN_FLIGHT} in flight
 * (the batches queued behind a COMMIT are group-committed under the next); `_writers` with {@link WRITERS} stores (pools)
 * appending the dataset to their own streams at once (the lock serialises them);
 * `postgres.read_events_per_s` for `readAll`. The baseline is the SQLite storage's
 * `storage.append_events_per_s` of the same run.
 */
export const postgresCase: BenchCase = {
  name: 'postgres',
  description: 'WIRTHFORGE storage-postgres: appendBatch per batch (pg pool), then readAll',
  derived: [
    ratioMetric(
      'postgres.append_ratio_vs_sqlite_storage',
      'postgres.append_events_per_s',
      'storage.append_events_per_s',
    ),
    ratioMetric(
      'postgres.read_ratio_vs_sqlite_storage',
      'postgres.read_events_per_s',
      'storage.read_events_per_s',
    ),
  ],
  async run(ctx) {
    const postgres = await loadPostgres();
    const { batches, stream, eventCount } = ctx.dataset;
    const open = (schema: string) =>
      postgres.openPostgresStorage({ connectionString: postgresUrl(), schema, maxConnections: 4 });
    const timed = async <T>(fn: () => Promise<T>): Promise<[T, number]> => {
      const start = performance.now();
      const value = await fn();
      return [value, performance.now() - start];
    };
    const withSchema = async <T>(
      fn: (storage: PostgresStorageLike, schema: string) => Promise<T>,
    ): Promise<T> => {
      const schema = `wf_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
      const storage = await open(schema);
      try {
        return await fn(storage, schema);
      } finally {
        await storage.db.schema.dropSchema(schema).cascade().execute();
        await storage.close();
      }
    };

    const [appendMs, readMs, read] = await withSchema(async (storage) => {
      const [appended, ms] = await timed(() => appendAll(storage, stream, batches, IN_FLIGHT));
      if (appended !== eventCount) throw new Error(`appended ${appended} of ${eventCount}`);
      let count = 0;
      const [, readMs] = await timed(async () => {
        for await (const _ of storage.readAll()) count++;
      });
      if (count !== eventCount) throw new Error(`read back ${count} of ${eventCount} events`);
      return [ms, readMs, count] as const;
    });
    const awaitedMs = await withSchema(
      async (storage) => (await timed(() => appendAll(storage, stream, batches, 1)))[1],
    );
    const burstMs = await withSchema(
      async (storage) =>
        (await timed(() => appendAll(storage, stream, batches, BURST_IN_FLIGHT)))[1],
    );
    const writersMs = await withSchema(async (first, schema) => {
      const others = await Promise.all(Array.from({ length: WRITERS - 1 }, () => open(schema)));
      try {
        const writers = [first, ...others];
        const [, ms] = await timed(() =>
          Promise.all(writers.map((w, i) => appendAll(w, `${stream}-w${i}`, batches, 1, `w${i}:`))),
        );
        if ((await first.headPosition()) !== BigInt(WRITERS * eventCount)) {
          throw new Error('concurrent writers lost events');
        }
        return ms;
      } finally {
        await Promise.all(others.map((o) => o.close()));
      }
    });
    return [
      {
        name: 'postgres.append_events_per_s',
        value: perSecond(eventCount, appendMs),
        unit: 'events/s',
        better: 'higher',
        note: `${IN_FLIGHT} batches in flight: the batches queued behind a commit go in one call of the append function (one round trip, no other writer)`,
      },
      {
        name: 'postgres.append_events_per_s_awaited',
        value: perSecond(eventCount, awaitedMs),
        unit: 'events/s',
        better: 'higher',
      },
      {
        name: 'postgres.append_events_per_s_burst',
        value: perSecond(eventCount, burstMs),
        unit: 'events/s',
        better: 'higher',
        note: `${BURST_IN_FLIGHT} batches in flight: group commit, the queued batches in one transaction and one write statement`,
      },
      {
        name: 'postgres.append_events_per_s_writers',
        value: perSecond(WRITERS * eventCount, writersMs),
        unit: 'events/s',
        better: 'higher',
        note: `${WRITERS} stores (pools) appending at once, each awaiting its commits`,
      },
      {
        name: 'postgres.read_events_per_s',
        value: perSecond(read, readMs),
        unit: 'events/s',
        better: 'higher',
      },
    ];
  },
};
