import { Worker } from 'node:worker_threads';

import { StorageError, storageErrorFromJSON } from '@wirthforge/storage';
import type { StorageErrorJSON } from '@wirthforge/storage';

import type { BackupOptions, BackupReport } from './sqlite-backup.js';
import { openConnection } from './sqlite-connection.js';
import { databaseIdentity, readHeadMarker } from './sqlite-head-marker.js';
import type {
  IntegrityCheckOptions,
  IntegrityProblem,
  IntegrityReport,
} from './sqlite-integrity.js';
import type { PurgeOptions, PurgeTarget, PurgedRows } from './sqlite-purge.js';
import { inspectSqliteWal, missingCommits, readWalDamageReports } from './sqlite-wal-check.js';
import { readHeadPosition } from './sqlite-writer.js';
import { workerExecArgv } from './worker-exec-argv.js';

const WORKER_URL = new URL('../dist/sqlite-maintenance-worker.bundle.js', import.meta.url);

/** A job for a maintenance thread. */
export type MaintenanceTask =
  | {
      readonly task: 'backup';
      readonly source: string;
      readonly destination: string;
      readonly options: BackupOptions;
    }
  | {
      readonly task: 'integrity';
      readonly path: string;
      readonly busyTimeoutMs: number;
      readonly options: IntegrityCheckOptions;
    }
  | {
      readonly task: 'delete-streams';
      readonly path: string;
      readonly busyTimeoutMs: number;
      readonly target: PurgeTarget;
      readonly options: Pick<PurgeOptions, 'actor' | 'nowUs'>;
    }
  | { readonly task: 'vacuum'; readonly path: string; readonly busyTimeoutMs: number };

/** A maintenance thread's answer. */
export type MaintenanceResponse =
  | { readonly ok: true; readonly result: unknown }
  | { readonly ok: false; readonly error: StorageErrorJSON };

function runMaintenance(task: MaintenanceTask): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { workerData: task, execArgv: workerExecArgv() });
    let settled = false;
    worker.once('message', (response: MaintenanceResponse) => {
      settled = true;
      if (response.ok) resolve(response.result);
      else reject(storageErrorFromJSON(response.error));
    });
    worker.once('error', (error) => {
      settled = true;
      reject(
        new StorageError('io', `${task.task} thread failed: ${error.message}`, { cause: error }),
      );
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new StorageError('io', `${task.task} thread exited with code ${code}`));
    });
  });
}

/**
 * Backs up the database file at `source` to `destination` on a maintenance thread: a
 * consistent `VACUUM INTO` copy, synced, verified, then renamed into place. Safe while
 * another process or thread writes.
 *
 * @example
 * ```ts
 * const report = await backupSqliteFile('/data/state.db', '/backups/state-2025-08-17.db');
 * ```
 */
export async function backupSqliteFile(
  source: string,
  destination: string,
  options: BackupOptions = {},
): Promise<BackupReport> {
  return (await runMaintenance({ task: 'backup', source, destination, options })) as BackupReport;
}

/**
 * Deletes `target`'s streams (or everything) from the database at `path` for good:
 * `deleteStreams` in one transaction with `secure_delete`, on a maintenance thread and a
 * connection of its own, without the writer lock. For a writer that holds the lock (the
 * daemon) and no longer appends to those streams: SQLite serialises the transaction with
 * the writer's commits, and the caller's thread stays free meanwhile. The file is not
 * rebuilt: empty the WAL through the writer, then {@link vacuumSqliteFileBesideWriter}.
 *
 * @throws StorageError `invalid_argument` when none of the named streams exists, `busy`
 *   when the writer's lock is held longer than `busyTimeoutMs` (default 5000).
 *
 * @example
 * ```ts
 * const rows = await deleteSqliteStreams('/data/state.db', { streams: ['session-20250817T194800Z_001'] });
 * ```
 */
