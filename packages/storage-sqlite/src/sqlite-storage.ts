import { closeSync, existsSync, openSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';

import {
  SCHEMA_VERSION,
  SCHEMA_VERSION_KEY,
  StorageError,
  createMigrations,
  migrateToLatest,
  validateAppendBatch,
} from '@wirthforge/storage';
import type {
  AppendBatchOptions,
  AppendBatchResult,
  ColdSegmentSource,
  Database,
  EventStorage,
  MigrationReport,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
  StreamAppend,
} from '@wirthforge/storage';
import { MAX_SEGMENT_EVENTS } from '@wirthforge/segments';
import { Kysely, SqliteAdapter, SqliteDialect } from 'kysely';
import type { DialectAdapter } from 'kysely';

import { classifySqliteError, toSqliteStorageError } from './errors.js';
import { acquireLockFile } from './lock-file.js';
import type { LockFile } from './lock-file.js';
import type { BackupOptions, BackupReport } from './sqlite-backup.js';
import { openConnection, sqliteLibraryVersion } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { SqliteEventReader } from './sqlite-event-reader.js';
import type { IntegrityCheckOptions, IntegrityReport } from './sqlite-integrity.js';
import { backupSqliteFile, checkSqliteFileIntegrity } from './sqlite-maintenance.js';
import { applyReaderPragmas } from './sqlite-pragmas.js';
import type { SqlitePragmaReport, SynchronousMode } from './sqlite-pragmas.js';
import { sqliteSchemaDialect } from './sqlite-schema-dialect.js';
import { DEFAULT_SEAL_OPTIONS } from './sqlite-sealer.js';
import type { SealOptions } from './sqlite-sealer.js';
import { assertSupportedSqliteVersion } from './sqlite-version.js';
import { databaseIdentity, readHeadMarker } from './sqlite-head-marker.js';
import {
  inspectSqliteWal,
  missingCommits,
  quarantineWal,
  recordWalDamage,
} from './sqlite-wal-check.js';
import type { WalDamage } from './sqlite-wal-check.js';
import { salvageSqliteWal } from './sqlite-wal-salvage.js';
import { SqliteWriterClient } from './sqlite-writer-client.js';
import type { WriterStart } from './sqlite-writer-client.js';
import type { CheckpointMode, CheckpointResult } from './sqlite-writer-protocol.js';

/** Options of {@link openSqliteStorage}. */
export interface SqliteStorageOptions {
  /** Database file; created (with its schema) when missing. */
  readonly path: string;
  /**
   * `full` (default): an acknowledged event survives power loss (the WAL is synced at
   * every commit). `normal`: it survives a process crash; the last commits may be lost
   * on power loss, in exchange for fewer syncs.
   */
  readonly synchronous?: SynchronousMode;
  /** How long a connection waits on a lock before `busy`, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** WAL pages that trigger an automatic PASSIVE checkpoint after a commit (default 1000, about 4 MB). */
  readonly walAutocheckpointPages?: number;
  /** Size the WAL is truncated back to after checkpoints, in bytes (default 64 MiB). */
  readonly journalSizeLimitBytes?: number;
  /** Period of the checkpoint policy in ms (default 1000; 0 turns the timer off). */
  readonly checkpointIntervalMs?: number;
  /** Idle time after the last commit before the WAL is truncated, in ms (default 5000). */
  readonly idleCheckpointMs?: number;
  /** Events per read page (default 1000). */
  readonly readPageSize?: number;
  /**
   * Group commit: batches waiting for the writer when one arrives are committed with it
   * under one COMMIT (one fsync), each in its own savepoint so that each stays
   * all-or-nothing, until the group holds this many events (default 8192; 1 commits
   * every batch on its own). A batch is acknowledged only after its group's COMMIT.
   */
  readonly maxGroupEvents?: number;
  /**
   * Sealing: the writer turns each stream's oldest hot rows into compressed segments in
   * idle turns, so that the hot `events` table stays small; reads merge segments and hot
   * rows behind the same API. Default `{ minEvents: 3600, maxAgeMs: 60000 }` (a stream is
   * sealed once it has 3600 unsealed events, one minute at 60 Hz, or once its oldest
   * unsealed event is a minute old); `false` never seals (segments already sealed are
   * still read).
   */
  readonly seal?: Partial<SealOptions> | false;
  /** Decoded segments kept in memory for reads, least recently used first out (default 16). */
  readonly segmentCacheSize?: number;
  /**
   * Where reads find the events of segments moved to archive partitions (an archive of
   * `@wirthforge/archive`). Without it, a read that reaches archived events rejects with
   * `corrupt` saying so.
   */
  readonly coldSegments?: ColdSegmentSource | undefined;
  /**
   * Called once for each damage found at open: a WAL whose committed frames SQLite would
   * discard, a WAL cut short, or commits missing (a deleted WAL). The damaged WAL is
   * copied beside the database first and a report left there for `checkIntegrity`; the
   * commits after a bit flip are salvaged where a checked repair allows (see
   * `WalDamage.salvage`), else the store opens at the last intact commit. Default: a process warning
   * (`WIRTHFORGE_WAL_DAMAGE`) with the message. Also listed in {@link SqliteStorage.walDamage}.
   */
  readonly onWalDamage?: ((damage: WalDamage) => void) | undefined;
}

const DEFAULTS = {
  synchronous: 'full' as SynchronousMode,
  busyTimeoutMs: 5000,
  walAutocheckpointPages: 1000,
  journalSizeLimitBytes: 64 * 1024 * 1024,
  checkpointIntervalMs: 1000,
  idleCheckpointMs: 5000,
  readPageSize: 1000,
  maxGroupEvents: 8192,
  segmentCacheSize: 16,
};

function positiveInteger(value: unknown, name: string, allowZero = false): void {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < 0 ||
    (!allowZero && value === 0)
  ) {
    throw new StorageError(
      'invalid_argument',
      `options.${name}: expected a ${allowZero ? 'non-negative' : 'positive'} integer, got ${String(value)}`,
    );
  }
}

