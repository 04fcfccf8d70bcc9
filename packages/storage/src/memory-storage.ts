/**
 * An {@link EventStorage} that keeps everything in the process's memory: the event log
 * and every relational table. Nothing touches the disk; the data lives as long as a
 * handle on it is referenced, and never beyond the process. For private sessions and for
 * tests.
 */
import { Kysely, SqliteAdapter, SqliteIntrospector, SqliteQueryCompiler } from 'kysely';
import type {
  AliasNode,
  BinaryOperationNode,
  CompiledQuery,
  DatabaseConnection,
  Dialect,
  Driver,
  JoinNode,
  OperationNode,
  QueryResult,
  ReferenceNode,
  SelectQueryNode,
  SelectionNode,
  TableNode,
} from 'kysely';

import type {
  AuditRow,
  Database,
  RollupRow,
  SessionRow,
  SnapshotRow,
  UserRow,
} from './database.js';
import {
  ConcurrencyError,
  IdempotencyConflictError,
  StorageError,
  invalidArgument,
} from './errors.js';
import { EVENT_CHECKSUM_ALGORITHM, eventChecksum } from './event-checksum.js';
import { streamKindOf } from './event-storage.js';
import type {
  AppendBatchOptions,
  AppendBatchResult,
  EventStorage,
  NewEventRecord,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
  StreamAppend,
  StreamAppendResult,
  StreamKind,
} from './event-storage.js';
import {
  auditInsertRow,
  rollupUpsertRow,
  sessionUpsertRow,
  snapshotInsertRow,
  userUpsertRow,
} from './row-write.js';
import type { RowWrite, RowWriteResult } from './row-write.js';
import { SCHEMA_VERSION, SCHEMA_VERSION_KEY } from './schema-version.js';
import {
  expectedVersionMatches,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  validateAppendBatch,
  validateReadAllOptions,
  validateReadStreamOptions,
  validateStreamName,
} from './validate-append-batch.js';

/**
 * An {@link EventStorage} held in memory, with a read-only `db` over its tables for the
 * repositories. Create it with {@link createMemoryStorage}.
 */
export interface MemoryStorage extends EventStorage {
  /**
   * Kysely over the in-memory tables and views, for the repositories
   * (`new SessionRepository(storage.db).listActive()`). Read-only: it answers the
   * selects the repositories make (one table or view, inner or left joins, `where` with
   * comparisons, `in`, `is`, `and`, `or`, `order by`, `limit`, `offset`) and refuses
   * anything else with `invalid_argument`. Writes go through `appendBatch` row writes.
   */
  readonly db: Kysely<Database>;
  /** Whether {@link EventStorage.close} was called. */
  readonly isClosed: boolean;
  /**
   * A new handle on the same data, as opening a database file again would give: for
   * restart tests. Only one handle is open at a time (as one writer per file), so this
   * one must be closed first; otherwise it throws a `StorageError` with code `locked`.
   * The data lives as long as a handle on it is referenced.
   */
  reopen(): MemoryStorage;
}

interface StreamEntry {
  readonly id: number;
  readonly name: string;
  readonly kind: StreamKind;
  readonly createdUs: number;
  version: number;
  /** The stream's events, index `version - 1`. */
  readonly records: StoredEventRecord[];
}

/** Everything the storage holds; row objects are never changed in place, only replaced. */
interface Tables {
  readonly streams: Map<string, StreamEntry>;
  readonly streamsById: StreamEntry[];
  readonly types: Map<string, number>;
  readonly events: StoredEventRecord[];
  readonly eventIds: Map<string, StoredEventRecord>;
  readonly sessions: Map<string, SessionRow>;
  readonly users: Map<string, UserRow>;
  readonly snapshots: Map<number, SnapshotRow>;
  readonly audit: AuditRow[];
  readonly rollups: Map<string, RollupRow>;
  readonly metadata: Map<string, string>;
  nextSnapshotId: number;
  nextAuditId: number;
  /** The one open handle, if any. */
  open: MemoryStorage | undefined;
}

function emptyTables(): Tables {
  return {
    streams: new Map(),
    streamsById: [],
    types: new Map(),
    events: [],
    eventIds: new Map(),
    sessions: new Map(),
    users: new Map(),
    snapshots: new Map(),
    audit: [],
    rollups: new Map(),
    metadata: new Map([
      [SCHEMA_VERSION_KEY, String(SCHEMA_VERSION)],
      ['dialect', 'memory'],
      ['event_checksum', EVENT_CHECKSUM_ALGORITHM],
    ]),
    nextSnapshotId: 1,
    nextAuditId: 1,
    open: undefined,
  };
}

