/**
 * Deleting archived sessions for good: their segments out of the partition files, the
 * catalog rows out of the live database, their positions recorded as purged.
 *
 * Three steps, each durable before the next, so a kill at any point leaves a store that
 * reads and verifies, and running the purge again finishes it:
 *
 * 1. live: the stream's catalog rows become tombstones (reads pass over them, their
 *    positions stay taken, `verify` no longer expects their segments);
 * 2. each partition: the stream's segments are deleted with `secure_delete` (freed pages
 *    zeroed), the partition checksum rewritten in the same transaction, then `VACUUM`
 *    rebuilds the file in place without free pages; a partition left empty is removed;
 * 3. live: the tombstones are deleted and their position ranges merged into
 *    `metadata.purged_positions`, which the storage counts as present (the head never
 *    rewinds over them).
 *
 * The partition is changed in place, inside SQLite transactions (rollback journal,
 * `synchronous=FULL`), rather than copied and renamed: a process that has the file open
 * to read (a running daemon) sees the rewritten file, never an unlinked old copy that
 * still holds the session.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import {
  acquireLockFile,
  mergePositionRanges,
  openConnection,
  PURGED_POSITIONS_KEY,
  readLockFile,
  readPurgedPositions,
} from '@wirthforge/storage-sqlite';
import type { LockFile, PositionRange, SqliteConnection } from '@wirthforge/storage-sqlite';

import { openArchive } from './archive.js';
import { ArchiveError } from './errors.js';
import { ensureLiveTables, live } from './live-tables.js';
import {
  isPartitionName,
  openPartition,
  part,
  storeDigest,
  syncDirectory,
} from './partition-file.js';
import { all, first, run, transaction } from './sync-sql.js';

/** Where the archive is (the options of `openArchive` that a purge uses). */
export interface PurgeArchivedOptions {
  /** The live database file (`state.db`). */
  readonly databasePath: string;
  /** Directory of the partition files. Default: `archive/` beside the database. */
  readonly dir?: string;
  /** How long a statement waits for a lock before `busy`, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** The clock, in microseconds (tests). */
  readonly nowUs?: () => number;
}

/** What to purge: the archived segments of some streams, or of every stream. */
export type PurgeArchivedTarget =
  | { readonly streams: readonly string[]; readonly all?: false }
  | { readonly all: true; readonly streams?: undefined };

/** What a purge did to one partition. */
export interface PurgedPartition {
  readonly partition: string;
  readonly segments: number;
  readonly events: number;
  readonly bytesBefore: number;
  /** Bytes of the file afterwards (0 when it was removed). */
  readonly bytesAfter: number;
  /** Whether the partition was left empty and its file removed. */
  readonly removed: boolean;
}

/** What {@link purgeArchived} removed. */
export interface PurgeArchivedReport {
  /** Streams whose archived segments were removed. */
  readonly streams: readonly string[];
  readonly partitions: readonly PurgedPartition[];
  /** Segments and events removed from the partitions. */
  readonly segments: number;
  readonly events: number;
  /** Catalog rows removed from the live database (tombstones of retention included). */
  readonly catalogRows: number;
  /** Position ranges now recorded as purged. */
  readonly positions: readonly PositionRange[];
}

interface CatalogRow {
  readonly first_position: number;
  readonly last_position: number;
  readonly partition: string;
  readonly event_count: number;
  readonly stream: string | null;
}

function fileBytes(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function hasCatalog(connection: SqliteConnection): boolean {
  return (
    connection
      .prepare("select 1 from sqlite_master where type = 'table' and name = 'archived_segments'")
      .get() !== undefined
  );
}

function partitionFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.db') && isPartitionName(basename(file, '.db')))
    .map((file) => basename(file, '.db'))
    .sort();
}

function takeLock(dir: string): LockFile {
  const target = join(dir, 'archive');
  try {
    return acquireLockFile(target);
  } catch (error) {
    if (!isStorageError(error, 'locked')) throw error;
    const owner = readLockFile(`${target}.lock`);
    throw new ArchiveError(
      'locked',
      `the archive in ${dir} is in use${owner === undefined ? '' : ` by process ${owner.pid}`}; try again when it is done`,
      { cause: error },
    );
  }
}