/** Checks and completes the `seal` option. */
export function resolveSealOptions(
  seal: Partial<SealOptions> | false | undefined,
): SealOptions | false {
  if (seal === false) return false;
  if (seal !== undefined && (typeof seal !== 'object' || seal === null)) {
    throw new StorageError(
      'invalid_argument',
      `options.seal: expected false or { minEvents, maxAgeMs }, got ${String(seal)}`,
    );
  }
  const resolved = { ...DEFAULT_SEAL_OPTIONS, ...stripUndefined(seal ?? {}) };
  positiveInteger(resolved.minEvents, 'seal.minEvents');
  if (resolved.minEvents > MAX_SEGMENT_EVENTS) {
    throw new StorageError(
      'invalid_argument',
      `options.seal.minEvents: at most ${MAX_SEGMENT_EVENTS} events fit in a segment, got ${resolved.minEvents}`,
    );
  }
  positiveInteger(resolved.maxAgeMs, 'seal.maxAgeMs', true);
  return resolved;
}

function resolveOptions(
  options: SqliteStorageOptions,
): Required<Omit<SqliteStorageOptions, 'coldSegments' | 'onWalDamage'>> {
  if (typeof options.path !== 'string' || options.path.length === 0) {
    throw new StorageError('invalid_argument', 'options.path: expected a database file path');
  }
  if (options.path === ':memory:' || options.path.startsWith('file:')) {
    throw new StorageError(
      'invalid_argument',
      'options.path: expected a file path (the writer thread and the readers share the file)',
    );
  }
  const resolved = { ...DEFAULTS, ...stripUndefined(options), path: resolve(options.path) };
  if (resolved.synchronous !== 'full' && resolved.synchronous !== 'normal') {
    throw new StorageError(
      'invalid_argument',
      `options.synchronous: expected 'full' or 'normal', got ${String(resolved.synchronous)}`,
    );
  }
  positiveInteger(resolved.busyTimeoutMs, 'busyTimeoutMs', true);
  positiveInteger(resolved.walAutocheckpointPages, 'walAutocheckpointPages');
  positiveInteger(resolved.journalSizeLimitBytes, 'journalSizeLimitBytes', true);
  positiveInteger(resolved.checkpointIntervalMs, 'checkpointIntervalMs', true);
  positiveInteger(resolved.idleCheckpointMs, 'idleCheckpointMs', true);
  positiveInteger(resolved.readPageSize, 'readPageSize');
  positiveInteger(resolved.maxGroupEvents, 'maxGroupEvents');
  positiveInteger(resolved.segmentCacheSize, 'segmentCacheSize', true);
  return { ...resolved, seal: resolveSealOptions(options.seal) };
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** SQLite runs DDL inside transactions; Kysely's adapter says no, so its migrator would
 * apply a migration's statements one by one and an I/O error midway would leave the
 * schema half made ("table metadata already exists" on the next open). */
class TransactionalDdlSqliteAdapter extends SqliteAdapter {
  override get supportsTransactionalDdl(): boolean {
    return true;
  }
}

/** A SQLite dialect whose migrations run each in one transaction: all or nothing. */
class MigratingSqliteDialect extends SqliteDialect {
  override createAdapter(): DialectAdapter {
    return new TransactionalDdlSqliteAdapter();
  }
}

/**
 * The schema version when the file is exactly current (its recorded version is this
 * code's and every migration this code knows, and no other, is recorded as applied);
 * undefined otherwise, and then the migrator decides (migrates, or refuses a newer one).
 */
function currentSchemaVersion(connection: SqliteConnection): number | undefined {
  const tables = connection
    .prepare(
      "select name from sqlite_master where type = 'table' and name in ('metadata', 'kysely_migration')",
    )
    .pluck()
    .all() as string[];
  if (tables.length !== 2) return undefined;
  const value = connection
    .prepare('select value from metadata where key = ?')
    .pluck()
    .get(SCHEMA_VERSION_KEY);
  if (value !== String(SCHEMA_VERSION)) return undefined;
  const applied = connection.prepare('select name from kysely_migration').pluck().all() as string[];
  const known = Object.keys(createMigrations(sqliteSchemaDialect));
  const same = applied.length === known.length && known.every((name) => applied.includes(name));
  return same ? SCHEMA_VERSION : undefined;
}

async function migrate(path: string, busyTimeoutMs: number): Promise<MigrationReport> {
  // A new database is created owner-only (0600); SQLite gives its -wal and -shm files the
  // database file's mode.
  if (!existsSync(path)) closeSync(openSync(path, 'a', 0o600));
  const connection = openConnection(path, { timeout: busyTimeoutMs });
  try {
    // WAL first, so readers can open the file while the writer holds it.
    connection.pragma('journal_mode = WAL');
    connection.pragma('foreign_keys = ON');
    // The usual open: nothing to migrate, known without building the migrator.
    const current = currentSchemaVersion(connection);
    if (current !== undefined) {
      connection.close();
      return { schemaVersion: current, previousVersion: current, applied: [] };
    }
  } catch (error) {
    connection.close();
    throw error;
  }
  const db = new Kysely<Database>({
    dialect: new MigratingSqliteDialect({ database: connection }),
  });
  try {
    return await migrateToLatest(db, sqliteSchemaDialect, {
      database: path,
      classify: classifySqliteError,
    });
  } finally {
    await db.destroy();
  }
}

/**
 * An {@link EventStorage} on one SQLite file: a writer thread owns the only write
 * connection; reads use their own read-only connections. Open it with
 * {@link openSqliteStorage}.
 */
export class SqliteStorage implements EventStorage {
  private closing: Promise<void> | undefined;

  /** @internal Use {@link openSqliteStorage}. */
  constructor(
    /** Absolute path of the database file. */
    readonly path: string,
    /**
     * A Kysely instance over a read-only connection, for repositories and ad-hoc queries
     * (`new SessionRepository(storage.db)`). Writes go through {@link appendBatch}.
     */
    readonly db: Kysely<Database>,
    /** The writer's pragmas, as read back after setting them. */
    readonly pragmas: SqlitePragmaReport,
    /** Version of the SQLite library in use. */
    readonly sqliteVersion: string,
    /** What opening did to the schema. */
    readonly migration: MigrationReport,
    private readonly writer: SqliteWriterClient,
    private readonly readConnection: SqliteConnection,
    private readonly reader: SqliteEventReader,
    private readonly lock: LockFile,
    private readonly busyTimeoutMs: number,
    /**
     * Damage to the WAL found at open (empty after a clean stop): what it was, where the
     * damaged WAL was copied, and the report left for `checkIntegrity`. The store opened
     * at the last intact commit.
     */
    readonly walDamage: readonly WalDamage[] = [],
  ) {}

  /** Whether {@link close} was called. */
  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  private closedError(): StorageError {
    return new StorageError('closed', `storage ${this.path} is closed`);
  }

  /** @internal Throws `closed` after {@link close}. */
  ensureOpen(): void {
    if (this.closing !== undefined) throw this.closedError();
  }

  /** See {@link EventStorage.appendBatch}. Resolves after COMMIT on the writer thread. */
  appendBatch(
    appends: readonly StreamAppend[],
    options?: AppendBatchOptions,
  ): Promise<AppendBatchResult> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    try {
      validateAppendBatch(appends, options);
    } catch (error) {
      return Promise.reject(toSqliteStorageError(error));
    }
    return this.writer.append(appends, options?.writes ?? []);
  }

  /** See {@link EventStorage.readStream}. */
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<StoredEventRecord> {
    return this.reader.readStream(stream, options);
  }

  /** See {@link EventStorage.readAll}. */
  readAll(options?: ReadAllOptions): AsyncIterable<StoredEventRecord> {
    return this.reader.readAll(options);
  }

  /** See {@link EventStorage.readStreamPages}. */
  readStreamPages(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncIterable<readonly StoredEventRecord[]> {
    return this.reader.readStreamPages(stream, options);
  }

  /** See {@link EventStorage.readAllPages}. */
  readAllPages(options?: ReadAllOptions): AsyncIterable<readonly StoredEventRecord[]> {
    return this.reader.readAllPages(options);
  }

  /** See {@link EventStorage.streamVersion}. */
  streamVersion(stream: string): Promise<bigint> {
    try {
      return Promise.resolve(BigInt(this.reader.streamVersion(stream)));
    } catch (error) {
      return Promise.reject(toSqliteStorageError(error));
    }
  }

  /** See {@link EventStorage.headPosition}. */
  headPosition(): Promise<bigint> {
    try {
      return Promise.resolve(BigInt(this.reader.headPosition()));
    } catch (error) {
      return Promise.reject(toSqliteStorageError(error));
    }
  }

  /**
   * Runs a WAL checkpoint on the writer thread now (the writer also checkpoints by
   * itself: PASSIVE while writes flow, TRUNCATE when idle).
   */
  checkpoint(mode: CheckpointMode = 'passive'): Promise<CheckpointResult> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    return this.writer.checkpoint(mode);
  }

  /**
   * Writes a verified, consistent copy of the database to `destination` while writes go
   * on (see `backupSqliteFile`). The copy holds exactly positions 1..`headPosition`.
   *
   * @example
   * ```ts
   * const report = await storage.backup('/backups/state.db');
   * console.log(report.headPosition, report.bytes);
   * ```
   */
  backup(destination: string, options: BackupOptions = {}): Promise<BackupReport> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    return backupSqliteFile(this.path, destination, {
      busyTimeoutMs: this.busyTimeoutMs,
      ...options,
    });
  }

  /**
   * SQLite's `integrity_check` (or `quick_check`) plus the store's own checks: every
   * event's checksum, position gaps, stream version gaps. Runs on its own thread and
   * connection, on a consistent snapshot, while writes go on.
   *
   * @example
   * ```ts
   * const report = await storage.checkIntegrity({ quick: true });
   * if (!report.ok) for (const p of report.problems) console.error(p.message);
   * ```
   */
  checkIntegrity(options: IntegrityCheckOptions = {}): Promise<IntegrityReport> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    return checkSqliteFileIntegrity(this.path, { busyTimeoutMs: this.busyTimeoutMs, ...options });
  }

  /**
   * Lets appends already sent commit, closes the writer (after a final checkpoint) and the
   * read connections, and releases the lock file. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      let failure: unknown;
      // Readers first: the writer's connection, closed last, then removes the WAL files.
      try {
        this.readConnection.close();
        await this.db.destroy();
      } catch (error) {
        failure = error;
      }
      try {
        await this.writer.close();
      } catch (error) {
        failure ??= error;
      }
      this.lock.release();
      if (failure !== undefined) throw toSqliteStorageError(failure, `close ${this.path}`);
    })();
    return this.closing;
  }

  /** @internal Stops the writer thread abruptly, as a crash would. */
  crashWriterForTesting(): Promise<number> {
    return this.writer.terminate();
  }
}

