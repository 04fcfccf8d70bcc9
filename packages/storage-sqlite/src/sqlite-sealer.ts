/**
 * Sealing: the oldest hot rows of a stream become one compressed segment
 * (`@wirthforge/segments`). Two halves: {@link prepareSeal} reads the rows, checks their
 * checksums and encodes the segment, writing nothing (the sealing thread does it, on a
 * read connection of its own); {@link SqliteSealer.applyPrepared} then writes it on the
 * writer: the segment row, the sealed event ids and the deletion of the hot rows in one
 * savepoint of one transaction, so after any crash each event is either still hot or
 * sealed, never both and never neither.
 */
import { decodeSegment, encodeSegment, segmentRow } from '@wirthforge/segments';
import type { SegmentRowValues } from '@wirthforge/segments';
import { StorageError, eventChecksum } from '@wirthforge/storage';
import type { StoredEventRecord } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';

/** When the writer seals a stream's hot rows into a segment. */
export interface SealOptions {
  /**
   * A stream with at least this many unsealed events gets its oldest `minEvents` sealed
   * into one segment (also the largest segment sealing writes). Default 3600: one minute
   * of a 60 Hz session.
   */
  readonly minEvents: number;
  /**
   * A stream whose oldest unsealed event was appended this long ago (ms) gets its
   * unsealed events sealed even when they are fewer than `minEvents`, so that a quiet or
   * ended stream does not stay hot. Default 60000.
   */
  readonly maxAgeMs: number;
}

/** Default {@link SealOptions}: the hot table holds about a minute of a 60 Hz session per stream. */
export const DEFAULT_SEAL_OPTIONS: SealOptions = { minEvents: 3600, maxAgeMs: 60_000 };

/**
 * `metadata` key holding the largest `last_position - first_position` of any segment
 * (an upper bound, kept by the sealing transaction), so that a read by position finds
 * every segment overlapping a range with one indexed range scan.
 */
export const SEGMENT_MAX_SPAN_KEY = 'segment_max_span';

/** Unsealed events of one stream: versions `from..to` are hot rows. */
interface HotRange {
  readonly name: string;
  from: number;
  to: number;
  /** When the oldest of them was appended, or the writer started (ms since the epoch). */
  sinceMs: number;
}

type HotRow = [
  position: number,
  version: number,
  type: string,
  schemaVersion: number,
  timestampUs: number,
  frameId: number | null,
  eventId: string | null,
  payload: Uint8Array,
  checksum: number,
];

/** What one seal step did. */
export interface SealStepResult {
  readonly stream: string;
  readonly segmentId: number;
  readonly events: number;
}

/** The content of a sealed event an idempotent append is compared with. */
export type SealedEvent = StoredEventRecord;

/** Reads the largest segment span recorded (or computes it when not recorded). */
export function readSegmentMaxSpan(connection: SqliteConnection): number {
  const recorded = connection
    .prepare('select value from metadata where key = ?')
    .pluck()
    .get(SEGMENT_MAX_SPAN_KEY) as string | undefined;
  if (recorded !== undefined) return Number(recorded);
  const computed = connection
    .prepare('select max(last_position - first_position) from segments')
    .pluck()
    .get() as number | null;
  return computed ?? -1;
}

/** A range of one stream's hot rows to seal: versions `first..last`. */
export interface SealTask {
  readonly streamId: number;
  readonly stream: string;
  readonly first: number;
  readonly last: number;
}

/**
 * A {@link SealTask} read, checked and encoded, ready for its short write transaction.
 * Plain data (it crosses from the sealing thread to the writer).
 */
export interface PreparedSeal extends SealTask {
  /** Positions of the first and last event of the range. */
  readonly firstPosition: number;
  readonly lastPosition: number;
  /** The `segments` row's columns, `data` the encoded segment. */
  readonly row: SegmentRowValues;
  /** The sealed events that carry an id: `[eventId, position]` pairs, flattened. */
  readonly ids: readonly (string | number)[];
}