/**
 * Creates an empty {@link MemoryStorage}. It follows the whole `EventStorage` contract
 * (the contract suite runs against it): gap-free positions, per-stream versions,
 * expected versions, event-id idempotency, atomic batches with row writes. Payloads are
 * copied on the way in and on the way out, so callers may reuse their buffers and cannot
 * change what is stored.
 *
 * Closing it ends the handle; {@link MemoryStorage.reopen} opens the same data again,
 * and the data is freed with the last handle that refers to it.
 *
 * @example
 * ```ts
 * import { SessionRepository, createMemoryStorage } from '@wirthforge/storage';
 *
 * const storage = createMemoryStorage();
 * await storage.appendBatch([{ stream: 'session-x', expectedVersion: 'no_stream', events }]);
 * for await (const event of storage.readStream('session-x')) console.log(event.position);
 * const active = await new SessionRepository(storage.db).listActive();
 * await storage.close(); // dropping the last reference frees the data
 * ```
 */
export function createMemoryStorage(): MemoryStorage {
  return new InMemoryStorage();
}

class InMemoryStorage implements MemoryStorage {
  readonly db: Kysely<Database>;
  readonly #tables: Tables;
  #closed = false;

  constructor(tables: Tables = emptyTables()) {
    this.#tables = tables;
    tables.open = this;
    this.db = new Kysely<Database>({
      dialect: new MemoryDialect(() => {
        this.#ensureOpen();
        return this.#tables;
      }),
    });
  }

  get isClosed(): boolean {
    return this.#closed;
  }

  #ensureOpen(): void {
    if (this.#closed) throw new StorageError('closed', 'memory storage is closed');
  }

