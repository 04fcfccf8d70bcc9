/**
 * Integrity checks: SQLite's own (`integrity_check` or `quick_check`: pages, indexes,
 * structure) plus ours, which SQLite cannot do: every event's checksum recomputed from
 * its contents, no gaps in positions, no gaps in any stream's versions, and each stream's
 * recorded version equal to its last event's.
 */
import { verifySegmentRow } from '@wirthforge/segments';
import { eventChecksum } from '@wirthforge/storage';
import type { EventRow } from '@wirthforge/storage';

import { archivedRanges } from './archived-segments.js';
import { toSqliteStorageError } from './errors.js';
import { SEGMENT_META_COLUMNS, decodeSegmentRow, describeSegment } from './segment-cache.js';
import type { SegmentMeta } from './segment-cache.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { mergePositionRanges, readPurgedPositions } from './sqlite-purge.js';
import type { PositionRange } from './sqlite-purge.js';

/** One problem found, with where it is. */
export type IntegrityProblem =
  | { readonly kind: 'sqlite'; readonly message: string }
  | {
      readonly kind: 'checksum';
      readonly message: string;
      readonly position: bigint;
      readonly stream: string;
      readonly version: bigint;
      readonly stored: number;
      readonly computed: number;
    }
  | {
      readonly kind: 'position_gap';
      readonly message: string;
      /** First missing position. */
      readonly from: bigint;
      /** Last missing position. */
      readonly to: bigint;
    }
  | {
      readonly kind: 'version_gap';
      readonly message: string;
      readonly stream: string;
      readonly from: bigint;
      readonly to: bigint;
    }
  | {
      readonly kind: 'stream_version';
      readonly message: string;
      readonly stream: string;
      /** `streams.version`. */
      readonly recorded: bigint;
      /** Version of the stream's last event. */
      readonly actual: bigint;
    }
  | { readonly kind: 'dangling_reference'; readonly message: string; readonly position: bigint }
  | {
      /** A sealed segment whose bytes fail their checksum, or disagree with its row. */
      readonly kind: 'segment';
      readonly message: string;
      readonly segmentId: number;
      readonly stream: string;
      /** First position the row says the segment holds. */
      readonly from: bigint;
      /** Last position the row says the segment holds. */
      readonly to: bigint;
    }
  | {
      /**
       * The WAL is damaged (found in the WAL itself), commits are missing (the
       * writer's head marker is ahead of the database), or an earlier open found either
       * and left a report beside the database (see `inspectSqliteWal`).
       */
      readonly kind: 'wal';
      readonly message: string;
      /** What was found. */
      readonly finding: 'wal_damaged' | 'commits_missing';
      /** The file that shows it: the WAL, the database, or the damage report. */
      readonly file: string;
    };

/** What {@link checkSqliteIntegrity} found. */
export interface IntegrityReport {
  /** True when no problem was found. */
  readonly ok: boolean;
  /** Whether SQLite's part was `quick_check` rather than `integrity_check`. */
  readonly quick: boolean;
  readonly problems: readonly IntegrityProblem[];
  /** True when more problems existed than {@link IntegrityCheckOptions.maxProblems}. */
  readonly truncated: boolean;
  readonly eventsChecked: number;
  readonly streamsChecked: number;
  readonly headPosition: bigint;
}

/** Options of {@link checkSqliteIntegrity}. */
export interface IntegrityCheckOptions {
  /** Use SQLite's faster `quick_check` (skips index content checks). Our checks always run. */
  readonly quick?: boolean;
  /** Stop collecting after this many problems (default 1000). */
  readonly maxProblems?: number;
  /** Rows per page of the scan (default 5000). */
  readonly pageSize?: number;
}

/** A scanned `events` row, as stored. */
type ScanRow = EventRow;

/** Ranges sealed into segments count as present: their contents are the archive's to verify. */
interface Sealed {
  readonly streamId: number;
  readonly firstPosition: number;
  readonly lastPosition: number;
  readonly firstVersion: number;
  readonly lastVersion: number;
}

/**
 * Runs every check on `connection` (synchronously; run it off the main thread for a big
 * database) and returns a report naming each problem with where it is.
 *
 * @example
 * ```ts
 * const report = checkSqliteIntegrity(connection, { quick: true });
 * for (const p of report.problems) console.error(p.kind, p.message);
 * ```
 */