/** SQL of the statement {@link prepareSeal} reads a range with. */
export const SELECT_HOT_RANGE_SQL =
  'select e.position, e.version, t.name, e.schema_version, e.timestamp_us, e.frame_id, ' +
  'e.event_id, e.payload, e.checksum from events e join event_types t on t.id = e.type_id ' +
  'where e.stream_id = ? and e.version >= ? and e.version <= ? order by e.version';

/**
 * Reads a task's hot rows (with `selectRange`, a raw statement of
 * {@link SELECT_HOT_RANGE_SQL}), checks each row's checksum and encodes them into a
 * segment. Writes nothing: hot rows never change once committed (only a seal deletes
 * them, on the writer), so this can run outside the writer's transactions, on any
 * connection that sees the range committed.
 *
 * @throws StorageError `corrupt` when a row is missing or fails its checksum.
 */
export function prepareSeal(selectRange: SqliteStatement, task: SealTask): PreparedSeal {
  const { streamId, stream, first, last } = task;
  const count = last - first + 1;
  const rows = selectRange.all(streamId, first, last) as HotRow[];
  if (rows.length !== count || rows[0]![1] !== first || rows[rows.length - 1]![1] !== last) {
    throw new StorageError(
      'corrupt',
      `stream ${stream}: hot versions ${first}..${last} are not all present (${rows.length} rows)`,
    );
  }
  const records = new Array<StoredEventRecord>(rows.length);
  const ids: (string | number)[] = [];
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const record: StoredEventRecord = {
      position: BigInt(r[0]),
      stream,
      version: BigInt(r[1]),
      type: r[2],
      schemaVersion: r[3],
      timestampUs: r[4],
      frameId: r[5],
      eventId: r[6],
      payload: r[7],
    };
    // Never launder a damaged row into a segment with a fresh checksum.
    if (eventChecksum(record) !== r[8]) {
      throw new StorageError(
        'corrupt',
        `stream ${stream}: position ${r[0]} (version ${r[1]}) fails its checksum; not sealed`,
      );
    }
    if (r[6] !== null) ids.push(r[6], r[0]);
    records[i] = record;
  }
  // A copy of its own: the encoder's output may be a view of a buffer it reuses.
  const bytes = encodeSegment(records).slice();
  return {
    ...task,
    firstPosition: rows[0]![0],
    lastPosition: rows[rows.length - 1]![0],
    row: segmentRow(bytes, streamId),
    ids,
  };
}

/**
 * The sealing state machine over the writer's connection: picks the ranges to seal
 * ({@link takeTask}), writes prepared segments in a savepoint of the writer's open
 * transaction ({@link applyPrepared}) and keeps track once they commit
 * ({@link committed}). {@link sealNext} does all of it in one transaction of its own.
 *
 * @example
 * ```ts
 * const sealer = new SqliteSealer(connection, { minEvents: 3600, maxAgeMs: 60_000 });
 * sealer.noteAppended('session-1', 4000);
 * while (sealer.hasWork(Date.now())) sealer.sealNext(Date.now());
 * ```
 */
export class SqliteSealer {
  private readonly hot = new Map<number, HotRange>();
  private readonly ids = new Map<string, number>();
  /** Streams whose rows cannot be sealed (e.g. a damaged hot row): left hot for the integrity check. */
  private readonly unsealable = new Set<number>();
  private readonly selectStream: SqliteStatement;
  private readonly selectHotFrom: SqliteStatement;
  private readonly selectRange: SqliteStatement;
  private readonly selectPosition: SqliteStatement;
  private readonly insertSegment: SqliteStatement;
  private readonly insertSealedId: SqliteStatement;
  private readonly deleteRange: SqliteStatement;
  private readonly upsertSpan: SqliteStatement;
  private readonly savepoint: SqliteStatement;
  private readonly release: SqliteStatement;
  private readonly rollbackToSavepoint: SqliteStatement;
  private maxSpan: number;
  /** The task taken and not yet committed or given back: one at a time. */
  private pending: SealTask | undefined;