  appendBatch(
    appends: readonly StreamAppend[],
    options?: AppendBatchOptions,
  ): Promise<AppendBatchResult> {
    try {
      this.#ensureOpen();
      validateAppendBatch(appends, options);
      return Promise.resolve(new Batch(this.#tables).run(appends, options?.writes ?? []));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  readStream(stream: string, options?: ReadStreamOptions): AsyncIterable<StoredEventRecord> {
    return flatten(this.#readStreamPages(stream, options));
  }

  readStreamPages(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncIterable<readonly StoredEventRecord[]> {
    return this.#readStreamPages(stream, options);
  }

  async *#readStreamPages(
    stream: string,
    options: ReadStreamOptions | undefined,
  ): AsyncGenerator<readonly StoredEventRecord[]> {
    this.#ensureOpen();
    validateReadStreamOptions(stream, options);
    const entry = this.#tables.streams.get(stream);
    if (entry === undefined) return;
    const { backwards, low, high, maxCount } = resolveReadStreamOptions(options);
    // Bounded by the version at the start: a read never chases appends.
    const top = Math.min(high, entry.version);
    let count = 0;
    const step = backwards ? -1 : 1;
    let page: StoredEventRecord[] = [];
    for (let v = backwards ? top : low; v >= low && v <= top && count < maxCount; v += step) {
      count++;
      page.push(copyRecord(entry.records[v - 1]!));
      if (page.length === PAGE_SIZE) {
        yield page;
        page = [];
        await nextTurn();
        this.#ensureOpen();
      }
    }
    if (page.length > 0) yield page;
  }

  readAll(options?: ReadAllOptions): AsyncIterable<StoredEventRecord> {
    return flatten(this.#readAllPages(options));
  }

  readAllPages(options?: ReadAllOptions): AsyncIterable<readonly StoredEventRecord[]> {
    return this.#readAllPages(options);
  }

  async *#readAllPages(
    options: ReadAllOptions | undefined,
  ): AsyncGenerator<readonly StoredEventRecord[]> {
    this.#ensureOpen();
    validateReadAllOptions(options);
    const { low, high, maxCount, types, streams } = resolveReadAllOptions(options);
    const typeSet = types === undefined ? undefined : new Set(types);
    const streamSet = streams === undefined ? undefined : new Set(streams);
    const events = this.#tables.events;
    const top = Math.min(high, events.length);
    let count = 0;
    let page: StoredEventRecord[] = [];
    for (let p = low; p <= top && count < maxCount; p++) {
      const record = events[p - 1]!;
      if (typeSet !== undefined && !typeSet.has(record.type)) continue;
      if (streamSet !== undefined && !streamSet.has(record.stream)) continue;
      count++;
      page.push(copyRecord(record));
      if (page.length === PAGE_SIZE) {
        yield page;
        page = [];
        await nextTurn();
        this.#ensureOpen();
      }
    }
    if (page.length > 0) yield page;
  }

  streamVersion(stream: string): Promise<bigint> {
    try {
      this.#ensureOpen();
      validateStreamName(stream, 'stream');
      return Promise.resolve(BigInt(this.#tables.streams.get(stream)?.version ?? 0));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  headPosition(): Promise<bigint> {
    if (this.#closed) return Promise.reject(new StorageError('closed', 'memory storage is closed'));
    return Promise.resolve(BigInt(this.#tables.events.length));
  }

  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      if (this.#tables.open === this) this.#tables.open = undefined;
    }
    return Promise.resolve();
  }

  reopen(): MemoryStorage {
    if (this.#tables.open !== undefined) {
      throw new StorageError('locked', 'memory storage is open: close it before reopening it');
    }
    return new InMemoryStorage(this.#tables);
  }
}

/** Events read between two turns of the event loop, so a long read never starves it. */
const PAGE_SIZE = 1000;

async function* flatten<T>(pages: AsyncIterable<readonly T[]>): AsyncGenerator<T> {
  for await (const page of pages) yield* page;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function copyRecord(record: StoredEventRecord): StoredEventRecord {
  return { ...record, payload: record.payload.slice() };
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function describeDifference(differences: Readonly<Record<string, boolean>>): string | undefined {
  const names = Object.keys(differences).filter((key) => differences[key]);
  return names.length === 0
    ? undefined
    : `${names.join(', ')} differ${names.length === 1 ? 's' : ''}`;
}

function nowUs(): number {
  return Date.now() * 1000;
}

/**
 * One `appendBatch`: applies its changes to the tables directly and records how to undo
 * each, so a failure anywhere (a conflict, a broken foreign key) leaves the tables as
 * they were.
 */
class Batch {
  readonly #undo: (() => void)[] = [];
  readonly #head: number;

  constructor(private readonly tables: Tables) {
    this.#head = tables.events.length;
  }

  run(appends: readonly StreamAppend[], writes: readonly RowWrite[]): AppendBatchResult {
    try {
      const streams = appends.map((append) => this.#append(append));
      const results = writes.map((write, i) => this.#write(write, `writes[${i}]`));
      return { streams, lastPosition: BigInt(this.tables.events.length), writes: results };
    } catch (error) {
      for (let i = this.#undo.length - 1; i >= 0; i--) this.#undo[i]!();
      throw error;
    }
  }

  #ensureStream(name: string, kind: StreamKind): StreamEntry {
    const existing = this.tables.streams.get(name);
    if (existing !== undefined) return existing;
    const entry: StreamEntry = {
      id: this.tables.streamsById.length + 1,
      name,
      kind,
      createdUs: nowUs(),
      version: 0,
      records: [],
    };
    this.tables.streams.set(name, entry);
    this.tables.streamsById.push(entry);
    this.#undo.push(() => {
      this.tables.streams.delete(name);
      this.tables.streamsById.pop();
    });
    return entry;
  }

  #append(append: StreamAppend): StreamAppendResult {
    const entry = this.tables.streams.get(append.stream);
    const current = entry?.version ?? 0;
    const positions: bigint[] = [];
    if (!expectedVersionMatches(append.expectedVersion, BigInt(current))) {
      // Only an append made entirely of repeats (a retry of an acknowledged write) may
      // pass a stale expected version; it writes nothing.
      if (!this.#allRepeats(append, entry, positions)) {
        throw new ConcurrencyError(
          append.stream,
          append.expectedVersion === 'any' ? 0n : append.expectedVersion,
          BigInt(current),
        );
      }
      return { stream: append.stream, nextExpectedVersion: BigInt(current), positions };
    }
    let stream = entry;
    for (const event of append.events) {
      if (stream === undefined) {
        stream = this.#ensureStream(append.stream, append.kind ?? streamKindOf(append.stream));
      }
      const eventId = event.eventId ?? null;
      if (eventId !== null) {
        const stored = this.tables.eventIds.get(eventId);
        if (stored !== undefined) {
          const differs = this.#difference(stored, append.stream, event);
          if (differs !== undefined) {
            const where = stored.position > this.#head ? ', earlier in this batch' : '';
            throw new IdempotencyConflictError(eventId, stored.position, `${differs}${where}`);
          }
          positions.push(stored.position);
          continue;
        }
      }
      positions.push(this.#insert(stream, event).position);
    }
    return {
      stream: append.stream,
      nextExpectedVersion: BigInt(stream?.version ?? 0),
      positions,
    };
  }

  #difference(
    stored: StoredEventRecord,
    stream: string,
    event: NewEventRecord,
  ): string | undefined {
    return describeDifference({
      stream: stored.stream !== stream,
      type: stored.type !== event.type,
      schemaVersion: stored.schemaVersion !== event.schemaVersion,
      timestampUs: stored.timestampUs !== event.timestampUs,
      frameId: stored.frameId !== (event.frameId ?? null),
      payload: !bytesEqual(stored.payload, event.payload),
    });
  }

  /**
   * Whether every event of the append repeats a stored one (filling in their positions).
   * Checks every event, so a conflicting id is reported even when another event is new:
   * idempotency conflicts come before concurrency.
   */
  #allRepeats(append: StreamAppend, entry: StreamEntry | undefined, positions: bigint[]): boolean {
    let all = append.events.length > 0;
    const batch = new Map<string, NewEventRecord>();
    for (const event of append.events) {
      const eventId = event.eventId ?? null;
      if (eventId === null) {
        all = false;
        continue;
      }
      const earlier = batch.get(eventId);
      if (earlier !== undefined) {
        const differs = describeDifference({
          type: earlier.type !== event.type,
          schemaVersion: earlier.schemaVersion !== event.schemaVersion,
          timestampUs: earlier.timestampUs !== event.timestampUs,
          frameId: (earlier.frameId ?? null) !== (event.frameId ?? null),
          payload: !bytesEqual(earlier.payload, event.payload),
        });
        if (differs !== undefined) throw new IdempotencyConflictError(eventId, null, differs);
        continue;
      }
      const stored = this.tables.eventIds.get(eventId);
      if (stored === undefined) {
        all = false;
        batch.set(eventId, event);
        continue;
      }
      const differs = this.#difference(stored, entry?.name ?? '', event);
      if (differs !== undefined) {
        throw new IdempotencyConflictError(eventId, stored.position, differs);
      }
      positions.push(stored.position);
    }
    return all;
  }

  #insert(stream: StreamEntry, event: NewEventRecord): StoredEventRecord {
    const { tables } = this;
    if (!tables.types.has(event.type)) {
      tables.types.set(event.type, tables.types.size + 1);
      this.#undo.push(() => tables.types.delete(event.type));
    }
    const record: StoredEventRecord = {
      position: BigInt(tables.events.length + 1),
      stream: stream.name,
      version: BigInt(stream.version + 1),
      type: event.type,
      schemaVersion: event.schemaVersion,
      timestampUs: event.timestampUs,
      frameId: event.frameId ?? null,
      eventId: event.eventId ?? null,
      // The caller may reuse its buffer.
      payload: event.payload.slice(),
    };
    tables.events.push(record);
    stream.records.push(record);
    stream.version += 1;
    if (record.eventId !== null) tables.eventIds.set(record.eventId, record);
    this.#undo.push(() => {
      tables.events.pop();
      stream.records.pop();
      stream.version -= 1;
      if (record.eventId !== null) tables.eventIds.delete(record.eventId);
    });
    return record;
  }

  /** Replaces (or, with `undefined`, deletes) a keyed row, recording how to undo it. */
  #put<K, V>(map: Map<K, V>, key: K, value: V | undefined): void {
    const had = map.has(key);
    const previous = map.get(key);
    if (value === undefined) map.delete(key);
    else map.set(key, value);
    this.#undo.push(() => {
      if (had) map.set(key, previous as V);
      else map.delete(key);
    });
  }

  #write(write: RowWrite, where: string): RowWriteResult {
    const { tables } = this;
    switch (write.kind) {
      case 'session.upsert': {
        const stream = this.#ensureStream(write.stream, 'session');
        this.#put(tables.sessions, write.sessionId, sessionUpsertRow(write, stream.id));
        return { changes: 1, insertedId: null };
      }
      case 'session.end': {
        const row = tables.sessions.get(write.sessionId);
        if (row === undefined) return { changes: 0, insertedId: null };
        this.#put(tables.sessions, write.sessionId, {
          ...row,
          status: write.status,
          ended_us: write.endedUs,
          clean_end: write.cleanEnd ? 1 : 0,
          updated_us: write.endedUs,
        });
        return { changes: 1, insertedId: null };
      }
      case 'user.upsert':
        this.#put(tables.users, write.userId, userUpsertRow(write));
        return { changes: 1, insertedId: null };
      case 'audit.insert': {
        const id = tables.nextAuditId;
        tables.audit.push({ id, ...auditInsertRow(write) });
        tables.nextAuditId += 1;
        this.#undo.push(() => {
          tables.audit.pop();
          tables.nextAuditId -= 1;
        });
        return { changes: 1, insertedId: BigInt(id) };
      }
      case 'metadata.set':
        this.#put(tables.metadata, write.key, write.value);
        return { changes: 1, insertedId: null };
      case 'snapshot.insert': {
        const base = write.baseSnapshotId ?? null;
        if (base !== null && !tables.snapshots.has(base)) {
          throw new StorageError(
            'constraint',
            `${where}.baseSnapshotId: FOREIGN KEY constraint failed (no snapshot ${base})`,
          );
        }
        const stream = this.#ensureStream(write.stream, streamKindOf(write.stream));
        const id = tables.nextSnapshotId;
        this.#put(tables.snapshots, id, {
          id,
          ...snapshotInsertRow(write, stream.id),
          data: write.data.slice(),
        });
        tables.nextSnapshotId += 1;
        this.#undo.push(() => {
          tables.nextSnapshotId -= 1;
        });
        return { changes: 1, insertedId: BigInt(id) };
      }
      case 'snapshot.delete': {
        const ids = new Set(write.ids);
        let changes = 0;
        for (const id of ids) {
          if (!tables.snapshots.has(id)) continue;
          this.#put(tables.snapshots, id, undefined);
          changes += 1;
        }
        for (const snapshot of tables.snapshots.values()) {
          if (snapshot.base_snapshot_id !== null && ids.has(snapshot.base_snapshot_id)) {
            throw new StorageError(
              'constraint',
              `${where}.ids: FOREIGN KEY constraint failed (snapshot ${snapshot.id} is based on snapshot ${snapshot.base_snapshot_id})`,
            );
          }
        }
        return { changes, insertedId: null };
      }
      case 'rollup.upsert':
        this.#put(
          tables.rollups,
          JSON.stringify([write.sessionId, write.modelId, write.granularity, write.bucketStartUs]),
          rollupUpsertRow(write),
        );
        return { changes: 1, insertedId: null };
    }
  }
}