export function checkSqliteIntegrity(
  connection: SqliteConnection,
  options: IntegrityCheckOptions = {},
): IntegrityReport {
  const quick = options.quick ?? false;
  const maxProblems = options.maxProblems ?? 1000;
  const pageSize = options.pageSize ?? 5000;
  const problems: IntegrityProblem[] = [];
  let truncated = false;
  const add = (problem: IntegrityProblem): void => {
    if (problems.length < maxProblems) problems.push(problem);
    else truncated = true;
  };

  // One read transaction for every query: a consistent snapshot while the writer goes on.
  const ownTransaction = !connection.inTransaction;
  try {
    if (ownTransaction) connection.exec('BEGIN');
    const sqlite = connection.pragma(quick ? 'quick_check' : 'integrity_check', {
      simple: false,
    }) as Record<string, string>[];
    for (const row of sqlite) {
      const message = Object.values(row)[0] ?? '';
      if (message !== 'ok') add({ kind: 'sqlite', message });
    }

    const streamNames = new Map<number, string>();
    const recorded = new Map<number, number>();
    for (const row of connection.prepare('select id, name, version from streams').all() as {
      id: number;
      name: string;
      version: number;
    }[]) {
      streamNames.set(row.id, row.name);
      recorded.set(row.id, row.version);
    }
    const typeNames = new Map<number, string>();
    for (const row of connection.prepare('select id, name from event_types').all() as {
      id: number;
      name: string;
    }[]) {
      typeNames.set(row.id, row.name);
    }
    const sealed = (
      connection
        .prepare(
          'select stream_id, first_position, last_position, first_version, last_version from segments',
        )
        .raw()
        .all() as number[][]
    ).map(([streamId, firstPosition, lastPosition, firstVersion, lastVersion]): Sealed => ({
      streamId: streamId!,
      firstPosition: firstPosition!,
      lastPosition: lastPosition!,
      firstVersion: firstVersion!,
      lastVersion: lastVersion!,
    }));
    // Ranges moved to archive partitions count as sealed: `@wirthforge/archive` verifies them.
    for (const a of archivedRanges(connection)) {
      sealed.push({
        streamId: a.stream_id,
        firstPosition: a.first_position,
        lastPosition: a.last_position,
        firstVersion: a.first_version,
        lastVersion: a.last_version,
      });
    }
    checkSegments(connection, streamNames, quick, add);
    // Purged positions (see sqlite-purge.ts) count as present too: they were removed on
    // purpose. Adjacent ranges (consecutive segments, purges) are merged first, so a gap
    // spanning several of them is covered.
    const coveredPositions = mergePositionRanges([
      ...sealed.map((s): PositionRange => [s.firstPosition, s.lastPosition]),
      ...readPurgedPositions(connection),
    ]);
    const positionSealed = (from: number, to: number): boolean =>
      coveredPositions.some(([first, last]) => first <= from && last >= to);
    const coveredVersions = new Map<number, PositionRange[]>();
    for (const s of sealed) {
      const list = coveredVersions.get(s.streamId) ?? [];
      list.push([s.firstVersion, s.lastVersion]);
      coveredVersions.set(s.streamId, list);
    }
    for (const [id, list] of coveredVersions) coveredVersions.set(id, mergePositionRanges(list));
    const versionSealed = (streamId: number, from: number, to: number): boolean =>
      (coveredVersions.get(streamId) ?? []).some(([first, last]) => first <= from && last >= to);

    const page = connection.prepare(
      'select position, stream_id, version, type_id, schema_version, timestamp_us, frame_id, ' +
        'event_id, payload, checksum from events where position > ? order by position limit ?',
    );
    const lastVersion = new Map<number, number>();
    let previous = 0;
    let events = 0;
    for (;;) {
      const rows = page.all(previous, pageSize) as ScanRow[];
      for (const row of rows) {
        events++;
        if (row.position !== previous + 1 && !positionSealed(previous + 1, row.position - 1)) {
          add({
            kind: 'position_gap',
            message: `positions ${previous + 1}..${row.position - 1} are missing`,
            from: BigInt(previous + 1),
            to: BigInt(row.position - 1),
          });
        }
        previous = row.position;
        const stream = streamNames.get(row.stream_id);
        const type = typeNames.get(row.type_id);
        if (stream === undefined || type === undefined) {
          add({
            kind: 'dangling_reference',
            message: `position ${row.position}: ${stream === undefined ? `stream id ${row.stream_id}` : `type id ${row.type_id}`} does not exist`,
            position: BigInt(row.position),
          });
          continue;
        }
        const expectedVersion = (lastVersion.get(row.stream_id) ?? 0) + 1;
        if (
          row.version !== expectedVersion &&
          !versionSealed(row.stream_id, expectedVersion, row.version - 1)
        ) {
          add({
            kind: 'version_gap',
            message: `stream ${stream}: versions ${expectedVersion}..${row.version - 1} are missing before position ${row.position}`,
            stream,
            from: BigInt(expectedVersion),
            to: BigInt(row.version - 1),
          });
        }
        lastVersion.set(row.stream_id, row.version);
        const computed = eventChecksum({
          position: row.position,
          stream,
          version: row.version,
          type,
          schemaVersion: row.schema_version,
          timestampUs: row.timestamp_us,
          frameId: row.frame_id,
          eventId: row.event_id,
          payload: row.payload,
        });
        if (computed !== row.checksum) {
          add({
            kind: 'checksum',
            message: `position ${row.position} (stream ${stream}, version ${row.version}): stored checksum ${row.checksum}, contents give ${computed}`,
            position: BigInt(row.position),
            stream,
            version: BigInt(row.version),
            stored: row.checksum,
            computed,
          });
        }
      }
      if (rows.length < pageSize) break;
    }

    for (const [id, version] of recorded) {
      const hot = lastVersion.get(id);
      const sealedMax = sealed
        .filter((s) => s.streamId === id)
        .reduce((max, s) => Math.max(max, s.lastVersion), 0);
      const actual = Math.max(hot ?? 0, sealedMax);
      if (actual !== version) {
        const stream = streamNames.get(id)!;
        add({
          kind: 'stream_version',
          message: `stream ${stream}: recorded version ${version}, last event has version ${actual}`,
          stream,
          recorded: BigInt(version),
          actual: BigInt(actual),
        });
      }
    }

    const sealedHead = sealed.reduce((max, s) => Math.max(max, s.lastPosition), 0);
    return {
      ok: problems.length === 0,
      quick,
      problems,
      truncated,
      eventsChecked: events,
      streamsChecked: recorded.size,
      headPosition: BigInt(Math.max(previous, sealedHead)),
    };
  } catch (error) {
    throw toSqliteStorageError(error, `integrity check of ${connection.name}`);
  } finally {
    if (ownTransaction && connection.inTransaction) connection.exec('COMMIT');
  }
}