  constructor(
    private readonly connection: SqliteConnection,
    readonly options: SealOptions,
    private readonly clock: () => number = Date.now,
  ) {
    const c = connection;
    this.selectStream = c.prepare('select id, version from streams where name = ?');
    this.selectHotFrom = c.prepare('select min(version) from events where stream_id = ?').pluck();
    this.selectRange = c.prepare(SELECT_HOT_RANGE_SQL).raw(true);
    this.selectPosition = c
      .prepare('select position from events where stream_id = ? and version = ?')
      .pluck();
    this.insertSegment = c.prepare(
      'insert into segments (stream_id, first_position, last_position, first_version, last_version, ' +
        'first_us, last_us, event_count, codec_version, checksum, data) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    this.insertSealedId = c.prepare(
      'insert into sealed_event_ids (event_id, position, segment_id) values (?, ?, ?)',
    );
    this.deleteRange = c.prepare(
      'delete from events where stream_id = ? and version >= ? and version <= ?',
    );
    this.upsertSpan = c.prepare(
      'insert into metadata (key, value) values (?, ?) on conflict (key) do update set value = excluded.value',
    );
    this.savepoint = c.prepare('SAVEPOINT seal');
    this.release = c.prepare('RELEASE seal');
    this.rollbackToSavepoint = c.prepare('ROLLBACK TO seal');
    this.maxSpan = readSegmentMaxSpan(c);
    // Hot rows left by an earlier run age from now (their append time is not recorded).
    // A skip scan of the (stream_id, version) index: two seeks per stream with hot rows,
    // where a GROUP BY would read every hot row (a backlog of a million rows after a crash
    // took most of a second of the open).
    const rows = c
      .prepare(
        'with recursive hot(id) as (select min(stream_id) from events union all ' +
          'select (select min(stream_id) from events where stream_id > hot.id) from hot ' +
          'where hot.id is not null) ' +
          'select hot.id, s.name, ' +
          '(select min(version) from events where stream_id = hot.id), ' +
          '(select max(version) from events where stream_id = hot.id) ' +
          'from hot join streams s on s.id = hot.id',
      )
      .raw(true)
      .all() as [number, string, number, number][];
    for (const [id, name, from, to] of rows) {
      this.ids.set(name, id);
      this.hot.set(id, { name, from, to, sinceMs: this.clock() });
    }
  }

  /** Number of streams with unsealed events. */
  get hotStreams(): number {
    return this.hot.size;
  }

  /** Records that `stream` committed events up to `version` (call after COMMIT). */
  noteAppended(stream: string, version: number): void {
    if (version <= 0) return;
    let id = this.ids.get(stream);
    if (id === undefined) {
      const row = this.selectStream.get(stream) as { id: number; version: number } | undefined;
      if (row === undefined) return;
      id = row.id;
      this.ids.set(stream, id);
    }
    const range = this.hot.get(id);
    if (range !== undefined) {
      range.to = Math.max(range.to, version);
      return;
    }
    const from = this.selectHotFrom.get(id) as number | null;
    if (from === null) return;
    this.hot.set(id, { name: stream, from, to: version, sinceMs: this.clock() });
  }

  /**
   * The next range to seal: a full segment of one stream, else the oldest events of a
   * stream that aged past `maxAgeMs`, else (with `largest`) the unsealed events of the
   * stream that has most of them, at most `minEvents`.
   */
  private candidate(nowMs: number, largest = false): SealTask | undefined {
    const { minEvents, maxAgeMs } = this.options;
    let aged: SealTask | undefined;
    let most: [number, HotRange] | undefined;
    for (const [id, range] of this.hot) {
      if (this.unsealable.has(id)) continue;
      const count = range.to - range.from + 1;
      if (count >= minEvents) {
        return {
          streamId: id,
          stream: range.name,
          first: range.from,
          last: range.from + minEvents - 1,
        };
      }
      if (aged === undefined && count > 0 && nowMs - range.sinceMs >= maxAgeMs) {
        aged = { streamId: id, stream: range.name, first: range.from, last: range.to };
      }
      if (count > 0 && (most === undefined || count > most[1].to - most[1].from + 1)) {
        most = [id, range];
      }
    }
    if (aged !== undefined || !largest || most === undefined) return aged;
    const [id, range] = most;
    return { streamId: id, stream: range.name, first: range.from, last: range.to };
  }

