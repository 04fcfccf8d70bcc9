/**
 * The archive of one live database: time partitions beside it (`<dir>/archive/YYYY-MM.db`)
 * holding the sealed segments of ended sessions.
 *
 * A move of one session stream runs in three commits, each durable before the next:
 *
 * 1. live: a ledger row `move` (partition, stream);
 * 2. partition: the stream's segments (an upsert by first position) and the partition
 *    checksum;
 * 3. live: the catalog rows (`archived_segments`) in, the `segments` rows and their
 *    sealed event ids out, the ledger row out.
 *
 * Reads see a sealed range either as a `segments` row or as a catalog row, never both and
 * never neither, whatever commit a kill interrupts; an unfinished ledger row is finished
 * by the next run (step 2 is idempotent). A restore is the mirror image (live first, then
 * the partition's rows are removed), and a retention delete tombstones the catalog rows,
 * then unlinks the file.
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

import { decodeSegment, decodeSegmentColumns, readSegmentHeader } from '@wirthforge/segments';
import { eventContentDigest, isStorageError } from '@wirthforge/storage';
import {
  acquireLockFile,
  openConnection,
  readLockFile,
  SEGMENT_MAX_SPAN_KEY,
} from '@wirthforge/storage-sqlite';
import type { LockFile, SqliteConnection } from '@wirthforge/storage-sqlite';
import { sql } from 'kysely';

import { ArchiveColdSegments } from './cold-segments.js';
import { ArchiveError } from './errors.js';
import { ensureLiveTables, live } from './live-tables.js';
import type { LedgerAction } from './live-tables.js';
import {
  DIGEST_KEY,
  isPartitionName,
  openPartition,
  part,
  partitionDigest,
  partitionEndUs,
  partitionNameOf,
  storeDigest,
  syncDirectory,
} from './partition-file.js';
import { all, first, run, transaction } from './sync-sql.js';

/** Options of {@link openArchive}. */
export interface ArchiveOptions {
  /** The live database file (`state.db`). */
  readonly databasePath: string;
  /** Directory of the partition files. Default: `archive/` beside the database. */
  readonly dir?: string;
  /** How long a statement waits for a lock before `busy`, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** Decoded archived segments kept for reads (default 16). */
  readonly segmentCacheSize?: number;
  /** The clock, in microseconds (tests). */
  readonly nowUs?: () => number;
}

/** Options of {@link Archive.run}. */
export interface ArchiveRunOptions {
  /** Only sessions that ended at least this long ago (default one day; 0: every ended session). */
  readonly minAgeMs?: number;
  /** At most this many sessions in this run (default: all). */
  readonly maxSessions?: number;
  /** Give the live file's free pages back to the file system afterwards (default true). */
  readonly reclaim?: boolean;
  /** Called after each session moved (progress). */
  readonly onSession?: (moved: MovedSession) => void;
}

/** One session stream moved to a partition. */
export interface MovedSession {
  readonly stream: string;
  readonly partition: string;
  readonly segments: number;
  readonly events: number;
  readonly bytes: number;
}

/** What {@link Archive.run} did. */
export interface ArchiveRunReport {
  readonly moved: readonly MovedSession[];
  /** Operations of an earlier, interrupted run that this run finished. */
  readonly resumed: number;
  readonly reclaim: ReclaimReport | undefined;
}

