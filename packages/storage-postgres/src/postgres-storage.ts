/**
 * The PostgreSQL dialect of the storage contract, over a pooled `pg` connection and
 * Kysely's PostgreSQL dialect.
 *
 * Global order: every append takes one transaction-scoped advisory lock (per schema)
 * before it reads the head and assigns positions, and holds it until COMMIT. PostgreSQL
 * releases transaction locks only after the commit is visible to new snapshots, so
 * appends commit in position order: any snapshot sees a gap-free prefix of the log, and a
 * reader of "everything after P" can never skip an event that commits later with a
 * smaller position. Positions come from `max(position) + 1` under that lock (never from a
 * sequence), so a rolled-back batch leaves no gap.
 */
import {
  StorageError,
  isConcurrencyError,
  migrateToLatest,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  rowWriteQuery,
  rowWriteStreams,
  validateAppendBatch,
  validateReadAllOptions,
  validateReadStreamOptions,
  validateStreamName,
  invalidArgument,
} from '@wirthforge/storage';
import type {
  AppendBatchOptions,
  AppendBatchResult,
  Database,
  EventStorage,
  MigrationReport,
  ReadAllOptions,
  ReadStreamOptions,
  RowWrite,
  RowWriteResult,
  StoredEventRecord,
  StreamAppend,
} from '@wirthforge/storage';
import { InsertQueryBuilder, Kysely, sql } from 'kysely';
import pg from 'pg';
import type { PoolConfig } from 'pg';
import { crc32 } from 'node:zlib';

import { APPEND_FUNCTION, useAppendFunction } from './append-function.js';
import { GroupRows, planAppend } from './append-plan.js';
import { binaryBytesArray, binaryIntArray } from './binary-array.js';
import type { AppendState, PlannedBatch } from './append-plan.js';
import { classifyPostgresError, toPostgresStorageError } from './errors.js';
import { useStatementReferences } from './event-references.js';
import { postgresSchemaDialect } from './postgres-schema-dialect.js';
import { SchemaScopedPostgresDialect } from './schema-scoped-dialect.js';

/** Options of {@link openPostgresStorage}. */
export interface PostgresStorageOptions {
  /** E.g. `postgres://postgres@127.0.0.1:5432/test`. Either this or {@link pool}. */
  readonly connectionString?: string;
  /** `pg` pool settings (host, port, user, max, …); merged over {@link connectionString}. */
  readonly pool?: Omit<PoolConfig, 'types' | 'options'>;
  /**
   * PostgreSQL schema holding the store's tables (created when missing). Default
   * `public`. Letters, digits and `_`, starting with a letter or `_`, at most 63 bytes.
   */
  readonly schema?: string;
  /** Events per page of the reads (default 1000). */
  readonly readPageSize?: number;
  /** Connections of the pool (default 10; ignored when `pool.max` is set). */
  readonly maxConnections?: number;
}

/** An {@link EventStorage} on PostgreSQL, with the Kysely instance for the repositories. */
export interface PostgresStorage extends EventStorage {
  /**
   * Kysely over the same pool, for the repositories and the readable views. Ended by
   * {@link EventStorage.close}.
   */
  readonly db: Kysely<Database>;
  /** The schema holding the tables. */
  readonly schema: string;
  /** What opening did to the schema (migrations applied). */
  readonly migration: MigrationReport;
  /**
   * Deletes `streams` for good, with their companion streams (named `…:<stream>`: a
   * session's snapshot markers, `snapshots:session-<id>`): their events, snapshots,
   * segments (with their sealed ids), session rows and stream rows, in one transaction
   * under the append lock. Names that
   * do not exist are skipped (a repeated purge deletes nothing). The head never moves
   * back: the highest position removed is kept (`metadata` key `purged_head`) and counts
   * in the head, so no position is ever handed out twice.
   */
  purgeStreams(streams: readonly string[]): Promise<PostgresPurgeReport>;
}

/** What {@link PostgresStorage.purgeStreams} removed. */
export interface PostgresPurgeReport {
  /** The streams that existed and are gone (companions included). */
  readonly streams: readonly string[];
  /** Events deleted. */
  readonly events: number;
}

/** `metadata` key of the highest position a purge removed (the head never goes below it). */
export const PURGED_HEAD_KEY = 'purged_head';

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** First key of the append lock: 'WFST'. The second is the CRC-32 of the schema name. */
const APPEND_LOCK_NAMESPACE = 0x57465354;
const INT8_OID = 20;
/** Batches applied in one transaction at most (group commit). */
const MAX_GROUP = 64;

/**
 * Reads, under the append lock, what a group of appends needs: the head, the next ids,
 * the streams it names, the event types not cached, and the stored events of its ids.
 * Lists come back as JSON arrays so that one row holds everything.
 */
