/**
 * The head marker: a small file beside the database (`<db>-head`, mode 0600) that the
 * writer overwrites after every commit with the committed head position and the identity
 * of the database. It is removed at a clean close, once the WAL is checkpointed into the
 * database file.
 *
 * It is what makes lost commits visible: SQLite discards the WAL from the first frame
 * whose checksum fails, and a deleted or cut WAL leaves no trace in the database; after
 * such a stop the marker still says which head was committed. It is written after the
 * COMMIT (never synced on its own), so it never claims more than was committed: a marker
 * ahead of the database means acknowledged commits were lost. It never opens the `-shm`
 * file: closing a second descriptor of it would drop SQLite's POSIX locks on it for the
 * whole process.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';

import { INITIAL_MIGRATION } from '@wirthforge/storage';

import type { SqliteConnection } from './sqlite-connection.js';

/** Bytes of the marker record (overwritten in place, padded with spaces). */
const MARKER_BYTES = 128;

/** What a head marker says. */
export interface HeadMarker {
  /**
   * The database it was written for (see {@link databaseIdentity}): a marker left beside
   * another database (a new file at the same path) says nothing about it.
   */
  readonly identity: string;
  /** Highest committed position. */
  readonly head: number;
}

/** Path of the head marker of the database at `path`. */
export function headMarkerPath(path: string): string {
  return `${path}-head`;
}

/**
 * What tells one database from another at the same path: when its schema was first
 * created (the time Kysely recorded for the initial migration), '' when unknown. Copies
 * and backups of a database keep it; a new file at the same path has another.
 */
export function databaseIdentity(connection: SqliteConnection): string {
  const created = connection
    .prepare('select timestamp from kysely_migration where name = ?')
    .pluck()
    .get(INITIAL_MIGRATION);
  return typeof created === 'string' ? created : '';
}

/**
 * Reads the head marker of the database at `path`; undefined when there is none or when
 * it cannot be parsed (a torn write).
 */
export function readHeadMarker(path: string): HeadMarker | undefined {
  let text: string;
  try {
    text = readFileSync(headMarkerPath(path), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text.trim()) as Partial<HeadMarker> & { v?: unknown };
    if (
      value.v !== 1 ||
      typeof value.identity !== 'string' ||
      typeof value.head !== 'number' ||
      !Number.isSafeInteger(value.head)
    ) {
      return undefined;
    }
    return {
      identity: value.identity,
      head: value.head,
    };
  } catch {
    return undefined;
  }
}

/**
 * The writer's side: keeps the marker file open and overwrites it after each commit.
 * Failures to write are ignored (the marker then says less, never more).
 */
export class HeadMarkerWriter {
  private fd: number | undefined;
  private readonly record = Buffer.alloc(MARKER_BYTES, 0x20);
  private identity = '';

  constructor(
    private readonly path: string,
    private readonly connection: SqliteConnection,
  ) {
    try {
      this.fd = openSync(headMarkerPath(path), 'w', 0o600);
    } catch {
      this.fd = undefined;
    }
  }

  /** Records `head` as committed (call after COMMIT). */
  write(head: number): void {
    if (this.fd === undefined) return;
    if (this.identity === '') {
      try {
        this.identity = databaseIdentity(this.connection);
      } catch {
        // asked again at the next commit
      }
    }
    const text = JSON.stringify({ v: 1, identity: this.identity, head });
    this.record.fill(0x20);
    this.record.write(text, 0, 'utf8');
    this.record[MARKER_BYTES - 1] = 0x0a;
    try {
      writeSync(this.fd, this.record, 0, MARKER_BYTES, 0);
    } catch {
      // A marker that could not be written says less, never more.
    }
  }

  /**
   * Closes the marker; `remove` (after a clean close whose checkpoint emptied the WAL)
   * deletes it, as nothing is left in a WAL to lose.
   */
  close(remove: boolean): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // already closed
      }
    }
    this.fd = undefined;
    if (remove) rmSync(headMarkerPath(this.path), { force: true });
  }
}
