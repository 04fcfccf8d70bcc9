/**
 * Deleting data for good: a session's streams (or everything) out of every table, then
 * out of the file itself. `secure_delete` zeroes the freed content, a TRUNCATE checkpoint
 * empties the WAL, and `VACUUM` rebuilds the file without free pages, so no byte of the
 * removed events stays on disk in the database, its WAL or its free list.
 *
 * Positions stay gap-free for the integrity check and the head never rewinds: the
 * removed positions are recorded as ranges under the `metadata` key
 * {@link PURGED_POSITIONS_KEY} and count as present, like sealed ranges.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';

import { decodeSegment, encodeSegment, segmentRow } from '@wirthforge/segments';
import { StorageError, eventChecksum, type StoredEventRecord } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { acquireLockFile } from './lock-file.js';
import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';

/** `metadata` key holding the purged position ranges, as JSON `[[from, to], …]`. */
export const PURGED_POSITIONS_KEY = 'purged_positions';

/** An inclusive range of positions. */
export type PositionRange = readonly [from: number, to: number];

/** What to purge: some streams, or everything. */
export type PurgeTarget =
  | { readonly streams: readonly string[]; readonly all?: false }
  | { readonly all: true; readonly streams?: undefined };

/** Options of {@link purgeSqliteFile}. */
export interface PurgeOptions {
  /** Who asked, for the audit line (default `wfstate`). */
  readonly actor?: string;
  /** Clock of the audit line, microseconds since the epoch (default now). */
  readonly nowUs?: number;
  /** Busy timeout of the connection in ms (default 5000). */
  readonly busyTimeoutMs?: number;
}

/** What {@link purgeSqliteFile} removed. */
export interface PurgeReport {
  /** Streams removed (their rows in `streams` too). */
  readonly streams: readonly string[];
  /** Session ids whose rows (sessions, rollups) were removed. */
  readonly sessions: readonly string[];
  /** Users whose progress row was removed (the caller rebuilds those that still have events). */
  readonly users: readonly string[];
  /** Rows deleted per table. */
  readonly rows: {
    readonly events: number;
    readonly sessions: number;
    readonly snapshots: number;
    readonly segments: number;
    readonly rollups: number;
    readonly users: number;
    readonly streams: number;
    readonly audit: number;
    /** Stream-scoped `metadata` rows (keys ending in `:<stream>`, see {@link streamMetadataKeySuffix}). */
    readonly metadata: number;
    /**
     * `state.snapshot_created` events of the `system` stream (written there by stores
     * before the per-session marker streams) whose session id was replaced by
     * {@link REDACTED_SESSION_ID}: hot rows and events inside sealed segments.
     */
    readonly redactedMarkers: number;
  };
  /** Positions removed, as ranges. */
  readonly positions: readonly PositionRange[];
  /** Database file size before and after, in bytes. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** WAL size after the purge (0: emptied). */
  readonly walBytesAfter: number;
}

/** Merges ranges into sorted, disjoint, non-adjacent ones. */
export function mergePositionRanges(ranges: readonly PositionRange[]): PositionRange[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0]);
  const out: [number, number][] = [];
  for (const [from, to] of sorted) {
    const last = out[out.length - 1];
    if (last !== undefined && from <= last[1] + 1) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/** Ranges of a sorted list of positions. */
function toRanges(positions: readonly number[]): PositionRange[] {
  const out: [number, number][] = [];
  for (const p of positions) {
    const last = out[out.length - 1];
    if (last !== undefined && p === last[1] + 1) last[1] = p;
    else out.push([p, p]);
  }
  return out;
}

/**
 * The purged position ranges recorded in a database (empty when none).
 *
 * @throws StorageError `corrupt` when the recorded value is not a list of ranges.
 */
export function readPurgedPositions(connection: SqliteConnection): PositionRange[] {
  const value = connection
    .prepare('select value from metadata where key = ?')
    .pluck()
    .get(PURGED_POSITIONS_KEY) as string | undefined;
  if (value === undefined) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    parsed = undefined;
  }
  if (
    !Array.isArray(parsed) ||
    !parsed.every(
      (r): r is [number, number] =>
        Array.isArray(r) &&
        r.length === 2 &&
        Number.isSafeInteger(r[0]) &&
        Number.isSafeInteger(r[1]) &&
        (r[0] as number) <= (r[1] as number),
    )
  ) {
    throw new StorageError('corrupt', `metadata.${PURGED_POSITIONS_KEY} is not a list of ranges`);
  }
  return parsed;
}