const APPEND_STATE_QUERY = `select
  greatest((select max(position) from events), (select max(last_position) from segments),
    (select value::int8 from metadata where key = '${PURGED_HEAD_KEY}'), 0)::int8 as head,
  coalesce((select max(id) from streams), 0) as max_stream,
  coalesce((select max(id) from event_types), 0) as max_type,
  coalesce((select json_agg(json_build_array(name, id, version)) from streams
    where name = any($1::text[])), '[]') as streams,
  coalesce((select json_agg(json_build_array(name, id)) from event_types
    where name = any($2::text[])), '[]') as types,
  coalesce((select json_agg(json_build_array(e.event_id, e.position, s.name, t.name,
      e.schema_version, e.timestamp_us, e.frame_id, encode(e.payload, 'hex')))
    from events e join streams s on s.id = e.stream_id join event_types t on t.id = e.type_id
    where e.event_id = any($3::text[])), '[]') as stored`;

/** The row of {@link APPEND_STATE_QUERY}. */
interface AppendStateRow {
  readonly head: number;
  readonly max_stream: number;
  readonly max_type: number;
  readonly streams: readonly [name: string, id: number, version: number][];
  readonly types: readonly [name: string, id: number][];
  readonly stored: readonly [
    eventId: string,
    position: number,
    stream: string,
    type: string,
    schemaVersion: number,
    timestampUs: number,
    frameId: number | null,
    payloadHex: string,
  ][];
}

/**
 * Writes every row of a group in one statement: new event types, new streams, the new
 * versions of existing streams, and the events, each from `unnest` of typed arrays (the
 * foreign keys are checked at the end of the statement, after the new streams and types).
 */
const APPEND_WRITE_QUERY = `with new_types as (
  insert into event_types (id, name) select * from unnest($1::int4[], $2::text[])
), new_streams as (
  insert into streams (id, name, kind, version, created_us)
  select * from unnest($3::int4[], $4::text[], $5::text[], $6::int8[], $7::int8[])
), versions as (
  update streams set version = v.version from unnest($8::int4[], $9::int8[]) as v(id, version)
  where streams.id = v.id
)
insert into events (position, stream_id, version, type_id, schema_version, timestamp_us,
  frame_id, event_id, payload, checksum)
select * from unnest($10::int8[], $11::int4[], $12::int8[], $13::int4[], $14::int4[],
  $15::int8[], $16::int8[], $17::text[], $18::bytea[], $19::int8[])`;

function writeGroupStatement(rows: GroupRows): pg.QueryConfig {
  return { name: 'wf_append_write', text: APPEND_WRITE_QUERY, values: groupValues(rows) };
}

/**
 * The 19 arrays of a group's rows, in the order of {@link APPEND_WRITE_QUERY}, in binary
 * (see {@link binaryIntArray}).
 */
function groupValues(rows: GroupRows): Buffer[] {
  const streams = [...rows.newStreams.values()];
  return [
    binaryIntArray(
      rows.newTypes.map((t) => t.id),
      32,
    ),
    binaryBytesArray(
      rows.newTypes.map((t) => t.name),
      'text',
    ),
    binaryIntArray(
      streams.map((s) => s.id),
      32,
    ),
    binaryBytesArray(
      streams.map((s) => s.name),
      'text',
    ),
    binaryBytesArray(
      streams.map((s) => s.kind),
      'text',
    ),
    binaryIntArray(
      streams.map((s) => s.version),
      64,
    ),
    binaryIntArray(
      streams.map((s) => s.createdUs),
      64,
    ),
    binaryIntArray([...rows.versions.keys()], 32),
    binaryIntArray([...rows.versions.values()], 64),
    binaryIntArray(rows.position, 64),
    binaryIntArray(rows.streamId, 32),
    binaryIntArray(rows.version, 64),
    binaryIntArray(rows.typeId, 32),
    binaryIntArray(rows.schemaVersion, 32),
    binaryIntArray(rows.timestampUs, 64),
    binaryIntArray(rows.frameId, 64),
    binaryBytesArray(rows.eventId, 'text'),
    binaryBytesArray(rows.payload, 'bytea'),
    binaryIntArray(rows.checksum, 64),
  ];
}

/** The call of {@link APPEND_FUNCTION}: the lock's keys, what the plan assumed, the rows. */
const APPEND_CALL_QUERY = `select ${APPEND_FUNCTION}($1::int4, $2::int4, $3::int8, $4::int4[],
  $5::int8[], $6::int4[], $7::text[], $8::int4[], $9::text[], $10::text[], $11::int8[],
  $12::int8[], $13::int4[], $14::int8[], $15::int8[], $16::int4[], $17::int8[], $18::int4[],
  $19::int4[], $20::int8[], $21::int8[], $22::text[], $23::bytea[], $24::int8[]) as ok`;

