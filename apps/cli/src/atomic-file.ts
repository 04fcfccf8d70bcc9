/**
 * Files that appear whole or not at all: written under a hidden temporary name beside
 * their destination, synced, renamed into place, and the directory synced.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** A temporary path next to `path`, hidden, unique. */
export function temporaryBeside(path: string, tag: string): string {
  return join(
    dirname(path),
    `.${basename(path)}.${tag}-${process.pid}-${randomBytes(6).toString('hex')}`,
  );
}

function fsyncPath(path: string, flags: string): void {
  const fd = openSync(path, flags);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Syncs the finished `temporary` file, renames it to `destination` and syncs the directory. */
export function publishFile(temporary: string, destination: string): void {
  fsyncPath(temporary, 'r+');
  renameSync(temporary, destination);
  fsyncPath(dirname(destination), 'r');
}

/** Removes a file if it is there. */
export function removeQuietly(path: string): void {
  rmSync(path, { force: true });
}
