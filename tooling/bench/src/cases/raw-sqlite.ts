import Database from 'better-sqlite3';
import { parseIsoMicros } from '@wirthforge/events';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import { perSecond, type BenchCase, type Measurement } from '../bench-case.js';
import { chunkEvents, sessionStream } from '../bench-dataset.js';
import { databaseBytes, removeDatabase } from '../file-size.js';

/**
 * The floor every WIRTHFORGE number is compared with: plain better-sqlite3, one row per
 * event (`id INTEGER PRIMARY KEY, stream TEXT, type TEXT, ts INTEGER, payload TEXT`, the
 * payload being `JSON.stringify(event.data)`), no other index, one `BEGIN IMMEDIATE` ...
 * `COMMIT` per batch, WAL with `synchronous=FULL`. Encoding is inside the timed loop, as
 * it is for the other stores.
 */
export class RawSqliteWriter {
  readonly #db: Database.Database;
  readonly #insert: Database.Statement<[string, string, number, string]>;
  readonly #begin: Database.Statement;
  readonly #commit: Database.Statement;
  #events = 0;

  constructor(readonly file: string) {
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    const mode = this.#db.pragma('journal_mode', { simple: true });
    const sync = this.#db.pragma('synchronous', { simple: true });
    if (mode !== 'wal' || sync !== 2) {
      throw new Error(
        `raw baseline expected WAL and synchronous=FULL, got ${String(mode)}/${String(sync)}`,
      );
    }
    this.#db.exec(
      'CREATE TABLE events (id INTEGER PRIMARY KEY, stream TEXT NOT NULL, type TEXT NOT NULL, ts INTEGER NOT NULL, payload TEXT NOT NULL)',
    );
    this.#insert = this.#db.prepare(
      'INSERT INTO events (stream, type, ts, payload) VALUES (?, ?, ?, ?)',
    );
    this.#begin = this.#db.prepare('BEGIN IMMEDIATE');
    this.#commit = this.#db.prepare('COMMIT');
  }

  /** Writes one batch in one transaction. */
  writeBatch(stream: string, batch: readonly SimEvent[]): void {
    this.#begin.run();
    try {
      for (const event of batch) {
        this.#insert.run(
          stream,
          event.type,
          parseIsoMicros(event.timestamp),
          JSON.stringify(event.data),
        );
      }
      this.#commit.run();
    } catch (error) {
      if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
      throw error;
    }
    this.#events += batch.length;
  }

  /** Rows in the table, counted by SQLite. */
  countRows(): number {
    return (this.#db.prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;
  }

  /** Checkpoints the WAL into the database and truncates it, then closes. */
  close(): void {
    this.#db.pragma('wal_checkpoint(TRUNCATE)');
    this.#db.close();
  }

  get events(): number {
    return this.#events;
  }
}

/** `raw.rows_per_s` and `raw.bytes_per_event` on the run's dataset. */
export const rawSqliteCase: BenchCase = {
  name: 'raw',
  description: 'plain better-sqlite3 rows, one transaction per batch, WAL + synchronous=FULL',
  run(ctx) {
    const file = ctx.tempPath('raw.sqlite');
    const { batches, stream, eventCount } = ctx.dataset;
    try {
      const writer = new RawSqliteWriter(file);
      const start = performance.now();
      for (const batch of batches) writer.writeBatch(stream, batch);
      const elapsed = performance.now() - start;
      const rows = writer.countRows();
      writer.close();
      if (rows !== eventCount) throw new Error(`wrote ${eventCount} rows, table has ${rows}`);
      const measurements: Measurement[] = [
        {
          name: 'raw.rows_per_s',
          value: perSecond(rows, elapsed),
          unit: 'rows/s',
          better: 'higher',
        },
        {
          name: 'raw.bytes_per_event',
          value: databaseBytes(file).total / rows,
          unit: 'B/event',
          better: 'lower',
        },
      ];
      return Promise.resolve(measurements);
    } finally {
      removeDatabase(file);
    }
  },
};

/**
 * `raw.mb_per_hour`: the baseline's size for a 60 Hz session of `sizeMinutes`
 * (extrapolated to one hour when shorter), for comparison with the storage's.
 */
export const rawSizeCase: BenchCase = {
  name: 'raw-size',
  description: 'plain better-sqlite3 rows: bytes on disk of a simulated 60 Hz session',
  once: true,
  run(ctx) {
    const { sizeMinutes, seed, batchSize } = ctx.options;
    const file = ctx.tempPath('raw-size.sqlite');
    try {
      const session = simulateSession({ seed, durationSeconds: sizeMinutes * 60 });
      const stream = sessionStream(session.sessionId);
      const writer = new RawSqliteWriter(file);
      for (const batch of chunkEvents(session, batchSize)) writer.writeBatch(stream, batch);
      const rows = writer.countRows();
      writer.close();
      const bytes = databaseBytes(file).total;
      const perHour = (bytes * 60) / sizeMinutes / 1e6;
      return Promise.resolve([
        {
          name: 'raw.mb_per_hour',
          value: perHour,
          unit: 'MB/h',
          better: 'lower',
          note: sizeNote(sizeMinutes, rows, bytes),
        },
      ]);
    } finally {
      removeDatabase(file);
    }
  },
};

/** How a size figure was obtained: `perHour` for the MB/h metric, else for bytes per event. */
export function sizeNote(minutes: number, events: number, bytes: number, perHour = true): string {
  const what = `${events.toLocaleString('en-US')} events, ${bytes.toLocaleString('en-US')} B after checkpoint(TRUNCATE)`;
  if (!perHour) return `on a ${minutes}-minute 60 Hz session (${what})`;
  return minutes === 60
    ? `measured on a one-hour 60 Hz session (${what}; MB = 10^6 B)`
    : `extrapolated to one hour from a ${minutes}-minute 60 Hz session (${what}; MB = 10^6 B)`;
}