/** Streams whose id and version a storage remembers at most (the oldest are forgotten). */
const MAX_KNOWN_STREAMS = 4096;

/**
 * What this storage's last commit left the store at: a guess that {@link APPEND_FUNCTION}
 * checks under the lock. `trusted` when no other writer was seen moving the head since.
 */
interface KnownHead {
  readonly head: number;
  readonly nextStreamId: number;
  readonly nextTypeId: number;
  readonly trusted: boolean;
}

/** A group planned against {@link KnownHead}, for one call of {@link APPEND_FUNCTION}. */
interface KnownPlan {
  readonly head: number;
  readonly state: AppendState;
  readonly rows: GroupRows;
  readonly planned: readonly PlannedBatch[];
  /** Version each existing stream of the group had when planned, by id. */
  readonly check: ReadonlyMap<number, number>;
}

/** A failed COMMIT: the group's outcome is unknown to retry, so every batch rejects. */
class CommitFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('commit failed');
  }
}

/** A group planned without the stored events of its ids needs them after all. */
class StoredIdsNeeded extends Error {
  constructor() {
    super('the group is planned again with the stored events of its ids');
  }
}

/**
 * Whether a group planned without looking its ids up must be planned again with them:
 * the unique index of event ids refused a row (an id is stored already), or a batch with
 * ids failed its expected version (see {@link StoredIdsNeeded}).
 */
function needsStoredIds(error: unknown): boolean {
  if (error instanceof StoredIdsNeeded) return true;
  const { code, constraint } = (error ?? {}) as { code?: unknown; constraint?: unknown };
  return code === '23505' && constraint === 'events_event_id';
}

/** Whether `error` left the connection unusable (it is discarded, not returned to the pool). */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(08|57P0|E[A-Z]+$)/.test(code)) return true;
  return error instanceof Error && /Connection terminated|not queryable/i.test(error.message);
}

/** What one batch of a group came to. */
type GroupOutcome = { ok: AppendBatchResult } | { error: unknown };

/** int8 as a JavaScript number: every integer the store holds is a safe integer. */
function parseInt8(value: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) {
    throw new StorageError('corrupt', `integer ${value} is beyond 2^53 and cannot be read`);
  }
  return n;
}

const typeParsers = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === INT8_OID && format !== 'binary'
      ? parseInt8
      : (pg.types.getTypeParser as (oid: number, format: string) => unknown)(
          oid,
          format ?? 'text',
        )) as typeof pg.types.getTypeParser,
};

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function toBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

/** An append waiting for its turn. */
interface QueuedAppend {
  readonly appends: readonly StreamAppend[];
  readonly writes: readonly RowWrite[];
  resolve(result: AppendBatchResult): void;
  reject(error: unknown): void;
}

interface EventRowOut {
  position: number;
  stream: string;
  version: number;
  type: string;
  schema_version: number;
  timestamp_us: number;
  frame_id: number | null;
  event_id: string | null;
  payload: Uint8Array;
}

function toRecord(row: EventRowOut): StoredEventRecord {
  return {
    position: BigInt(row.position),
    stream: row.stream,
    version: BigInt(row.version),
    type: row.type,
    schemaVersion: row.schema_version,
    timestampUs: row.timestamp_us,
    frameId: row.frame_id,
    eventId: row.event_id,
    payload: toBytes(row.payload),
  };
}

/**
 * Opens (and migrates) a store in a PostgreSQL schema. Refuses a schema written by a
 * newer schema version with code `version`; an unreachable server rejects with `io`
 * (`retryable`).
 *
 * @example
 * ```ts
 * const storage = await openPostgresStorage({
 *   connectionString: 'postgres://postgres@127.0.0.1:5432/test',
 *   schema: 'wirthforge',
 * });
 * await storage.appendBatch([{ stream: 'session-1', expectedVersion: 'any', events }]);
 * await storage.close();
 * ```
 */