/** What giving free pages back did. */
export interface ReclaimReport {
  readonly freePagesBefore: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** One partition, as {@link Archive.list} shows it. */
export interface PartitionInfo {
  readonly name: string;
  readonly path: string;
  /** Bytes of the file (0 once deleted). */
  readonly bytes: number;
  readonly segments: number;
  readonly events: number;
  readonly streams: number;
  readonly firstUs: number | null;
  readonly lastUs: number | null;
  /** Whether retention deleted it (its catalog rows remain as tombstones). */
  readonly deleted: boolean;
}

/** Kinds of damage {@link Archive.verify} names. */
export type ArchiveProblemKind =
  | 'missing_file'
  | 'unreadable'
  | 'digest'
  | 'segment'
  | 'missing_segment'
  | 'version_gap'
  | 'orphan';

/** One problem found by {@link Archive.verify}. */
export interface ArchiveProblem {
  readonly kind: ArchiveProblemKind;
  readonly partition: string;
  /** The segment's stream and position range, when the problem is one segment's. */
  readonly stream?: string;
  readonly fromPosition?: number;
  readonly toPosition?: number;
  readonly message: string;
}

/** What {@link Archive.verify} found. */
export interface ArchiveVerifyReport {
  readonly ok: boolean;
  readonly partitions: number;
  readonly segments: number;
  readonly events: number;
  readonly problems: readonly ArchiveProblem[];
}

/** What to restore. */
export type RestoreTarget = { readonly partition: string } | { readonly stream: string };

/** What {@link Archive.restore} did. */
export interface RestoreReport {
  readonly streams: number;
  readonly segments: number;
  readonly events: number;
  /** Partitions left empty and removed. */
  readonly removedPartitions: readonly string[];
}

/**
 * A retention policy: partitions are deleted whole, oldest first, while any limit is
 * exceeded. A partition holding a session that is not ended is never deleted.
 */
export interface RetentionPolicy {
  /** Delete partitions whose month ended more than this many days ago. */
  readonly maxAgeDays?: number;
  /** Keep the archive's files under this many bytes. */
  readonly maxTotalBytes?: number;
  /** Keep at most this many partitions. */
  readonly maxPartitions?: number;
}

/** One partition a retention run deletes (or would). */
export interface RetentionDecision {
  readonly partition: string;
  readonly bytes: number;
  readonly events: number;
  readonly reasons: readonly ('age' | 'size' | 'count')[];
}

/** What {@link Archive.applyRetention} did or would do. */
export interface RetentionReport {
  readonly dryRun: boolean;
  readonly deleted: readonly RetentionDecision[];
  /** Partitions kept because a session in them is not ended. */
  readonly kept: readonly { readonly partition: string; readonly reason: string }[];
  readonly reclaim: ReclaimReport | undefined;
}

const DAY_MS = 86_400_000;

function fileBytes(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/**
 * Opens the archive of a live database. Cheap: partition files are opened when needed.
 *
 * @example
 * ```ts
 * const archive = openArchive({ databasePath: '/data/wirthforge/state.db' });
 * const storage = await openSqliteStorage({ path: archive.databasePath, coldSegments: archive.coldSegments });
 * const report = archive.run({ minAgeMs: 7 * 86_400_000 });
 * ```
 */
export function openArchive(options: ArchiveOptions): Archive {
  return new Archive(options);
}

/** See {@link openArchive}. */
export class Archive {
  /** Absolute path of the live database. */
  readonly databasePath: string;
  /** Absolute path of the partition directory. */
  readonly dir: string;
  /** The reads' view of the partitions: pass it as `coldSegments` to the storage. */
  readonly coldSegments: ArchiveColdSegments;
  private readonly busyTimeoutMs: number;
  private readonly now: () => number;

  constructor(options: ArchiveOptions) {
    this.databasePath = resolve(options.databasePath);
    this.dir = resolve(options.dir ?? join(dirname(this.databasePath), 'archive'));
    this.busyTimeoutMs = options.busyTimeoutMs ?? 5000;
    this.now = options.nowUs ?? (() => Date.now() * 1000);
    this.coldSegments = new ArchiveColdSegments(this.dir, options.segmentCacheSize ?? 16);
  }

  /** Path of a partition's file. */
  partitionPath(name: string): string {
    return join(this.dir, `${name}.db`);
  }

  /** Closes the partition files the reads opened. */
  close(): void {
    this.coldSegments.release();
  }

  // ---- connections and locking --------------------------------------------------------

  private openLive(): SqliteConnection {
    if (!existsSync(this.databasePath)) {
      throw new ArchiveError('not_found', `no database at ${this.databasePath}`);
    }
    const connection = openConnection(this.databasePath, {
      fileMustExist: true,
      timeout: this.busyTimeoutMs,
    });
    connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = FULL');
    return connection;
  }

  /** Runs `work` holding the archive's own lock (one mover per archive at a time). */
  private exclusive<T>(work: (liveDb: SqliteConnection) => T): T {
    let lock: LockFile;
    const lockTarget = join(this.dir, 'archive');
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
      lock = acquireLockFile(lockTarget);
    } catch (error) {
      if (!isStorageError(error, 'locked')) throw error;
      const owner = readLockFile(`${lockTarget}.lock`);
      throw new ArchiveError(
        'locked',
        `the archive in ${this.dir} is in use${owner === undefined ? '' : ` by process ${owner.pid}`}; try again when it is done`,
        { cause: error },
      );
    }
    let liveDb: SqliteConnection | undefined;
    try {
      liveDb = this.openLive();
      ensureLiveTables(liveDb);
      return work(liveDb);
    } finally {
      liveDb?.close();
      lock.release();
    }
  }

  private withPartition<T>(name: string, work: (connection: SqliteConnection) => T): T {
    const connection = openPartition(this.partitionPath(name), name, {
      create: true,
      busyTimeoutMs: this.busyTimeoutMs,
    });
    try {
      return work(connection);
    } finally {
      connection.close();
    }
  }

  private streamName(liveDb: SqliteConnection, streamId: number): string {
    const row = first(liveDb, live.selectFrom('streams').select('name').where('id', '=', streamId));
    if (row === undefined) {
      throw new ArchiveError('corrupt', `the live database has no stream with id ${streamId}`);
    }
    return row.name;
  }

  private ledger(
    liveDb: SqliteConnection,
    action: LedgerAction,
    partition: string,
    streamId: number | null,
  ): number {
    return run(
      liveDb,
      live.insertInto('archive_ledger').values({
        action,
        partition,
        stream_id: streamId,
        started_us: this.now(),
      }),
    ).lastInsertRowid;
  }

  private clearLedger(liveDb: SqliteConnection, id: number): void {
    run(liveDb, live.deleteFrom('archive_ledger').where('id', '=', id));
  }

  // ---- moving -------------------------------------------------------------------------

  /**
   * Moves the sealed segments of ended sessions into their partitions (the month each
   * session started, UTC), first finishing any operation a kill interrupted. Only
   * sessions whose every event is sealed (no hot rows) move; running sessions never do.
   */
  run(options: ArchiveRunOptions = {}): ArchiveRunReport {
    const minAgeMs = options.minAgeMs ?? DAY_MS;
    if (!Number.isFinite(minAgeMs) || minAgeMs < 0) {
      throw new ArchiveError(
        'invalid_argument',
        `minAgeMs: expected a non-negative number, got ${minAgeMs}`,
      );
    }
    return this.exclusive((liveDb) => {
      const resumed = this.recoverWith(liveDb);
      const cutoff = this.now() - minAgeMs * 1000;
      let candidates = all(
        liveDb,
        live
          .selectFrom('sessions as se')
          .innerJoin('streams as s', 's.id', 'se.stream_id')
          .select(['s.id as stream_id', 's.name', 'se.started_us'])
          .where('se.status', '!=', 'active')
          .where('se.ended_us', 'is not', null)
          .where('se.ended_us', '<=', cutoff)
          .where((eb) =>
            eb.exists(
              eb.selectFrom('segments as g').select('g.id').whereRef('g.stream_id', '=', 's.id'),
            ),
          )
          .where((eb) =>
            eb.not(
              eb.exists(
                eb
                  .selectFrom('events as e')
                  .select('e.position')
                  .whereRef('e.stream_id', '=', 's.id'),
              ),
            ),
          )
          .orderBy('se.started_us'),
      );
      if (options.maxSessions !== undefined) candidates = candidates.slice(0, options.maxSessions);
      const moved: MovedSession[] = [];
      for (const candidate of candidates) {
        const partition = partitionNameOf(candidate.started_us);
        const id = transaction(liveDb, () =>
          this.ledger(liveDb, 'move', partition, candidate.stream_id),
        );
        const result = this.finishMove(liveDb, id, partition, candidate.stream_id);
        moved.push(result);
        options.onSession?.(result);
      }
      const reclaim =
        (options.reclaim ?? true) && (moved.length > 0 || resumed > 0)
          ? this.reclaim(liveDb)
          : undefined;
      return { moved, resumed, reclaim };
    });
  }

  /** Steps 2 and 3 of a move (see the module's comment); idempotent. */
  private finishMove(
    liveDb: SqliteConnection,
    ledgerId: number,
    partition: string,
    streamId: number,
  ): MovedSession {
    const stream = this.streamName(liveDb, streamId);
    const rows = all(
      liveDb,
      live
        .selectFrom('segments')
        .selectAll()
        .where('stream_id', '=', streamId)
        .orderBy('first_version'),
    );
    const archivedUs = this.now();
    if (rows.length > 0) {
      this.withPartition(partition, (p) =>
        transaction(p, () => {
          for (const row of rows) {
            const { id: _id, stream_id: _streamId, ...columns } = row;
            run(
              p,
              part
                .insertInto('segments')
                .values({ ...columns, stream, archived_us: archivedUs })
                .onConflict((oc) =>
                  oc.column('first_position').doUpdateSet((eb) => ({
                    last_position: eb.ref('excluded.last_position'),
                    stream: eb.ref('excluded.stream'),
                    first_version: eb.ref('excluded.first_version'),
                    last_version: eb.ref('excluded.last_version'),
                    first_us: eb.ref('excluded.first_us'),
                    last_us: eb.ref('excluded.last_us'),
                    event_count: eb.ref('excluded.event_count'),
                    codec_version: eb.ref('excluded.codec_version'),
                    checksum: eb.ref('excluded.checksum'),
                    data: eb.ref('excluded.data'),
                  })),
                ),
            );
          }
          storeDigest(p);
        }),
      );
    }
    transaction(liveDb, () => {
      // The segments read again inside this transaction: only rows copied above leave.
      const ids = rows.map((row) => row.id);
      const present =
        ids.length === 0
          ? []
          : all(liveDb, live.selectFrom('segments').select('id').where('id', 'in', ids));
      const still = new Set(present.map((row) => row.id));
      let span = 0;
      for (const row of rows) {
        if (!still.has(row.id)) continue;
        span = Math.max(span, row.last_position - row.first_position);
        run(
          liveDb,
          live.insertInto('archived_segments').values({
            first_position: row.first_position,
            last_position: row.last_position,
            stream_id: row.stream_id,
            first_version: row.first_version,
            last_version: row.last_version,
            first_us: row.first_us,
            last_us: row.last_us,
            event_count: row.event_count,
            codec_version: row.codec_version,
            checksum: row.checksum,
            partition,
            archived_us: archivedUs,
            deleted_us: null,
          }),
        );
        keepArchivedEventIds(liveDb, row.data);
        run(liveDb, live.deleteFrom('sealed_event_ids').where('segment_id', '=', row.id));
        run(liveDb, live.deleteFrom('segments').where('id', '=', row.id));
      }
      this.keepSpan(liveDb, span);
      this.clearLedger(liveDb, ledgerId);
    });
    return {
      stream,
      partition,
      segments: rows.length,
      events: rows.reduce((sum, row) => sum + row.event_count, 0),
      bytes: rows.reduce((sum, row) => sum + row.data.byteLength, 0),
    };
  }

  /**
   * Keeps `metadata.segment_max_span` at least `span` and present: reads by position
   * bound their segment lookups (live and archived) by it, and without the key they
   * would compute it from the live segments only.
   */
  private keepSpan(liveDb: SqliteConnection, span: number): void {
    const recorded = first(
      liveDb,
      live.selectFrom('metadata').select('value').where('key', '=', SEGMENT_MAX_SPAN_KEY),
    );
    const computed = first(
      liveDb,
      live
        .selectFrom('segments')
        .select((eb) => eb.fn.max(sql<number>`last_position - first_position`).as('span')),
    );
    const value = Math.max(span, Number(recorded?.value ?? -1), Number(computed?.span ?? -1));
    if (recorded === undefined || Number(recorded.value) < value) {
      run(
        liveDb,
        live
          .insertInto('metadata')
          .values({ key: SEGMENT_MAX_SPAN_KEY, value: String(value) })
          .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(value) })),
      );
    }
  }

  /**
   * Finishes every operation a kill interrupted (moves, restores, deletions the ledger
   * holds); returns how many. Every other operation does this first; a process that
   * reads the archive (a daemon) calls it once at start.
   */
  recover(): number {
    return this.exclusive((liveDb) => this.recoverWith(liveDb));
  }

  private recoverWith(liveDb: SqliteConnection): number {
    const entries = all(liveDb, live.selectFrom('archive_ledger').selectAll().orderBy('id'));
    for (const entry of entries) {
      if (entry.action === 'move' && entry.stream_id !== null) {
        this.finishMove(liveDb, entry.id, entry.partition, entry.stream_id);
      } else if (entry.action === 'restore') {
        this.finishRestore(liveDb, entry.id, entry.partition);
      } else {
        this.finishDelete(liveDb, entry.id, entry.partition);
      }
    }
    return entries.length;
  }

  /** Gives the live file's free pages back: `VACUUM`, then the WAL is truncated. */
  private reclaim(liveDb: SqliteConnection): ReclaimReport {
    const bytes = (): number =>
      fileBytes(this.databasePath) + fileBytes(`${this.databasePath}-wal`);
    const bytesBefore = bytes();
    const freePagesBefore = Number(liveDb.pragma('freelist_count', { simple: true }));
    if (freePagesBefore > 0) liveDb.exec('VACUUM');
    liveDb.pragma('wal_checkpoint(TRUNCATE)');
    return { freePagesBefore, bytesBefore, bytesAfter: bytes() };
  }

  // ---- listing and verifying ----------------------------------------------------------

  private partitionNames(liveDb: SqliteConnection | undefined): string[] {
    const names = new Set<string>();
    if (existsSync(this.dir)) {
      for (const file of readdirSync(this.dir)) {
        const name = basename(file, '.db');
        if (file.endsWith('.db') && isPartitionName(name)) names.add(name);
      }
    }
    if (liveDb !== undefined) {
      for (const row of all(
        liveDb,
        live.selectFrom('archived_segments').select('partition').distinct(),
      )) {
        names.add(row.partition);
      }
    }
    return [...names].sort();
  }

  private readLive<T>(work: (liveDb: SqliteConnection | undefined) => T): T {
    if (!existsSync(this.databasePath)) {
      throw new ArchiveError('not_found', `no database at ${this.databasePath}`);
    }
    const liveDb = openConnection(this.databasePath, {
      readonly: true,
      fileMustExist: true,
      timeout: this.busyTimeoutMs,
    });
    try {
      const hasCatalog =
        liveDb
          .prepare(
            "select 1 from sqlite_master where type = 'table' and name = 'archived_segments'",
          )
          .get() !== undefined;
      return work(hasCatalog ? liveDb : undefined);
    } finally {
      liveDb.close();
    }
  }

  /** Every partition with its size and contents, as the live catalog records them. */
  list(): PartitionInfo[] {
    return this.readLive((liveDb) =>
      this.partitionNames(liveDb).map((name) => {
        const stats =
          liveDb === undefined
            ? undefined
            : first(
                liveDb,
                live
                  .selectFrom('archived_segments')
                  .select((eb) => [
                    eb.fn.countAll<number>().as('segments'),
                    eb.fn.sum<number>('event_count').as('events'),
                    eb.fn.count<number>('stream_id').distinct().as('streams'),
                    eb.fn.min<number>('first_us').as('first_us'),
                    eb.fn.max<number>('last_us').as('last_us'),
                    eb.fn.count<number>('deleted_us').as('deleted'),
                  ])
                  .where('partition', '=', name),
              );
        const path = this.partitionPath(name);
        const segments = Number(stats?.segments ?? 0);
        return {
          name,
          path,
          bytes: fileBytes(path),
          segments,
          events: Number(stats?.events ?? 0),
          streams: Number(stats?.streams ?? 0),
          firstUs: stats?.first_us ?? null,
          lastUs: stats?.last_us ?? null,
          deleted: segments > 0 && Number(stats?.deleted ?? 0) === segments && !existsSync(path),
        };
      }),
    );
  }

  /**
   * Verifies every partition (or the named ones): the file opens and is a partition, its
   * checksum matches its rows, every segment's bytes pass their CRC and decode to what
   * its row and the live catalog say, each stream's segments chain version by version,
   * and every segment the catalog places in the partition is there. Damage is named by
   * partition, stream and position range; nothing is skipped silently.
   */
  verify(
    options: { readonly partitions?: readonly string[]; readonly quick?: boolean } = {},
  ): ArchiveVerifyReport {
    return this.readLive((liveDb) => {
      const problems: ArchiveProblem[] = [];
      let segments = 0;
      let events = 0;
      const names = options.partitions ?? this.partitionNames(liveDb);
      const pending = new Set(
        liveDb === undefined
          ? []
          : all(liveDb, live.selectFrom('archive_ledger').select('partition')).map(
              (row) => row.partition,
            ),
      );
      for (const name of names) {
        const catalog = new Map(
          (liveDb === undefined
            ? []
            : all(
                liveDb,
                live
                  .selectFrom('archived_segments as a')
                  .innerJoin('streams as s', 's.id', 'a.stream_id')
                  .select([
                    'a.first_position',
                    'a.last_position',
                    'a.first_version',
                    'a.last_version',
                    'a.checksum',
                    'a.event_count',
                    'a.deleted_us',
                    's.name as stream',
                  ])
                  .where('a.partition', '=', name),
              )
          ).map((row) => [row.first_position, row]),
        );
        const live_ = [...catalog.values()].filter((row) => row.deleted_us === null);
        const path = this.partitionPath(name);
        if (!existsSync(path)) {
          if (live_.length > 0) {
            problems.push({
              kind: 'missing_file',
              partition: name,
              message: `partition ${name}: file ${path} is missing; it holds ${live_.length} archived segments`,
            });
          }
          continue;
        }
        let p: SqliteConnection;
        try {
          p = openPartition(path, name);
        } catch (error) {
          problems.push({ kind: 'unreadable', partition: name, message: (error as Error).message });
          continue;
        }
        try {
          const integrity = p.pragma('quick_check', { simple: true });
          if (integrity !== 'ok') {
            problems.push({
              kind: 'unreadable',
              partition: name,
              message: `partition ${name}: SQLite reports ${String(integrity)}`,
            });
          }
          const stored = first(
            p,
            part.selectFrom('partition_meta').select('value').where('key', '=', DIGEST_KEY),
          );
          const computed = partitionDigest(p);
          if (stored === undefined || Number(stored.value) !== computed) {
            problems.push({
              kind: 'digest',
              partition: name,
              message: `partition ${name}: checksum ${stored?.value ?? 'missing'} recorded, its segments give ${computed} (a segment was added, removed or replaced)`,
            });
          }
          const rows = all(
            p,
            part
              .selectFrom('segments')
              .select([
                'first_position',
                'last_position',
                'stream',
                'first_version',
                'last_version',
                'event_count',
                'checksum',
              ])
              .orderBy('stream')
              .orderBy('first_version'),
          );
          const dataOf = p
            .prepare(
              part.selectFrom('segments').select('data').where('first_position', '=', 0).compile()
                .sql,
            )
            .pluck();
          let previous: (typeof rows)[number] | undefined;
          for (const row of rows) {
            segments++;
            events += row.event_count;
            const where = `partition ${name} segment at positions ${row.first_position}..${row.last_position} (stream ${row.stream}, versions ${row.first_version}..${row.last_version})`;
            const named = {
              partition: name,
              stream: row.stream,
              fromPosition: row.first_position,
              toPosition: row.last_position,
            };
            try {
              const data = dataOf.get(row.first_position) as Uint8Array;
              const expect = {
                stream: row.stream,
                firstPosition: BigInt(row.first_position),
                lastPosition: BigInt(row.last_position),
                firstVersion: BigInt(row.first_version),
                lastVersion: BigInt(row.last_version),
                count: row.event_count,
                checksum: row.checksum,
              };
              if (options.quick === true) {
                const header = readSegmentHeader(data);
                if (
                  header.checksum !== row.checksum ||
                  Number(header.firstPosition) !== row.first_position
                ) {
                  throw new Error('its bytes are another segment');
                }
              } else {
                decodeSegment(data, { expect });
              }
            } catch (error) {
              problems.push({
                kind: 'segment',
                ...named,
                message: `${where} is damaged: ${(error as Error).message}`,
              });
            }
            const inCatalog = catalog.get(row.first_position);
            if (inCatalog === undefined) {
              if (!pending.has(name)) {
                problems.push({
                  kind: 'orphan',
                  ...named,
                  message: `${where} is not in the live catalog (left by an interrupted operation; the next archive run removes or finishes it)`,
                });
              }
            } else if (
              inCatalog.checksum !== row.checksum ||
              inCatalog.last_position !== row.last_position
            ) {
              problems.push({
                kind: 'segment',
                ...named,
                message: `${where} differs from the live catalog (checksum ${inCatalog.checksum}, positions ${inCatalog.first_position}..${inCatalog.last_position})`,
              });
            }
            if (
              previous !== undefined &&
              previous.stream === row.stream &&
              row.first_version !== previous.last_version + 1
            ) {
              problems.push({
                kind: 'version_gap',
                ...named,
                message: `${where}: stream ${row.stream} versions ${previous.last_version + 1}..${row.first_version - 1} are missing before it`,
              });
            }
            previous = row;
          }
          const present = new Set(rows.map((row) => row.first_position));
          for (const row of live_) {
            if (!present.has(row.first_position)) {
              problems.push({
                kind: 'missing_segment',
                partition: name,
                stream: row.stream,
                fromPosition: row.first_position,
                toPosition: row.last_position,
                message: `partition ${name} lacks the segment at positions ${row.first_position}..${row.last_position} (stream ${row.stream}, versions ${row.first_version}..${row.last_version}) that the live catalog places there`,
              });
            }
          }
        } finally {
          p.close();
        }
      }
      return { ok: problems.length === 0, partitions: names.length, segments, events, problems };
    });
  }

  // ---- restoring ----------------------------------------------------------------------

  /**
   * Puts a partition's segments (or one stream's) back into the live database: the live
   * commit first (segments and their sealed event ids in, catalog rows out), then the
   * partition's copies are removed, and an empty partition file with them.
   */
  restore(target: RestoreTarget): RestoreReport {
    return this.exclusive((liveDb) => {
      this.recoverWith(liveDb);
      let streamId: number | undefined;
      let partitions: string[];
      if ('stream' in target) {
        const row = first(
          liveDb,
          live.selectFrom('streams').select('id').where('name', '=', target.stream),
        );
        if (row === undefined) throw new ArchiveError('not_found', `no stream ${target.stream}`);
        streamId = row.id;
        partitions = all(
          liveDb,
          live
            .selectFrom('archived_segments')
            .select('partition')
            .distinct()
            .where('stream_id', '=', row.id)
            .where('deleted_us', 'is', null),
        ).map((r) => r.partition);
        if (partitions.length === 0)
          throw new ArchiveError('not_found', `stream ${target.stream} has no archived segments`);
      } else {
        if (!isPartitionName(target.partition)) {
          throw new ArchiveError(
            'invalid_argument',
            `${target.partition} is not a partition name (YYYY-MM)`,
          );
        }
        partitions = [target.partition];
      }
      const streams = new Set<number>();
      let segments = 0;
      let events = 0;
      const removed: string[] = [];
      for (const partition of partitions) {
        let query = live
          .selectFrom('archived_segments')
          .selectAll()
          .where('partition', '=', partition)
          .where('deleted_us', 'is', null);
        if (streamId !== undefined) query = query.where('stream_id', '=', streamId);
        const rows = all(liveDb, query.orderBy('first_position'));
        if (rows.length === 0 && streamId === undefined) {
          throw new ArchiveError('not_found', `partition ${partition} holds no archived segments`, {
            partition,
          });
        }
        this.coldSegments.release(partition);
        const p = openPartition(this.partitionPath(partition), partition, {
          busyTimeoutMs: this.busyTimeoutMs,
        });
        let ledgerId: number;
        try {
          const dataOf = p.prepare(
            part
              .selectFrom('segments')
              .select(['data', 'stream'])
              .where('first_position', '=', 0)
              .compile().sql,
          );
          ledgerId = transaction(liveDb, () => {
            const id = this.ledger(liveDb, 'restore', partition, streamId ?? null);
            let span = 0;
            for (const row of rows) {
              const found = dataOf.get(row.first_position) as
                { data: Uint8Array; stream: string } | undefined;
              const where = `partition ${partition} segment at positions ${row.first_position}..${row.last_position}`;
              if (found === undefined)
                throw new ArchiveError('corrupt', `${where} is missing; nothing was restored`, {
                  partition,
                });
              let decoded;
              try {
                decoded = decodeSegment(found.data, {
                  expect: {
                    stream: found.stream,
                    firstPosition: BigInt(row.first_position),
                    lastPosition: BigInt(row.last_position),
                    firstVersion: BigInt(row.first_version),
                    lastVersion: BigInt(row.last_version),
                    count: row.event_count,
                    checksum: row.checksum,
                  },
                });
              } catch (error) {
                throw new ArchiveError(
                  'corrupt',
                  `${where} is damaged; nothing was restored: ${(error as Error).message}`,
                  { partition, cause: error },
                );
              }
              const segmentId = run(
                liveDb,
                live.insertInto('segments').values({
                  stream_id: row.stream_id,
                  first_position: row.first_position,
                  last_position: row.last_position,
                  first_version: row.first_version,
                  last_version: row.last_version,
                  first_us: row.first_us,
                  last_us: row.last_us,
                  event_count: row.event_count,
                  codec_version: row.codec_version,
                  checksum: row.checksum,
                  data: found.data,
                }),
              ).lastInsertRowid;
              for (const event of decoded.events) {
                if (event.eventId === null) continue;
                run(
                  liveDb,
                  live
                    .insertInto('sealed_event_ids')
                    .values({
                      event_id: event.eventId,
                      position: Number(event.position),
                      segment_id: segmentId,
                    })
                    .onConflict((oc) => oc.column('event_id').doNothing()),
                );
              }
              // Back in a live segment: the ids are found through sealed_event_ids again.
              run(
                liveDb,
                live
                  .deleteFrom('archived_event_ids')
                  .where('position', '>=', row.first_position)
                  .where('position', '<=', row.last_position),
              );
              run(
                liveDb,
                live
                  .deleteFrom('archived_segments')
                  .where('first_position', '=', row.first_position),
              );
              span = Math.max(span, row.last_position - row.first_position);
              streams.add(row.stream_id);
              segments++;
              events += row.event_count;
            }
            this.keepSpan(liveDb, span);
            return id;
          });
        } finally {
          p.close();
        }
        if (this.finishRestore(liveDb, ledgerId, partition)) removed.push(partition);
      }
      return { streams: streams.size, segments, events, removedPartitions: removed };
    });
  }

  /**
   * Removes from a partition the segments the live database holds again (a restore's
   * second half), the partition file once it is empty, then the ledger row. Returns
   * whether the file was removed.
   */
  private finishRestore(liveDb: SqliteConnection, ledgerId: number, partition: string): boolean {
    const path = this.partitionPath(partition);
    let removedFile = false;
    if (existsSync(path)) {
      const back = new Set(
        all(liveDb, live.selectFrom('segments').select('first_position')).map(
          (row) => row.first_position,
        ),
      );
      this.coldSegments.release(partition);
      const remaining = this.withPartition(partition, (p) =>
        transaction(p, () => {
          const rows = all(p, part.selectFrom('segments').select('first_position'));
          for (const row of rows) {
            if (back.has(row.first_position)) {
              run(p, part.deleteFrom('segments').where('first_position', '=', row.first_position));
            }
          }
          storeDigest(p);
          return rows.filter((row) => !back.has(row.first_position)).length;
        }),
      );
      const referenced = first(
        liveDb,
        live
          .selectFrom('archived_segments')
          .select('first_position')
          .where('partition', '=', partition)
          .where('deleted_us', 'is', null),
      );
      if (remaining === 0 && referenced === undefined) {
        rmSync(path, { force: true });
        rmSync(`${path}-journal`, { force: true });
        syncDirectory(this.dir);
        removedFile = true;
      }
    }
    transaction(liveDb, () => this.clearLedger(liveDb, ledgerId));
    return removedFile;
  }

  // ---- retention ----------------------------------------------------------------------

  /**
   * Applies a retention policy: whole partitions go, oldest first, while the archive is
   * older, larger or has more partitions than the policy allows. `dryRun` lists exactly
   * what would go and changes nothing. A deleted partition's catalog rows stay as
   * tombstones (positions stay taken; reads pass over them); session summaries, snapshots
   * and analytics rollups in the live database are not touched.
   */
  applyRetention(
    policy: RetentionPolicy,
    options: { readonly dryRun?: boolean } = {},
  ): RetentionReport {
    for (const [key, value] of Object.entries(policy)) {
      if (
        value !== undefined &&
        (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
      ) {
        throw new ArchiveError(
          'invalid_argument',
          `retention policy ${key}: expected a non-negative number, got ${String(value)}`,
        );
      }
    }
    const dryRun = options.dryRun ?? false;
    const decide = (
      liveDb: SqliteConnection | undefined,
    ): Omit<RetentionReport, 'reclaim' | 'dryRun'> => {
      const partitions = this.partitionNamesWithFiles(liveDb).map((name) => ({
        name,
        bytes: fileBytes(this.partitionPath(name)),
        events: Number(
          liveDb === undefined
            ? 0
            : (first(
                liveDb,
                live
                  .selectFrom('archived_segments')
                  .select((eb) => eb.fn.sum<number>('event_count').as('n'))
                  .where('partition', '=', name)
                  .where('deleted_us', 'is', null),
              )?.n ?? 0),
        ),
      }));
      const reasons = new Map<string, Set<'age' | 'size' | 'count'>>();
      const mark = (name: string, reason: 'age' | 'size' | 'count'): void => {
        const set = reasons.get(name) ?? new Set();
        set.add(reason);
        reasons.set(name, set);
      };
      const nowUs = this.now();
      if (policy.maxAgeDays !== undefined) {
        for (const p of partitions) {
          if (partitionEndUs(p.name) + policy.maxAgeDays * DAY_MS * 1000 <= nowUs)
            mark(p.name, 'age');
        }
      }
      if (policy.maxPartitions !== undefined) {
        const excess = partitions.length - policy.maxPartitions;
        for (let i = 0; i < excess; i++) mark(partitions[i]!.name, 'count');
      }
      if (policy.maxTotalBytes !== undefined) {
        let total = partitions.reduce((sum, p) => sum + p.bytes, 0);
        for (const p of partitions) {
          if (total <= policy.maxTotalBytes) break;
          mark(p.name, 'size');
          total -= p.bytes;
        }
      }
      const kept: { partition: string; reason: string }[] = [];
      const deleted: RetentionDecision[] = [];
      for (const p of partitions) {
        const why = reasons.get(p.name);
        if (why === undefined) continue;
        const running =
          liveDb === undefined
            ? undefined
            : first(
                liveDb,
                live
                  .selectFrom('archived_segments as a')
                  .innerJoin('sessions as se', 'se.stream_id', 'a.stream_id')
                  .select('se.session_id')
                  .where('a.partition', '=', p.name)
                  .where('se.status', '=', 'active'),
              );
        if (running !== undefined) {
          kept.push({ partition: p.name, reason: `session ${running.session_id} is running` });
          continue;
        }
        deleted.push({ partition: p.name, bytes: p.bytes, events: p.events, reasons: [...why] });
      }
      return { deleted, kept };
    };
    if (dryRun) {
      return { dryRun, ...this.readLive((liveDb) => decide(liveDb)), reclaim: undefined };
    }
    return this.exclusive((liveDb) => {
      this.recoverWith(liveDb);
      const decision = decide(liveDb);
      for (const d of decision.deleted) {
        this.coldSegments.release(d.partition);
        const id = transaction(liveDb, () => {
          const ledgerId = this.ledger(liveDb, 'delete', d.partition, null);
          run(
            liveDb,
            live
              .updateTable('archived_segments')
              .set({ deleted_us: this.now() })
              .where('partition', '=', d.partition)
              .where('deleted_us', 'is', null),
          );
          return ledgerId;
        });
        this.finishDelete(liveDb, id, d.partition);
      }
      return {
        dryRun,
        ...decision,
        reclaim: decision.deleted.length > 0 ? this.reclaim(liveDb) : undefined,
      };
    });
  }

  private partitionNamesWithFiles(liveDb: SqliteConnection | undefined): string[] {
    return this.partitionNames(liveDb).filter((name) => existsSync(this.partitionPath(name)));
  }

  private finishDelete(liveDb: SqliteConnection, ledgerId: number, partition: string): void {
    const path = this.partitionPath(partition);
    rmSync(path, { force: true });
    rmSync(`${path}-journal`, { force: true });
    if (existsSync(this.dir)) syncDirectory(this.dir);
    transaction(liveDb, () => this.clearLedger(liveDb, ledgerId));
  }

  /** Total bytes of the archive's partition files. */
  totalBytes(): number {
    if (!existsSync(this.dir)) return 0;
    return readdirSync(this.dir)
      .filter((file) => file.endsWith('.db') && isPartitionName(basename(file, '.db')))
      .reduce((sum, file) => sum + fileBytes(join(this.dir, file)), 0);
  }
}

/**
 * Keeps the event ids of a segment that leaves the live database, with the digest of
 * each event's content (`archived_event_ids`), so that an append repeating one of them is
 * still answered with the original position (or refused as a conflict) once the segment
 * and its `sealed_event_ids` rows are gone. Runs inside the move's live transaction.
 */
function keepArchivedEventIds(liveDb: SqliteConnection, data: Uint8Array): void {
  const columns = decodeSegmentColumns(data);
  for (let i = 0; i < columns.count; i++) {
    const event = columns.record(i);
    if (event.eventId === null) continue;
    run(
      liveDb,
      live
        .insertInto('archived_event_ids')
        .values({
          event_id: event.eventId,
          position: Number(event.position),
          digest: eventContentDigest(event),
        })
        .onConflict((oc) => oc.column('event_id').doNothing()),
    );
  }
}
