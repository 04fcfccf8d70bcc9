/**
 * Online backup with `VACUUM INTO`: one read transaction on a read-only connection copies
 * a consistent snapshot while the writer keeps committing (the backup API would restart
 * on every write and never finish under a 60 Hz load). The copy is written to a temporary
 * file next to the destination, synced, verified (SQLite's integrity check and every
 * event's checksum), then renamed into place and the directory synced. A failure never
 * leaves the temporary file behind, and the destination appears only when verified.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  renameSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

import { StorageError } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';
import { checkSqliteIntegrity } from './sqlite-integrity.js';
import type { IntegrityReport } from './sqlite-integrity.js';

/** Options of a backup. */
export interface BackupOptions {
  /** Replace an existing destination file (default false: refuse). */
  readonly overwrite?: boolean;
  /** Use `quick_check` when verifying the copy (default false: `integrity_check`). */
  readonly quick?: boolean;
  /** Busy timeout of the source connection in ms (default 5000). */
  readonly busyTimeoutMs?: number;
}

/** What a backup produced. */
export interface BackupReport {
  /** Absolute path of the backup file. */
  readonly path: string;
  readonly bytes: number;
  /** Highest position in the backup: it holds exactly positions 1..headPosition. */
  readonly headPosition: bigint;
  /** The verification of the copy (always `ok`: a failed one throws). */
  readonly integrity: IntegrityReport;
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function removeQuietly(path: string): void {
  for (const file of [path, `${path}-journal`, `${path}-wal`, `${path}-shm`]) {
    try {
      unlinkSync(file);
    } catch {
      // Not there: nothing to clean.
    }
  }
}

/**
 * Copies the database at `sourcePath` to `destinationPath` (synchronously; the storage
 * runs it on a maintenance thread).
 *
 * @throws StorageError `invalid_argument` if the destination exists (without
 * `overwrite`) or is the source; `corrupt` if the copy fails verification; otherwise the
 * mapped SQLite or file-system error.
 */
export function backupSqliteDatabase(
  sourcePath: string,
  destinationPath: string,
  options: BackupOptions = {},
): BackupReport {
  const source = resolve(sourcePath);
  const destination = resolve(destinationPath);
  if (destination === source) {
    throw new StorageError(
      'invalid_argument',
      `backup destination ${destination} is the database itself`,
    );
  }
  if (!options.overwrite && existsSync(destination)) {
    throw new StorageError(
      'invalid_argument',
      `backup destination ${destination} already exists (pass overwrite to replace it)`,
    );
  }
  const temporary = `${dirname(destination)}/.${basename(destination)}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const connection = openConnection(source, {
      readonly: true,
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
    try {
      // Owner-only (0600) like the database: VACUUM INTO fills an empty file it is given.
      closeSync(openSync(temporary, 'wx', 0o600));
      connection.prepare('VACUUM INTO ?').run(temporary);
    } finally {
      connection.close();
    }
    fsyncPath(temporary, 'r+');

    const copy = openConnection(temporary, { readonly: true, fileMustExist: true });
    let integrity: IntegrityReport;
    try {
      integrity = checkSqliteIntegrity(copy, { quick: options.quick ?? false });
    } finally {
      copy.close();
    }
    if (!integrity.ok) {
      const first = integrity.problems[0]?.message ?? 'unknown problem';
      throw new StorageError(
        'corrupt',
        `the backup of ${source} failed verification (${integrity.problems.length} problem(s); first: ${first}); ` +
          'the source itself is likely damaged: run an integrity check on it',
      );
    }
    renameSync(temporary, destination);
    fsyncPath(dirname(destination), 'r');
    return {
      path: destination,
      bytes: statSync(destination).size,
      headPosition: integrity.headPosition,
      integrity,
    };
  } catch (error) {
    removeQuietly(temporary);
    throw toSqliteStorageError(error, `backup of ${source} to ${destination}`);
  }
}
