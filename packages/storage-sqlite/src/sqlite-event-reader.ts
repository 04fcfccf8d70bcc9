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
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
} from '@wirthforge/storage';

import { archivedEvents, archivedForPositions, archivedForStream } from './archived-segments.js';
import type { ArchivedSegmentMeta } from './archived-segments.js';
import { CachingConnection } from './caching-connection.js';
import { toSqliteStorageError } from './errors.js';
import type { SqliteConnection, SqliteStatement } from './sqlite-connection.js';
import { readSegmentMaxSpan } from './sqlite-sealer.js';
import { SEGMENT_META_COLUMNS, SegmentCache, lowerBound } from './segment-cache.js';
import type { DecodedSegmentEvents, SegmentMeta } from './segment-cache.js';
import { readHeadPosition } from './sqlite-writer.js';

/**
 * A hot row in {@link EVENT_COLUMNS} order, once {@link SqliteEventReader.run} has turned
 * its hex payload into bytes.
 */
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

/**
 * The columns of a hot row, in {@link EventRowOut} order. The payload comes as hex text:
 * the driver makes a Buffer (its own backing store) for every blob, which cost more than
 * half of a row's read; the hex strings of a page are written into one buffer instead.
 */
const EVENT_COLUMNS =
  'position, stream_id, version, type_id, schema_version, timestamp_us, frame_id, event_id, hex(payload), checksum';

const PAYLOAD = 8;

/**
 * Replaces the hex payload of each row by its bytes: one buffer for all the rows, and
 * a plain Uint8Array view of it per row (records keep their views, so the buffer is the
 * page's own).
 */
function payloadsFromHex(rows: unknown[][]): void {
  if (rows.length === 0) return;
  let hexLength = 0;
  for (const row of rows) hexLength += (row[PAYLOAD] as string).length;
  const bytes = Buffer.allocUnsafeSlow(hexLength >>> 1);
  let offset = 0;
  for (const row of rows) {
    const hex = row[PAYLOAD] as string;
    const length = bytes.write(hex, offset, 'hex');
    if (2 * length !== hex.length) {
      throw new StorageError('corrupt', `event row ${String(row[0])}: its payload is not hex`);
    }
    row[PAYLOAD] = new Uint8Array(bytes.buffer, bytes.byteOffset + offset, length);
    offset += length;
  }
}

/** `?, ?, ?` for `count` parameters. */
function placeholders(count: number): string {
  return new Array<string>(count).fill('?').join(', ');
}

/**
 * One ordered source of a page: the records of a decoded segment (live or archived) or
 * of hot rows, from index `i` up to `end` (exclusive), with their positions.
 */
interface PageSource {
  readonly positions: ArrayLike<number>;
  /** Record `i`, built on demand. */
  readonly at: (i: number) => StoredEventRecord;
  /** The type of event `i` without building its record. */
  readonly typeAt: (i: number) => string;
  i: number;
  readonly end: number;
}

/** Record and type accessors of a decoded segment: a live one's columns, or an archived one's. */
function accessorsOf(
  decoded: DecodedSegmentEvents | ColdSegmentEvents,
): Pick<PageSource, 'at' | 'typeAt'> {
  if ('columns' in decoded) {
    const { columns } = decoded;
    return { at: (i) => columns.record(i), typeAt: (i) => columns.typeAt(i) };
  }
  if ('events' in decoded) {
    const { events } = decoded;
    return { at: (i) => events[i]!, typeAt: (i) => events[i]!.type };
  }
  const cold = decoded;
  return {
    at: (i) => cold.record(i),
    typeAt: cold.typeAt === undefined ? (i) => cold.record(i).type : (i) => cold.typeAt!(i),
  };
}

/**
 * Appends to `out` the events of `sources` in position order (of the types in `types`,
 * when given), until `out` holds `limit`. Sources rarely interleave (a segment's range,
 * then the next, then hot rows), so the events are taken in runs: every event of the
 * source in front up to the next source's first position, with no comparison per event.
 */
