/**
 * The single writer: owns the only write connection, runs every write as one
 * `BEGIN IMMEDIATE … COMMIT` transaction, assigns positions from an in-memory counter
 * advanced only after COMMIT, and checks expected versions and event-id idempotency
 * inside the transaction. Synchronous by design (better-sqlite3 is); it runs on a worker
 * thread so fsyncs never stall the main thread.
 */
import {
  ARCHIVED_EVENT_IDS_TABLE,
  ConcurrencyError,
  IdempotencyConflictError,
  StorageError,
  eventChecksum,
  eventContentDigest,
  expectedVersionMatches,
  rowWriteQuery,
  rowWriteStreams,
  streamKindOf,
} from '@wirthforge/storage';
import type {
  Database,
  EventContentInput,
  RowWrite,
  SessionUpsert,
  StreamKind,
  UserUpsert,
} from '@wirthforge/storage';
import type { Kysely } from 'kysely';

import { archivedHeadPosition } from './archived-segments.js';
import { toSqliteStorageError } from './errors.js';
import { assertParameterOrder, bindable, createSqliteCompiler } from './sqlite-compiler.js';
import { readPurgedPositions } from './sqlite-purge.js';
import { readSealedEvent } from './sqlite-sealer.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';
import type {
  AppendRequest,
  CheckpointMode,
  CheckpointResult,
  EncodedWriteResult,
} from './sqlite-writer-protocol.js';
import {
  FIELDS_PER_EVENT,
  FIELD_FRAME,
  FIELD_PAYLOAD_LENGTH,
  FIELD_SCHEMA_VERSION,
  FIELD_TIMESTAMP,
  FIELD_TYPE,
} from './sqlite-writer-protocol.js';

/** What a committed batch produced (numbers: the main thread turns them into bigints). */
export interface WriterAppendResult {
  readonly positions: Float64Array;
  readonly nextVersions: Float64Array;
  readonly lastPosition: number;
  readonly writes: EncodedWriteResult[];
}

interface StreamEntry {
  readonly id: number;
  version: number;
  /** UTF-8 of the name, encoded once for the row checksums. */
  readonly nameBytes: Uint8Array;
}

interface StoredById {
  position: number;
  stream_id: number;
  type_id: number;
  schema_version: number;
  timestamp_us: number;
  frame_id: number | null;
  payload: Uint8Array;
}

/** An earlier event of the same append, for in-batch idempotency. */
interface BatchEvent {
  readonly stream: number;
  readonly index: number;
  readonly payloadOffset: number;
}

interface Statements {
  readonly insertEvent: SqliteStatement;
  /** Inserts {@link ROWS_PER_INSERT} events without ids in one statement. */
  readonly insertEvents: SqliteStatement;
  /** SQL of inserts of fewer rows (the rest of a batch). */
  readonly insertEventsSql: InsertEventsSql;
  /** Inserts unless the event id is taken (then `changes` is 0). */
  readonly insertEventOnce: SqliteStatement;
  readonly insertStream: SqliteStatement;
  readonly updateStreamVersion: SqliteStatement;
  readonly selectStream: SqliteStatement;
  readonly insertType: SqliteStatement;
  readonly selectType: SqliteStatement;
  readonly selectByEventId: SqliteStatement;
  readonly selectSealedId: SqliteStatement;
  readonly begin: SqliteStatement;
  readonly commit: SqliteStatement;
  readonly rollback: SqliteStatement;
  readonly savepoint: SqliteStatement;
  readonly release: SqliteStatement;
  readonly rollbackToSavepoint: SqliteStatement;
}

const MAX_CACHED_WRITE_STATEMENTS = 64;

/**
 * Events per multi-row insert. One statement per event costs a call into SQLite and a
 * VDBE run each; most events (telemetry) carry no id and cannot collide, so they go in
 * rows of this many (640 parameters, far below SQLite's limit of 32,766): a frame of 60
 * events is one statement. What is left after the full ones goes in one statement too.
 */
const ROWS_PER_INSERT = 64;
const COLUMNS_PER_EVENT = 10;

// Placeholder values, one distinct value per column, prove the binding order.
const payloadMarker = new Uint8Array(0);
const eventValues = {
  position: -1,
  stream_id: -2,
  version: -3,
  type_id: -4,
  schema_version: -5,
  timestamp_us: -6,
  frame_id: -7,
  event_id: 'event-id',
  payload: payloadMarker,
  checksum: -8,
};
const eventOrder = [-1, -2, -3, -4, -5, -6, -7, 'event-id', payloadMarker, -8];