function fileSize(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

function placeholders(count: number): string {
  return Array.from({ length: count }, () => '?').join(', ');
}

/** The rows part of a {@link PurgeReport}: what {@link deleteStreams} removed. */
export type PurgedRows = Omit<PurgeReport, 'bytesBefore' | 'bytesAfter' | 'walBytesAfter'>;

/** The stream-scoped `metadata` keys of `stream` end with this (e.g. a projection checkpoint). */
export function streamMetadataKeySuffix(stream: string): string {
  return `:${stream}`;
}

const USER_PREFIX = 'user-';
const SESSION_PREFIX = 'session-';
const SYSTEM_STREAM = 'system';
const MARKER_TYPE = 'state.snapshot_created';

/**
 * The session id a `state.snapshot_created` event of the `system` stream carries once
 * the session it named is purged (a valid id of the same length: the event keeps its
 * position, version, timestamp, checksum layout and data, and still decodes).
 */
export const REDACTED_SESSION_ID = '19700101T000000Z_000';

/**
 * The companion streams of `streams`: those named `<anything>:<stream>` (e.g. a
 * session's snapshot markers, `snapshots:session-<id>`), which belong to the stream and
 * are purged with it. Returns their rows, without the named streams themselves.
 */
function companionStreams(
  c: SqliteConnection,
  streams: readonly string[],
  exclude: ReadonlySet<string>,
): { id: number; name: string }[] {
  const select = c.prepare(
    'select id, name from streams where length(name) > length(?) and substr(name, -length(?)) = ?',
  );
  const out = new Map<number, { id: number; name: string }>();
  for (const stream of new Set(streams)) {
    const suffix = streamMetadataKeySuffix(stream);
    for (const row of select.all(suffix, suffix, suffix) as { id: number; name: string }[]) {
      if (!exclude.has(row.name)) out.set(row.id, row);
    }
  }
  return [...out.values()];
}

/** `payload` with every occurrence of one of `ids` replaced by {@link REDACTED_SESSION_ID}; undefined when none occurs. */
function redactPayload(payload: Uint8Array, ids: readonly Buffer[]): Uint8Array | undefined {
  const source = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  let out: Buffer | undefined;
  for (const id of ids) {
    let at = (out ?? source).indexOf(id);
    while (at >= 0) {
      out ??= Buffer.from(source);
      out.write(REDACTED_SESSION_ID, at, 'latin1');
      at = out.indexOf(id, at + id.byteLength);
    }
  }
  return out === undefined ? undefined : new Uint8Array(out);
}

/**
 * Replaces the session ids `sessionIds` in the `state.snapshot_created` events of the
 * `system` stream by {@link REDACTED_SESSION_ID}: the markers of stores from before the
 * per-session marker streams. Removing them would leave gaps in the stream's versions;
 * redacted, each keeps its position, version, type, timestamp and data (snapshot id,
 * sizes), and its row checksum, or its segment, is written anew. A session id is 20
 * ASCII characters and replaced by as many, so the MessagePack payload stays valid.
 * Returns how many events were redacted.
 */
function redactSystemMarkers(c: SqliteConnection, sessionIds: readonly string[]): number {
  if (sessionIds.length === 0) return 0;
  const streamId = c.prepare('select id from streams where name = ?').pluck().get(SYSTEM_STREAM) as
    number | undefined;
  const typeId = c.prepare('select id from event_types where name = ?').pluck().get(MARKER_TYPE) as
    number | undefined;
  if (streamId === undefined || typeId === undefined) return 0;
  const ids = [...new Set(sessionIds)]
    .filter((id) => id.length === REDACTED_SESSION_ID.length && id !== REDACTED_SESSION_ID)
    .map((id) => Buffer.from(id, 'latin1'));
  if (ids.length === 0) return 0;
  let redacted = 0;

  // Hot rows.
  const hot = c
    .prepare(
      'select position, version, schema_version, timestamp_us, frame_id, event_id, payload from events where stream_id = ? and type_id = ?',
    )
    .all(streamId, typeId) as {
    position: number;
    version: number;
    schema_version: number;
    timestamp_us: number;
    frame_id: number | null;
    event_id: string | null;
    payload: Uint8Array;
  }[];
  const updateRow = c.prepare('update events set payload = ?, checksum = ? where position = ?');
  for (const row of hot) {
    const payload = redactPayload(row.payload, ids);
    if (payload === undefined) continue;
    const checksum = eventChecksum({
      position: row.position,
      stream: SYSTEM_STREAM,
      version: row.version,
      type: MARKER_TYPE,
      schemaVersion: row.schema_version,
      timestampUs: row.timestamp_us,
      frameId: row.frame_id,
      eventId: row.event_id,
      payload,
    });
    updateRow.run(payload, checksum, row.position);
    redacted += 1;
  }

  // Sealed segments: each is decoded, and written anew (same id, ranges and count; a new
  // checksum, which also tells every segment cache that the row changed).
  const segments = c
    .prepare('select id, data from segments where stream_id = ? order by id')
    .all(streamId) as { id: number; data: Uint8Array }[];
  const updateSegment = c.prepare(
    'update segments set first_position = ?, last_position = ?, first_version = ?, last_version = ?, ' +
      'first_us = ?, last_us = ?, event_count = ?, codec_version = ?, checksum = ?, data = ? where id = ?',
  );
  for (const segment of segments) {
    let events: StoredEventRecord[];
    try {
      events = decodeSegment(segment.data).events;
    } catch (error) {
      throw new StorageError(
        'corrupt',
        `purge: segment ${segment.id} of stream ${SYSTEM_STREAM} cannot be read to redact the purged sessions' snapshot markers: ${(error as Error).message}`,
        { cause: error },
      );
    }
    let changed = 0;
    const rewritten = events.map((event) => {
      if (event.type !== MARKER_TYPE) return event;
      const payload = redactPayload(event.payload, ids);
      if (payload === undefined) return event;
      changed += 1;
      return { ...event, payload };
    });
    if (changed === 0) continue;
    const row = segmentRow(encodeSegment(rewritten).slice(), streamId);
    updateSegment.run(
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
      segment.id,
    );
    redacted += changed;
  }
  return redacted;
}

/** Deletes the stream-scoped metadata rows of `streams`; returns how many. */
function deleteStreamMetadata(c: SqliteConnection, streams: readonly string[]): number {
  const remove = c.prepare('delete from metadata where substr(key, -length(?)) = ?');
  let changes = 0;
  for (const stream of new Set(streams)) {
    const suffix = streamMetadataKeySuffix(stream);
    changes += remove.run(suffix, suffix).changes;
  }
  return changes;
}

/**
 * The deletions of a purge, in one `BEGIN IMMEDIATE` transaction on `c`: the streams
 * (or everything) out of every table, with their sessions, snapshots, segments and
 * sealed ids, rollups, the progress rows of their users, the stream-scoped `metadata`
 * rows of the streams and of those users' streams (keys ending in `:<stream>`: the
 * projection checkpoints, which would otherwise still count what was deleted); the
 * streams' companion streams (named `…:<stream>`: a session's snapshot markers,
 * `snapshots:session-<id>`); the purged sessions' ids in the `state.snapshot_created`
 * events older stores wrote to the `system` stream, replaced by
 * {@link REDACTED_SESSION_ID} (the events stay, so the stream keeps its versions); the
 * positions recorded as purged and an audit line. It does not rebuild the file: see
 * {@link purgeSqliteFile}, which also takes the writer lock. A writer that holds the
 * lock (the daemon) runs it on a connection of its own beside its writer, for streams
 * it no longer appends to.
 *
 * @throws StorageError `invalid_argument` when none of the named streams exists.
 */
export function deleteStreams(
  c: SqliteConnection,
  target: PurgeTarget,
  options: PurgeOptions & { readonly where?: string } = {},
): PurgedRows {
  if (target.all !== true && (!Array.isArray(target.streams) || target.streams.length === 0)) {
    throw new StorageError('invalid_argument', 'purge: name at least one stream, or all');
  }
  c.pragma('foreign_keys = ON');
  // Freed pages are overwritten with zeros, in the WAL and in the database.
  c.pragma('secure_delete = ON');
  c.exec('BEGIN IMMEDIATE');
  try {
    const streamRows = (
      target.all === true
        ? c.prepare('select id, name from streams order by id').all()
        : c
            .prepare(
              `select id, name from streams where name in (${placeholders(target.streams.length)}) order by id`,
            )
            .all(...target.streams)
    ) as { id: number; name: string }[];
    // The named streams' companions (`…:<stream>`, e.g. `snapshots:<stream>`) go with them.
    if (target.all !== true) {
      streamRows.push(
        ...companionStreams(c, target.streams, new Set(streamRows.map((r) => r.name))),
      );
    }
    if (target.all !== true && streamRows.length === 0) {
      throw new StorageError(
        'invalid_argument',
        `purge: no stream named ${target.streams.join(', ')} in ${options.where ?? 'the database'}`,
      );
    }
    const ids = streamRows.map((r) => r.id);
    const inIds = `(${placeholders(ids.length)})`;
    const sessionRows = (
      ids.length === 0
        ? []
        : c
            .prepare(`select session_id, user_id from sessions where stream_id in ${inIds}`)
            .all(...ids)
    ) as { session_id: string; user_id: string }[];
    const sessionIds = new Set(sessionRows.map((r) => r.session_id));
    for (const r of streamRows) {
      if (r.name.startsWith(SESSION_PREFIX)) sessionIds.add(r.name.slice(SESSION_PREFIX.length));
    }
    // A session whose stream is gone from the live file (archived) may still be named
    // by the markers of the `system` stream.
    const markerSessions = new Set(sessionIds);
    if (target.all !== true) {
      for (const name of target.streams) {
        if (name.startsWith(SESSION_PREFIX)) markerSessions.add(name.slice(SESSION_PREFIX.length));
      }
    }
    const users = [...new Set(sessionRows.map((r) => r.user_id))].sort();

    const positions =
      ids.length === 0
        ? []
        : (c
            .prepare(`select position from events where stream_id in ${inIds} order by position`)
            .pluck()
            .all(...ids) as number[]);
    const sealed = (
      ids.length === 0
        ? []
        : c
            .prepare(
              `select first_position, last_position from segments where stream_id in ${inIds}`,
            )
            .raw()
            .all(...ids)
    ) as [number, number][];
    const removed = mergePositionRanges([...toRanges(positions), ...sealed]);

    const run = (sql: string, ...params: unknown[]): number =>
      c.prepare(sql).run(...params).changes;
    const all = target.all === true;
    const sessionList = [...sessionIds];
    // Sealed event ids go with their segments (before the segments themselves).
    if (all) run('delete from sealed_event_ids');
    else {
      run(
        `delete from sealed_event_ids where segment_id in (select id from segments where stream_id in ${inIds})`,
        ...ids,
      );
    }
    const rows = {
      snapshots: all
        ? run('delete from snapshots')
        : run(`delete from snapshots where stream_id in ${inIds}`, ...ids),
      segments: all
        ? run('delete from segments')
        : run(`delete from segments where stream_id in ${inIds}`, ...ids),
      events: all
        ? run('delete from events')
        : run(`delete from events where stream_id in ${inIds}`, ...ids),
      sessions: all
        ? run('delete from sessions')
        : run(`delete from sessions where stream_id in ${inIds}`, ...ids),
      rollups: all
        ? run('delete from rollups')
        : sessionList.length === 0
          ? 0
          : run(
              `delete from rollups where session_id in (${placeholders(sessionList.length)})`,
              ...sessionList,
            ),
      users: all
        ? run('delete from users')
        : users.length === 0
          ? 0
          : run(`delete from users where user_id in (${placeholders(users.length)})`, ...users),
      streams: all
        ? run('delete from streams')
        : run(`delete from streams where id in ${inIds}`, ...ids),
      audit: all ? run('delete from audit') : 0,
      metadata: deleteStreamMetadata(c, [
        ...streamRows.map((r) => r.name),
        ...users.map((u) => USER_PREFIX + u),
      ]),
      redactedMarkers: all ? 0 : redactSystemMarkers(c, [...markerSessions]),
    };

    const head = Math.max(
      ...removed.map((r) => r[1]),
      ...readPurgedPositions(c).map((r) => r[1]),
      0,
    );
    const recorded = mergePositionRanges([
      ...readPurgedPositions(c),
      ...(all && head > 0 ? [[1, head] as const] : removed),
    ]);
    if (recorded.length > 0) {
      c.prepare(
        'insert into metadata (key, value) values (?, ?) on conflict (key) do update set value = excluded.value',
      ).run(PURGED_POSITIONS_KEY, JSON.stringify(recorded));
    }
    const streams = streamRows.map((r) => r.name);
    c.prepare(
      'insert into audit (timestamp_us, actor, action, target, details) values (?, ?, ?, ?, ?)',
    ).run(
      options.nowUs ?? Date.now() * 1000,
      options.actor ?? 'wfstate',
      'purge',
      all ? 'all' : streams.join(','),
      JSON.stringify({ rows, positions: removed.length }),
    );
    c.exec('COMMIT');
    return { streams, sessions: sessionList.sort(), users, rows, positions: removed };
  } catch (error) {
    if (c.inTransaction) c.exec('ROLLBACK');
    throw error;
  }
}

/**
 * Removes streams (with their sessions, snapshots, segments, rollups and the progress
 * rows of their users), or everything, from the database at `path` for good. Takes the
 * writer lock, so it refuses (`locked`) while another process writes the database.
 *
 * @example
 * ```ts
 * const report = purgeSqliteFile('/data/state.db', { streams: ['session-20250817T194800Z_001'] });
 * console.log(report.rows.events, report.bytesAfter);
 * ```
 */
export function purgeSqliteFile(
  path: string,
  target: PurgeTarget,
  options: PurgeOptions = {},
): PurgeReport {
  const database = resolve(path);
  if (!existsSync(database)) throw new StorageError('io', `no database at ${database}`);
  if (target.all !== true && (!Array.isArray(target.streams) || target.streams.length === 0)) {
    throw new StorageError('invalid_argument', 'purge: name at least one stream, or all');
  }
  const lock = acquireLockFile(database);
  let connection: SqliteConnection | undefined;
  try {
    const bytesBefore = fileSize(database);
    connection = openConnection(database, {
      fileMustExist: true,
      timeout: options.busyTimeoutMs ?? 5000,
    });
    const c = connection;
    c.pragma('journal_mode = WAL');
    const report = deleteStreams(c, target, { ...options, where: database });

    // Out of the WAL, then out of the free list, then out of the WAL again.
    c.pragma('wal_checkpoint(TRUNCATE)');
    c.exec('VACUUM');
    const checkpoint = c.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
    if (checkpoint[0]?.busy === 1) {
      throw new StorageError(
        'busy',
        `purge of ${database}: the data is deleted, but a reader kept the WAL from being emptied; ` +
          'close other readers and run `vacuum`',
      );
    }
    c.close();
    connection = undefined;
    return {
      ...report,
      bytesBefore,
      bytesAfter: fileSize(database),
      walBytesAfter: fileSize(`${database}-wal`),
    };
  } catch (error) {
    throw toSqliteStorageError(error, `purge of ${database}`);
  } finally {
    if (connection?.open === true) connection.close();
    lock.release();
  }
}
