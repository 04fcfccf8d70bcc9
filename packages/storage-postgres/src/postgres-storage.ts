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
  ConcurrencyError,
  IdempotencyConflictError,
  StorageError,
  expectedVersionMatches,
  eventChecksum,
  migrateToLatest,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  rowWriteQuery,
  rowWriteStreams,
  streamKindOf,
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
  NewEventRecord,
  ReadAllOptions,
  ReadStreamOptions,
  RowWrite,
  RowWriteResult,
  StoredEventRecord,
  StreamAppend,
  StreamAppendResult,
  StreamKind,
} from '@wirthforge/storage';
import { InsertQueryBuilder, Kysely, sql } from 'kysely';
import type { Transaction } from 'kysely';
import pg from 'pg';
import type { PoolConfig } from 'pg';
import { crc32 } from 'node:zlib';

import { classifyPostgresError, toPostgresStorageError } from './errors.js';
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
}

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
/** First key of the append lock: 'WFST'. The second is the CRC-32 of the schema name. */
const APPEND_LOCK_NAMESPACE = 0x57465354;
const INT8_OID = 20;
/** Batches applied in one transaction at most (group commit). */
const MAX_GROUP = 64;
/** Rows per multi-row insert: 10 parameters each, far below PostgreSQL's 65535. */
const ROWS_PER_INSERT = 1000;

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

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function toBytes(value: Uint8Array): Uint8Array {
  return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return toBuffer(a).equals(b);
}

function describeDifference(differences: Readonly<Record<string, boolean>>): string | undefined {
  const names = Object.keys(differences).filter((key) => differences[key]);
  return names.length === 0
    ? undefined
    : `${names.join(', ')} differ${names.length === 1 ? 's' : ''}`;
}

/** An event already stored under a client id, as the idempotency check compares it. */
interface StoredById {
  readonly position: number;
  readonly stream: string;
  readonly type: string;
  readonly schema_version: number;
  readonly timestamp_us: number;
  readonly frame_id: number | null;
  readonly payload: Uint8Array;
}

/** An append waiting for its turn. */
interface QueuedAppend {
  readonly appends: readonly StreamAppend[];
  readonly writes: readonly RowWrite[];
  resolve(result: AppendBatchResult): void;
  reject(error: unknown): void;
}

/** An event of this batch with a client id, for repeats inside the batch. */
interface BatchEvent {
  readonly stream: string;
  readonly event: NewEventRecord;
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

function sameContent(
  stream: string,
  event: NewEventRecord,
  other: {
    stream: string;
    type: string;
    schemaVersion: number;
    timestampUs: number;
    frameId: number | null;
    payload: Uint8Array;
  },
): string | undefined {
  return describeDifference({
    stream: other.stream !== stream,
    type: other.type !== event.type,
    schemaVersion: other.schemaVersion !== event.schemaVersion,
    timestampUs: other.timestampUs !== event.timestampUs,
    frameId: other.frameId !== (event.frameId ?? null),
    payload: !bytesEqual(other.payload, event.payload),
  });
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
    return new PostgresEventStorage(db, schema, readPageSize, migration);
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

  constructor(
    readonly db: Kysely<Database>,
    readonly schema: string,
    private readonly pageSize: number,
    readonly migration: MigrationReport,
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
      while (this.queue.length > 0) await this.runGroup(this.queue.splice(0, MAX_GROUP));
    } finally {
      this.draining = false;
    }
  }