  /** Unsealed events of every stream that can be sealed (the hot table's backlog). */
  hotEvents(): number {
    let total = 0;
    for (const [id, range] of this.hot) {
      if (!this.unsealable.has(id)) total += range.to - range.from + 1;
    }
    return total;
  }

  /** Whether some stream has at least `segments` × `minEvents` unsealed events. */
  hasBacklog(segments: number): boolean {
    const limit = segments * this.options.minEvents;
    for (const [id, range] of this.hot) {
      if (!this.unsealable.has(id) && range.to - range.from + 1 >= limit) return true;
    }
    return false;
  }

  /**
   * Whether a seal step is due now (and no task is taken). With `largest`, any stream
   * with unsealed events makes one due (see {@link takeTask}).
   */
  hasWork(nowMs: number = this.clock(), largest = false): boolean {
    return this.pending === undefined && this.candidate(nowMs, largest) !== undefined;
  }

  /**
   * The range to seal next, if one is due and no other task is out: at most `minEvents`
   * of the oldest unsealed events of one stream. With `largest`, when no stream has a
   * full segment or aged events, the stream with most unsealed events (a backlog spread
   * over many small streams must still shrink). The task stays taken until
   * {@link committed} or {@link giveBack}.
   */
  takeTask(nowMs: number = this.clock(), largest = false): SealTask | undefined {
    if (this.pending !== undefined) return undefined;
    const task = this.candidate(nowMs, largest);
    this.pending = task;
    return task;
  }

  /**
   * Gives a task back without sealing it. With an `error` from preparing or writing it
   * (a damaged row, say), its stream is left hot from now on, for the integrity check
   * to name; without one (a rolled-back transaction), it is taken again later.
   */
  giveBack(task: SealTask, error?: unknown): void {
    // The task may come back as a copy (from the sealing thread): the stream tells.
    if (this.pending?.streamId === task.streamId) this.pending = undefined;
    if (error !== undefined) this.unsealable.add(task.streamId);
  }

  /**
   * Writes a prepared segment in a savepoint of the open transaction: the segment row,
   * its sealed event ids and the deletion of its hot rows, after checking that the hot
   * rows are still exactly the ones prepared. Nothing is kept in memory until
   * {@link committed}. Throws a `StorageError`; then the savepoint is rolled back and
   * the rest of the transaction is untouched.
   */
  applyPrepared(prepared: PreparedSeal): number {
    const { streamId, stream, first, last, row } = prepared;
    const count = last - first + 1;
    this.savepoint.run();
    try {
      // Versions are unique per stream and hot rows never change once committed: the
      // same first and last rows, and as many rows deleted as encoded (below), mean the
      // range is exactly the one prepared.
      if (
        this.selectPosition.get(streamId, first) !== prepared.firstPosition ||
        this.selectPosition.get(streamId, last) !== prepared.lastPosition
      ) {
        throw new StorageError(
          'corrupt',
          `stream ${stream}: hot versions ${first}..${last} changed while being sealed`,
        );
      }
      const segmentId = Number(
        this.insertSegment.run(
          row.stream_id,
          row.first_position,
          row.last_position,
          row.first_version,
          row.last_version,
          row.first_us,
          row.last_us,
          row.event_count,
          row.codec_version,
          row.checksum,
          row.data,
        ).lastInsertRowid,
      );
      const ids = prepared.ids;
      for (let i = 0; i < ids.length; i += 2)
        this.insertSealedId.run(ids[i], ids[i + 1], segmentId);
      const deleted = this.deleteRange.run(streamId, first, last).changes;
      if (deleted !== count) {
        throw new StorageError('io', `stream ${stream}: deleted ${deleted} of ${count} rows`);
      }
      const span = row.last_position - row.first_position;
      if (span > this.maxSpan) this.upsertSpan.run(SEGMENT_MAX_SPAN_KEY, String(span));
      this.release.run();
      return segmentId;
    } catch (error) {
      if (this.connection.inTransaction) {
        try {
          this.rollbackToSavepoint.run();
          this.release.run();
        } catch {
          // The engine rolled the whole transaction back; its COMMIT reports it.
        }
      }
      throw toSqliteStorageError(error, `seal of stream ${stream}`);
    }
  }