export async function deleteSqliteStreams(
  path: string,
  target: PurgeTarget,
  options: PurgeOptions = {},
): Promise<PurgedRows> {
  const { busyTimeoutMs, ...rest } = options;
  return (await runMaintenance({
    task: 'delete-streams',
    path,
    busyTimeoutMs: busyTimeoutMs ?? 5000,
    target,
    options: rest,
  })) as PurgedRows;
}

/**
 * The `VACUUM` of the database at `path` (the file rebuilt without free pages) on a
 * maintenance thread, without the writer lock: for a writer that holds it and empties
 * the WAL itself before and after (see `vacuumBesideWriter`). Resolves with the free pages
 * there were before.
 *
 * @example
 * ```ts
 * await storage.checkpoint('truncate');
 * const { freePagesBefore } = await vacuumSqliteFileBesideWriter(storage.path);
 * await storage.checkpoint('truncate');
 * ```
 */
export async function vacuumSqliteFileBesideWriter(
  path: string,
  options: { readonly busyTimeoutMs?: number } = {},
): Promise<{ readonly freePagesBefore: number }> {
  return (await runMaintenance({
    task: 'vacuum',
    path,
    busyTimeoutMs: options.busyTimeoutMs ?? 5000,
  })) as { freePagesBefore: number };
}

/**
 * The head as the writer counts it (purged and archived positions stay taken), and the
 * database's identity.
 */
function committedHead(path: string, report: IntegrityReport): [number, string] {
  try {
    const connection = openConnection(path, { readonly: true, fileMustExist: true });
    try {
      return [
        Math.max(Number(report.headPosition), readHeadPosition(connection)),
        databaseIdentity(connection),
      ];
    } finally {
      connection.close();
    }
  } catch {
    return [Number(report.headPosition), ''];
  }
}

/**
 * Runs {@link checkSqliteIntegrity} on the database file at `path` on a maintenance thread,
 * with its own read-only connection (safe while a writer writes).
 *
 * @example
 * ```ts
 * const report = await checkSqliteFileIntegrity('/backups/state.db');
 * if (!report.ok) console.error(report.problems);
 * ```
 */
export async function checkSqliteFileIntegrity(
  path: string,
  options: IntegrityCheckOptions & { readonly busyTimeoutMs?: number } = {},
): Promise<IntegrityReport> {
  const { busyTimeoutMs, ...rest } = options;
  // The marker first: read before the database's head, it can only be behind it unless
  // commits were lost.
  const marker = readHeadMarker(path);
  const found = inspectSqliteWal(path);
  const report = (await runMaintenance({
    task: 'integrity',
    path,
    busyTimeoutMs: busyTimeoutMs ?? 5000,
    options: rest,
  })) as IntegrityReport;
  const wal: IntegrityProblem[] = readWalDamageReports(path).map((damage) => ({
    kind: 'wal',
    finding: damage.kind,
    file: damage.report ?? path,
    message:
      `${damage.message} (found at an earlier open; report ${damage.report ?? '?'}` +
      `${damage.quarantine === undefined ? '' : `, the damaged WAL kept as ${damage.quarantine}`})`,
  }));
  const [head, identity] = marker === undefined ? [0, ''] : committedHead(path, report);
  // Frames after a failing one that the head marker does not claim are what a transaction
  // answered with an error left behind (see `salvageSqliteWal`), not damage.
  const unacknowledged =
    marker !== undefined &&
    marker.identity !== '' &&
    marker.identity === identity &&
    marker.head <= head;
  if (found !== undefined && !unacknowledged) {
    wal.push({ kind: 'wal', finding: found.kind, file: `${path}-wal`, message: found.message });
  }
  const missing = marker === undefined ? undefined : missingCommits(path, marker, head, identity);
  if (missing !== undefined) {
    wal.push({ kind: 'wal', finding: missing.kind, file: path, message: missing.message });
  }
  if (wal.length === 0) return report;
  return { ...report, ok: false, problems: [...wal, ...report.problems] };
}
