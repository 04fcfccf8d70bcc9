/**
 * A purge of streams while the daemon holds the writer lock: the deletions of
 * `purgeSqliteFile` (`@wirthforge/storage-sqlite`), run on a connection of their own
 * beside the daemon's writer. `purgeSqliteFile` takes the writer lock, which the daemon
 * holds; SQLite serialises this connection's one `BEGIN IMMEDIATE` transaction with the
 * writer's commits, as it does the archive's. The rows removed, the purged positions
 * recorded and the audit line are the same; the WAL is then emptied by the daemon's own
 * writer (`checkpoint('truncate')`) and the file rebuilt by `VACUUM`.
 *
 * Only ended streams are purged this way (the route refuses a running session): the
 * writer keeps the id and version of the streams it appends to in memory, and a purged
 * stream is never appended to again.
 */
import { existsSync, statSync } from 'node:fs';

import {
  mergePositionRanges,
  openConnection,
  PURGED_POSITIONS_KEY,
  readPurgedPositions,
} from '@wirthforge/storage-sqlite';
import type { PositionRange, PurgeReport } from '@wirthforge/storage-sqlite';

import { DaemonError } from './errors.js';

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** Ranges of a sorted list of positions. */
function toRanges(positions: readonly number[]): PositionRange[] {
  const out: [number, number][] = [];
  for (const p of positions) {
    const last = out[out.length - 1];
    if (last !== undefined && p === last[1] + 1) last[1] = p;
    else out.push([p, p]);
  }
  return out;
}

/** The rows part of a {@link PurgeReport}, before the file is rebuilt. */
export type PurgedRows = Omit<PurgeReport, 'bytesBefore' | 'bytesAfter' | 'walBytesAfter'>;

/**
 * Deletes `streams` (with their sessions, snapshots, segments, rollups and their users'
 * progress rows) from the database at `path`, in one transaction, with `secure_delete`
 * (freed pages zeroed). Throws `not_found` when none of the streams exists.
 */
export function deleteStreamsBesideWriter(
  path: string,
  streams: readonly string[],
  options: { readonly actor: string; readonly busyTimeoutMs?: number },
): PurgedRows {
  const c = openConnection(path, { fileMustExist: true, timeout: options.busyTimeoutMs ?? 5000 });
  try {
    c.pragma('foreign_keys = ON');
    c.pragma('secure_delete = ON');
    c.exec('BEGIN IMMEDIATE');
    try {
      const streamRows = c
        .prepare(
          `select id, name from streams where name in (${placeholders(streams.length)}) order by id`,
        )
        .all(...streams) as { id: number; name: string }[];
      if (streamRows.length === 0) {
        throw new DaemonError('not_found', `no stream named ${streams.join(', ')}`);
      }
      const ids = streamRows.map((r) => r.id);
      const inIds = `(${placeholders(ids.length)})`;
      const sessionRows = c
        .prepare(`select session_id, user_id from sessions where stream_id in ${inIds}`)
        .all(...ids) as { session_id: string; user_id: string }[];
      const sessionIds = new Set(sessionRows.map((r) => r.session_id));
      for (const r of streamRows) {
        if (r.name.startsWith('session-')) sessionIds.add(r.name.slice('session-'.length));
      }
      const users = [...new Set(sessionRows.map((r) => r.user_id))].sort();
      const positions = c
        .prepare(`select position from events where stream_id in ${inIds} order by position`)
        .pluck()
        .all(...ids) as number[];
      const sealed = c
        .prepare(`select first_position, last_position from segments where stream_id in ${inIds}`)
        .raw()
        .all(...ids) as [number, number][];
      const removed = mergePositionRanges([...toRanges(positions), ...sealed]);
      const run = (sql: string, ...params: unknown[]): number =>
        c.prepare(sql).run(...params).changes;
      const sessionList = [...sessionIds];
      run(
        `delete from sealed_event_ids where segment_id in (select id from segments where stream_id in ${inIds})`,
        ...ids,
      );
      const rows = {
        snapshots: run(`delete from snapshots where stream_id in ${inIds}`, ...ids),
        segments: run(`delete from segments where stream_id in ${inIds}`, ...ids),
        events: run(`delete from events where stream_id in ${inIds}`, ...ids),
        sessions: run(`delete from sessions where stream_id in ${inIds}`, ...ids),
        rollups:
          sessionList.length === 0
            ? 0
            : run(
                `delete from rollups where session_id in (${placeholders(sessionList.length)})`,
                ...sessionList,
              ),
        users:
          users.length === 0
            ? 0
            : run(`delete from users where user_id in (${placeholders(users.length)})`, ...users),
        streams: run(`delete from streams where id in ${inIds}`, ...ids),
        audit: 0,
      };
      const recorded = mergePositionRanges([...readPurgedPositions(c), ...removed]);
      if (recorded.length > 0) {
        c.prepare(
          'insert into metadata (key, value) values (?, ?) on conflict (key) do update set value = excluded.value',
        ).run(PURGED_POSITIONS_KEY, JSON.stringify(recorded));
      }
      const names = streamRows.map((r) => r.name);
      c.prepare(
        'insert into audit (timestamp_us, actor, action, target, details) values (?, ?, ?, ?, ?)',
      ).run(
        Date.now() * 1000,
        options.actor,
        'purge',
        names.join(','),
        JSON.stringify({ rows, positions: removed.length }),
      );
      c.exec('COMMIT');
      return { streams: names, sessions: sessionList.sort(), users, rows, positions: removed };
    } catch (error) {
      if (c.inTransaction) c.exec('ROLLBACK');
      throw error;
    }
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