// ---------------------------------------------------------------------------------------
// The read-only query path: Kysely compiles nothing here; the driver evaluates the query's
// operation tree against the tables.

type Row = Record<string, unknown>;
/** One row of a query's sources: the row of each table, by alias. */
type Scope = Record<string, Row>;

function isoOf(us: number | null): string | null {
  return us === null ? null : new Date(us / 1000).toISOString();
}

/** The rows of a table or view, as the SQLite schema would return them. */
function tableRows(tables: Tables, name: string): Row[] {
  const streamName = (id: number): string => tables.streamsById[id - 1]?.name ?? '';
  switch (name as keyof Database) {
    case 'streams':
      return tables.streamsById.map((s) => ({
        id: s.id,
        name: s.name,
        kind: s.kind,
        version: s.version,
        created_us: s.createdUs,
      }));
    case 'event_types':
      return [...tables.types].map(([typeName, id]) => ({ id, name: typeName }));
    case 'events':
      return tables.events.map((e) => ({
        position: Number(e.position),
        stream_id: tables.streams.get(e.stream)?.id ?? 0,
        version: Number(e.version),
        type_id: tables.types.get(e.type) ?? 0,
        schema_version: e.schemaVersion,
        timestamp_us: e.timestampUs,
        frame_id: e.frameId,
        event_id: e.eventId,
        payload: e.payload.slice(),
        checksum: eventChecksum(e),
      }));
    case 'sessions':
      return [...tables.sessions.values()].map((r) => ({ ...r }));
    case 'users':
      return [...tables.users.values()].map((r) => ({ ...r }));
    case 'snapshots':
      return [...tables.snapshots.values()].map((r) => ({ ...r, data: r.data.slice() }));
    case 'segments':
      return [];
    case 'sealed_event_ids':
      return [];
    case 'audit':
      return tables.audit.map((r) => ({ ...r }));
    case 'rollups':
      return [...tables.rollups.values()].map((r) => ({ ...r }));
    case 'metadata':
      return [...tables.metadata].map(([key, value]) => ({ key, value }));
    case 'active_sessions':
      return [...tables.sessions.values()]
        .filter((s) => s.status === 'active')
        .map((s) => ({
          session_id: s.session_id,
          user_id: s.user_id,
          stream: streamName(s.stream_id),
          started_at: isoOf(s.started_us),
          total_events: s.total_events,
          total_energy: s.total_energy,
          total_tokens: s.total_tokens,
        }));
    case 'session_energy_summary':
      return [...tables.sessions.values()].map((s) => {
        const duration = s.ended_us === null ? null : (s.ended_us - s.started_us) / 1_000_000;
        return {
          session_id: s.session_id,
          user_id: s.user_id,
          status: s.status,
          started_at: isoOf(s.started_us),
          ended_at: isoOf(s.ended_us),
          duration_s: duration,
          total_events: s.total_events,
          total_energy: s.total_energy,
          total_tokens: s.total_tokens,
          energy_per_second:
            s.ended_us !== null && s.ended_us > s.started_us && duration !== null
              ? s.total_energy / duration
              : null,
          clean_end: s.clean_end,
        };
      });
    case 'snapshot_index':
      return [...tables.snapshots.values()].map((s) => ({
        id: s.id,
        stream: streamName(s.stream_id),
        kind: s.kind,
        base_snapshot_id: s.base_snapshot_id,
        stream_version: s.stream_version,
        position: s.position,
        created_at: isoOf(s.created_us),
        size_bytes: s.size_bytes,
      }));
    case 'audit_log':
      return tables.audit.map((a) => ({
        id: a.id,
        at: isoOf(a.timestamp_us),
        actor: a.actor,
        action: a.action,
        target: a.target,
        details: a.details,
      }));
    default:
      throw unsupported(`table "${name}"`);
  }
}