/**
 * Opens (creating if needed) the SQLite event store at `options.path`: checks the SQLite
 * version, starts the writer thread loading its code, takes the lock file, checks the WAL
 * and the head marker, migrates the schema (refusing a newer one), opens the read
 * connections, then lets the writer open the file and waits for its verified pragmas.
 *
 * @throws StorageError `version` (SQLite too old, or schema newer than this code),
 * `locked` (another live process owns the database), `corrupt` (not a database),
 * `readonly`, `io`, `invalid_argument`.
 *
 * @example
 * ```ts
 * const storage = await openSqliteStorage({ path: 'state.db' });
 * await storage.appendBatch([{ stream: 'session-1', expectedVersion: 'no_stream', events }]);
 * await storage.close();
 * ```
 */
export async function openSqliteStorage(options: SqliteStorageOptions): Promise<SqliteStorage> {
  const resolved = resolveOptions(options);
  const sqliteVersion = sqliteLibraryVersion();
  assertSupportedSqliteVersion(sqliteVersion);
  const { path } = resolved;
  let lock: LockFile | undefined;
  let start: WriterStart | undefined;
  let startedWriter: ReturnType<WriterStart['open']> | undefined;
  const connections: SqliteConnection[] = [];
  try {
    // The writer thread loads its modules (most of the time an open takes) while this
    // thread takes the lock, checks the WAL, migrates and opens the readers: it touches
    // the file only once told to open, after all of that, so it starts first.
    start = SqliteWriterClient.spawn({
      path,
      pragmas: {
        synchronous: resolved.synchronous,
        busyTimeoutMs: resolved.busyTimeoutMs,
        walAutocheckpointPages: resolved.walAutocheckpointPages,
        journalSizeLimitBytes: resolved.journalSizeLimitBytes,
      },
      checkpointIntervalMs: resolved.checkpointIntervalMs,
      idleCheckpointMs: resolved.idleCheckpointMs,
      maxGroupEvents: resolved.maxGroupEvents,
      seal: resolved.seal as SealOptions | false,
    });
    lock = acquireLockFile(path);
    // After an unclean stop: what SQLite is about to discard, found before it opens the
    // file, the damaged WAL copied aside.
    const marker = readHeadMarker(path);
    const walDamage: WalDamage[] = [];
    let inWal = inspectSqliteWal(path);
    // A WAL left beside a head marker is copied before SQLite reads it: if the head then
    // comes up short (a WAL cut short), the copy is what was lost; otherwise it goes.
    const copy = inWal !== undefined || marker !== undefined ? quarantineWal(path) : undefined;
    // The commits after the damage: a copy replayed from the repaired WAL takes the
    // database's place once its checks pass; the damaged WAL stays kept as `copy`.
    const salvage =
      inWal === undefined || copy === undefined
        ? undefined
        : await salvageSqliteWal(path, copy, marker);
    // Frames after the failing one that the head marker does not claim are the remains of
    // a transaction answered with an error (its sync failed): not damage.
    if (salvage?.unacknowledged === true) inWal = undefined;
    if (inWal !== undefined) {
      walDamage.push(
        recordWalDamage({
          ...inWal,
          message: salvage === undefined ? inWal.message : `${inWal.message}; ${salvage.message}`,
          quarantine: copy,
          salvage,
        }),
      );
    }
    const migration = await migrate(path, resolved.busyTimeoutMs);
    startedWriter = start.open();
    const open = (): SqliteConnection => {
      const connection = openConnection(path, {
        readonly: true,
        fileMustExist: true,
        timeout: resolved.busyTimeoutMs,
      });
      connections.push(connection);
      applyReaderPragmas(connection, resolved.busyTimeoutMs);
      return connection;
    };
    const readConnection = open();
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: open() }) });
    const started = await startedWriter;
    const writer = started.client;
    const missing = missingCommits(
      path,
      marker,
      started.ready.headPosition,
      databaseIdentity(readConnection),
    );
    if (missing !== undefined) {
      walDamage.push(
        recordWalDamage(inWal === undefined ? { ...missing, quarantine: copy } : missing),
      );
    } else if (inWal === undefined && copy !== undefined) {
      rmSync(copy, { force: true });
    }
    const reader = new SqliteEventReader(
      readConnection,
      resolved.readPageSize,
      () => storage.ensureOpen(),
      resolved.segmentCacheSize,
      options.coldSegments,
    );
    const storage = new SqliteStorage(
      path,
      db,
      started.ready.pragmas,
      sqliteVersion,
      migration,
      writer,
      readConnection,
      reader,
      lock,
      resolved.busyTimeoutMs,
      walDamage,
    );
    const report =
      options.onWalDamage ??
      ((damage: WalDamage) =>
        process.emitWarning(
          `${damage.message}${damage.quarantine === undefined ? '' : `; the damaged WAL is kept as ${damage.quarantine}`}` +
            `${damage.report === undefined ? '' : `; report ${damage.report}`}`,
          { code: 'WIRTHFORGE_WAL_DAMAGE' },
        ));
    for (const damage of walDamage) report(damage);
    return storage;
  } catch (error) {
    for (const connection of connections) connection.close();
    // A writer that started closes as usual; one that did not is stopped.
    const started = await startedWriter?.catch(() => undefined);
    if (started !== undefined) await started.client.close().catch(() => undefined);
    else await start?.abort().catch(() => undefined);
    lock?.release();
    throw toSqliteStorageError(error, `cannot open ${path}`);
  }
}
