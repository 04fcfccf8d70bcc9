/**
 * Event reads on a read-only connection, in bounded pages by position (or by version for
 * one stream): each page is its own short read transaction, so a long read never pins the
 * WAL, and the writer never waits for readers.
 */
import {
  StorageError,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  validateReadAllOptions,
  validateReadStreamOptions,
  validateStreamName,
} from '@wirthforge/storage';
import type {
  Database,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
} from '@wirthforge/storage';
import type { Kysely } from 'kysely';

import { toSqliteStorageError } from './errors.js';
import { bindable, createSqliteCompiler } from './sqlite-compiler.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';
import { readHeadPosition } from './sqlite-writer.js';

/** A row as the driver returns it in raw mode, in {@link SqliteEventReader.selectEvents} order. */
type EventRowOut = [
  position: number,
  streamId: number,
  version: number,
  typeId: number,
  schemaVersion: number,
  timestampUs: number,
  frameId: number | null,
  eventId: string | null,
  payload: Uint8Array,
];

const POSITION = 0;
const VERSION = 2;

const MAX_CACHED_STATEMENTS = 32;

/** Lets other work run between pages: a long read must not starve the event loop. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Reads events page by page. `ensureOpen` throws `closed` once the storage is closed, so
 * an iteration in progress stops at its next page.
 */
export class SqliteEventReader {
  private readonly compiler: Kysely<Database> = createSqliteCompiler();
  private readonly statements = new Map<string, SqliteStatement>();

  constructor(
    private readonly connection: SqliteConnection,
    private readonly pageSize: number,
    private readonly ensureOpen: () => void,
  ) {}

  // Stream and type names by id. Rows carry the ids (no join per row, and one string
  // per stream or type instead of one per row); ids are never reused, so entries never
  // go stale, and an id not seen yet is looked up once.
  private readonly streamNames = new Map<number, string>();
  private readonly typeNames = new Map<number, string>();

  private statement(sql: string): SqliteStatement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      if (this.statements.size >= MAX_CACHED_STATEMENTS) this.statements.clear();
      statement = this.connection.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private run(compiled: { sql: string; parameters: readonly unknown[] }): EventRowOut[] {
    this.ensureOpen();
    try {
      return this.statement(compiled.sql)
        .raw(true)
        .all(...bindable(compiled.parameters)) as EventRowOut[];
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    }
  }

  private nameOf(table: 'streams' | 'event_types', names: Map<number, string>, id: number): string {
    let name = names.get(id);
    if (name === undefined) {
      const sql = `select name from ${table} where id = ?`;
      name = this.statement(sql).raw(false).pluck(true).get(id) as string | undefined;
      if (name === undefined) {
        throw new StorageError(
          'corrupt',
          `event row names ${table} id ${id}, which does not exist`,
        );
      }
      names.set(id, name);
    }
    return name;
  }

  private toRecord(row: EventRowOut): StoredEventRecord {
    const payload = row[8];
    return {
      position: BigInt(row[POSITION]),
      stream: this.nameOf('streams', this.streamNames, row[1]),
      version: BigInt(row[VERSION]),
      type: this.nameOf('event_types', this.typeNames, row[3]),
      schemaVersion: row[4],
      timestampUs: row[5],
      frameId: row[6],
      eventId: row[7],
      // A plain Uint8Array view of the driver's buffer (no copy).
      payload: new Uint8Array(payload.buffer, payload.byteOffset, payload.byteLength),
    };
  }

  private selectEvents() {
    return this.compiler
      .selectFrom('events as e')
      .select([
        'e.position',
        'e.stream_id',
        'e.version',
        'e.type_id',
        'e.schema_version',
        'e.timestamp_us',
        'e.frame_id',
        'e.event_id',
        'e.payload',
      ]);
  }

  /** The stream's version; 0 when unknown. */
  streamVersion(stream: string): number {
    validateStreamName(stream, 'stream');
    this.ensureOpen();
    try {
      const row = this.connection
        .prepare('select version from streams where name = ?')
        .pluck()
        .get(stream) as number | undefined;
      return row ?? 0;
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    }
  }

