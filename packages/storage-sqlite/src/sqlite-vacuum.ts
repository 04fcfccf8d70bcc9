/**
 * Compacting a database file: checkpoint the WAL into it, `VACUUM` (rebuild the file
 * without free pages), truncate the WAL. Needs the writer lock, or (beside a writer that
 * holds it and empties the WAL itself) only the `VACUUM` of {@link vacuumBesideWriter}.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { StorageError } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { acquireLockFile } from './lock-file.js';
import { openConnection } from './sqlite-connection.js';

/** What {@link vacuumSqliteFile} did. */
export interface VacuumReport {
  readonly path: string;
  /** Database plus WAL before, in bytes. */
  readonly bytesBefore: number;
  /** Database plus WAL after, in bytes. */
  readonly bytesAfter: number;
  /** Free pages before (what VACUUM gave back). */
  readonly freePagesBefore: number;
}

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * Checkpoints, vacuums and truncates the WAL of the database at `path`. Refuses with
 * `locked` while another process holds the writer lock, `busy` when a reader keeps the
 * WAL from being emptied.
 *
 * @example
 * ```ts
 * const { bytesBefore, bytesAfter } = vacuumSqliteFile('/data/state.db');
 * ```
 */
export function vacuumSqliteFile(
  path: string,
  options: { readonly busyTimeoutMs?: number } = {},
): VacuumReport {
  const database = resolve(path);
  if (!existsSync(database)) throw new StorageError('io', `no database at ${database}`);
  const lock = acquireLockFile(database);
  try {
    const connection = openConnection(database, {
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
    try {
      connection.pragma('journal_mode = WAL');
      const bytesBefore = size(database) + size(`${database}-wal`);
      const freePagesBefore = Number(connection.pragma('freelist_count', { simple: true }));
      connection.pragma('wal_checkpoint(TRUNCATE)');
      connection.exec('VACUUM');
      const result = connection.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
      if (result[0]?.busy === 1) {
        throw new StorageError(
          'busy',
          `vacuum of ${database}: a reader kept the WAL from being emptied; try again`,
        );
      }
      return {
        path: database,
        bytesBefore,
        bytesAfter: size(database) + size(`${database}-wal`),
        freePagesBefore,
      };
    } finally {
      connection.close();
    }
  } catch (error) {
    throw toSqliteStorageError(error, `vacuum of ${database}`);
  } finally {
    lock.release();
  }
}

/**
 * The `VACUUM` alone, on a connection of its own, without the writer lock: for a writer
 * that holds the lock (the daemon) and empties the WAL itself before and after.
 * SQLite serialises the `VACUUM` with the writer's commits, which wait on its lock
 * (up to their busy timeout) meanwhile. Synchronous: {@link vacuumSqliteFileBesideWriter}
 * runs it on a maintenance thread.
 */
export function vacuumBesideWriter(
  path: string,
  options: { readonly busyTimeoutMs?: number } = {},
): { readonly freePagesBefore: number } {
  const database = resolve(path);
  try {
    const connection = openConnection(database, {
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
    try {
      const freePagesBefore = Number(connection.pragma('freelist_count', { simple: true }));
      connection.exec('VACUUM');
      return { freePagesBefore };
    } finally {
      connection.close();
    }
  } catch (error) {
    throw toSqliteStorageError(error, `vacuum of ${database}`);
  }
}
