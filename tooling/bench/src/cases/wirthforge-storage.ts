import { encodeEvent } from '@wirthforge/events';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import type { EventStorage, ExpectedVersion, NewEventRecord } from '@wirthforge/storage';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';
import { perSecond, type BenchCase, ratioMetric } from '../bench-case.js';
import { chunkEvents, sessionStream } from '../bench-dataset.js';
import { databaseBytes, removeDatabase } from '../file-size.js';
import { sizeNote } from './raw-sqlite.js';

/**
 * Appends batches to one stream, one `appendBatch` (one transaction) per batch, with
 * exact expected versions. `inFlight` is how many batches may be on their way to the
 * writer at once: 1 awaits each commit before sending the next batch; more is how the
 * recorder writes (the next frame is encoded while the previous one commits). Batches
 * still commit one by one, in order, each as its own transaction.
 */
async function appendAll(
  storage: EventStorage,
  stream: string,
  batches: Iterable<readonly SimEvent[]>,
  inFlight: number,
): Promise<number> {
  let version = 0n;
  let events = 0;
  const pending: Promise<unknown>[] = [];
  for (const batch of batches) {
    const records: NewEventRecord[] = batch.map((event) => encodeEvent(event));
    const expectedVersion: ExpectedVersion = version === 0n ? 'no_stream' : version;
    const expectedNext = version + BigInt(records.length);
    pending.push(
      storage.appendBatch([{ stream, expectedVersion, events: records }]).then((result) => {
        const next = result.streams[0]?.nextExpectedVersion;
        if (next !== expectedNext) {
          throw new Error(`stream version ${String(next)} after a batch, expected ${expectedNext}`);
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

/** Rounds of the sealed / unsealed pair so far (their order alternates). */
let sealedPairs = 0;

/** Batches in flight for the sustained append figures (the recorder's pattern). */
const SUSTAINED_IN_FLIGHT = 4;

/**
 * Batches in flight for the burst figure: a producer that offers frames as fast as it
 * can encode them (a backlog after a stall, an import). The batches that wait behind a
 * syncing COMMIT are group-committed under the next one.
 */
const BURST_IN_FLIGHT = 256;

/** Milliseconds to append `batches` into a fresh store at `file` (deleted afterwards). */
async function timedAppend(
  file: string,
  stream: string,
  batches: Iterable<readonly SimEvent[]>,
  inFlight: number,
  seal?: false,
): Promise<number> {
  try {
    const storage = await openStorage(file, seal);
    try {
      const start = performance.now();
      await appendAll(storage, stream, batches, inFlight);
      return performance.now() - start;
    } finally {
      await storage.close();
    }
  } finally {
    removeDatabase(file);
  }
}

/**
 * Opens the store at its default durability (and default sealing, unless `seal` is
 * `false`) and checks that it is WAL + FULL.
 */
async function openStorage(file: string, seal?: false): Promise<SqliteStorage> {
  // Loaded here, so that a storage package that is not built fails these cases (loudly,
  // under FAILED) while the baselines still run.
  const { openSqliteStorage } = await import('@wirthforge/storage-sqlite');
  const storage = await openSqliteStorage({ path: file, ...(seal === false ? { seal } : {}) });
  const { journalMode, synchronous } = storage.pragmas;
  if (journalMode !== 'wal' || synchronous !== 'full') {
    await storage.close();
    throw new Error(`storage expected WAL and synchronous=FULL, got ${journalMode}/${synchronous}`);
  }
  return storage;
}

async function countRead(events: AsyncIterable<unknown>): Promise<number> {
  let count = 0;
  for await (const _ of events) count++;
  return count;
}

/**
 * WIRTHFORGE storage (`@wirthforge/storage-sqlite`, default durability: WAL +
 * `synchronous=FULL`): `storage.append_events_per_s` with one `appendBatch` (one
 * transaction) per batch, up to {@link SUSTAINED_IN_FLIGHT} batches in flight, each event
 * encoded with `encodeEvent` inside the timed loop; `_awaited` with each commit awaited
 * before the next batch is encoded; `_burst` with up to {@link BURST_IN_FLIGHT} batches in
 * flight (group commit: the batches queued behind a COMMIT share the next one, each
 * still all-or-nothing); `_all_ids` with an event id on every event; then
 * `storage.read_events_per_s` for `readAll` and `storage.read_stream_events_per_s` for
 * `readStream` over the same file.
 */
export const storageCase: BenchCase = {
  name: 'storage',
  description: 'WIRTHFORGE storage-sqlite: appendBatch per batch, then readAll and readStream',
  derived: [
    ratioMetric('storage.append_ratio_vs_raw', 'storage.append_events_per_s', 'raw.rows_per_s'),
    ratioMetric(
      'storage.append_ratio_vs_raw_awaited',
      'storage.append_events_per_s_awaited',
      'raw.rows_per_s',
    ),
    ratioMetric(
      'storage.append_ratio_vs_raw_all_ids',
      'storage.append_events_per_s_all_ids',
      'raw.rows_per_s',
    ),
    ratioMetric(
      'storage.append_ratio_vs_raw_burst',
      'storage.append_events_per_s_burst',
      'raw.rows_per_s',
    ),
    ratioMetric(
      'storage.append_vs_emmett',
      'storage.append_events_per_s',
      'emmett.append_events_per_s',
    ),
    ratioMetric(
      'storage.append_burst_vs_emmett',
      'storage.append_events_per_s_burst',
      'emmett.append_events_per_s',
    ),
    ratioMetric('storage.read_vs_emmett', 'storage.read_events_per_s', 'emmett.read_events_per_s'),
    ratioMetric(
      'storage.append_ratio_sealed_vs_unsealed',
      'storage.append_events_per_s_sealed',
      'storage.append_events_per_s_unsealed',
    ),
  ],
  async run(ctx) {
    const file = ctx.tempPath('storage.sqlite');
    const { batches, stream, eventCount } = ctx.dataset;
    try {
      const storage = await openStorage(file);
      try {
        const start = performance.now();
        const appended = await appendAll(storage, stream, batches, SUSTAINED_IN_FLIGHT);
        const appendMs = performance.now() - start;
        if (appended !== eventCount)
          throw new Error(`appended ${appended} of ${eventCount} events`);

        const readAllStart = performance.now();
        const readAll = await countRead(storage.readAll());
        const readAllMs = performance.now() - readAllStart;
        const readStreamStart = performance.now();
        const readStream = await countRead(storage.readStream(stream));
        const readStreamMs = performance.now() - readStreamStart;
        if (readAll !== eventCount || readStream !== eventCount) {
          throw new Error(
            `read back ${readAll} (readAll) and ${readStream} (readStream) of ${eventCount} events`,
          );
        }
        const awaitedMs = await timedAppend(
          ctx.tempPath('storage-awaited.sqlite'),
          stream,
          batches,
          1,
        );
        const burstMs = await timedAppend(
          ctx.tempPath('storage-burst.sqlite'),
          stream,
          batches,
          BURST_IN_FLIGHT,
        );
        // The sealed and unsealed figures of the ratio are taken back to back on fresh
        // stores with a warm main thread, in an order that alternates from round to round
        // (the first append of a process also pays for compiling the encoder).
        const sealedFirst = sealedPairs++ % 2 === 0;
        let sealedMs = 0;
        let unsealedMs = 0;
        for (const sealed of sealedFirst ? [true, false] : [false, true]) {
          const ms = await timedAppend(
            ctx.tempPath(sealed ? 'storage-sealed.sqlite' : 'storage-unsealed.sqlite'),
            stream,
            batches,
            SUSTAINED_IN_FLIGHT,
            sealed ? undefined : false,
          );
          if (sealed) sealedMs = ms;
          else unsealedMs = ms;
        }
        const allIdsMs = await timedAppend(
          ctx.tempPath('storage-all-ids.sqlite'),
          stream,
          ctx.dataset.batchesAllIds,
          SUSTAINED_IN_FLIGHT,
        );
        return [
          {
            name: 'storage.append_events_per_s',
            value: perSecond(eventCount, appendMs),
            unit: 'events/s',
            better: 'higher',
          },
          {
            name: 'storage.append_events_per_s_awaited',
            value: perSecond(eventCount, awaitedMs),
            unit: 'events/s',
            better: 'higher',
          },
          {
            name: 'storage.append_events_per_s_burst',
            value: perSecond(eventCount, burstMs),
            unit: 'events/s',
            better: 'higher',
          },
          {
            name: 'storage.append_events_per_s_sealed',
            value: perSecond(eventCount, sealedMs),
            unit: 'events/s',
            better: 'higher',
            note: 'as storage.append_events_per_s (sealing on, the default), on a fresh store next to _unsealed',
          },
          {
            name: 'storage.append_events_per_s_unsealed',
            value: perSecond(eventCount, unsealedMs),
            unit: 'events/s',
            better: 'higher',
            note: 'as storage.append_events_per_s_sealed with seal: false, back to back with it (order alternating by round)',
          },
          {
            name: 'storage.append_events_per_s_all_ids',
            value: perSecond(eventCount, allIdsMs),
            unit: 'events/s',
            better: 'higher',
          },
          {
            name: 'storage.read_events_per_s',
            value: perSecond(readAll, readAllMs),
            unit: 'events/s',
            better: 'higher',
          },
          {
            name: 'storage.read_stream_events_per_s',
            value: perSecond(readStream, readStreamMs),
            unit: 'events/s',
            better: 'higher',
          },
        ];
      } finally {
        await storage.close();
      }
    } finally {
      removeDatabase(file);
    }
  },
};

/** What one session written into a fresh store took on disk, and how fast it reads back. */
interface SessionSize {
  readonly events: number;
  readonly bytes: number;
  readonly readStreamMs: number;
  readonly readAllMs: number;
}

/**
 * Writes the session into a fresh store, batch by batch; with sealing, waits until the
 * writer has sealed every stream down to less than one segment of hot rows (the live
 * tail), then checkpoints (TRUNCATE), measures database + WAL, and times a full
 * `readStream` and `readAll`.
 */
async function sessionSize(
  file: string,
  session: ReturnType<typeof simulateSession>,
  batchSize: number,
  seal?: false,
): Promise<SessionSize> {
  const storage = await openStorage(file, seal);
  try {
    const stream = sessionStream(session.sessionId);
    const events = await appendAll(
      storage,
      stream,
      chunkEvents(session, batchSize),
      SUSTAINED_IN_FLIGHT,
    );
    if (seal !== false) {
      // Default sealing: segments of 3600 events; the tail below that stays hot.
      for (let i = 0; i < 6000; i++) {
        const hot = await storage.db
          .selectFrom('events')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow();
        if (Number(hot.n) < 3600) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const checkpoint = await storage.checkpoint('truncate');
    if (checkpoint.busy) throw new Error('checkpoint(TRUNCATE) could not finish: the WAL is busy');
    const bytes = databaseBytes(file).total;
    let start = performance.now();
    const readStream = await countRead(storage.readStream(stream));
    const readStreamMs = performance.now() - start;
    start = performance.now();
    const readAll = await countRead(storage.readAll());
    const readAllMs = performance.now() - start;
    if (readStream !== events || readAll !== events) {
      throw new Error(`read back ${readStream} / ${readAll} of ${events} events`);
    }
    return { events, bytes, readStreamMs, readAllMs };
  } finally {
    await storage.close();
    removeDatabase(file);
  }
}

/**
 * `storage.bytes_per_event` and `storage.mb_per_hour`: a 60 Hz session of
 * `sizeMinutes` (one hour by default) written batch by batch with sealing off, then
 * measured on disk (database + WAL) after `checkpoint('truncate')`;
 * `storage.bytes_per_event_sealed` and `storage.mb_per_hour_sealed` the same with the
 * default sealing (compressed segments, a live tail of under 3600 hot rows), and
 * `storage.read_sealed_events_per_s` / `storage.read_all_sealed_events_per_s` the full
 * `readStream` / `readAll` of that sealed session (a cold segment cache).
 */
export const storageSizeCase: BenchCase = {
  name: 'storage-size',
  description: 'WIRTHFORGE storage-sqlite: bytes on disk of a simulated 60 Hz session',
  once: true,
  async run(ctx) {
    const { sizeMinutes, seed, batchSize } = ctx.options;
    const session = simulateSession({ seed, durationSeconds: sizeMinutes * 60 });
    const plain = await sessionSize(ctx.tempPath('storage-size.sqlite'), session, batchSize, false);
    const sealed = await sessionSize(
      ctx.tempPath('storage-size-sealed.sqlite'),
      session,
      batchSize,
    );
    return [
      {
        name: 'storage.bytes_per_event',
        value: plain.bytes / plain.events,
        unit: 'B/event',
        better: 'lower',
        note: sizeNote(sizeMinutes, plain.events, plain.bytes, false),
      },
      {
        name: 'storage.mb_per_hour',
        value: (plain.bytes * 60) / sizeMinutes / 1e6,
        unit: 'MB/h',
        better: 'lower',
        note: sizeNote(sizeMinutes, plain.events, plain.bytes),
      },
      {
        name: 'storage.bytes_per_event_sealed',
        value: sealed.bytes / sealed.events,
        unit: 'B/event',
        better: 'lower',
        note: sizeNote(sizeMinutes, sealed.events, sealed.bytes, false),
      },
      {
        name: 'storage.mb_per_hour_sealed',
        value: (sealed.bytes * 60) / sizeMinutes / 1e6,
        unit: 'MB/h',
        better: 'lower',
        note: sizeNote(sizeMinutes, sealed.events, sealed.bytes),
      },
      {
        name: 'storage.read_sealed_events_per_s',
        value: perSecond(sealed.events, sealed.readStreamMs),
        unit: 'events/s',
        better: 'higher',
      },
      {
        name: 'storage.read_all_sealed_events_per_s',
        value: perSecond(sealed.events, sealed.readAllMs),
        unit: 'events/s',
        better: 'higher',
      },
    ];
  },
};