function unsupported(what: string): StorageError {
  return invalidArgument('memory storage query', `${what} is not supported (read-only selects)`);
}

function identifierName(node: OperationNode): string {
  if (node.kind === 'IdentifierNode') return (node as unknown as { name: string }).name;
  throw unsupported(node.kind);
}

function tableName(node: TableNode): string {
  if (node.table.schema !== undefined) throw unsupported('a schema-qualified table');
  return node.table.identifier.name;
}

/** The table and alias of a `from` or `join` item. */
function sourceOf(node: OperationNode): { table: string; alias: string } {
  if (node.kind === 'TableNode') {
    const table = tableName(node as TableNode);
    return { table, alias: table };
  }
  if (node.kind === 'AliasNode') {
    const alias = node as AliasNode;
    if (alias.node.kind !== 'TableNode') throw unsupported(`${alias.node.kind} as a source`);
    return { table: tableName(alias.node as TableNode), alias: identifierName(alias.alias) };
  }
  throw unsupported(`${node.kind} as a source`);
}

function lookup(scope: Scope, column: string, table: string | undefined): unknown {
  if (table !== undefined) {
    const row = scope[table];
    if (row === undefined) throw unsupported(`unknown table "${table}"`);
    if (!(column in row)) throw unsupported(`unknown column "${table}.${column}"`);
    return row[column];
  }
  let found: Row | undefined;
  for (const row of Object.values(scope)) {
    if (column in row) {
      if (found !== undefined) throw unsupported(`ambiguous column "${column}"`);
      found = row;
    }
  }
  if (found === undefined) throw unsupported(`unknown column "${column}"`);
  return found[column];
}

