/**
 * Event reads on a read-only connection, in bounded pages by position (or by version for
 * one stream): each page is its own short read transaction, so a long read never pins the
 * WAL, and the writer never waits for readers. Each page merges sealed segments and hot
 * rows in position (or version) order inside that one transaction, so a seal committing
 * between pages never makes a read skip or repeat an event. Only the segments a page
 * needs are decoded, and decoded segments are kept in a small LRU cache. Every hot row's
 * checksum is recomputed as it is read (segments check theirs when decoded): a row
 * changed in place is refused with `corrupt`, never served.
 */
import {
  PageItemIterator,
  StorageError,
  eventChecksum,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  validateReadAllOptions,
  validateReadStreamOptions,
  validateStreamName,
} from '@wirthforge/storage';
import type {
  ColdSegmentEvents,
  ColdSegmentSource,
  Database,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
} from '@wirthforge/storage';
import type { Kysely } from 'kysely';

import { archivedEvents, archivedForPositions, archivedForStream } from './archived-segments.js';
import type { ArchivedSegmentMeta } from './archived-segments.js';
import { toSqliteStorageError } from './errors.js';
import { bindable, createSqliteCompiler } from './sqlite-compiler.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';
import { readSegmentMaxSpan } from './sqlite-sealer.js';
import { SEGMENT_META_COLUMNS, SegmentCache, lowerBound } from './segment-cache.js';
import type { DecodedSegmentEvents, SegmentMeta } from './segment-cache.js';
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
  checksum: number,
];

/** A stream or type name, and its UTF-8 bytes (what the row checksum covers). */
interface CachedName {
  readonly text: string;
  readonly bytes: Uint8Array;
}

const POSITION = 0;
const VERSION = 2;

const MAX_CACHED_STATEMENTS = 32;

/** Event `i` of a decoded segment: built from the columns of a live one, or an archived one's. */
function eventsAt(
  decoded: DecodedSegmentEvents | ColdSegmentEvents,
): (i: number) => StoredEventRecord {
  if ('columns' in decoded) {
    const { columns } = decoded;
    return (i) => columns.record(i);
  }
  const { events } = decoded;
  return (i) => events[i]!;
}

/** Lets other work run between pages: a long read must not starve the event loop. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Reads events page by page. `ensureOpen` throws `closed` once the storage is closed, so
 * an iteration in progress stops at its next page. `checkRows` false serves hot rows
 * without recomputing their checksums (for a checker that names damage itself).
 */
export class SqliteEventReader {
  private readonly compiler: Kysely<Database> = createSqliteCompiler();
  private readonly statements = new Map<string, SqliteStatement>();

  private readonly segments: SegmentCache;

  constructor(
    private readonly connection: SqliteConnection,
    private readonly pageSize: number,
    private readonly ensureOpen: () => void,
    segmentCacheSize = 16,
    private readonly coldSegments?: ColdSegmentSource,
    private readonly checkRows = true,
  ) {
    this.segments = new SegmentCache(connection, segmentCacheSize);
  }

  /**
   * Runs `read` in one read transaction (a consistent snapshot of segments and hot rows),
   * unless one is already open.
   */
  private snapshot<T>(read: () => T): T {
    this.ensureOpen();
    const own = !this.connection.inTransaction;
    try {
      if (own) this.connection.exec('BEGIN');
      return read();
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    } finally {
      if (own && this.connection.inTransaction) this.connection.exec('COMMIT');
    }
  }

  private segmentMetas(sql: string, ...parameters: unknown[]): SegmentMeta[] {
    return this.statement(sql)
      .raw(false)
      .all(...parameters) as SegmentMeta[];
  }

  // Stream and type names by id, with their UTF-8 bytes for the row checksum. Rows carry
  // the ids (no join per row, and one string per stream or type instead of one per row);
  // ids are never reused, so entries never go stale, and an id not seen yet is looked up
  // once.
  private readonly streamNames = new Map<number, CachedName>();
  private readonly typeNames = new Map<number, CachedName>();

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

  private nameOf(
    table: 'streams' | 'event_types',
    names: Map<number, CachedName>,
    id: number,
  ): CachedName {
    let name = names.get(id);
    if (name === undefined) {
      const sql = `select name from ${table} where id = ?`;
      const text = this.statement(sql).raw(false).pluck(true).get(id) as string | undefined;
      if (text === undefined) {
        throw new StorageError(
          'corrupt',
          `event row names ${table} id ${id}, which does not exist`,
        );
      }
      name = { text, bytes: Buffer.from(text, 'utf8') };
      names.set(id, name);
    }
    return name;
  }

