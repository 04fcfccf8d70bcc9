/** Who holds a database's writer lock (the daemon, another tool, nobody). */
import { hostname } from 'node:os';

import { lockFilePath, readLockFile } from '@wirthforge/storage-sqlite';

/** The writer lock as seen from here. */
export interface WriterLockState {
  /** A lock file exists. */
  readonly present: boolean;
  /** Its process runs (on this host); false for a stale lock, null when it cannot be told. */
  readonly alive: boolean | null;
  readonly pid: number | null;
  readonly hostname: string | null;
  readonly since: string | null;
  readonly path: string;
}

function processRuns(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Reads the lock file of `database` and checks whether its owner still runs. */
export function writerLockState(database: string): WriterLockState {
  const path = lockFilePath(database);
  const owner = readLockFile(path);
  if (owner === undefined) {
    return { present: false, alive: null, pid: null, hostname: null, since: null, path };
  }
  const alive = owner.hostname === hostname() ? processRuns(owner.pid) : null;
  return {
    present: true,
    alive,
    pid: owner.pid,
    hostname: owner.hostname,
    since: owner.startedAt,
    path,
  };
}

/** One line about the lock: who writes, or that nobody does. */
export function describeLock(state: WriterLockState): string {
  if (!state.present) return 'not running (no writer lock)';
  if (state.alive === false)
    return `not running (stale lock of pid ${state.pid}, taken over at next start)`;
  const where = state.alive === null ? ` on ${state.hostname}` : '';
  return `running: pid ${state.pid}${where} holds the writer lock since ${state.since}`;
}