/**
 * Removes the archived segments of `target`'s streams (or of every stream) from the
 * partition files and the live catalog, for good: no byte of them stays in a partition
 * file, and their positions are recorded as purged. Finishes interrupted archive
 * operations first and holds the archive's lock, so it never runs beside an archive run,
 * restore or retention pass. Streams with nothing archived are passed over.
 *
 * It does not touch the live rows of the streams (events, segments, sessions,
 * snapshots): `purgeSqliteFile` of `@wirthforge/storage-sqlite` removes those, after this.
 *
 * @throws ArchiveError `not_found` (no database), `locked` (another archive operation),
 *   `busy` (a statement waited too long for a lock), `corrupt` (a partition that is not
 *   one).
 *
 * @example
 * ```ts
 * const archived = purgeArchived(
 *   { databasePath: '/data/wirthforge/state.db' },
 *   { streams: ['session-20250817T194800Z_001'] },
 * );
 * const live = purgeSqliteFile('/data/wirthforge/state.db', { streams: ['session-20250817T194800Z_001'] });
 * ```
 */
export function purgeArchived(
  options: PurgeArchivedOptions,
  target: PurgeArchivedTarget,
): PurgeArchivedReport {
  const databasePath = resolve(options.databasePath);
  const dir = resolve(options.dir ?? join(dirname(databasePath), 'archive'));
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const now = options.nowUs ?? (() => Date.now() * 1000);
  const everything = target.all === true;
  const names = everything ? [] : [...new Set(target.streams)];
  if (!everything && names.length === 0) {
    throw new ArchiveError('invalid_argument', 'purge: name at least one stream, or all');
  }
  if (!existsSync(databasePath)) {
    throw new ArchiveError('not_found', `no database at ${databasePath}`);
  }
  const empty: PurgeArchivedReport = {
    streams: [],
    partitions: [],
    segments: 0,
    events: 0,
    catalogRows: 0,
    positions: [],
  };
  // A data directory that never archived anything: nothing to do, nothing created.
  const probe = openConnection(databasePath, {
    readonly: true,
    fileMustExist: true,
    timeout: busyTimeoutMs,
  });
  const catalogExists = (() => {
    try {
      return hasCatalog(probe);
    } finally {
      probe.close();
    }
  })();
  if (!catalogExists && partitionFiles(dir).length === 0) return empty;

  // Moves, restores and deletions a kill interrupted are finished first: a half-moved
  // stream would otherwise come back into a partition after its purge.
  const archive = openArchive({ databasePath, dir, busyTimeoutMs });
  try {
    archive.recover();
  } finally {
    archive.close();
  }

  const lock = takeLock(dir);
  let liveDb: SqliteConnection | undefined;
  try {
    liveDb = openConnection(databasePath, { fileMustExist: true, timeout: busyTimeoutMs });
    const db = liveDb;
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('secure_delete = ON');
    ensureLiveTables(db);
    const pending = first(db, live.selectFrom('archive_ledger').select(['action', 'partition']));
    if (pending !== undefined) {
      throw new ArchiveError(
        'busy',
        `an archive ${pending.action} of partition ${pending.partition} is in progress; try again when it is done`,
        { partition: pending.partition },
      );
    }

    // The catalog rows to remove: by stream, and by the partitions' own stream column
    // (rows a purge of an older release left behind lost their stream row).
    const catalog = new Map<number, CatalogRow>();
    const catalogQuery = live
      .selectFrom('archived_segments as a')
      .leftJoin('streams as s', 's.id', 'a.stream_id')
      .select([
        'a.first_position',
        'a.last_position',
        'a.partition',
        'a.event_count',
        's.name as stream',
      ]);
    const rows = everything
      ? all(db, catalogQuery)
      : all(db, catalogQuery.where('s.name', 'in', names));
    for (const row of rows) catalog.set(row.first_position, row);
    const inPartitions = new Map<string, number[]>();
    const streams = new Set<string>();
    for (const row of rows) if (row.stream !== null) streams.add(row.stream);
    for (const partition of partitionFiles(dir)) {
      const p = openPartition(join(dir, `${partition}.db`), partition, { busyTimeoutMs });
      try {
        const found = everything
          ? all(p, part.selectFrom('segments').select(['first_position', 'stream']))
          : all(
              p,
              part
                .selectFrom('segments')
                .select(['first_position', 'stream'])
                .where('stream', 'in', names),
            );
        if (found.length > 0)
          inPartitions.set(
            partition,
            found.map((r) => r.first_position),
          );
        for (const row of found) streams.add(row.stream);
      } finally {
        p.close();
      }
    }
    const extra = [...inPartitions.values()].flat().filter((f) => !catalog.has(f));
    for (let i = 0; i < extra.length; i += 500) {
      for (const row of all(
        db,
        catalogQuery.where('a.first_position', 'in', extra.slice(i, i + 500)),
      )) {
        catalog.set(row.first_position, row);
      }
    }
    const positions = [...catalog.keys()];
    if (positions.length === 0 && inPartitions.size === 0) return empty;

    // 1. Tombstones: reads stop at once, positions stay covered.
    transaction(db, () => {
      for (let i = 0; i < positions.length; i += 500) {
        run(
          db,
          live
            .updateTable('archived_segments')
            .set({ deleted_us: now() })
            .where('first_position', 'in', positions.slice(i, i + 500))
            .where('deleted_us', 'is', null),
        );
      }
    });

    // 2. The partitions, in place.
    const touched = new Set<string>([
      ...[...catalog.values()].map((row) => row.partition),
      ...inPartitions.keys(),
    ]);
    const partitions: PurgedPartition[] = [];
    let segments = 0;
    let events = 0;
    for (const partition of [...touched].sort()) {
      const path = join(dir, `${partition}.db`);
      if (!existsSync(path)) continue;
      const bytesBefore = fileBytes(path);
      const p = openPartition(path, partition, { create: true, busyTimeoutMs });
      let removedSegments = 0;
      let removedEvents = 0;
      let remaining = 0;
      try {
        p.pragma('secure_delete = ON');
        transaction(p, () => {
          const victims = new Set([
            ...[...catalog.values()]
              .filter((row) => row.partition === partition)
              .map((row) => row.first_position),
            ...(inPartitions.get(partition) ?? []),
          ]);
          const present = all(
            p,
            part.selectFrom('segments').select(['first_position', 'event_count']),
          );
          for (const row of present) {
            if (!victims.has(row.first_position)) continue;
            run(p, part.deleteFrom('segments').where('first_position', '=', row.first_position));
            removedSegments++;
            removedEvents += row.event_count;
          }
          remaining = present.length - removedSegments;
          storeDigest(p);
        });
        // The file without its free pages: nothing of the deleted segments stays in it.
        p.exec('VACUUM');
      } finally {
        p.close();
      }
      const referenced =
        first(
          db,
          live
            .selectFrom('archived_segments')
            .select('first_position')
            .where('partition', '=', partition)
            .where('deleted_us', 'is', null),
        ) !== undefined;
      const removed = remaining === 0 && !referenced;
      if (removed) {
        rmSync(path, { force: true });
        rmSync(`${path}-journal`, { force: true });
        syncDirectory(dir);
      }
      segments += removedSegments;
      events += removedEvents;
      partitions.push({
        partition,
        segments: removedSegments,
        events: removedEvents,
        bytesBefore,
        bytesAfter: removed ? 0 : fileBytes(path),
        removed,
      });
    }

    // 3. The catalog rows out, their positions recorded as purged.
    const ranges = [...catalog.values()].map((row): PositionRange => [
      row.first_position,
      row.last_position,
    ]);
    const recorded = transaction(db, () => {
      // The ids of the archived events (kept for idempotency) go with them.
      for (const [from, to] of ranges) {
        run(
          db,
          live
            .deleteFrom('archived_event_ids')
            .where('position', '>=', from)
            .where('position', '<=', to),
        );
      }
      for (let i = 0; i < positions.length; i += 500) {
        run(
          db,
          live
            .deleteFrom('archived_segments')
            .where('first_position', 'in', positions.slice(i, i + 500)),
        );
      }
      const merged = mergePositionRanges([...readPurgedPositions(db), ...ranges]);
      if (ranges.length > 0) {
        run(
          db,
          live
            .insertInto('metadata')
            .values({ key: PURGED_POSITIONS_KEY, value: JSON.stringify(merged) })
            .onConflict((oc) => oc.column('key').doUpdateSet({ value: JSON.stringify(merged) })),
        );
      }
      return mergePositionRanges(ranges);
    });
    return {
      streams: [...streams].sort(),
      partitions,
      segments,
      events,
      catalogRows: positions.length,
      positions: recorded,
    };
  } catch (error) {
    if (isStorageError(error, 'busy')) {
      throw new ArchiveError('busy', `purge of the archive in ${dir}: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  } finally {
    liveDb?.close();
    lock.release();
  }
}