/**
 * Checks every segment against its row: checksum and header always, the whole body
 * decoded too unless `quick`; and each stream's sealed versions chained without gaps or
 * overlaps. Damage is named by segment id, stream and position range.
 */
function checkSegments(
  connection: SqliteConnection,
  streamNames: ReadonlyMap<number, string>,
  quick: boolean,
  add: (problem: IntegrityProblem) => void,
): void {
  const metas = connection
    .prepare(`select ${SEGMENT_META_COLUMNS} from segments order by stream_id, first_version`)
    .all() as SegmentMeta[];
  const selectData = connection.prepare('select data from segments where id = ?').pluck();
  const archived = archivedRanges(connection).sort((x, y) => x.first_version - y.first_version);
  let previous: SegmentMeta | undefined;
  for (const meta of metas) {
    const stream = streamNames.get(meta.stream_id) ?? `#${meta.stream_id}`;
    const where = describeSegment(meta, stream);
    const problem = (message: string): IntegrityProblem => ({
      kind: 'segment',
      message,
      segmentId: meta.id,
      stream,
      from: BigInt(meta.first_position),
      to: BigInt(meta.last_position),
    });
    try {
      const data = selectData.get(meta.id) as Uint8Array;
      if (quick) {
        verifySegmentRow({ ...meta, data }, stream);
      } else {
        decodeSegmentRow(meta, stream, data);
      }
    } catch (error) {
      add(
        problem(
          quick ? `${where} is damaged: ${(error as Error).message}` : (error as Error).message,
        ),
      );
    }
    let first = previous?.stream_id === meta.stream_id ? previous.last_version + 1 : 1;
    // Versions moved to the archive before this segment are not missing.
    for (const a of archived) {
      if (a.stream_id === meta.stream_id && a.first_version === first) first = a.last_version + 1;
    }
    if (meta.first_version !== first) {
      add(
        problem(
          meta.first_version > first
            ? `${where}: stream ${stream} versions ${first}..${meta.first_version - 1} are missing before it`
            : `${where} overlaps the segment before it (stream ${stream} versions from ${meta.first_version}, expected ${first})`,
        ),
      );
    }
    previous = meta;
  }
}
