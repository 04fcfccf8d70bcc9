/**
 * Read-only access to a database another process may be writing: no lock file, no
 * writer thread, no migration. Reads go through read-only, `query_only` connections in
 * short transactions (WAL readers never block the writer), so tools can look at a store
 * while its daemon records.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

import {
  SCHEMA_VERSION,
  StorageError,
  assertSchemaVersionSupported,
  readSchemaVersion,
} from '@wirthforge/storage';
import type {
  AppendBatchResult,
  ColdSegmentSource,
  Database,
  EventStorage,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
} from '@wirthforge/storage';
import { Kysely, SqliteDialect } from 'kysely';

import { toSqliteStorageError } from './errors.js';
import { openConnection, sqliteLibraryVersion } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { SqliteEventReader } from './sqlite-event-reader.js';
import { applyReaderPragmas } from './sqlite-pragmas.js';
import { assertSupportedSqliteVersion } from './sqlite-version.js';

/** Options of {@link openSqliteReadOnlyStorage}. */
export interface SqliteReadOnlyStorageOptions {
  /** Database file; must exist and hold a schema. */
  readonly path: string;
  /** How long a read waits on a lock before `busy`, in ms (default 5000). */
  readonly busyTimeoutMs?: number;
  /** Events per read page (default 1000). */
  readonly readPageSize?: number;
  /** Where reads find archived segments (see `SqliteStorageOptions.coldSegments`). */
  readonly coldSegments?: ColdSegmentSource | undefined;
  /**
   * Recompute each hot row's checksum as it is read and refuse a row that fails it with
   * `corrupt` (default `true`). `false` serves such rows as stored: only for a checker
   * that names the damage itself (`checkSqliteFileIntegrity`) and must read past it.
   */
  readonly checkRowChecksums?: boolean;
}

/**
 * An {@link EventStorage} that only reads: `appendBatch` rejects with `readonly`. Open it
 * with {@link openSqliteReadOnlyStorage}.
 */
export class SqliteReadOnlyStorage implements EventStorage {
  private closed = false;

  /** @internal Use {@link openSqliteReadOnlyStorage}. */
  constructor(
    /** Absolute path of the database file. */
    readonly path: string,
    /** Kysely over a read-only connection, for repositories and ad-hoc queries. */
    readonly db: Kysely<Database>,
    /** Schema version recorded in the file. */
    readonly schemaVersion: number,
    /** A read-only connection of its own, for checks the tools run (`pragma`, `select`). */
    readonly connection: SqliteConnection,
    private readonly reader: SqliteEventReader,
  ) {}

  /** Whether {@link close} was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal Throws `closed` after {@link close}. */
  ensureOpen(): void {
    if (this.closed) throw new StorageError('closed', `storage ${this.path} is closed`);
  }

  /** Always rejects with `readonly`: this handle never writes. */
  appendBatch(): Promise<AppendBatchResult> {
    return Promise.reject(
      new StorageError(
        'readonly',
        `${this.path} is open read-only; open it with openSqliteStorage (which takes the writer lock) to write`,
      ),
    );
  }

  /** See {@link EventStorage.readStream}. */
  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<StoredEventRecord> {
    return this.reader.readStream(stream, options);
  }

  /** See {@link EventStorage.readAll}. */
  readAll(options?: ReadAllOptions): AsyncIterable<StoredEventRecord> {
    return this.reader.readAll(options);
  }

  /** See {@link EventStorage.readStreamPages}: one `await` per page of events. */
  readStreamPages(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncIterable<readonly StoredEventRecord[]> {
    return this.reader.readStreamPages(stream, options);
  }

  /** See {@link EventStorage.readAllPages}: one `await` per page of events. */
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

  /** Closes the connections. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.close();
    await this.db.destroy();
  }
}

/**
 * Opens an existing database for reading only, without the writer lock: safe while
 * another process (the daemon) writes it. Refuses a missing file (`io`), a file without
 * a schema (`invalid_argument`), a schema newer than this code (`version`) and a file
 * that is not a database (`corrupt`).
 *
 * @example
 * ```ts
 * const storage = await openSqliteReadOnlyStorage({ path: '/data/wirthforge/state.db' });
 * const sessions = await new SessionRepository(storage.db).list();
 * await storage.close();
 * ```
 */
export async function openSqliteReadOnlyStorage(
  options: SqliteReadOnlyStorageOptions,
): Promise<SqliteReadOnlyStorage> {
  const path = resolve(options.path);
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  const pageSize = options.readPageSize ?? 1000;
  assertSupportedSqliteVersion(sqliteLibraryVersion());
  if (!existsSync(path)) {
    throw new StorageError('io', `no database at ${path}`);
  }
  const connections: SqliteConnection[] = [];
  try {
    const open = (): SqliteConnection => {
      const connection = openConnection(path, {
        readonly: true,
        fileMustExist: true,
        timeout: busyTimeoutMs,
      });
      connections.push(connection);
      applyReaderPragmas(connection, busyTimeoutMs);
      return connection;
    };
    const readConnection = open();
    const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: open() }) });
    const schemaVersion = await readSchemaVersion(db);
    if (schemaVersion === 0) {
      await db.destroy();
      throw new StorageError('invalid_argument', `${path} holds no WIRTHFORGE State schema`);
    }
    assertSchemaVersionSupported(schemaVersion, SCHEMA_VERSION, path);
    const reader = new SqliteEventReader(
      readConnection,
      pageSize,
      () => storage.ensureOpen(),
      undefined,
      options.coldSegments,
      options.checkRowChecksums ?? true,
    );
    const storage = new SqliteReadOnlyStorage(path, db, schemaVersion, readConnection, reader);
    return storage;
  } catch (error) {
    for (const connection of connections) if (connection.open) connection.close();
    throw toSqliteStorageError(error, `cannot open ${path} for reading`);
  }
}