function mergeSources(
  sources: PageSource[],
  out: StoredEventRecord[],
  limit: number,
  types: ReadonlySet<string> | undefined,
): void {
  while (out.length < limit) {
    let best: PageSource | undefined;
    let bestPosition = Infinity;
    let bound = Infinity;
    for (const source of sources) {
      if (source.i >= source.end) continue;
      const head = source.positions[source.i]!;
      if (head < bestPosition) {
        bound = bestPosition;
        best = source;
        bestPosition = head;
      } else if (head < bound) {
        bound = head;
      }
    }
    if (best === undefined) return;
    const { positions, at, typeAt, end } = best;
    // The front event is always taken (so equal positions could never stall the merge).
    let i = best.i;
    do {
      if (types === undefined || types.has(typeAt(i))) out.push(at(i));
      i++;
    } while (i < end && positions[i]! < bound && out.length < limit);
    best.i = i;
  }
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
  /** The read connection, each statement prepared once. */
  private readonly connection: SqliteConnection;

  private readonly segments: SegmentCache;

  constructor(
    connection: SqliteConnection,
    private readonly pageSize: number,
    private readonly ensureOpen: () => void,
    segmentCacheSize = 16,
    private readonly coldSegments?: ColdSegmentSource,
    private readonly checkRows = true,
  ) {
    this.connection = new CachingConnection(connection);
    this.segments = new SegmentCache(this.connection, segmentCacheSize);
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
    return this.connection.prepare(sql);
  }

  /** Hot rows of `sql` (selecting {@link EVENT_COLUMNS}), payloads as bytes. */
  private run(sql: string, parameters: readonly unknown[]): EventRowOut[] {
    this.ensureOpen();
    let rows: unknown[][];
    try {
      rows = this.statement(sql)
        .raw(true)
        .all(...parameters) as unknown[][];
    } catch (error) {
      throw toSqliteStorageError(error, 'read');
    }
    payloadsFromHex(rows);
    return rows as EventRowOut[];
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
      payload,
    };
  }

  /** The stream's version; 0 when unknown. */
  streamVersion(stream: string): number {
    validateStreamName(stream, 'stream');
    this.ensureOpen();
    try {
      const row = this.connection
        .prepare('select version from streams where name = ?')
        .pluck(true)
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
      const rows = this.run(
        `select ${EVENT_COLUMNS} from events where stream_id = ? and version >= ? and version <= ? ` +
          `order by version ${backwards ? 'desc' : 'asc'} limit ?`,
        [streamId, lo, hi, count],
      );
      for (const row of rows) out.push(this.toRecord(row));
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
        const { at } = accessorsOf(
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
        .raw(false)
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

  /**
   * The hot rows of positions `lo..hi` (filtered), in position order, at most `limit`.
   * `window`: the range is a bounded window, read by position (the stream filter then
   * never picks the (stream, version) index, which walks every hot row of the stream and
   * sorts them: ~15 ms a window with 330 000 hot rows, against 0.3 ms).
   */
  private hotRows(
    lo: number,
    hi: number,
    limit: number,
    types: readonly string[] | undefined,
    streams: readonly string[] | undefined,
    window = false,
  ): EventRowOut[] {
    let sql = `select ${EVENT_COLUMNS} from events where position >= ? and position <= ?`;
    const parameters: unknown[] = [lo, hi];
    if (types !== undefined) {
      sql += ` and type_id in (select id from event_types where name in (${placeholders(types.length)}))`;
      parameters.push(...types);
    }
    if (streams !== undefined) {
      sql += ` and ${window ? '+' : ''}stream_id in (select id from streams where name in (${placeholders(streams.length)}))`;
      parameters.push(...streams);
    }
    parameters.push(limit);
    return this.run(`${sql} order by position limit ?`, parameters);
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
      const hot = this.hotRows(a, b, limit - out.length, typeList, streams, true);
      if (metas.length === 0 && cold.length === 0) {
        for (const row of hot) out.push(this.toRecord(row));
        continue;
      }
      // Sources: the hot rows and each overlapping segment's slice, each in position order.
      const sources: PageSource[] = [];
      if (hot.length > 0) {
        // Hot rows come already filtered by type.
        const hotRecords = this.toRecords(hot);
        sources.push({
          at: (i) => hotRecords[i]!,
          typeAt: (i) => hotRecords[i]!.type,
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
        if (i < end)
          sources.push({ ...accessorsOf(decoded), positions: decoded.positions, i, end });
      }
      for (const meta of cold) {
        const stream = this.nameOf('streams', this.streamNames, meta.stream_id).text;
        const decoded = archivedEvents(this.coldSegments, meta, stream);
        const i = lowerBound(decoded.positions, a);
        const end = lowerBound(decoded.positions, b + 1);
        if (i < end)
          sources.push({ ...accessorsOf(decoded), positions: decoded.positions, i, end });
      }
      mergeSources(sources, out, limit, types);
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