  /**
   * Group commit: the batches that queued while the previous transaction ran are applied
   * under one lock and one COMMIT (one WAL flush), each in its own savepoint, so a batch
   * that fails (a version conflict, say) is rolled back alone while the others commit.
   * If the COMMIT fails, every batch of the group rejects and none is stored.
   */
  private async runGroup(group: readonly QueuedAppend[]): Promise<void> {
    const outcomes: ({ ok: AppendBatchResult; types: Map<string, number> } | { error: unknown })[] =
      [];
    try {
      await this.db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(${APPEND_LOCK_NAMESPACE}::int4, ${this.lockKey}::int4)`.execute(
          trx,
        );
        for (const item of group) {
          const types = new Map<string, number>();
          if (group.length === 1) {
            outcomes.push({
              ok: await this.appendInTransaction(trx, item.appends, item.writes, types),
              types,
            });
            continue;
          }
          await sql`savepoint wf_batch`.execute(trx);
          try {
            const ok = await this.appendInTransaction(trx, item.appends, item.writes, types);
            await sql`release savepoint wf_batch`.execute(trx);
            outcomes.push({ ok, types });
          } catch (error) {
            await sql`rollback to savepoint wf_batch`.execute(trx);
            await sql`release savepoint wf_batch`.execute(trx);
            outcomes.push({ error });
          }
        }
      });
    } catch (error) {
      const failure = toPostgresStorageError(error, 'append');
      for (const item of group) item.reject(failure);
      return;
    }
    group.forEach((item, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) {
        item.reject(toPostgresStorageError(outcome.error, 'append'));
        return;
      }
      outcome.types.forEach((id, name) => this.typeIds.set(name, id));
      item.resolve(outcome.ok);
    });
  }

  private async appendInTransaction(
    trx: Transaction<Database>,
    appends: readonly StreamAppend[],
    writes: readonly RowWrite[],
    learnedTypes: Map<string, number>,
  ): Promise<AppendBatchResult> {
    // The caller took the append lock in an earlier statement of this transaction, so
    // this statement's snapshot sees every append committed before.
    let head = await this.readHead(trx);

    const names = appends.map((a) => a.stream);
    for (const write of writes) names.push(...rowWriteStreams(write));
    const streams = new Map<string, { id: number; version: number }>();
    if (names.length > 0) {
      const rows = await trx
        .selectFrom('streams')
        .select(['id', 'name', 'version'])
        .where('name', 'in', [...new Set(names)])
        .execute();
      for (const row of rows) streams.set(row.name, { id: row.id, version: row.version });
    }

    const ids = appends.flatMap((a) =>
      a.events.flatMap((e) => (e.eventId === undefined ? [] : [e.eventId])),
    );
    const stored = new Map<string, StoredById>();
    if (ids.length > 0) {
      const rows = await trx
        .selectFrom('events')
        .innerJoin('streams', 'streams.id', 'events.stream_id')
        .innerJoin('event_types', 'event_types.id', 'events.type_id')
        .select([
          'events.position',
          'events.event_id',
          'streams.name as stream',
          'event_types.name as type',
          'events.schema_version',
          'events.timestamp_us',
          'events.frame_id',
          'events.payload',
        ])
        .where('events.event_id', 'in', [...new Set(ids)])
        .execute();
      for (const row of rows) if (row.event_id !== null) stored.set(row.event_id, row);
    }

    // Decide every event: a repeat (its original position), or new. Conflicts first,
    // then the expected version (a stream whose events are all repeats skips it).
    const batchIds = new Map<string, BatchEvent>();
    const plans: { append: StreamAppend; positions: number[]; fresh: number[]; next: number }[] =
      [];
    let position = head;
    for (const append of appends) {
      const current = streams.get(append.stream)?.version ?? 0;
      const positions = new Array<number>(append.events.length).fill(0);
      const fresh: number[] = [];
      /** Index of the first event of this append with each new id. */
      const firstWithId = new Map<string, number>();
      const repeatOf = new Map<number, number>();
      append.events.forEach((event, i) => {
        const id = event.eventId;
        if (id === undefined) {
          fresh.push(i);
          return;
        }
        const prior = stored.get(id);
        if (prior !== undefined) {
          const differs = sameContent(append.stream, event, {
            stream: prior.stream,
            type: prior.type,
            schemaVersion: prior.schema_version,
            timestampUs: prior.timestamp_us,
            frameId: prior.frame_id,
            payload: prior.payload,
          });
          if (differs !== undefined) {
            throw new IdempotencyConflictError(id, BigInt(prior.position), differs);
          }
          positions[i] = prior.position;
          return;
        }
        const sameAppend = firstWithId.get(id);
        const earlier =
          sameAppend === undefined
            ? batchIds.get(id)
            : { stream: append.stream, event: append.events[sameAppend]! };
        if (earlier !== undefined) {
          const differs = sameContent(append.stream, event, {
            stream: earlier.stream,
            type: earlier.event.type,
            schemaVersion: earlier.event.schemaVersion,
            timestampUs: earlier.event.timestampUs,
            frameId: earlier.event.frameId ?? null,
            payload: earlier.event.payload,
          });
          if (differs !== undefined) {
            throw new IdempotencyConflictError(id, null, `${differs}, earlier in this batch`);
          }
          // Same content: a stream differs otherwise, so this is the same append.
          if (sameAppend !== undefined) repeatOf.set(i, sameAppend);
          return;
        }
        firstWithId.set(id, i);
        fresh.push(i);
      });
      const allRepeats = append.events.length > 0 && fresh.length === 0;
      if (!allRepeats && !expectedVersionMatches(append.expectedVersion, BigInt(current))) {
        throw new ConcurrencyError(
          append.stream,
          append.expectedVersion === 'any' ? 0n : append.expectedVersion,
          BigInt(current),
        );
      }
      fresh.forEach((i, k) => {
        positions[i] = position + k + 1;
      });
      repeatOf.forEach((first, i) => {
        positions[i] = positions[first]!;
      });
      for (const [id, i] of firstWithId) {
        batchIds.set(id, { stream: append.stream, event: append.events[i]! });
      }
      position += fresh.length;
      plans.push({ append, positions, fresh, next: current + fresh.length });
    }

    // Streams and types the new events need.
    const now = Date.now() * 1000;
    let nextStreamId: number | undefined;
    const newStreams: {
      id: number;
      name: string;
      kind: StreamKind;
      version: number;
      created_us: number;
    }[] = [];
    const createStream = async (
      name: string,
      kind: StreamKind,
      version: number,
    ): Promise<number> => {
      nextStreamId ??= await this.nextId(trx, 'streams');
      const id = nextStreamId++;
      streams.set(name, { id, version });
      newStreams.push({ id, name, kind, version, created_us: now });
      return id;
    };
    for (const plan of plans) {
      if (plan.fresh.length > 0 && !streams.has(plan.append.stream)) {
        await createStream(
          plan.append.stream,
          plan.append.kind ?? streamKindOf(plan.append.stream),
          plan.next,
        );
      }
    }
    for (const write of writes) {
      for (const name of rowWriteStreams(write)) {
        if (!streams.has(name)) {
          await createStream(
            name,
            write.kind === 'session.upsert' ? 'session' : streamKindOf(name),
            0,
          );
        }
      }
    }
    const types = await this.resolveTypes(
      trx,
      plans.flatMap((p) => p.fresh.map((i) => p.append.events[i]!.type)),
    );
    // Remembered only once committed: a rolled-back type id must not be.
    types.forEach((id, name) => learnedTypes.set(name, id));

    if (newStreams.length > 0) await trx.insertInto('streams').values(newStreams).execute();

    const rows: Database['events'][] = [];
    for (const plan of plans) {
      const stream = streams.get(plan.append.stream);
      if (stream === undefined) continue;
      const nameBytes = Buffer.from(plan.append.stream, 'utf8');
      let version = plan.next - plan.fresh.length;
      for (const i of plan.fresh) {
        const event = plan.append.events[i]!;
        version++;
        const pos = plan.positions[i]!;
        const frameId = event.frameId ?? null;
        const eventId = event.eventId ?? null;
        rows.push({
          position: pos,
          stream_id: stream.id,
          version,
          type_id: types.get(event.type)!,
          schema_version: event.schemaVersion,
          timestamp_us: event.timestampUs,
          frame_id: frameId,
          event_id: eventId,
          payload: toBuffer(event.payload),
          checksum: eventChecksum({
            position: pos,
            stream: nameBytes,
            version,
            type: event.type,
            schemaVersion: event.schemaVersion,
            timestampUs: event.timestampUs,
            frameId,
            eventId,
            payload: event.payload,
          }),
        });
      }
    }
    for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) {
      await trx
        .insertInto('events')
        .values(rows.slice(start, start + ROWS_PER_INSERT))
        .execute();
    }
    for (const plan of plans) {
      const stream = streams.get(plan.append.stream);
      if (plan.fresh.length === 0 || stream === undefined) continue;
      if (newStreams.some((s) => s.name === plan.append.stream)) continue;
      await trx
        .updateTable('streams')
        .set({ version: plan.next })
        .where('id', '=', stream.id)
        .execute();
    }
    head = position;

    const writeResults: RowWriteResult[] = [];
    for (const write of writes) writeResults.push(await this.applyWrite(trx, write, streams));

    const results: StreamAppendResult[] = plans.map((plan) => ({
      stream: plan.append.stream,
      nextExpectedVersion: BigInt(plan.next),
      positions: plan.positions.map((p) => BigInt(p)),
    }));
    return { streams: results, lastPosition: BigInt(head), writes: writeResults };
  }

  private async nextId(
    trx: Transaction<Database>,
    table: 'streams' | 'event_types',
  ): Promise<number> {
    const row = await trx
      .selectFrom(table)
      .select((eb) => eb.fn.max('id').as('max'))
      .executeTakeFirst();
    return (row?.max ?? 0) + 1;
  }

  /** Ids of `names`, inserting the missing ones (under the append lock). */
  private async resolveTypes(
    trx: Transaction<Database>,
    names: readonly string[],
  ): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const missing = new Set<string>();
    for (const name of names) {
      const id = this.typeIds.get(name);
      if (id === undefined) missing.add(name);
      else out.set(name, id);
    }
    if (missing.size === 0) return out;
    const rows = await trx
      .selectFrom('event_types')
      .select(['id', 'name'])
      .where('name', 'in', [...missing])
      .execute();
    for (const row of rows) {
      out.set(row.name, row.id);
      missing.delete(row.name);
    }
    if (missing.size > 0) {
      let next = await this.nextId(trx, 'event_types');
      const created = [...missing].map((name) => ({ id: next++, name }));
      await trx.insertInto('event_types').values(created).execute();
      for (const row of created) out.set(row.name, row.id);
    }
    return out;
  }

  private async applyWrite(
    trx: Transaction<Database>,
    write: RowWrite,
    streams: ReadonlyMap<string, { id: number }>,
  ): Promise<RowWriteResult> {
    const query = rowWriteQuery(trx, write, (name) => {
      const entry = streams.get(name);
      if (entry === undefined) throw new StorageError('io', `stream ${name} vanished`);
      return entry.id;
    });
    if (
      (write.kind === 'audit.insert' || write.kind === 'snapshot.insert') &&
      query instanceof InsertQueryBuilder
    ) {
      const inserted = (await (query as unknown as InsertQueryBuilder<Database, 'audit', never>)
        .returning('id')
        .executeTakeFirst()) as { id: number } | undefined;
      return {
        changes: inserted === undefined ? 0 : 1,
        insertedId: inserted === undefined ? null : BigInt(inserted.id),
      };
    }
    const results = (await query.execute()) as readonly {
      numInsertedOrUpdatedRows?: bigint;
      numUpdatedRows?: bigint;
      numDeletedRows?: bigint;
    }[];
    const result = results[0];
    const changes =
      result?.numInsertedOrUpdatedRows ?? result?.numUpdatedRows ?? result?.numDeletedRows ?? 0n;
    return { changes: Number(changes), insertedId: null };
  }

  private async readHead(executor: Kysely<Database>): Promise<number> {
    const row = await sql<{
      hot: number | null;
      sealed: number | null;
    }>`select (select max(position) from events) as hot, (select max(last_position) from segments) as sealed`.execute(
      executor,
    );
    const first = row.rows[0];
    return Math.max(first?.hot ?? 0, first?.sealed ?? 0);
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