  /** Records that a segment written by {@link applyPrepared} committed. */
  committed(prepared: PreparedSeal, nowMs: number = this.clock()): void {
    if (this.pending?.streamId === prepared.streamId) this.pending = undefined;
    const span = prepared.row.last_position - prepared.row.first_position;
    if (span > this.maxSpan) this.maxSpan = span;
    const range = this.hot.get(prepared.streamId);
    if (range === undefined) return;
    if (prepared.last >= range.to) this.hot.delete(prepared.streamId);
    else {
      range.from = prepared.last + 1;
      // What is left was appended after what was sealed: count its age from now.
      range.sinceMs = nowMs;
    }
  }

  /** Reads, checks and encodes a task on this connection (see {@link prepareSeal}). */
  prepare(task: SealTask): PreparedSeal {
    return prepareSeal(this.selectRange, task);
  }

  /**
   * Seals one segment if one is due, in one transaction of its own: the oldest unsealed
   * events of one stream, at most `minEvents` of them (`largest`: see {@link takeTask}).
   * Returns what it sealed, or
   * undefined. Throws a `StorageError` when the transaction fails (nothing of it is
   * applied, and the stream is left hot from now on).
   */
  sealNext(nowMs: number = this.clock(), largest = false): SealStepResult | undefined {
    const task = this.takeTask(nowMs, largest);
    if (task === undefined) return undefined;
    const c = this.connection;
    try {
      c.exec('BEGIN IMMEDIATE');
      const prepared = this.prepare(task);
      const segmentId = this.applyPrepared(prepared);
      c.exec('COMMIT');
      this.committed(prepared, nowMs);
      return { stream: task.stream, segmentId, events: task.last - task.first + 1 };
    } catch (error) {
      if (c.inTransaction) c.exec('ROLLBACK');
      this.giveBack(task, error);
      throw toSqliteStorageError(error, `seal of stream ${task.stream}`);
    }
  }
}

/**
 * The sealed event `eventId` names, read back from its segment, or undefined when the id
 * is not sealed. Used by idempotent appends once the event's hot row is gone.
 *
 * @throws StorageError `corrupt` when the segment cannot be read.
 */
export function readSealedEvent(
  connection: SqliteConnection,
  lookup: SqliteStatement,
  eventId: string,
): SealedEvent | undefined {
  const row = lookup.get(eventId) as { position: number; segment_id: number } | undefined;
  if (row === undefined) return undefined;
  const data = connection
    .prepare('select data from segments where id = ?')
    .pluck()
    .get(row.segment_id) as Uint8Array | undefined;
  if (data === undefined) {
    throw new StorageError(
      'corrupt',
      `event id "${eventId}" is sealed in segment ${row.segment_id}, which does not exist`,
    );
  }
  let events: StoredEventRecord[];
  try {
    events = decodeSegment(data, {
      fromPosition: BigInt(row.position),
      toPosition: BigInt(row.position),
    }).events;
  } catch (error) {
    throw new StorageError(
      'corrupt',
      `segment ${row.segment_id} (holding event id "${eventId}" at position ${row.position}) cannot be read: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const event = events[0];
  if (event === undefined || event.eventId !== eventId) {
    throw new StorageError(
      'corrupt',
      `segment ${row.segment_id} does not hold event id "${eventId}" at position ${row.position}`,
    );
  }
  return event;
}