  /**
   * The record of a hot row, once its stored checksum (the writer's `eventChecksum`) is
   * recomputed and matches: a row changed in place is never served as valid.
   *
   * @throws StorageError `corrupt` naming the row's stream, version and position.
   */
  private toRecord(row: EventRowOut): StoredEventRecord {
    const payload = row[8];
    const stream = this.nameOf('streams', this.streamNames, row[1]);
    const type = this.nameOf('event_types', this.typeNames, row[3]);
    if (this.checkRows) {
      const computed = eventChecksum({
        position: row[POSITION],
        stream: stream.bytes,
        version: row[VERSION],
        type: type.bytes,
        schemaVersion: row[4],
        timestampUs: row[5],
        frameId: row[6],
        eventId: row[7],
        payload,
      });
      if (computed !== row[9]) {
        throw new StorageError(
          'corrupt',
          `stream ${stream.text}: position ${row[POSITION]} (version ${row[VERSION]}) fails its ` +
            `checksum (stored ${row[9]}, contents give ${computed}); not served`,
        );
      }
    }
    return {
      position: BigInt(row[POSITION]),
      stream: stream.text,
      version: BigInt(row[VERSION]),
      type: type.text,
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
        'e.checksum',
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

  /** See `EventStorage.readStream`: the pages' events, one `await` per page. */
  readStream(
    stream: string,
    options?: ReadStreamOptions,
  ): AsyncIterableIterator<StoredEventRecord> {
    return new PageItemIterator(() => this.readStreamPages(stream, options));
  }

  /** See `EventStorage.readAll`: the pages' events, one `await` per page. */
  readAll(options?: ReadAllOptions): AsyncIterableIterator<StoredEventRecord> {
    return new PageItemIterator(() => this.readAllPages(options));
  }

  private toRecords(rows: readonly EventRowOut[]): StoredEventRecord[] {
    const records = new Array<StoredEventRecord>(rows.length);
    for (let i = 0; i < rows.length; i++) records[i] = this.toRecord(rows[i]!);
    return records;
  }

  /** One page of a stream, versions `lo..hi`, from segments and hot rows. */
  private streamPage(
    streamId: number,
    stream: string,
    lo: number,
    hi: number,
    limit: number,
    backwards: boolean,
  ): StoredEventRecord[] {
    const out: StoredEventRecord[] = [];
    const hot = (count: number): void => {
      const query = this.selectEvents()
        .where('e.stream_id', '=', streamId)
        .where('e.version', '>=', lo)
        .where('e.version', '<=', hi)
        .orderBy('e.version', backwards ? 'desc' : 'asc')
        .limit(count);
      for (const row of this.run(query.compile())) out.push(this.toRecord(row));
    };
    // Sealed versions all come before hot ones: segments then hot rows forwards,
    // hot rows then segments backwards.
    if (backwards) hot(limit);
    if (out.length < limit) {
      const metas = this.segmentMetas(
        `select ${SEGMENT_META_COLUMNS} from segments where stream_id = ? and first_version <= ? ` +
          `and last_version >= ? order by first_version ${backwards ? 'desc' : 'asc'}`,
        streamId,
        hi,
        lo,
      );
      // Archived segments (moved to archive partitions) interleave with the live ones.
      const cold = archivedForStream(this.connection, streamId, lo, hi, backwards);
      const ordered: (SegmentMeta | ArchivedSegmentMeta)[] =
        cold.length === 0 ? metas : [...metas, ...cold];
      if (cold.length > 0) {
        ordered.sort((x, y) =>
          backwards ? y.first_version - x.first_version : x.first_version - y.first_version,
        );
      }
      for (const meta of ordered) {
        if (out.length >= limit) break;
        const at = eventsAt(
          'partition' in meta
            ? archivedEvents(this.coldSegments, meta, stream)
            : this.segments.get(meta, stream),
        );
        const from = Math.max(lo, meta.first_version) - meta.first_version;
        const to = Math.min(hi, meta.last_version) - meta.first_version;
        if (backwards) {
          for (let i = to; i >= from && out.length < limit; i--) out.push(at(i));
        } else {
          for (let i = from; i <= to && out.length < limit; i++) out.push(at(i));
        }
      }
    }
    if (!backwards && out.length < limit) hot(limit - out.length);
    return out;
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
    const streamId = row.id;
    // Bound the read by the stream's version when it started: a read never chases appends.
    let lo = low;
    let hi = Math.min(high, row.version);
    let remaining = maxCount;
    for (let page = 0; lo <= hi && remaining > 0; page++) {
      if (page > 0) await nextTurn();
      const limit = Math.min(this.pageSize, remaining);
      const records = this.snapshot(() =>
        this.streamPage(streamId, stream, lo, hi, limit, backwards),
      );
      if (records.length > 0) yield records;
      remaining -= records.length;
      if (records.length < limit) return;
      const last = Number(records[records.length - 1]!.version);
      if (backwards) hi = last - 1;
      else lo = last + 1;
    }
  }

  /** The hot rows of positions `lo..hi` (filtered), in position order, at most `limit`. */
  private hotRows(
    lo: number,
    hi: number,
    limit: number,
    types: readonly string[] | undefined,
    streams: readonly string[] | undefined,
  ): EventRowOut[] {
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
    return this.run(query.orderBy('e.position').limit(limit).compile());
  }

  /**
   * One page of all events in positions `lo..hi` (filtered), merging segments and hot
   * rows by position, walking the range in windows so that each window needs only the
   * few segments overlapping it.
   */
  private allPage(
    lo: number,
    hi: number,
    limit: number,
    types: ReadonlySet<string> | undefined,
    typeList: readonly string[] | undefined,
    streams: readonly string[] | undefined,
  ): StoredEventRecord[] {
    const span = readSegmentMaxSpan(this.connection);
    if (span < 0) return this.toRecords(this.hotRows(lo, hi, limit, typeList, streams));
    const streamFilter =
      streams === undefined
        ? ''
        : ` and stream_id in (select id from streams where name in (${streams.map(() => '?').join(', ')}))`;
    const window = Math.max(2 * limit, 4096);
    const out: StoredEventRecord[] = [];
    for (let a = lo; a <= hi && out.length < limit; a += window) {
      const b = Math.min(hi, a + window - 1);
      const metas = this.segmentMetas(
        `select ${SEGMENT_META_COLUMNS} from segments where first_position >= ? and first_position <= ? ` +
          `and last_position >= ?${streamFilter}`,
        a - span,
        b,
        a,
        ...(streams ?? []),
      );
      const cold = archivedForPositions(this.connection, a, b, span, streams);
      const hot = this.hotRows(a, b, limit - out.length, typeList, streams);
      if (metas.length === 0 && cold.length === 0) {
        for (const row of hot) out.push(this.toRecord(row));
        continue;
      }
      // Sources: the hot rows and each overlapping segment's slice, each in position order.
      const sources: {
        at: (i: number) => StoredEventRecord;
        positions: ArrayLike<number>;
        i: number;
        end: number;
      }[] = [];
      if (hot.length > 0) {
        const hotRecords = this.toRecords(hot);
        sources.push({
          at: (i) => hotRecords[i]!,
          positions: hot.map((row) => row[POSITION]),
          i: 0,
          end: hot.length,
        });
      }
      for (const meta of metas) {
        const decoded = this.segments.get(
          meta,
          this.nameOf('streams', this.streamNames, meta.stream_id).text,
        );
        const i = lowerBound(decoded.positions, a);
        const end = lowerBound(decoded.positions, b + 1);
        if (i < end) sources.push({ at: eventsAt(decoded), positions: decoded.positions, i, end });
      }
      for (const meta of cold) {
        const stream = this.nameOf('streams', this.streamNames, meta.stream_id).text;
        const decoded = archivedEvents(this.coldSegments, meta, stream);
        const i = lowerBound(decoded.positions, a);
        const end = lowerBound(decoded.positions, b + 1);
        if (i < end) sources.push({ at: eventsAt(decoded), positions: decoded.positions, i, end });
      }
      while (out.length < limit) {
        let best = -1;
        let bestPosition = Infinity;
        for (let k = 0; k < sources.length; k++) {
          const source = sources[k]!;
          if (source.i < source.end && source.positions[source.i]! < bestPosition) {
            best = k;
            bestPosition = source.positions[source.i]!;
          }
        }
        if (best < 0) break;
        const source = sources[best]!;
        const event = source.at(source.i++);
        if (types === undefined || types.has(event.type)) out.push(event);
      }
    }
    return out;
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
    const typeSet = types === undefined ? undefined : new Set(types);
    let lo = low;
    let remaining = maxCount;
    for (let page = 0; lo <= hi && remaining > 0; page++) {
      if (page > 0) await nextTurn();
      const limit = Math.min(this.pageSize, remaining);
      const records = this.snapshot(() => this.allPage(lo, hi, limit, typeSet, types, streams));
      if (records.length > 0) yield records;
      remaining -= records.length;
      if (records.length < limit) return;
      lo = Number(records[records.length - 1]!.position) + 1;
    }
  }
}
