/**
 * One writer process per database: `<database>.lock` holds the owner's pid, host, start
 * time and a random token. A second process refuses to open the database with a `locked`
 * error; a lock whose process no longer runs is taken over.
 */
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { hostname } from 'node:os';

import { StorageError } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';

/** What a lock file records about its owner. */
export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  /** ISO-8601 time the lock was taken. */
  readonly startedAt: string;
  /** The owner process's start time in clock ticks since boot (Linux), to detect pid reuse. */
  readonly processStart: string | null;
  readonly token: string;
}

/** A held lock. */
export interface LockFile {
  readonly path: string;
  readonly owner: LockOwner;
  /** Removes the lock file if it is still ours. Idempotent. */
  release(): void;
}

const heldInThisProcess = new Set<string>();

/** The lock file path of a database. */
export function lockFilePath(databasePath: string): string {
  return `${databasePath}.lock`;
}

function processStart(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22; the command name (field 2) may hold spaces, so count after its ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

function isAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  // The pid exists; if it started at another time, it is a different process.
  if (owner.processStart !== null) {
    const start = processStart(owner.pid);
    if (start !== null && start !== owner.processStart) return false;
  }
  return true;
}

/** Reads a lock file; undefined when it does not exist or cannot be parsed. */
export function readLockFile(path: string): LockOwner | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.pid !== 'number' || typeof value.token !== 'string') return undefined;
    return {
      pid: value.pid,
      hostname: typeof value.hostname === 'string' ? value.hostname : '',
      startedAt: typeof value.startedAt === 'string' ? value.startedAt : '',
      processStart: typeof value.processStart === 'string' ? value.processStart : null,
      token: value.token,
    };
  } catch {
    return undefined;
  }
}

function lockedError(databasePath: string, owner: LockOwner): StorageError {
  return new StorageError(
    'locked',
    `database ${databasePath} is in use by process ${owner.pid} on ${owner.hostname} since ` +
      `${owner.startedAt}; stop that process or wait for it to exit (a lock left by a process ` +
      `that no longer runs is taken over automatically), then try again`,
  );
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Takes the lock of `databasePath`.
 *
 * @throws StorageError `locked` when a live process (this one included) holds it.
 *
 * @example
 * ```ts
 * const lock = acquireLockFile('/data/state.db');
 * try { ... } finally { lock.release(); }
 * ```
 */
export function acquireLockFile(databasePath: string): LockFile {
  const path = lockFilePath(databasePath);
  if (heldInThisProcess.has(path)) {
    const owner = readLockFile(path);
    throw new StorageError(
      'locked',
      `database ${databasePath} is already open in this process (pid ${process.pid}` +
        `${owner === undefined ? '' : ` since ${owner.startedAt}`}); close it first`,
    );
  }
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
    processStart: processStart(process.pid),
    token: randomBytes(12).toString('hex'),
  };
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw toSqliteStorageError(error, `cannot create the lock file ${path}`);
      }
      let existing = readLockFile(path);
      if (existing === undefined) {
        // Created but not written yet by a starting process, or left empty by a crash.
        sleepSync(50);
        existing = readLockFile(path);
      }
      if (existing !== undefined && existing.hostname !== owner.hostname) {
        // A pid on another machine cannot be checked: never take such a lock over.
        throw lockedError(databasePath, existing);
      }
      if (existing !== undefined && existing.pid !== process.pid && isAlive(existing)) {
        throw lockedError(databasePath, existing);
      }
      // Stale: its process is gone (or it is an earlier life of this pid). Move it aside
      // atomically so two processes taking it over do not both delete each other's lock.
      const aside = `${path}.stale-${process.pid}-${owner.token}`;
      try {
        renameSync(path, aside);
        unlinkSync(aside);
      } catch (renameError) {
        if ((renameError as NodeJS.ErrnoException).code !== 'ENOENT') {
          throw toSqliteStorageError(renameError, `cannot take over the stale lock ${path}`);
        }
      }
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(owner));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    heldInThisProcess.add(path);
    let released = false;
    return {
      path,
      owner,
      release(): void {
        if (released) return;
        released = true;
        heldInThisProcess.delete(path);
        if (readLockFile(path)?.token === owner.token) {
          try {
            unlinkSync(path);
          } catch {
            // Already gone: nothing to release.
          }
        }
      },
    };
  }
  const existing = readLockFile(path);
  if (existing !== undefined) throw lockedError(databasePath, existing);
  throw new StorageError('locked', `cannot take the lock file ${path}: it keeps changing`);
}
