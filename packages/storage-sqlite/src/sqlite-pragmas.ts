import { StorageError } from '@wirthforge/storage';

import type { SqliteConnection } from './sqlite-connection.js';

/** Durability of a commit. */
export type SynchronousMode = 'full' | 'normal';

/** Pragmas of the write connection. */
export interface WriterPragmaOptions {
  /**
   * `full` (default): the WAL is synced at every commit, so an acknowledged event survives
   * power loss. `normal`: synced at checkpoints only, so it survives a process crash but
   * the last commits may be lost on power loss.
   */
  readonly synchronous: SynchronousMode;
  readonly busyTimeoutMs: number;
  /** WAL size in pages that triggers an automatic checkpoint after a commit. */
  readonly walAutocheckpointPages: number;
  /** Size the WAL file is truncated back to after a checkpoint, in bytes. */
  readonly journalSizeLimitBytes: number;
  /**
   * SQLite's page cache of the connection, in KiB (`cache_size = -N`); default
   * {@link WRITER_CACHE_KIB}.
   */
  readonly cacheSizeKiB?: number;
}

/** The pragmas as read back from the connection after setting them. */
export interface SqlitePragmaReport {
  readonly journalMode: string;
  readonly synchronous: SynchronousMode;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
  readonly walAutocheckpointPages: number;
  readonly journalSizeLimitBytes: number;
  /** The page cache, in KiB. */
  readonly cacheSizeKiB: number;
}

/**
 * The write connection's default page cache, in KiB. better-sqlite3 builds SQLite with
 * 16 000 KiB per connection, and a connection that runs for hours fills it (a page once
 * read stays cached), which is that much resident memory per connection. The writer
 * touches the right edge of the tables and indexes it appends to, and the hot rows the
 * sealing deletes: a few hundred pages. Measured with the storage bench: the same append
 * rate (see the package README).
 */
export const WRITER_CACHE_KIB = 2048;

/**
 * The sealing thread's page cache, in KiB: it reads each hot range once (the pages come
 * from the WAL and the OS's cache) and never reads it again once sealed.
 */
export const SEAL_CACHE_KIB = 1024;

const SYNCHRONOUS_VALUES: Readonly<Record<SynchronousMode, number>> = { normal: 1, full: 2 };

function simple(connection: SqliteConnection, pragma: string): unknown {
  return connection.pragma(pragma, { simple: true });
}

/**
 * Configures the write connection, in this order: `journal_mode=WAL` first (it decides
 * what `synchronous` means), then `synchronous`, `foreign_keys`, `busy_timeout`,
 * `wal_autocheckpoint` and `journal_size_limit`; then reads every one back and throws
 * `io` if the engine did not take it (e.g. WAL refused on a file system without shared
 * memory).
 *
 * @example
 * ```ts
 * const report = applyWriterPragmas(connection, {
 *   synchronous: 'full', busyTimeoutMs: 5000, walAutocheckpointPages: 1000,
 *   journalSizeLimitBytes: 64 * 1024 * 1024,
 * });
 * ```
 */
export function applyWriterPragmas(
  connection: SqliteConnection,
  options: WriterPragmaOptions,
): SqlitePragmaReport {
  const journalMode = String(simple(connection, 'journal_mode = WAL')).toLowerCase();
  connection.pragma(`synchronous = ${options.synchronous.toUpperCase()}`);
  connection.pragma('foreign_keys = ON');
  connection.pragma(`busy_timeout = ${Math.trunc(options.busyTimeoutMs)}`);
  connection.pragma(`wal_autocheckpoint = ${Math.trunc(options.walAutocheckpointPages)}`);
  connection.pragma(`journal_size_limit = ${Math.trunc(options.journalSizeLimitBytes)}`);
  const cacheSizeKiB = options.cacheSizeKiB ?? WRITER_CACHE_KIB;
  setCacheSize(connection, cacheSizeKiB);

  const report: SqlitePragmaReport = {
    journalMode: String(simple(connection, 'journal_mode')).toLowerCase(),
    synchronous: Number(simple(connection, 'synchronous')) === 2 ? 'full' : 'normal',
    foreignKeys: Number(simple(connection, 'foreign_keys')) === 1,
    busyTimeoutMs: Number(simple(connection, 'busy_timeout')),
    walAutocheckpointPages: Number(simple(connection, 'wal_autocheckpoint')),
    journalSizeLimitBytes: Number(simple(connection, 'journal_size_limit')),
    cacheSizeKiB: -Number(simple(connection, 'cache_size')),
  };
  const problems: string[] = [];
  if (journalMode !== 'wal' || report.journalMode !== 'wal') {
    problems.push(`journal_mode is ${report.journalMode}, not wal`);
  }
  const sync = Number(simple(connection, 'synchronous'));
  if (sync !== SYNCHRONOUS_VALUES[options.synchronous]) {
    problems.push(`synchronous is ${sync}, not ${options.synchronous}`);
  }
  if (!report.foreignKeys) problems.push('foreign_keys is off');
  if (report.busyTimeoutMs !== Math.trunc(options.busyTimeoutMs)) {
    problems.push(`busy_timeout is ${report.busyTimeoutMs}`);
  }
  if (report.walAutocheckpointPages !== Math.trunc(options.walAutocheckpointPages)) {
    problems.push(`wal_autocheckpoint is ${report.walAutocheckpointPages}`);
  }
  if (report.journalSizeLimitBytes !== Math.trunc(options.journalSizeLimitBytes)) {
    problems.push(`journal_size_limit is ${report.journalSizeLimitBytes}`);
  }
  if (report.cacheSizeKiB !== cacheSizeKiB) {
    problems.push(`cache_size is ${-report.cacheSizeKiB}, not -${cacheSizeKiB}`);
  }
  if (problems.length > 0) {
    throw new StorageError(
      'io',
      `${connection.name}: SQLite did not accept the writer's settings (${problems.join('; ')})`,
    );
  }
  return report;
}

/**
 * Sets the connection's page cache to `kib` KiB (`cache_size = -kib`).
 *
 * @throws StorageError `invalid_argument` when `kib` is not a positive integer.
 */
export function setCacheSize(connection: SqliteConnection, kib: number): void {
  if (!Number.isSafeInteger(kib) || kib < 1) {
    throw new StorageError(
      'invalid_argument',
      `${connection.name}: cache size must be a positive whole number of KiB, got ${kib}`,
    );
  }
  connection.pragma(`cache_size = -${kib}`);
}

/**
 * Configures a read connection: `busy_timeout`, `query_only` and, when given, its page
 * cache in KiB (otherwise SQLite's default is kept).
 */
export function applyReaderPragmas(
  connection: SqliteConnection,
  busyTimeoutMs: number,
  cacheSizeKiB?: number,
): void {
  connection.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  connection.pragma('query_only = ON');
  if (cacheSizeKiB !== undefined) setCacheSize(connection, cacheSizeKiB);
}