export async function openPostgresStorage(
  options: PostgresStorageOptions,
): Promise<PostgresStorage> {
  const schema = options.schema ?? 'public';
  if (typeof schema !== 'string' || !SCHEMA_NAME.test(schema)) {
    throw invalidArgument(
      'options.schema',
      `expected letters, digits and _ (at most 63, not starting with a digit), got ${String(schema)}`,
    );
  }
  const readPageSize = options.readPageSize ?? 1000;
  if (!Number.isSafeInteger(readPageSize) || readPageSize < 1) {
    throw invalidArgument(
      'options.readPageSize',
      `expected a positive integer, got ${readPageSize}`,
    );
  }
  if (options.connectionString === undefined && options.pool === undefined) {
    throw invalidArgument('options', 'expected a connectionString or pool settings');
  }
  const pool = new pg.Pool({
    ...(options.connectionString === undefined
      ? {}
      : { connectionString: options.connectionString }),
    max: options.maxConnections ?? 10,
    ...options.pool,
    types: typeParsers,
    options: `-c search_path=${quoteIdent(schema)}`,
  });
  // An idle client losing its connection must not take the process down.
  pool.on('error', () => undefined);
  const db = new Kysely<Database>({ dialect: new SchemaScopedPostgresDialect({ pool }, schema) });
  const where = `PostgreSQL schema ${schema}`;
  try {
    const exists = await sql<{
      found: number;
    }>`select 1 as found from pg_namespace where nspname = ${schema}`.execute(db);
    // Only when missing: a read-only session may open an existing store.
    if (exists.rows.length === 0) {
      await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
    }
    const migration = await migrateToLatest(db, postgresSchemaDialect, {
      database: where,
      classify: classifyPostgresError,
    });
    try {
      await useStatementReferences(db as Kysely<unknown>, schema, appendLockKey(schema));
    } catch (error) {
      // A role that may not change the schema keeps the row-by-row foreign keys: slower
      // appends, the same guarantees.
      if (classifyPostgresError(error) !== 'readonly') throw error;
    }
    let appendFunction = true;
    try {
      await useAppendFunction(
        db as Kysely<unknown>,
        schema,
        appendLockKey(schema),
        PURGED_HEAD_KEY,
      );
    } catch (error) {
      // A role that may not change the schema appends in four round trips per group.
      if (classifyPostgresError(error) !== 'readonly') throw error;
      appendFunction = false;
    }
    return new PostgresEventStorage(db, pool, schema, readPageSize, migration, appendFunction);
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw toPostgresStorageError(error, `cannot open ${where}`);
  }
}

class PostgresEventStorage implements PostgresStorage {
  private closing: Promise<void> | undefined;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly queue: QueuedAppend[] = [];
  private draining = false;
  private readonly lockKey: number;
  /** Type ids by name: ids are never reused, so a committed entry never goes stale. */
  private readonly typeIds = new Map<string, number>();
  /** See {@link KnownHead}; undefined after a failure. */
  private known: KnownHead | undefined;
  /** Id and version of the streams this storage appended to last (guesses, checked). */
  private readonly knownStreams = new Map<
    string,
    { readonly id: number; readonly version: number }
  >();

  constructor(
    readonly db: Kysely<Database>,
    private readonly pool: pg.Pool,
    readonly schema: string,
    private readonly pageSize: number,
    readonly migration: MigrationReport,
    private readonly appendFunction: boolean,
  ) {
    this.lockKey = crc32(schema) | 0;
  }

  private closedError(): StorageError {
    return new StorageError('closed', `storage on PostgreSQL schema ${this.schema} is closed`);
  }

  private ensureOpen(): void {
    if (this.closing !== undefined) throw this.closedError();
  }

  private track<T>(promise: Promise<T>): Promise<T> {
    this.inFlight.add(promise);
    const forget = (): void => {
      this.inFlight.delete(promise);
    };
    promise.then(forget, forget);
    return promise;
  }

  appendBatch(
    appends: readonly StreamAppend[],
    options?: AppendBatchOptions,
  ): Promise<AppendBatchResult> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    try {
      validateAppendBatch(appends, options);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    // One group of appends of this storage at a time, in call order: a caller may
    // pipeline batches with exact expected versions, as with SQLite's single writer.
    // Other storages and processes are ordered by the advisory lock.
    const promise = new Promise<AppendBatchResult>((resolve, reject) => {
      this.queue.push({ appends, writes: options?.writes ?? [], resolve, reject });
    });
    if (!this.draining) void this.drain();
    return this.track(promise);
  }

