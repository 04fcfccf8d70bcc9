/**
 * A purge of streams while the daemon holds the writer lock: the deletions of
 * `purgeSqliteFile` (`@wirthforge/storage-sqlite`), run on a connection of their own
 * beside the daemon's writer. `purgeSqliteFile` takes the writer lock, which the daemon
 * holds; SQLite serialises this connection's one `BEGIN IMMEDIATE` transaction with the
 * writer's commits, as it does the archive's. The rows removed, the purged positions
 * recorded and the audit line are the same, and the streams' projection checkpoints
 * (`metadata` keys naming them) go too; the WAL is then emptied by the daemon's own
 * writer (`checkpoint('truncate')`) and the file rebuilt by `VACUUM`.
 *
 * Only ended streams are purged this way (the route refuses a running session): the
 * writer keeps the id and version of the streams it appends to in memory, and a purged
 * stream is never appended to again.
 */
import { existsSync, statSync } from 'node:fs';

import { isStorageError } from '@wirthforge/storage';
import { deleteStreams, openConnection } from '@wirthforge/storage-sqlite';
import type { PurgedRows } from '@wirthforge/storage-sqlite';

import { DaemonError } from './errors.js';

export type { PurgedRows };

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * Deletes `streams` (with their sessions, snapshots, segments, rollups, their users'
 * progress rows and stream-scoped metadata) from the database at `path`, in one
 * transaction, with `secure_delete` (freed pages zeroed): `deleteStreams` of
 * `@wirthforge/storage-sqlite` on a connection of its own. Throws `not_found` when none
 * of the streams exists.
 */
export function deleteStreamsBesideWriter(
  path: string,
  streams: readonly string[],
  options: { readonly actor: string; readonly busyTimeoutMs?: number },
): PurgedRows {
  const c = openConnection(path, { fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
  try {
    return deleteStreams(c, { streams }, { actor: options.actor, where: path });
  } catch (error) {
    if (isStorageError(error, 'invalid_argument')) {
      throw new DaemonError('not_found', `no stream named ${streams.join(', ')}`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    c.close();
  }
}

/** What {@link rebuildFileBesideWriter} did. */
export interface RebuildFileReport {
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  readonly freePagesBefore: number;
  /** Size of the WAL afterwards (0: emptied). */
  readonly walBytesAfter: number;
}

/**
 * Empties the WAL through the daemon's writer, rebuilds the file without free pages
 * (`VACUUM` on a connection of its own) and empties the WAL again. A checkpoint kept
 * busy by a reader is tried again a few times; the WAL size afterwards says whether it
 * was emptied.
 */
export async function rebuildFileBesideWriter(
  path: string,
  checkpoint: () => Promise<{ readonly busy: boolean }>,
  options: { readonly busyTimeoutMs?: number } = {},
): Promise<RebuildFileReport> {
  const bytes = (): number => fileSize(path) + fileSize(`${path}-wal`);
  const truncate = async (): Promise<void> => {
    for (let attempt = 0; attempt < 20; attempt++) {
      if (!(await checkpoint()).busy) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const bytesBefore = bytes();
  await truncate();
  const c = openConnection(path, { fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
  let freePagesBefore: number;
  try {
    freePagesBefore = Number(c.pragma('freelist_count', { simple: true }));
    c.exec('VACUUM');
  } finally {
    c.close();
  }
  await truncate();
  return {
    bytesBefore,
    bytesAfter: bytes(),
    freePagesBefore,
    walBytesAfter: fileSize(`${path}-wal`),
  };
}