/** SQL of an insert of `rows` events without ids in one statement, its binding order checked. */
export function insertEventsSql(db: Kysely<Database>, rows: number): string {
  return assertParameterOrder(
    db
      .insertInto('events')
      .values(Array.from({ length: rows }, () => eventValues))
      .compile(),
    Array.from({ length: rows }, () => eventOrder).flat(),
    rows === ROWS_PER_INSERT ? 'insert events' : `insert ${rows} events`,
  );
}

/**
 * SQL of multi-row event inserts by row count, made by repeating the row of the one-row
 * insert: compiling each count with Kysely costs the first append of a store several ms.
 * The repetition is checked once against Kysely's own SQL for {@link ROWS_PER_INSERT}
 * rows; if they ever differ, every count is compiled by Kysely instead.
 */
export class InsertEventsSql {
  private readonly head: string | undefined;
  private readonly row: string | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    oneRow: string,
    fullRows: string,
  ) {
    const at = oneRow.lastIndexOf(' values (');
    if (at >= 0) {
      const head = oneRow.slice(0, at + ' values '.length);
      const row = oneRow.slice(head.length);
      if (InsertEventsSql.repeat(head, row, ROWS_PER_INSERT) === fullRows) {
        this.head = head;
        this.row = row;
      }
    }
  }

  private static repeat(head: string, row: string, rows: number): string {
    return head + new Array<string>(rows).fill(row).join(', ');
  }

  /** SQL of an insert of `rows` events without ids. */
  sql(rows: number): string {
    if (this.head === undefined || this.row === undefined) return insertEventsSql(this.db, rows);
    return InsertEventsSql.repeat(this.head, this.row, rows);
  }
}