  /** Runs queued appends, up to {@link MAX_GROUP} per transaction, until none is left. */
  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        // One turn of the event loop first: the callers whose appends just resolved queue
        // their next batches in it, and those join this group instead of waiting a commit.
        if (this.queue.length < MAX_GROUP) await new Promise((resolve) => setImmediate(resolve));
        await this.runGroup(this.queue.splice(0, MAX_GROUP));
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Group commit: the batches that queued while the previous transaction ran are applied
   * under one lock and one COMMIT (one WAL flush). Four round trips whatever the group's
   * size: `begin` and the lock in one message, one query reading what the group needs
   * (head, the streams' versions, types; the stored events of its ids only when
   * `lookUpIds`, see {@link needsStoredIds}), one statement writing
   * every row of the group (`unnest` of typed arrays, named so the server plans it once per
   * connection), and COMMIT; row writes add one statement each. The batches are planned
   * in memory one after the other, so a batch that fails its expected version or repeats
   * an id with other content is left out alone. If the server refuses a statement, the
   * group is rolled back and its batches are retried one transaction each, so a failing
   * batch still fails alone; one planned without its stored ids that needs them is planned
   * again with them. If the COMMIT fails, every batch of the group rejects and
   * none is stored.
   */
  private async runGroup(group: readonly QueuedAppend[], lookUpIds = false): Promise<void> {
    if (!lookUpIds) {
      const plan = this.planFromKnown(group);
      if (plan !== undefined && (await this.runKnown(group, plan))) return;
    }
    const client = await this.connectFor(group);
    if (client === undefined) return;
    let broken: boolean;
    let outcomes: GroupOutcome[];
    try {
      outcomes = await this.applyGroup(client, group, lookUpIds);
    } catch (error) {
      this.known = undefined;
      const atCommit = error instanceof CommitFailed;
      const cause = atCommit ? error.cause : error;
      broken = isConnectionError(cause);
      if (!broken) {
        await client.query('rollback').catch(() => {
          broken = true;
        });
      }
      client.release(broken);
      if (!lookUpIds && !atCommit && !broken && needsStoredIds(cause)) {
        // Some event id is stored already: plan again, this time with the stored events.
        await this.runGroup(group, true);
        return;
      }
      if (group.length > 1 && !atCommit && !broken) {
        for (const item of group) await this.runGroup([item]);
        return;
      }
      const mapped = toPostgresStorageError(cause, 'append');
      for (const item of group) item.reject(mapped);
      return;
    }
    client.release();
    group.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) item.reject(toPostgresStorageError(outcome.error, 'append'));
      else item.resolve(outcome.ok);
    });
  }

  private async applyGroup(
    client: pg.PoolClient,
    group: readonly QueuedAppend[],
    lookUpIds: boolean,
  ): Promise<GroupOutcome[]> {
    // The lock is taken in a statement before the state is read, so the read's snapshot
    // sees every append committed before.
    await client.query(
      `begin; select pg_advisory_xact_lock(${APPEND_LOCK_NAMESPACE}::int4, ${this.lockKey}::int4)`,
    );
    const state = await this.readAppendState(client, group, lookUpIds);
    // No other writer moved the head since this storage's last commit: the next group
    // may be planned without reading the state (see runKnown).
    const trusted = this.known?.head === state.head;
    const rows = new GroupRows();
    const nowUs = Date.now() * 1000;
    const planned = group.map((item): PlannedBatch | { error: unknown } => {
      try {
        return planAppend(state, rows, item.appends, item.writes, nowUs);
      } catch (error) {
        return { error };
      }
    });
    // Planned without the stored events of its ids, a batch that carries ids and fails its
    // expected version may be a repeat of stored events (which skips the check): the group
    // is planned again with them.
    if (
      !lookUpIds &&
      planned.some(
        (plan, i) =>
          'error' in plan &&
          isConcurrencyError(plan.error) &&
          group[i]!.appends.some((a) => a.events.some((e) => e.eventId !== undefined)),
      )
    ) {
      throw new StoredIdsNeeded();
    }
    if (!rows.empty) await client.query(writeGroupStatement(rows));
    const outcomes: GroupOutcome[] = [];
    for (let i = 0; i < group.length; i++) {
      const plan = planned[i]!;
      if ('error' in plan) {
        outcomes.push(plan);
        continue;
      }
      const writes: RowWriteResult[] = [];
      for (const write of group[i]!.writes) {
        writes.push(await this.applyWrite(client, write, state.streams));
      }
      outcomes.push({
        ok: { streams: plan.streams, lastPosition: BigInt(plan.lastPosition), writes },
      });
    }
    try {
      await client.query('commit');
    } catch (error) {
      throw new CommitFailed(error);
    }
    // Remembered only once committed: a rolled-back type id must not be.
    for (const { id, name } of rows.newTypes) this.typeIds.set(name, id);
    this.remember(state, trusted);
    return outcomes;
  }

  /** Keeps what a committed group left the store at (see {@link KnownHead}). */
  private remember(state: AppendState, trusted: boolean): void {
    this.known = {
      head: state.head,
      nextStreamId: state.nextStreamId,
      nextTypeId: state.nextTypeId,
      trusted,
    };
    for (const [name, { id, version }] of state.streams) {
      this.knownStreams.delete(name);
      this.knownStreams.set(name, { id, version });
    }
    for (const name of this.knownStreams.keys()) {
      if (this.knownStreams.size <= MAX_KNOWN_STREAMS) break;
      this.knownStreams.delete(name);
    }
  }

  /**
   * Plans `group` against what this storage's last commit left (no state read), when the
   * schema has {@link APPEND_FUNCTION}, no other writer was seen since, every stream of
   * the group is known, no batch has row writes and every batch plans without error
   * (a failure is confirmed against the state read under the lock). Undefined otherwise.
   */
  private planFromKnown(group: readonly QueuedAppend[]): KnownPlan | undefined {
    const known = this.known;
    if (!this.appendFunction || known === undefined || !known.trusted) return undefined;
    const streams = new Map<string, { readonly id: number; version: number }>();
    const check = new Map<number, number>();
    for (const item of group) {
      if (item.writes.length > 0) return undefined;
      for (const append of item.appends) {
        const entry = this.knownStreams.get(append.stream);
        if (entry === undefined) return undefined;
        streams.set(append.stream, { id: entry.id, version: entry.version });
        check.set(entry.id, entry.version);
      }
    }
    const state: AppendState = {
      head: known.head,
      nextStreamId: known.nextStreamId,
      nextTypeId: known.nextTypeId,
      streams,
      types: new Map(this.typeIds),
      stored: new Map(),
    };
    const rows = new GroupRows();
    const nowUs = Date.now() * 1000;
    const planned: PlannedBatch[] = [];
    for (const item of group) {
      try {
        planned.push(planAppend(state, rows, item.appends, item.writes, nowUs));
      } catch {
        return undefined;
      }
    }
    return { head: known.head, state, rows, planned, check };
  }

  /** A pooled connection for a group, or undefined once every batch of it was rejected. */
  private async connectFor(group: readonly QueuedAppend[]): Promise<pg.PoolClient | undefined> {
    try {
      return await this.pool.connect();
    } catch (error) {
      const failure = toPostgresStorageError(error, 'append');
      for (const item of group) item.reject(failure);
      return undefined;
    }
  }

  /**
   * One round trip for the group: a call of {@link APPEND_FUNCTION} in a transaction of
   * its own, which takes the lock, checks the head and versions `plan` assumed and writes
   * every row; the transaction commits as the call ends. Resolves false when the group
   * must go the four-round-trip way (the check failed, or the server refused a row:
   * nothing was written); true when it is settled (a connection lost during the call
   * rejects every batch, as a failed COMMIT does).
   */
  private async runKnown(group: readonly QueuedAppend[], plan: KnownPlan): Promise<boolean> {
    const client = await this.connectFor(group);
    if (client === undefined) return true;
    let ok: boolean;
    try {
      const result = await client.query<{ ok: boolean }>({
        name: 'wf_append_call',
        text: APPEND_CALL_QUERY,
        values: [
          APPEND_LOCK_NAMESPACE,
          this.lockKey,
          plan.head,
          binaryIntArray([...plan.check.keys()], 32),
          binaryIntArray([...plan.check.values()], 64),
          ...groupValues(plan.rows),
        ],
      });
      ok = result.rows[0]?.ok === true;
    } catch (error) {
      this.known = undefined;
      const broken = isConnectionError(error);
      client.release(broken);
      if (broken) {
        const mapped = toPostgresStorageError(error, 'append');
        for (const item of group) item.reject(mapped);
        return true;
      }
      if (needsStoredIds(error)) {
        await this.runGroup(group, true);
        return true;
      }
      return false;
    }
    client.release();
    if (!ok) {
      this.known = undefined;
      return false;
    }
    for (const { id, name } of plan.rows.newTypes) this.typeIds.set(name, id);
    this.remember(plan.state, true);
    group.forEach((item, i) => {
      const batch = plan.planned[i]!;
      item.resolve({
        streams: batch.streams,
        lastPosition: BigInt(batch.lastPosition),
        writes: [],
      });
    });
    return true;
  }

  /** What the group's plans need, in one query under the lock. */
  private async readAppendState(
    client: pg.PoolClient,
    group: readonly QueuedAppend[],
    lookUpIds: boolean,
  ): Promise<AppendState> {
    const names = new Set<string>();
    const types = new Set<string>();
    const ids = new Set<string>();
    for (const item of group) {
      for (const append of item.appends) {
        names.add(append.stream);
        for (const event of append.events) {
          if (!this.typeIds.has(event.type)) types.add(event.type);
          if (lookUpIds && event.eventId !== undefined) ids.add(event.eventId);
        }
      }
      for (const write of item.writes) for (const name of rowWriteStreams(write)) names.add(name);
    }
    // Unnamed on purpose: planned for the arrays it is given. A named statement keeps the
    // generic plan made when the tables were empty (a sequential scan of `events` for the
    // ids), which then grows with the table until an ANALYZE: 31 ms at 24,000 events and
    // 220 ms at 96,000, against 1.5–2.3 ms planned each time (planning included).
    const result = await client.query<AppendStateRow>({
      text: APPEND_STATE_QUERY,
      values: [[...names], [...types], [...ids]],
    });
    const row = result.rows[0]!;
    const state: AppendState = {
      head: row.head,
      nextStreamId: row.max_stream + 1,
      nextTypeId: row.max_type + 1,
      streams: new Map(),
      types: new Map(this.typeIds),
      stored: new Map(),
    };
    for (const [name, id, version] of row.streams) state.streams.set(name, { id, version });
    for (const [name, id] of row.types) state.types.set(name, id);
    for (const [
      eventId,
      position,
      stream,
      type,
      schemaVersion,
      timestampUs,
      frameId,
      payload,
    ] of row.stored) {
      state.stored.set(eventId, {
        position,
        stream,
        type,
        schemaVersion,
        timestampUs,
        frameId,
        payload: Buffer.from(payload, 'hex'),
      });
    }
    return state;
  }

  private async applyWrite(
    client: pg.PoolClient,
    write: RowWrite,
    streams: ReadonlyMap<string, { id: number }>,
  ): Promise<RowWriteResult> {
    const query = rowWriteQuery(this.db, write, (name) => {
      const entry = streams.get(name);
      if (entry === undefined) throw new StorageError('io', `stream ${name} vanished`);
      return entry.id;
    });
    if (
      (write.kind === 'audit.insert' || write.kind === 'snapshot.insert') &&
      query instanceof InsertQueryBuilder
    ) {
      const compiled = (query as unknown as InsertQueryBuilder<Database, 'audit', never>)
        .returning('id')
        .compile();
      const result = await client.query<{ id: number }>(compiled.sql, [...compiled.parameters]);
      const inserted = result.rows[0];
      return {
        changes: inserted === undefined ? 0 : 1,
        insertedId: inserted === undefined ? null : BigInt(inserted.id),
      };
    }
    const compiled = query.compile();
    const result = await client.query(compiled.sql, [...compiled.parameters]);
    return { changes: result.rowCount ?? 0, insertedId: null };
  }

  private async readHead(executor: Kysely<Database>): Promise<number> {
    const row = await sql<{
      hot: number | null;
      sealed: number | null;
      purged: number | null;
    }>`select (select max(position) from events) as hot, (select max(last_position) from segments) as sealed,
      (select value::int8 from metadata where key = ${PURGED_HEAD_KEY}) as purged`.execute(
      executor,
    );
    const first = row.rows[0];
    return Math.max(first?.hot ?? 0, first?.sealed ?? 0, first?.purged ?? 0);
  }

  async *readAllPages(options?: ReadAllOptions): AsyncGenerator<readonly StoredEventRecord[]> {
    this.ensureOpen();
    validateReadAllOptions(options);
    const resolved = resolveReadAllOptions(options);
    if (resolved.types?.length === 0 || resolved.streams?.length === 0) return;
    const head = await this.guard(this.readHead(this.db), 'read');
    const high = Math.min(resolved.high, head);
    let last = resolved.low - 1;
    let remaining = resolved.maxCount;
    while (last < high && remaining > 0) {
      this.ensureOpen();
      const limit = Math.min(this.pageSize, remaining);
      let query = this.selectEvents()
        .where('events.position', '>', last)
        .where('events.position', '<=', high);
      if (resolved.types !== undefined)
        query = query.where('event_types.name', 'in', [...resolved.types]);
      if (resolved.streams !== undefined)
        query = query.where('streams.name', 'in', [...resolved.streams]);
      const rows = await this.guard(
        query.orderBy('events.position').limit(limit).execute(),
        'read',
      );
      if (rows.length === 0) return;
      yield rows.map(toRecord);
      last = rows[rows.length - 1]!.position;
      remaining -= rows.length;
      if (rows.length < limit) return;
    }
  }

  async *readStreamPages(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncGenerator<readonly StoredEventRecord[]> {
    this.ensureOpen();
    validateReadStreamOptions(stream, options);
    const resolved = resolveReadStreamOptions(options);
    const entry = await this.guard(
      this.db.selectFrom('streams').select('id').where('name', '=', stream).executeTakeFirst(),
      'read',
    );
    if (entry === undefined) return;
    let remaining = resolved.maxCount;
    let low = resolved.low;
    let high = resolved.high;
    while (low <= high && remaining > 0) {
      this.ensureOpen();
      const limit = Math.min(this.pageSize, remaining);
      let query = this.selectEvents()
        .where('events.stream_id', '=', entry.id)
        .where('events.version', '>=', low);
      if (Number.isFinite(high)) query = query.where('events.version', '<=', high);
      const rows = await this.guard(
        query
          .orderBy('events.version', resolved.backwards ? 'desc' : 'asc')
          .limit(limit)
          .execute(),
        'read',
      );
      if (rows.length === 0) return;
      yield rows.map(toRecord);
      const edge = rows[rows.length - 1]!.version;
      if (resolved.backwards) high = edge - 1;
      else low = edge + 1;
      remaining -= rows.length;
      if (rows.length < limit) return;
    }
  }

  private selectEvents() {
    return this.db
      .selectFrom('events')
      .innerJoin('streams', 'streams.id', 'events.stream_id')
      .innerJoin('event_types', 'event_types.id', 'events.type_id')
      .select([
        'events.position',
        'streams.name as stream',
        'events.version',
        'event_types.name as type',
        'events.schema_version',
        'events.timestamp_us',
        'events.frame_id',
        'events.event_id',
        'events.payload',
      ]);
  }

  async *readAll(options?: ReadAllOptions): AsyncGenerator<StoredEventRecord> {
    for await (const page of this.readAllPages(options)) yield* page;
  }

  async *readStream(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncGenerator<StoredEventRecord> {
    for await (const page of this.readStreamPages(stream, options)) yield* page;
  }

  streamVersion(stream: string): Promise<bigint> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    try {
      validateStreamName(stream, 'stream');
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.guard(
      this.db
        .selectFrom('streams')
        .select('version')
        .where('name', '=', stream)
        .executeTakeFirst()
        .then((row) => BigInt(row?.version ?? 0)),
      'streamVersion',
    );
  }

  headPosition(): Promise<bigint> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    return this.guard(
      this.readHead(this.db).then((head) => BigInt(head)),
      'headPosition',
    );
  }

  private async guard<T>(promise: Promise<T>, context: string): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      if (this.closing !== undefined && !(error instanceof StorageError)) throw this.closedError();
      throw toPostgresStorageError(error, context);
    }
  }

  purgeStreams(streams: readonly string[]): Promise<PostgresPurgeReport> {
    if (this.closing !== undefined) return Promise.reject(this.closedError());
    try {
      if (!Array.isArray(streams)) {
        throw invalidArgument('streams', 'expected an array of stream names');
      }
      streams.forEach((name, i) => validateStreamName(name, `streams[${i}]`));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    if (streams.length === 0) return Promise.resolve({ streams: [], events: 0 });
    return this.track(this.guard(this.purge([...new Set(streams)]), 'purgeStreams'));
  }

  private async purge(names: readonly string[]): Promise<PostgresPurgeReport> {
    return this.db.transaction().execute(async (trx) => {
      // Under the append lock: no append reads the head while the rows go.
      await sql`select pg_advisory_xact_lock(${APPEND_LOCK_NAMESPACE}::int4, ${this.lockKey}::int4)`.execute(
        trx,
      );
      // The named streams and their companions (`…:<stream>`: a session's snapshot markers,
      // `snapshots:session-<id>`), which belong to them and go with them, as in SQLite; a
      // companion goes even when its stream is gone already (archived or purged before).
      const found = (
        await sql<{ id: number; name: string }>`select id, name from streams
          where name = any(${names}::text[])
            or exists (select 1 from unnest(${names}::text[]) as n(name)
              where length(streams.name) > length(n.name) + 1
                and right(streams.name, length(n.name) + 1) = ':' || n.name)
          order by id`.execute(trx)
      ).rows;
      if (found.length === 0) return { streams: [], events: 0 };
      const ids = found.map((r) => r.id);
      const head = await this.readHead(trx);
      const segments = trx.selectFrom('segments').select('id').where('stream_id', 'in', ids);
      await trx.deleteFrom('sealed_event_ids').where('segment_id', 'in', segments).execute();
      await trx.deleteFrom('snapshots').where('stream_id', 'in', ids).execute();
      await trx.deleteFrom('segments').where('stream_id', 'in', ids).execute();
      await trx.deleteFrom('sessions').where('stream_id', 'in', ids).execute();
      const deleted = await trx
        .deleteFrom('events')
        .where('stream_id', 'in', ids)
        .executeTakeFirst();
      await trx.deleteFrom('streams').where('id', 'in', ids).execute();
      // The head stays where it was, even when the purged events were the last ones.
      await trx
        .insertInto('metadata')
        .values({ key: PURGED_HEAD_KEY, value: String(head) })
        .onConflict((oc) => oc.column('key').doUpdateSet({ value: String(head) }))
        .execute();
      return { streams: found.map((r) => r.name), events: Number(deleted.numDeletedRows) };
    });
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      await Promise.allSettled([...this.inFlight]);
      await this.db.destroy();
    })();
    return this.closing;
  }
}

/** The two keys of the advisory lock appends to `schema` take (for monitoring `pg_locks`). */
export function appendLockKey(schema: string): readonly [number, number] {
  return [APPEND_LOCK_NAMESPACE, crc32(schema) | 0];
}
