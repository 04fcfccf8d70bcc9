/**
 * Sealing: the writer turns the oldest hot rows of a stream into one compressed segment
 * (`@wirthforge/segments`) in its own short transaction: the segment row, the sealed
 * event ids and the deletion of the hot rows commit together, so after any crash each
 * event is either still hot or sealed, never both and never neither. The writer runs it
 * in idle turns only, one bounded step at a time, never inside an append's transaction.
 */
import { decodeSegment, encodeSegment, segmentRow } from '@wirthforge/segments';
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

/**
 * The sealing state machine over the writer's connection.
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
  private readonly insertSegment: SqliteStatement;
  private readonly insertSealedId: SqliteStatement;
  private readonly deleteRange: SqliteStatement;
  private readonly upsertSpan: SqliteStatement;
  private maxSpan: number;

  constructor(
    private readonly connection: SqliteConnection,
    readonly options: SealOptions,
    private readonly clock: () => number = Date.now,
  ) {
    const c = connection;
    this.selectStream = c.prepare('select id, version from streams where name = ?');
    this.selectHotFrom = c.prepare('select min(version) from events where stream_id = ?').pluck();
    this.selectRange = c
      .prepare(
        'select e.position, e.version, t.name, e.schema_version, e.timestamp_us, e.frame_id, ' +
          'e.event_id, e.payload, e.checksum from events e join event_types t on t.id = e.type_id ' +
          'where e.stream_id = ? and e.version >= ? and e.version <= ? order by e.version',
      )
      .raw(true);
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
    this.maxSpan = readSegmentMaxSpan(c);
    // Hot rows left by an earlier run age from now (their append time is not recorded).
    const rows = c
      .prepare(
        'select e.stream_id, s.name, min(e.version), max(e.version) from events e ' +
          'join streams s on s.id = e.stream_id group by e.stream_id',
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

  private candidate(nowMs: number): [number, HotRange, number] | undefined {
    const { minEvents, maxAgeMs } = this.options;
    let aged: [number, HotRange, number] | undefined;
    for (const [id, range] of this.hot) {
      if (this.unsealable.has(id)) continue;
      const count = range.to - range.from + 1;
      if (count >= minEvents) return [id, range, minEvents];
      if (aged === undefined && count > 0 && nowMs - range.sinceMs >= maxAgeMs) {
        aged = [id, range, count];
      }
    }
    return aged;
  }

  /** Whether some stream has at least `segments` × `minEvents` unsealed events. */
  hasBacklog(segments: number): boolean {
    const limit = segments * this.options.minEvents;
    for (const [id, range] of this.hot) {
      if (!this.unsealable.has(id) && range.to - range.from + 1 >= limit) return true;
    }
    return false;
  }

  /** Whether a seal step is due now. */
  hasWork(nowMs: number = this.clock()): boolean {
    return this.candidate(nowMs) !== undefined;
  }

  /**
   * Seals one segment if one is due: the oldest unsealed events of one stream, at most
   * `minEvents` of them, in one transaction. Returns what it sealed, or undefined.
   * Throws a `StorageError` when the transaction fails (nothing of it is applied).
   */
  sealNext(nowMs: number = this.clock()): SealStepResult | undefined {
    const next = this.candidate(nowMs);
    if (next === undefined) return undefined;
    const [id, range, count] = next;
    const first = range.from;
    const last = first + count - 1;
    const c = this.connection;
    c.exec('BEGIN IMMEDIATE');
    try {
      const rows = this.selectRange.all(id, first, last) as HotRow[];
      if (rows.length !== count || rows[0]![1] !== first || rows[rows.length - 1]![1] !== last) {
        throw new StorageError(
          'corrupt',
          `stream ${range.name}: hot versions ${first}..${last} are not all present (${rows.length} rows)`,
        );
      }
      const records = new Array<StoredEventRecord>(rows.length);
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i]!;
        const record: StoredEventRecord = {
          position: BigInt(r[0]),
          stream: range.name,
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
            `stream ${range.name}: position ${r[0]} (version ${r[1]}) fails its checksum; not sealed`,
          );
        }
        records[i] = record;
      }
      const bytes = encodeSegment(records);
      const row = segmentRow(bytes, id);
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
      for (const r of rows) {
        if (r[6] !== null) this.insertSealedId.run(r[6], r[0], segmentId);
      }
      const deleted = this.deleteRange.run(id, first, last).changes;
      if (deleted !== count) {
        throw new StorageError('io', `stream ${range.name}: deleted ${deleted} of ${count} rows`);
      }
      const span = row.last_position - row.first_position;
      if (span > this.maxSpan) this.upsertSpan.run(SEGMENT_MAX_SPAN_KEY, String(span));
      c.exec('COMMIT');
      if (span > this.maxSpan) this.maxSpan = span;
      if (last >= range.to) this.hot.delete(id);
      else {
        range.from = last + 1;
        // What is left was appended after what was sealed: count its age from now.
        range.sinceMs = nowMs;
      }
      return { stream: range.name, segmentId, events: count };
    } catch (error) {
      if (c.inTransaction) c.exec('ROLLBACK');
      this.unsealable.add(id);
      throw toSqliteStorageError(error, `seal of stream ${range.name}`);
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
