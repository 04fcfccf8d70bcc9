/**
 * A purge of streams while the daemon holds the writer lock, with none of its file work
 * on the daemon's main thread (HTTP and WebSocket ingest go on meanwhile):
 *
 * - the archived segments of the streams (`purgeArchived` of `@wirthforge/archive`) on a
 *   worker thread of their own, as the archive job runs;
 * - the deletions of `purgeSqliteFile` (`deleteSqliteStreams` of
 *   `@wirthforge/storage-sqlite`) on a maintenance thread and a connection of its own
 *   beside the daemon's writer: SQLite serialises its one `BEGIN IMMEDIATE` transaction
 *   with the writer's commits, which wait on its lock meanwhile. The rows removed, the
 *   purged positions recorded and the audit line are the same, and the streams'
 *   projection checkpoints (`metadata` keys naming them) go too;
 * - the WAL emptied by the daemon's own writer (`checkpoint('truncate')`) and the file
 *   rebuilt by `VACUUM` (`vacuumSqliteFileBesideWriter`, a maintenance thread too).
 *
 * Only ended streams are purged this way (the routes refuse a running session): the
 * writer keeps the id and version of the streams it appends to in memory, and a purged
 * stream is never appended to again.
 */
import { existsSync, statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

import type { PurgeArchivedReport } from '@wirthforge/archive';
import { isStorageError } from '@wirthforge/storage';
import { deleteSqliteStreams, vacuumSqliteFileBesideWriter } from '@wirthforge/storage-sqlite';
import type { PurgedRows } from '@wirthforge/storage-sqlite';

import { DaemonError } from './errors.js';

export type { PurgedRows };

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** The worker's program: `purgeArchived` of the streams, its report or its error posted. */
const ARCHIVE_PURGE_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { purgeArchived } = await import(workerData.archiveUrl);
  const report = purgeArchived({ databasePath: workerData.databasePath }, { streams: workerData.streams });
  parentPort.postMessage({ ok: true, report });
})().catch((error) =>
  parentPort.postMessage({
    ok: false,
    code: error && typeof error.code === 'string' ? error.code : undefined,
    message: String((error && error.message) || error),
  }),
);
`;

type ArchiveReply =
  | { readonly ok: true; readonly report: PurgeArchivedReport }
  | { readonly ok: false; readonly code?: string; readonly message: string };

/**
 * Removes the archived segments of `streams` from the partitions beside the database at
 * `databasePath` (`purgeArchived`), on a worker thread. An archive run or restore at
 * work (the daemon's own archive job) is a `conflict`: try again when it is done.
 */
export function purgeArchivedOffThread(
  databasePath: string,
  streams: readonly string[],
): Promise<PurgeArchivedReport> {
  const archiveUrl = import.meta.resolve('@wirthforge/archive');
  return new Promise((resolve, reject) => {
    const worker = new Worker(ARCHIVE_PURGE_SOURCE, {
      eval: true,
      workerData: { archiveUrl, databasePath, streams: [...streams] },
    });
    let reply: ArchiveReply | undefined;
    worker.once('message', (message: ArchiveReply) => (reply = message));
    worker.once('error', (error) => {
      reply ??= { ok: false, message: error.message };
    });
    worker.once('exit', (code) => {
      if (reply?.ok === true) {
        resolve(reply.report);
        return;
      }
      const message = reply?.message ?? `the archive purge thread exited with code ${code}`;
      if (reply?.code === 'locked' || reply?.code === 'busy') {
        reject(
          new DaemonError(
            'conflict',
            `an archive run, restore or retention pass is at work (${message}); purge again when it is done`,
          ),
        );
      } else {
        reject(new Error(`purge of the archived segments failed: ${message}`));
      }
    });
  });
}

/**
 * Deletes `streams` (with their sessions, snapshots, segments, rollups, their users'
 * progress rows and stream-scoped metadata) from the database at `path`, in one
 * transaction, with `secure_delete` (freed pages zeroed), on a maintenance thread.
 * Throws `not_found` when none of the streams exists.
 */
export async function deleteStreamsBesideWriter(
  path: string,
  streams: readonly string[],
  options: { readonly actor: string; readonly busyTimeoutMs?: number },
): Promise<PurgedRows> {
  try {
    return await deleteSqliteStreams(
      path,
      { streams },
      { actor: options.actor, busyTimeoutMs: options.busyTimeoutMs ?? 5000 },
    );
  } catch (error) {
    if (isStorageError(error, 'invalid_argument')) {
      throw new DaemonError('not_found', `no stream named ${streams.join(', ')}`, {
        cause: error,
      });
    }
    throw error;
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
 * (`VACUUM` on a maintenance thread and a connection of its own) and empties the WAL
 * again. A checkpoint kept busy by a reader is tried again a few times; the WAL size
 * afterwards says whether it was emptied.
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
  const { freePagesBefore } = await vacuumSqliteFileBesideWriter(path, {
    busyTimeoutMs: options.busyTimeoutMs ?? 5000,
  });
  await truncate();
  return {
    bytesBefore,
    bytesAfter: bytes(),
    freePagesBefore,
    walBytesAfter: fileSize(`${path}-wal`),
  };
}
