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
}

/** The pragmas as read back from the connection after setting them. */
export interface SqlitePragmaReport {
  readonly journalMode: string;
  readonly synchronous: SynchronousMode;
  readonly foreignKeys: boolean;
  readonly busyTimeoutMs: number;
  readonly walAutocheckpointPages: number;
  readonly journalSizeLimitBytes: number;
}

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

  const report: SqlitePragmaReport = {
    journalMode: String(simple(connection, 'journal_mode')).toLowerCase(),
    synchronous: Number(simple(connection, 'synchronous')) === 2 ? 'full' : 'normal',
    foreignKeys: Number(simple(connection, 'foreign_keys')) === 1,
    busyTimeoutMs: Number(simple(connection, 'busy_timeout')),
    walAutocheckpointPages: Number(simple(connection, 'wal_autocheckpoint')),
    journalSizeLimitBytes: Number(simple(connection, 'journal_size_limit')),
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
  if (problems.length > 0) {
    throw new StorageError(
      'io',
      `${connection.name}: SQLite did not accept the writer's settings (${problems.join('; ')})`,
    );
  }
  return report;
}

/** Configures a read connection: `busy_timeout` and `query_only`. */
export function applyReaderPragmas(connection: SqliteConnection, busyTimeoutMs: number): void {
  connection.pragma(`busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  connection.pragma('query_only = ON');
}
