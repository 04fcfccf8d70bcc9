import type { Event } from '@event-driven-io/emmett';
import {
  getSQLiteEventStore,
  sqliteConnection,
  type SQLiteConnection,
  type SQLiteEventStore,
} from '@event-driven-io/emmett-sqlite';
import type { SimEvent } from '@wirthforge/simulator';
import { perSecond, type BenchCase } from '../bench-case.js';
import { databaseBytes, removeDatabase } from '../file-size.js';

type EmmettEvent = Event<string, Record<string, unknown>, Record<string, unknown>>;

/** The event as an Emmett event: schema data as `data`, envelope fields as `metadata`. */
function toEmmettEvent(event: SimEvent): EmmettEvent {
  return {
    type: event.type,
    data: event.data as unknown as Record<string, unknown>,
    metadata: {
      timestamp: event.timestamp,
      ...(event.frame_id !== undefined ? { frame_id: event.frame_id } : {}),
      ...(event.event_id !== undefined ? { event_id: event.event_id } : {}),
    },
  };
}

/**
 * Emmett's SQLite event store in its fastest configuration: one shared connection
 * (`connectionOptions: { singleton: true, connection }`; without a connection the
 * pool opens a new one per call for a file database), WAL (Emmett's default) with
 * `synchronous=FULL` set explicitly to match the other stores, schema created up front,
 * and the known stream version passed so no lookup precedes an append.
 */
export async function openEmmettStore(
  file: string,
): Promise<{ store: SQLiteEventStore; connection: SQLiteConnection }> {
  const connection = sqliteConnection({ fileName: file });
  // Emmett sends `journal_mode = WAL` without waiting for it; node-sqlite3 may run the
  // next statement first, so set it again and wait, then synchronous after it.
  await connection.command('PRAGMA journal_mode = WAL');
  await connection.command('PRAGMA synchronous = FULL');
  const [mode] = await connection.query<{ journal_mode: string }>('PRAGMA journal_mode');
  const [sync] = await connection.query<{ synchronous: number }>('PRAGMA synchronous');
  if (mode?.journal_mode !== 'wal' || sync?.synchronous !== 2) {
    throw new Error(
      `Emmett connection expected WAL and synchronous=FULL, got ${mode?.journal_mode}/${sync?.synchronous}`,
    );
  }
  const store = getSQLiteEventStore({
    fileName: file,
    connectionOptions: { singleton: true, connection },
    schema: { autoMigration: 'CreateOrUpdate' },
  });
  await store.schema.migrate();
  return { store, connection };
}

async function closeEmmett(connection: SQLiteConnection, file: string): Promise<number> {
  await connection.command('PRAGMA wal_checkpoint(TRUNCATE)');
  const bytes = databaseBytes(file).total;
  connection.close();
  return bytes;
}

/** `emmett.append_events_per_s` (batches), `emmett.read_events_per_s`, `emmett.bytes_per_event`. */
export const emmettCase: BenchCase = {
  name: 'emmett',
  description: "Emmett's SQLite event store: appendToStream per batch, then readStream",
  async run(ctx) {
    const file = ctx.tempPath('emmett.sqlite');
    const { batches, stream, eventCount } = ctx.dataset;
    try {
      const { store, connection } = await openEmmettStore(file);
      let version = 0n;
      const start = performance.now();
      for (const batch of batches) {
        const result = await store.appendToStream(stream, batch.map(toEmmettEvent), {
          expectedStreamVersion: version,
        });
        version = result.nextExpectedStreamVersion;
      }
      const appendMs = performance.now() - start;
      if (version !== BigInt(eventCount)) {
        throw new Error(`Emmett stream version ${version} after appending ${eventCount} events`);
      }
      const readStart = performance.now();
      const read = await store.readStream(stream);
      const readMs = performance.now() - readStart;
      if (read.events.length !== eventCount) {
        throw new Error(`Emmett read ${read.events.length} of ${eventCount} events`);
      }
      const bytes = await closeEmmett(connection, file);
      return [
        {
          name: 'emmett.append_events_per_s',
          value: perSecond(eventCount, appendMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'emmett.read_events_per_s',
          value: perSecond(read.events.length, readMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'emmett.bytes_per_event',
          value: bytes / eventCount,
          unit: 'B/event',
          better: 'lower',
        },
      ];
    } finally {
      removeDatabase(file);
    }
  },
};

/** `emmett.append_events_per_s_single`: one event per `appendToStream`, one transaction each. */
export const emmettSingleCase: BenchCase = {
  name: 'emmett-single',
  description: "Emmett's SQLite event store: one appendToStream per event",
  async run(ctx) {
    const file = ctx.tempPath('emmett-single.sqlite');
    const { batches, stream } = ctx.dataset;
    const events = batches.flat().slice(0, ctx.options.singleEvents);
    try {
      const { store, connection } = await openEmmettStore(file);
      let version = 0n;
      const start = performance.now();
      for (const event of events) {
        const result = await store.appendToStream(stream, [toEmmettEvent(event)], {
          expectedStreamVersion: version,
        });
        version = result.nextExpectedStreamVersion;
      }
      const elapsed = performance.now() - start;
      if (version !== BigInt(events.length)) {
        throw new Error(`Emmett stream version ${version} after ${events.length} single appends`);
      }
      await closeEmmett(connection, file);
      return [
        {
          name: 'emmett.append_events_per_s_single',
          value: perSecond(events.length, elapsed),
          unit: 'events/s',
          better: 'higher',
          note: `${events.length} events, one appendToStream each`,
        },
      ];
    } finally {
      removeDatabase(file);
    }
  },
};
