import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { acquireLockFile, lockFilePath, readLockFile } from './lock-file.js';

let dir: string;
let db: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'wf-lock-'));
  db = join(dir, 'state.db');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has already exited. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

function lockedMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(isStorageError(error, 'locked')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected a locked error');
}

describe('lock file', () => {
  it('records the owner and removes itself on release', () => {
    const lock = acquireLockFile(db);
    expect(lock.path).toBe(`${db}.lock`);
    const owner = readLockFile(lockFilePath(db));
    expect(owner).toMatchObject({
      pid: process.pid,
      hostname: hostname(),
      token: lock.owner.token,
    });
    expect(Date.parse(owner!.startedAt)).not.toBeNaN();
    lock.release();
    lock.release();
    expect(existsSync(lock.path)).toBe(false);
  });

  it('refuses a second owner in the same process', () => {
    const lock = acquireLockFile(db);
    expect(lockedMessage(() => acquireLockFile(db))).toContain('already open in this process');
    lock.release();
    acquireLockFile(db).release();
  });

  it('refuses a lock held by a live process, naming it', () => {
    // The parent of this process is alive for as long as the test runs.
    writeFileSync(
      lockFilePath(db),
      JSON.stringify({
        pid: process.ppid,
        hostname: hostname(),
        startedAt: '2025-08-17T19:48:00.000Z',
        processStart: null,
        token: 't',
      }),
    );
    const message = lockedMessage(() => acquireLockFile(db));
    expect(message).toContain(`database ${db} is in use by process ${process.ppid}`);
    expect(message).toContain('since 2025-08-17T19:48:00.000Z');
    expect(message).toContain('stop that process');
    expect(readLockFile(lockFilePath(db))?.token).toBe('t');
  });

  it('takes over a lock left by a dead process', () => {
    const pid = deadPid();
    writeFileSync(
      lockFilePath(db),
      JSON.stringify({
        pid,
        hostname: hostname(),
        startedAt: '2025-01-01T00:00:00.000Z',
        processStart: null,
        token: 'old',
      }),
    );
    const lock = acquireLockFile(db);
    expect(readLockFile(lock.path)?.pid).toBe(process.pid);
    lock.release();
  });

  it('takes over a lock whose pid now belongs to a process started later', () => {
    writeFileSync(
      lockFilePath(db),
      JSON.stringify({
        pid: process.ppid,
        hostname: hostname(),
        startedAt: '',
        processStart: '1',
        token: 'reused',
      }),
    );
    const lock = acquireLockFile(db);
    expect(readLockFile(lock.path)?.token).toBe(lock.owner.token);
    lock.release();
  });

  it('takes over an empty or unreadable lock file', () => {
    writeFileSync(lockFilePath(db), '');
    acquireLockFile(db).release();
    writeFileSync(lockFilePath(db), '{not json');
    acquireLockFile(db).release();
  });

  it('never takes over a lock from another host', () => {
    writeFileSync(
      lockFilePath(db),
      JSON.stringify({
        pid: deadPid(),
        hostname: `${hostname()}-elsewhere`,
        startedAt: 'x',
        processStart: null,
        token: 'far',
      }),
    );
    expect(lockedMessage(() => acquireLockFile(db))).toContain(`on ${hostname()}-elsewhere`);
  });

  it('does not remove a lock that is no longer its own', () => {
    const lock = acquireLockFile(db);
    writeFileSync(lock.path, JSON.stringify({ ...lock.owner, token: 'someone-else' }));
    lock.release();
    expect(JSON.parse(readFileSync(lockFilePath(db), 'utf8'))).toMatchObject({
      token: 'someone-else',
    });
  });
});