function referenceParts(node: ReferenceNode): { column: string; table: string | undefined } {
  if (node.column.kind !== 'ColumnNode') throw unsupported('a table wildcard here');
  return {
    column: node.column.column.name,
    table: node.table === undefined ? undefined : tableName(node.table),
  };
}

/** SQLite's order of values: null first, then numbers, then text, then blobs. */
function compareValues(a: unknown, b: unknown): number {
  const rank = (v: unknown): number =>
    v === null || v === undefined
      ? 0
      : typeof v === 'number' || typeof v === 'bigint'
        ? 1
        : typeof v === 'string'
          ? 2
          : 3;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  if (ra === 1) {
    const x = Number(a);
    const y = Number(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (ra === 2) {
    const x = a as string;
    const y = b as string;
    return x < y ? -1 : x > y ? 1 : 0;
  }
  const x = a as Uint8Array;
  const y = b as Uint8Array;
  for (let i = 0; i < Math.min(x.byteLength, y.byteLength); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.byteLength - y.byteLength;
}

function isNull(value: unknown): boolean {
  return value === null || value === undefined;
}

function truthy(value: unknown): boolean {
  if (isNull(value)) return false;
  if (typeof value === 'boolean') return value;
  return Number(value) !== 0;
}

function evaluate(node: OperationNode, scope: Scope): unknown {
  switch (node.kind) {
    case 'ValueNode':
      return (node as unknown as { value: unknown }).value;
    case 'PrimitiveValueListNode':
      return (node as unknown as { values: readonly unknown[] }).values;
    case 'ValueListNode':
      return (node as unknown as { values: readonly OperationNode[] }).values.map((v) =>
        evaluate(v, scope),
      );
    case 'ReferenceNode': {
      const { column, table } = referenceParts(node as ReferenceNode);
      return lookup(scope, column, table);
    }
    case 'ColumnNode':
      return lookup(
        scope,
        (node as unknown as { column: { name: string } }).column.name,
        undefined,
      );
    case 'ParensNode':
      return evaluate((node as unknown as { node: OperationNode }).node, scope);
    case 'AndNode': {
      const { left, right } = node as unknown as { left: OperationNode; right: OperationNode };
      return truthy(evaluate(left, scope)) && truthy(evaluate(right, scope));
    }
    case 'OrNode': {
      const { left, right } = node as unknown as { left: OperationNode; right: OperationNode };
      return truthy(evaluate(left, scope)) || truthy(evaluate(right, scope));
    }
    case 'UnaryOperationNode': {
      const { operator, operand } = node as unknown as {
        operator: { operator: string };
        operand: OperationNode;
      };
      if (operator.operator === 'not') return !truthy(evaluate(operand, scope));
      if (operator.operator === '-') return -Number(evaluate(operand, scope));
      throw unsupported(`operator "${operator.operator}"`);
    }
    case 'BinaryOperationNode':
      return binary(node as BinaryOperationNode, scope);
    default:
      throw unsupported(node.kind);
  }
}

function binary(node: BinaryOperationNode, scope: Scope): unknown {
  if (node.operator.kind !== 'OperatorNode') throw unsupported(node.operator.kind);
  const operator = (node.operator as unknown as { operator: string }).operator;
  const left = evaluate(node.leftOperand, scope);
  const right = evaluate(node.rightOperand, scope);
  switch (operator) {
    case 'is':
      return isNull(right) ? isNull(left) : compareValues(left, right) === 0;
    case 'is not':
      return isNull(right) ? !isNull(left) : compareValues(left, right) !== 0;
    case 'in':
    case 'not in': {
      if (!Array.isArray(right)) throw unsupported(`"${operator}" without a list`);
      if (isNull(left)) return null;
      const found = right.some((v: unknown) => !isNull(v) && compareValues(left, v) === 0);
      return operator === 'in' ? found : !found;
    }
    default:
      break;
  }
  if (isNull(left) || isNull(right)) return null;
  switch (operator) {
    case '=':
    case '==':
      return compareValues(left, right) === 0;
    case '!=':
    case '<>':
      return compareValues(left, right) !== 0;
    case '<':
      return compareValues(left, right) < 0;
    case '<=':
      return compareValues(left, right) <= 0;
    case '>':
      return compareValues(left, right) > 0;
    case '>=':
      return compareValues(left, right) >= 0;
    case '+':
      return Number(left) + Number(right);
    case '-':
      return Number(left) - Number(right);
    case '*':
      return Number(left) * Number(right);
    case '/':
      return Number(right) === 0 ? null : Number(left) / Number(right);
    default:
      throw unsupported(`operator "${operator}"`);
  }
}

function joinRows(tables: Tables, scopes: Scope[], join: JoinNode): Scope[] {
  const { table, alias } = sourceOf(join.table);
  const rows = tableRows(tables, table);
  if (join.joinType !== 'InnerJoin' && join.joinType !== 'LeftJoin') {
    throw unsupported(`${join.joinType}`);
  }
  if (join.on === undefined) throw unsupported('a join without on');
  const on = join.on.on;
  const out: Scope[] = [];
  for (const scope of scopes) {
    let matched = false;
    for (const row of rows) {
      const next = { ...scope, [alias]: row };
      if (truthy(evaluate(on, next))) {
        out.push(next);
        matched = true;
      }
    }
    if (!matched && join.joinType === 'LeftJoin') {
      const nulls = Object.fromEntries(Object.keys(rows[0] ?? {}).map((column) => [column, null]));
      out.push({ ...scope, [alias]: nulls });
    }
  }
  return out;
}

function direction(node: OperationNode | undefined): 1 | -1 {
  if (node === undefined) return 1;
  if (node.kind === 'RawNode') {
    const text = (node as unknown as { sqlFragments: readonly string[] }).sqlFragments
      .join('')
      .trim()
      .toLowerCase();
    if (text === 'asc') return 1;
    if (text === 'desc') return -1;
  }
  throw unsupported('this order direction');
}

function select(tables: Tables, node: SelectQueryNode): Row[] {
  const refused: (keyof SelectQueryNode)[] = [
    'distinctOn',
    'groupBy',
    'having',
    'with',
    'setOperations',
    'fetch',
    'top',
    'explain',
    'frontModifiers',
    'endModifiers',
  ];
  for (const key of refused) {
    const value = node[key];
    if (value !== undefined && !(Array.isArray(value) && value.length === 0)) {
      throw unsupported(String(key));
    }
  }
  const froms = node.from?.froms ?? [];
  if (froms.length !== 1) throw unsupported('a select without exactly one table');
  const source = sourceOf(froms[0]!);
  let scopes: Scope[] = tableRows(tables, source.table).map((row) => ({ [source.alias]: row }));
  for (const join of node.joins ?? []) scopes = joinRows(tables, scopes, join);
  if (node.where !== undefined) {
    const where = node.where.where;
    scopes = scopes.filter((scope) => truthy(evaluate(where, scope)));
  }
  const selections = node.selections ?? [];
  if (selections.length === 0) throw unsupported('a select without columns');
  const project = (scope: Scope): Row => {
    const row: Row = {};
    for (const selection of selections) addSelection(row, selection, scope);
    return row;
  };
  const items = node.orderBy?.items ?? [];
  if (items.length > 0) {
    const keyed = scopes.map((scope) => ({
      scope,
      // An order by may name a selected alias as well as a column.
      keys: items.map((item) => orderKey(item.orderBy, scope, project)),
    }));
    keyed.sort((a, b) => {
      for (let i = 0; i < items.length; i++) {
        const c = compareValues(a.keys[i], b.keys[i]) * direction(items[i]!.direction);
        if (c !== 0) return c;
      }
      return 0;
    });
    scopes = keyed.map((k) => k.scope);
  }
  const offset = node.offset === undefined ? 0 : Number(evaluate(node.offset.offset, {}));
  const limit =
    node.limit === undefined ? Number.POSITIVE_INFINITY : Number(evaluate(node.limit.limit, {}));
  const page = scopes.slice(
    offset,
    limit === Number.POSITIVE_INFINITY ? undefined : offset + limit,
  );
  return page.map(project);
}

function orderKey(node: OperationNode, scope: Scope, project: (scope: Scope) => Row): unknown {
  try {
    return evaluate(node, scope);
  } catch (error) {
    if (node.kind === 'ReferenceNode' && (node as ReferenceNode).table === undefined) {
      const { column } = referenceParts(node as ReferenceNode);
      const row = project(scope);
      if (column in row) return row[column];
    }
    throw error;
  }
}

function addSelection(row: Row, selection: SelectionNode, scope: Scope): void {
  const inner = selection.selection as OperationNode;
  if (inner.kind === 'SelectAllNode') {
    for (const source of Object.values(scope)) Object.assign(row, source);
    return;
  }
  if (inner.kind === 'ReferenceNode') {
    const reference = inner as ReferenceNode;
    if (reference.column.kind === 'SelectAllNode') {
      const table = reference.table === undefined ? undefined : tableName(reference.table);
      const source = table === undefined ? undefined : scope[table];
      if (source === undefined) throw unsupported('a wildcard of an unknown table');
      Object.assign(row, source);
      return;
    }
    const { column } = referenceParts(reference);
    row[column] = evaluate(reference, scope);
    return;
  }
  if (inner.kind === 'ColumnNode') {
    const column = (inner as unknown as { column: { name: string } }).column.name;
    row[column] = evaluate(inner, scope);
    return;
  }
  if (inner.kind === 'AliasNode') {
    const alias = inner as AliasNode;
    row[identifierName(alias.alias)] = evaluate(alias.node, scope);
    return;
  }
  throw unsupported(`${inner.kind} as a selection`);
}

class MemoryConnection implements DatabaseConnection {
  constructor(private readonly tables: () => Tables) {}

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    try {
      const query = compiledQuery.query;
      if (query.kind !== 'SelectQueryNode') {
        if (query.kind === 'RawNode') throw unsupported('raw SQL');
        throw new StorageError(
          'readonly',
          'the memory storage db is read-only: write with appendBatch row writes',
        );
      }
      return Promise.resolve({ rows: select(this.tables(), query) as R[] });
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  // eslint-disable-next-line require-yield -- streaming is refused, as a generator must
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    await Promise.resolve();
    throw unsupported('streaming');
  }
}

class MemoryDriver implements Driver {
  readonly #connection: MemoryConnection;

  constructor(tables: () => Tables) {
    this.#connection = new MemoryConnection(tables);
  }

  async init(): Promise<void> {}
  acquireConnection(): Promise<DatabaseConnection> {
    return Promise.resolve(this.#connection);
  }
  // Reads see one consistent state per query already; a transaction adds nothing.
  async beginTransaction(): Promise<void> {}
  async commitTransaction(): Promise<void> {}
  async rollbackTransaction(): Promise<void> {}
  async releaseConnection(): Promise<void> {}
  async destroy(): Promise<void> {}
}

class MemoryDialect implements Dialect {
  constructor(private readonly tables: () => Tables) {}

  createDriver(): Driver {
    return new MemoryDriver(this.tables);
  }
  createQueryCompiler(): SqliteQueryCompiler {
    return new SqliteQueryCompiler();
  }
  createAdapter(): SqliteAdapter {
    return new SqliteAdapter();
  }
  createIntrospector(db: Kysely<Database>): SqliteIntrospector {
    return new SqliteIntrospector(db);
  }
}