  /** The highest stored position (hot rows and sealed segments). */
  headPosition(): number {
    this.ensureOpen();
    try {
      return readHeadPosition(this.connection);
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    }
  }

  /** See `EventStorage.readStream`. */
  async *readStream(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncGenerator<StoredEventRecord> {
    for await (const page of this.readStreamPages(stream, options)) yield* page;
  }

  /** See `EventStorage.readAll`. */
  async *readAll(options?: ReadAllOptions): AsyncGenerator<StoredEventRecord> {
    for await (const page of this.readAllPages(options)) yield* page;
  }

  private toRecords(rows: readonly EventRowOut[]): StoredEventRecord[] {
    const records = new Array<StoredEventRecord>(rows.length);
    for (let i = 0; i < rows.length; i++) records[i] = this.toRecord(rows[i]!);
    return records;
  }

  /** See `EventStorage.readStreamPages`. */
  async *readStreamPages(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncGenerator<readonly StoredEventRecord[]> {
    validateReadStreamOptions(stream, options);
    const { backwards, low, high, maxCount } = resolveReadStreamOptions(options);
    this.ensureOpen();
    let row: { id: number; version: number } | undefined;
    try {
      row = this.connection
        .prepare('select id, version from streams where name = ?')
        .get(stream) as { id: number; version: number } | undefined;
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    }
    if (row === undefined || maxCount === 0) return;
    // Bound the read by the stream's version when it started: a read never chases appends.
    let lo = low;
    let hi = Math.min(high, row.version);
    let remaining = maxCount;
    for (let page = 0; lo <= hi && remaining > 0; page++) {
      if (page > 0) await nextTurn();
      const limit = Math.min(this.pageSize, remaining);
      const query = this.selectEvents()
        .where('e.stream_id', '=', row.id)
        .where('e.version', '>=', lo)
        .where('e.version', '<=', hi)
        .orderBy('e.version', backwards ? 'desc' : 'asc')
        .limit(limit);
      const rows = this.run(query.compile());
      if (rows.length > 0) yield this.toRecords(rows);
      remaining -= rows.length;
      if (rows.length < limit) return;
      const last = rows[rows.length - 1]![VERSION];
      if (backwards) hi = last - 1;
      else lo = last + 1;
    }
  }

  /** See `EventStorage.readAllPages`. */
  async *readAllPages(options?: ReadAllOptions): AsyncGenerator<readonly StoredEventRecord[]> {
    validateReadAllOptions(options);
    const { low, high, maxCount, types, streams } = resolveReadAllOptions(options);
    if (maxCount === 0 || types?.length === 0 || streams?.length === 0) return;
    this.ensureOpen();
    // Bound the read by the head when it started: a read never chases appends.
    let hi: number;
    try {
      hi = Math.min(high, readHeadPosition(this.connection));
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    }
    let lo = low;
    let remaining = maxCount;
    for (let page = 0; lo <= hi && remaining > 0; page++) {
      if (page > 0) await nextTurn();
      const limit = Math.min(this.pageSize, remaining);
      let query = this.selectEvents().where('e.position', '>=', lo).where('e.position', '<=', hi);
      if (types !== undefined) {
        query = query.where('e.type_id', 'in', (eb) =>
          eb
            .selectFrom('event_types')
            .select('id')
            .where('name', 'in', [...types]),
        );
      }
      if (streams !== undefined) {
        query = query.where('e.stream_id', 'in', (eb) =>
          eb
            .selectFrom('streams')
            .select('id')
            .where('name', 'in', [...streams]),
        );
      }
      const rows = this.run(query.orderBy('e.position').limit(limit).compile());
      if (rows.length > 0) yield this.toRecords(rows);
      remaining -= rows.length;
      if (rows.length < limit) return;
      lo = rows[rows.length - 1]![POSITION] + 1;
    }
  }
}