function prepareStatements(connection: SqliteConnection, db: Kysely<Database>): Statements {
  const p = (sql: string): SqliteStatement => connection.prepare(sql);
  const insertEvent = assertParameterOrder(
    db.insertInto('events').values(eventValues).compile(),
    eventOrder,
    'insert event',
  );
  const insertEvents = insertEventsSql(db, ROWS_PER_INSERT);
  const insertEventOnce = assertParameterOrder(
    db
      .insertInto('events')
      .values(eventValues)
      .onConflict((oc) => oc.column('event_id').where('event_id', 'is not', null).doNothing())
      .compile(),
    eventOrder,
    'insert event once',
  );
  const insertStream = assertParameterOrder(
    db
      .insertInto('streams')
      .values({ id: -1, name: 'name', kind: 'system', version: -2, created_us: -3 })
      .compile(),
    [-1, 'name', 'system', -2, -3],
    'insert stream',
  );
  const updateStreamVersion = assertParameterOrder(
    db.updateTable('streams').set({ version: -1 }).where('id', '=', -2).compile(),
    [-1, -2],
    'update stream version',
  );
  const selectStream = assertParameterOrder(
    db.selectFrom('streams').select(['id', 'version']).where('name', '=', 'name').compile(),
    ['name'],
    'select stream',
  );
  const insertType = assertParameterOrder(
    db.insertInto('event_types').values({ id: -1, name: 'name' }).compile(),
    [-1, 'name'],
    'insert type',
  );
  const selectType = assertParameterOrder(
    db.selectFrom('event_types').select('id').where('name', '=', 'name').compile(),
    ['name'],
    'select type',
  );
  const selectByEventId = assertParameterOrder(
    db
      .selectFrom('events')
      .select([
        'position',
        'stream_id',
        'type_id',
        'schema_version',
        'timestamp_us',
        'frame_id',
        'payload',
      ])
      .where('event_id', '=', 'event-id')
      .compile(),
    ['event-id'],
    'select by event id',
  );
  return {
    insertEvent: p(insertEvent),
    insertEvents: p(insertEvents),
    insertEventsSql: new InsertEventsSql(db, insertEvent, insertEvents),
    insertEventOnce: p(insertEventOnce),
    insertStream: p(insertStream),
    updateStreamVersion: p(updateStreamVersion),
    selectStream: p(selectStream),
    insertType: p(insertType),
    selectType: p(selectType).pluck(),
    selectByEventId: p(selectByEventId),
    selectSealedId: p('select position, segment_id from sealed_event_ids where event_id = ?'),
    begin: p('BEGIN IMMEDIATE'),
    commit: p('COMMIT'),
    rollback: p('ROLLBACK'),
    savepoint: p('SAVEPOINT batch'),
    release: p('RELEASE batch'),
    rollbackToSavepoint: p('ROLLBACK TO batch'),
  };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Highest position stored in hot rows or sealed segments. */
export function readHeadPosition(connection: SqliteConnection): number {
  const hot = connection.prepare('select max(position) from events').pluck().get() as number | null;
  const sealed = connection.prepare('select max(last_position) from segments').pluck().get() as
    number | null;
  // Purged positions stay taken: the head never rewinds over them.
  const purged = readPurgedPositions(connection).reduce((max, r) => Math.max(max, r[1]), 0);
  // Archived positions stay taken too.
  return Math.max(hot ?? 0, sealed ?? 0, purged, archivedHeadPosition(connection));
}

/** What a group commit must restore if it is rolled back. */
interface WriteGroup {
  /** Highest position applied in the group so far. */
  head: number;
  readonly nextStreamId: number;
  readonly nextTypeId: number;
  readonly touched: string[];
  readonly newTypes: string[];
}

/**
 * The writer's state machine over one connection.
 *
 * @example
 * ```ts
 * const writer = new SqliteWriter(connection);
 * const result = writer.append(encodeAppendRequest(1, appends, []).message);
 * ```
 */
export class SqliteWriter {
  private readonly statements: Statements;
  private readonly compiler = createSqliteCompiler();
  private readonly writeStatements = new Map<string, SqliteStatement>();
  /** Prepared statements of the row writes with a fast path, or false once refused. */
  private readonly fastWrites = new Map<RowWrite['kind'], SqliteStatement | false>();
  private readonly streams = new Map<string, StreamEntry>();
  private readonly types = new Map<string, number>();
  private readonly typeNameBytes = new Map<string, Uint8Array>();
  private head: number;
  private group: WriteGroup | undefined;
  /** Head before the batch being applied (tells a repeat within the batch from a stored one). */
  private batchHead = 0;
  /** Parameters of one multi-row insert, reused from batch to batch. */
  private readonly rowBuffer: unknown[] = new Array<unknown>(ROWS_PER_INSERT * COLUMNS_PER_EVENT);
  /**
   * Inserts of 2 to {@link ROWS_PER_INSERT} - 1 events, prepared when first needed: the
   * rows left after the full multi-row inserts of a batch go in one statement, not one
   * each (a batch of 60 is one insert of 32 and one of 28, not 1 + 28).
   */
  private readonly tailInserts = new Map<number, SqliteStatement>();
  private nextStreamId: number;
  private nextTypeId: number;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly now: () => number = () => Date.now() * 1000,
  ) {
    this.statements = prepareStatements(connection, this.compiler);
    this.head = readHeadPosition(connection);
    this.nextStreamId =
      ((connection.prepare('select max(id) from streams').pluck().get() as number | null) ?? 0) + 1;
    this.nextTypeId =
      ((connection.prepare('select max(id) from event_types').pluck().get() as number | null) ??
        0) + 1;
  }

  private tailInsert(rows: number): SqliteStatement {
    let statement = this.tailInserts.get(rows);
    if (statement === undefined) {
      statement = this.connection.prepare(this.statements.insertEventsSql.sql(rows));
      this.tailInserts.set(rows, statement);
    }
    return statement;
  }

  /** Highest committed position. */
  get headPosition(): number {
    return this.head;
  }

  private loadStream(name: string): StreamEntry | undefined {
    let entry = this.streams.get(name);
    if (entry !== undefined) return entry;
    const row = this.statements.selectStream.get(name) as
      { id: number; version: number } | undefined;
    if (row === undefined) return undefined;
    entry = { id: row.id, version: row.version, nameBytes: Buffer.from(name, 'utf8') };
    this.streams.set(name, entry);
    return entry;
  }

  /** The stream's entry, creating (and inserting) it when it does not exist. */
  private ensureStream(name: string, kind: StreamKind, touched: string[]): StreamEntry {
    let entry = this.loadStream(name);
    if (entry === undefined) {
      entry = { id: this.nextStreamId++, version: 0, nameBytes: Buffer.from(name, 'utf8') };
      this.statements.insertStream.run(entry.id, name, kind, 0, this.now());
      this.streams.set(name, entry);
      touched.push(name);
    }
    return entry;
  }

  private existingTypeId(name: string): number | undefined {
    let id = this.types.get(name);
    if (id !== undefined) return id;
    id = this.statements.selectType.get(name) as number | undefined;
    if (id !== undefined) this.types.set(name, id);
    return id;
  }

  private encodedTypeName(name: string): Uint8Array {
    let bytes = this.typeNameBytes.get(name);
    if (bytes === undefined) {
      bytes = Buffer.from(name, 'utf8');
      this.typeNameBytes.set(name, bytes);
    }
    return bytes;
  }

  private ensureType(name: string, newTypes: string[]): number {
    let id = this.existingTypeId(name);
    if (id === undefined) {
      id = this.nextTypeId++;
      this.statements.insertType.run(id, name);
      this.types.set(name, id);
      newTypes.push(name);
    }
    return id;
  }

  /**
   * Appends one batch in one transaction. Throws a {@link StorageError}; then nothing of
   * the batch is committed and the caches are as before.
   */
  append(request: AppendRequest): WriterAppendResult {
    this.beginGroup();
    const result = (() => {
      try {
        return this.appendInGroup(request);
      } catch (error) {
        this.abortGroup();
        throw error;
      }
    })();
    this.commitGroup();
    return result;
  }

  /**
   * Opens a group commit: one `BEGIN IMMEDIATE` under which several batches are applied
   * with {@link appendInGroup}, each in its own savepoint, and made durable together by
   * {@link commitGroup} (one COMMIT, one fsync). A batch that fails rolls back to its
   * savepoint alone; the others stay in the group.
   */
  beginGroup(): void {
    if (this.group !== undefined) throw new Error('a write group is already open');
    try {
      this.statements.begin.run();
    } catch (error) {
      throw toSqliteStorageError(error, 'cannot begin the write transaction');
    }
    this.group = {
      head: this.head,
      nextStreamId: this.nextStreamId,
      nextTypeId: this.nextTypeId,
      touched: [],
      newTypes: [],
    };
  }

  /**
   * Applies one batch inside the open group, in a savepoint. Throws a
   * {@link StorageError}; then nothing of this batch is applied, the group stays open
   * and the caches are as before the batch.
   */
  appendInGroup(request: AppendRequest): WriterAppendResult {
    const group = this.requireGroup();
    if (!this.connection.inTransaction) {
      // SQLite rolled the group back after an earlier batch's error (e.g. SQLITE_FULL):
      // a savepoint now would open a transaction of its own and commit this batch alone.
      throw new StorageError('io', 'the write transaction was rolled back by SQLite');
    }
    const savedStreamId = this.nextStreamId;
    const savedTypeId = this.nextTypeId;
    const touched: string[] = [];
    const newTypes: string[] = [];
    try {
      this.statements.savepoint.run();
    } catch (error) {
      throw toSqliteStorageError(error, 'cannot open a savepoint for the batch');
    }
    try {
      const result = this.applyBatch(request, group.head, touched, newTypes);
      this.statements.release.run();
      group.head = result.lastPosition;
      group.touched.push(...touched);
      group.newTypes.push(...newTypes);
      return result;
    } catch (error) {
      if (this.connection.inTransaction) {
        try {
          this.statements.rollbackToSavepoint.run();
          this.statements.release.run();
        } catch {
          // The engine rolled the whole transaction back (e.g. after SQLITE_FULL); the
          // group's COMMIT then fails and reports it to every batch of the group.
        }
      }
      this.forget(touched, newTypes);
      this.nextStreamId = savedStreamId;
      this.nextTypeId = savedTypeId;
      throw toSqliteStorageError(error);
    }
  }

  /** Makes every batch applied in the group durable: one COMMIT. Throws a {@link StorageError}; then none of them is. */
  commitGroup(): void {
    const group = this.requireGroup();
    if (!this.connection.inTransaction) {
      this.abortGroup();
      throw new StorageError('io', 'the write transaction was rolled back by SQLite before COMMIT');
    }
    try {
      this.statements.commit.run();
    } catch (error) {
      this.abortGroup();
      throw toSqliteStorageError(error, 'cannot commit the write transaction');
    }
    this.head = group.head;
    this.group = undefined;
  }

  /** Rolls the open group back and restores the caches to before it. */
  abortGroup(): void {
    const group = this.group;
    if (group === undefined) return;
    if (this.connection.inTransaction) {
      try {
        this.statements.rollback.run();
      } catch {
        // The engine already rolled back (e.g. after SQLITE_FULL); nothing is left open.
      }
    }
    this.forget(group.touched, group.newTypes);
    this.nextStreamId = group.nextStreamId;
    this.nextTypeId = group.nextTypeId;
    this.group = undefined;
  }

  private requireGroup(): WriteGroup {
    if (this.group === undefined) throw new Error('no write group is open');
    return this.group;
  }

  /** Drops cached streams and types a rolled-back write touched: they reload from the database. */
  private forget(streams: readonly string[], types: readonly string[]): void {
    for (const name of streams) this.streams.delete(name);
    for (const name of types) this.types.delete(name);
  }

  private applyBatch(
    request: AppendRequest,
    head: number,
    touched: string[],
    newTypes: string[],
  ): WriterAppendResult {
    const { streams, types, fields, eventIds } = request;
    const payloadBuffer = request.payloads;
    const payloads = Buffer.from(payloadBuffer);
    const total = fields.length / FIELDS_PER_EVENT;
    const positions = new Float64Array(total);
    const nextVersions = new Float64Array(streams.length);
    const typeIds = new Array<number>(types.length);
    const typeBytes = new Array<Uint8Array>(types.length);
    const payloadOffsets = new Float64Array(total);
    const { insertEvent, insertEvents, insertEventOnce, updateStreamVersion } = this.statements;
    // Events without an id wait here for a multi-row insert; the ones with an id are
    // inserted at once, so that a repeat is found by the unique index in order.
    const rows = this.rowBuffer;
    let buffered = 0;
    this.archivedIdsLooked = false;
    this.batchHead = head;
    let position = head;
    let event = 0;
    let offset = 0;

    for (let s = 0; s < streams.length; s++) {
      const stream = streams[s]!;
      const first = event;
      const end = first + stream.count;
      event = end;
      for (let e = first; e < end; e++) {
        payloadOffsets[e] = offset;
        offset += fields[e * FIELDS_PER_EVENT + FIELD_PAYLOAD_LENGTH]!;
      }
      let entry = this.loadStream(stream.name);
      const current = entry?.version ?? 0;

      if (!expectedVersionMatches(stream.expected, BigInt(current))) {
        // Only a batch made entirely of repeats (a retry of an acknowledged write) may
        // pass a stale expected version; it writes nothing.
        if (!this.allRepeats(request, payloads, payloadOffsets, s, first, end, entry, positions)) {
          throw new ConcurrencyError(
            stream.name,
            stream.expected === 'any' ? 0n : stream.expected,
            BigInt(current),
          );
        }
        nextVersions[s] = current;
        continue;
      }

      // The expected version holds: insert, letting the unique event-id index find
      // repeats (one index probe per event instead of a lookup and an insert).
      let version = current;
      for (let e = first; e < end; e++) {
        if (entry === undefined) entry = this.ensureStream(stream.name, stream.kind, touched);
        const base = e * FIELDS_PER_EVENT;
        const t = fields[base + FIELD_TYPE]!;
        let typeId = typeIds[t];
        if (typeId === undefined) {
          typeId = this.ensureType(types[t]!, newTypes);
          typeIds[t] = typeId;
          typeBytes[t] = this.encodedTypeName(types[t]!);
        }
        const pos = position + 1;
        const schemaVersion = fields[base + FIELD_SCHEMA_VERSION]!;
        const timestampUs = fields[base + FIELD_TIMESTAMP]!;
        const frame = fields[base + FIELD_FRAME]!;
        const frameId = Number.isNaN(frame) ? null : frame;
        const eventId = eventIds?.[e] ?? null;
        // A view made directly: Buffer#subarray goes through the species constructor, a
        // measurable share of the loop at tens of thousands of events per second.
        const payload = new Uint8Array(
          payloadBuffer,
          payloadOffsets[e],
          fields[base + FIELD_PAYLOAD_LENGTH],
        );
        const checksum = eventChecksum({
          position: pos,
          stream: entry.nameBytes,
          version: version + 1,
          type: typeBytes[t]!,
          schemaVersion,
          timestampUs,
          frameId,
          eventId,
          payload,
        });
        if (eventId === null) {
          const r = buffered * COLUMNS_PER_EVENT;
          rows[r] = pos;
          rows[r + 1] = entry.id;
          rows[r + 2] = version + 1;
          rows[r + 3] = typeId;
          rows[r + 4] = schemaVersion;
          rows[r + 5] = timestampUs;
          rows[r + 6] = frameId;
          rows[r + 7] = null;
          rows[r + 8] = payload;
          rows[r + 9] = checksum;
          if (++buffered === ROWS_PER_INSERT) {
            insertEvents.run(rows);
            buffered = 0;
          }
        } else {
          // A sealed event's hot row is gone: its id is in sealed_event_ids instead.
          const sealed = this.sealedPosition(
            eventId,
            stream.name,
            types[t]!,
            schemaVersion,
            timestampUs,
            frameId,
            payload,
          );
          if (sealed !== undefined) {
            positions[e] = sealed;
            continue;
          }
          if (
            insertEventOnce.run(
              pos,
              entry.id,
              version + 1,
              typeId,
              schemaVersion,
              timestampUs,
              frameId,
              eventId,
              payload,
              checksum,
            ).changes === 0
          ) {
            positions[e] = this.storedRepeat(
              eventId,
              entry.id,
              typeId,
              schemaVersion,
              timestampUs,
              frameId,
              payload,
            );
            continue;
          }
        }
        positions[e] = pos;
        position = pos;
        version++;
      }
      if (version !== current && entry !== undefined) {
        updateStreamVersion.run(version, entry.id);
        entry.version = version;
        if (!touched.includes(stream.name)) touched.push(stream.name);
      }
      nextVersions[s] = version;
    }

    if (buffered === 1) insertEvent.run(rows.slice(0, COLUMNS_PER_EVENT));
    else if (buffered > 1)
      this.tailInsert(buffered).run(rows.slice(0, buffered * COLUMNS_PER_EVENT));

    const writes = request.writes.map((write) => this.applyWrite(write, touched));
    return { positions, nextVersions, lastPosition: position, writes };
  }

  /**
   * The position of the stored event `eventId` names, which the insert just collided
   * with (possibly one inserted earlier in this batch); throws
   * {@link IdempotencyConflictError} when its content differs.
   */
  private storedRepeat(
    eventId: string,
    streamId: number,
    typeId: number,
    schemaVersion: number,
    timestampUs: number,
    frameId: number | null,
    payload: Uint8Array,
  ): number {
    const stored = this.statements.selectByEventId.get(eventId) as StoredById | undefined;
    if (stored === undefined) {
      throw new StorageError('io', `event id "${eventId}" collided but cannot be read back`);
    }
    const differs = describeDifference({
      stream: stored.stream_id !== streamId,
      type: stored.type_id !== typeId,
      schemaVersion: stored.schema_version !== schemaVersion,
      timestampUs: stored.timestamp_us !== timestampUs,
      frameId: stored.frame_id !== frameId,
      payload: !bytesEqual(stored.payload, payload),
    });
    if (differs !== undefined) {
      const where = stored.position > this.batchHead ? ', earlier in this batch' : '';
      throw new IdempotencyConflictError(eventId, BigInt(stored.position), `${differs}${where}`);
    }
    return stored.position;
  }

  /**
   * Whether every event of a stream's append repeats a stored one (filling in their
   * positions). Checks every event, so a conflicting id is reported even when another
   * event is new, as the contract orders it: idempotency conflicts before concurrency.
   */
  private allRepeats(
    request: AppendRequest,
    payloads: Buffer,
    payloadOffsets: Float64Array,
    s: number,
    first: number,
    end: number,
    entry: StreamEntry | undefined,
    positions: Float64Array,
  ): boolean {
    let all = end > first;
    const batchIds = new Map<string, BatchEvent>();
    for (let e = first; e < end; e++) {
      const eventId = request.eventIds?.[e] ?? null;
      if (eventId === null) {
        all = false;
        continue;
      }
      const prior = this.findRepeat(
        eventId,
        request,
        payloads,
        e,
        payloadOffsets[e]!,
        s,
        entry,
        batchIds,
      );
      if (prior === undefined) {
        all = false;
        batchIds.set(eventId, {
          stream: s,
          index: e,
          payloadOffset: payloadOffsets[e]!,
        });
      } else {
        positions[e] = prior;
      }
    }
    return all;
  }

  /**
   * The position of the event this one repeats, undefined when it is new; throws
   * {@link IdempotencyConflictError} when the id is taken by different content.
   */
  private findRepeat(
    eventId: string,
    request: AppendRequest,
    payloads: Buffer,
    e: number,
    offset: number,
    s: number,
    stream: StreamEntry | undefined,
    batchIds: Map<string, BatchEvent>,
  ): number | undefined {
    const { fields, types } = request;
    const base = e * FIELDS_PER_EVENT;
    const type = types[fields[base + FIELD_TYPE]!]!;
    const schemaVersion = fields[base + FIELD_SCHEMA_VERSION]!;
    const timestampUs = fields[base + FIELD_TIMESTAMP]!;
    const frame = fields[base + FIELD_FRAME]!;
    const length = fields[base + FIELD_PAYLOAD_LENGTH]!;
    const payload = payloads.subarray(offset, offset + length);

    const earlier = batchIds.get(eventId);
    if (earlier !== undefined) {
      const eb = earlier.index * FIELDS_PER_EVENT;
      const differs = describeDifference({
        stream: earlier.stream !== s,
        type: fields[eb + FIELD_TYPE] !== fields[base + FIELD_TYPE],
        schemaVersion: fields[eb + FIELD_SCHEMA_VERSION] !== schemaVersion,
        timestampUs: fields[eb + FIELD_TIMESTAMP] !== timestampUs,
        frameId: !Object.is(fields[eb + FIELD_FRAME], frame),
        payload: !payloads
          .subarray(
            earlier.payloadOffset,
            earlier.payloadOffset + fields[eb + FIELD_PAYLOAD_LENGTH]!,
          )
          .equals(payload),
      });
      if (differs !== undefined) {
        throw new IdempotencyConflictError(eventId, null, differs);
      }
      // A repeat of an event that is itself new: not a repeat of anything stored.
      return undefined;
    }

    const stored = this.statements.selectByEventId.get(eventId) as StoredById | undefined;
    if (stored === undefined) {
      return this.sealedPosition(
        eventId,
        request.streams[s]!.name,
        type,
        schemaVersion,
        timestampUs,
        Number.isNaN(frame) ? null : frame,
        payload,
      );
    }
    const differs = describeDifference({
      stream: stream === undefined || stored.stream_id !== stream.id,
      type: stored.type_id !== this.existingTypeId(type),
      schemaVersion: stored.schema_version !== schemaVersion,
      timestampUs: stored.timestamp_us !== timestampUs,
      frameId: stored.frame_id !== (Number.isNaN(frame) ? null : frame),
      payload: !bytesEqual(stored.payload, payload),
    });
    if (differs !== undefined) {
      throw new IdempotencyConflictError(eventId, BigInt(stored.position), differs);
    }
    return stored.position;
  }

  /**
   * The position of the sealed event `eventId` names (its hot row is gone), undefined
   * when no sealed event has that id; throws {@link IdempotencyConflictError} when its
   * content differs.
   */
  private sealedPosition(
    eventId: string,
    stream: string,
    type: string,
    schemaVersion: number,
    timestampUs: number,
    frameId: number | null,
    payload: Uint8Array,
  ): number | undefined {
    const sealed = readSealedEvent(this.connection, this.statements.selectSealedId, eventId);
    if (sealed === undefined) {
      return this.archivedPosition(eventId, {
        stream,
        type,
        schemaVersion,
        timestampUs,
        frameId,
        payload,
      });
    }
    const differs = describeDifference({
      stream: sealed.stream !== stream,
      type: sealed.type !== type,
      schemaVersion: sealed.schemaVersion !== schemaVersion,
      timestampUs: sealed.timestampUs !== timestampUs,
      frameId: sealed.frameId !== frameId,
      payload: !bytesEqual(sealed.payload, payload),
    });
    const position = Number(sealed.position);
    if (differs !== undefined) {
      throw new IdempotencyConflictError(eventId, sealed.position, `${differs} (sealed)`);
    }
    return position;
  }

  /** `select` of `archived_event_ids`, once the archive has created the table. */
  private archivedIds: SqliteStatement | undefined;
  /** Whether this batch has looked for `archived_event_ids` already (once per batch). */
  private archivedIdsLooked = false;

  /**
   * The position of the archived event `eventId` names (moved to an archive partition,
   * its id kept in `archived_event_ids` with its content digest), undefined when no
   * archived event has that id; throws {@link IdempotencyConflictError} when the content
   * digest differs.
   */
  private archivedPosition(eventId: string, content: EventContentInput): number | undefined {
    if (this.archivedIds === undefined) {
      if (this.archivedIdsLooked) return undefined;
      this.archivedIdsLooked = true;
      const exists = this.connection
        .prepare("select 1 from sqlite_master where type = 'table' and name = ?")
        .pluck()
        .get(ARCHIVED_EVENT_IDS_TABLE);
      if (exists === undefined) return undefined;
      this.archivedIds = this.connection.prepare(
        `select position, digest from ${ARCHIVED_EVENT_IDS_TABLE} where event_id = ?`,
      );
    }
    const row = this.archivedIds.get(eventId) as
      { position: number; digest: Uint8Array } | undefined;
    if (row === undefined) return undefined;
    if (!bytesEqual(eventContentDigest(content), row.digest)) {
      throw new IdempotencyConflictError(
        eventId,
        BigInt(row.position),
        'content differs from the archived event (archived)',
      );
    }
    return row.position;
  }

  private applyWrite(write: RowWrite, touched: string[]): EncodedWriteResult {
    for (const name of rowWriteStreams(write)) {
      this.ensureStream(
        name,
        write.kind === 'session.upsert' ? 'session' : streamKindOf(name),
        touched,
      );
    }
    const streamId = (name: string): number => {
      const entry = this.loadStream(name);
      if (entry === undefined) throw new StorageError('io', `stream ${name} vanished`);
      return entry.id;
    };
    const fast = this.fastWrite(write, streamId);
    if (fast !== undefined) return fast;
    const compiled = rowWriteQuery(this.compiler, write, streamId).compile();
    const result = this.statementFor(compiled.sql).run(...bindable(compiled.parameters));
    const inserts = write.kind === 'audit.insert' || write.kind === 'snapshot.insert';
    return {
      changes: result.changes,
      insertedId: inserts && result.changes > 0 ? result.lastInsertRowid : null,
    };
  }

  private statementFor(sql: string): SqliteStatement {
    let statement = this.writeStatements.get(sql);
    if (statement === undefined) {
      if (this.writeStatements.size >= MAX_CACHED_WRITE_STATEMENTS) this.writeStatements.clear();
      statement = this.connection.prepare(sql);
      this.writeStatements.set(sql, statement);
    }
    return statement;
  }

  /**
   * The row writes every commit of the event store's inline projections carries
   * (`session.upsert`, `user.upsert`) without building and compiling their Kysely query
   * each time: their SQL does not depend on the values, so it is compiled once, and the
   * first write of each kind proves that the parameters {@link fastParameters} lists are
   * exactly the ones Kysely binds (else that kind keeps the compiled path). Undefined for
   * any other kind.
   */
  private fastWrite(
    write: RowWrite,
    streamId: (name: string) => number,
  ): EncodedWriteResult | undefined {
    if (write.kind !== 'session.upsert' && write.kind !== 'user.upsert') return undefined;
    let fast = this.fastWrites.get(write.kind);
    if (fast === false) return undefined;
    const parameters = fastParameters(write, streamId);
    if (fast === undefined) {
      const compiled = rowWriteQuery(this.compiler, write, streamId).compile();
      const expected = bindable(compiled.parameters);
      const same =
        expected.length === parameters.length &&
        expected.every((value, i) => Object.is(value, parameters[i]));
      fast = same ? this.statementFor(compiled.sql) : false;
      this.fastWrites.set(write.kind, fast);
      if (fast === false) {
        return {
          changes: this.statementFor(compiled.sql).run(...expected).changes,
          insertedId: null,
        };
      }
    }
    return { changes: fast.run(...parameters).changes, insertedId: null };
  }

  /** Runs `PRAGMA wal_checkpoint(mode)`; `busyTimeoutMs` bounds how long it may wait. */
  checkpoint(mode: CheckpointMode, busyTimeoutMs?: number): CheckpointResult {
    const previous =
      busyTimeoutMs === undefined
        ? undefined
        : (this.connection.pragma('busy_timeout', { simple: true }) as number);
    if (busyTimeoutMs !== undefined) this.connection.pragma(`busy_timeout = ${busyTimeoutMs}`);
    try {
      const row = (
        this.connection.pragma(`wal_checkpoint(${mode.toUpperCase()})`) as {
          busy: number;
          log: number;
          checkpointed: number;
        }[]
      )[0];
      return {
        busy: (row?.busy ?? 0) !== 0,
        logFrames: row?.log ?? 0,
        checkpointedFrames: row?.checkpointed ?? 0,
      };
    } catch (error) {
      throw toSqliteStorageError(error, `checkpoint (${mode})`);
    } finally {
      if (previous !== undefined) this.connection.pragma(`busy_timeout = ${previous}`);
    }
  }
}

/**
 * The parameters of a `session.upsert` or `user.upsert`, in the order of the `sessions`
 * and `users` rows `rowWriteQuery` inserts (checked against Kysely's own by the writer).
 */
export function fastParameters(
  write: SessionUpsert | UserUpsert,
  streamId: (name: string) => number,
): unknown[] {
  if (write.kind === 'user.upsert') {
    return [
      write.userId,
      write.level,
      write.xp,
      write.totalEnergy,
      write.sessionsCount,
      write.updatedUs,
    ];
  }
  return [
    write.sessionId,
    streamId(write.stream),
    write.userId,
    write.status,
    write.startedUs,
    write.endedUs ?? null,
    write.cleanEnd === undefined || write.cleanEnd === null ? null : write.cleanEnd ? 1 : 0,
    write.totalEvents,
    write.totalEnergy,
    write.totalTokens,
    write.updatedUs,
  ];
}

function describeDifference(differences: Readonly<Record<string, boolean>>): string | undefined {
  const names = Object.keys(differences).filter((key) => differences[key]);
  return names.length === 0
    ? undefined
    : `${names.join(', ')} differ${names.length === 1 ? 's' : ''}`;
}
