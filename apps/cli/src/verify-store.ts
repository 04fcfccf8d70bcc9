/**
 * Every check the CLI runs on a store, each problem named with where it is:
 *
 * - SQLite's own check (`quick_check`, or `integrity_check` when deep), every event's
 *   checksum, gaps in positions and stream versions (storage-sqlite's integrity check);
 * - foreign keys (`foreign_key_check`);
 * - energy conservation: each `energy.update`'s `accumulator` equals the running sum of
 *   the session's `energy` within 0.01 EU, and `system.end`'s `total_energy` too;
 * - each session row equals what its events give (events, energy, tokens, times, status);
 * - deep: each session's model contributions sum to its total within 0.01 EU, each user's
 *   energy and session count equal their sessions', and at each granularity a session's
 *   rollups sum to its energy — the rows of all models together, and those of each model
 *   apart (each covers every update once, so the two are never added up).
 */
import { openArchive } from '@wirthforge/archive';
import type { ArchiveProblem } from '@wirthforge/archive';
import { createSnapshotStore } from '@wirthforge/snapshots';
import { decodeEvent, isUnknownEvent, tryParseStreamName } from '@wirthforge/events';
import type { ProjectionEvent } from '@wirthforge/eventstore';
import { energyProjection, sessionSummaryProjection, sumValue } from '@wirthforge/eventstore';
import type { EnergyProjectionState, SessionSummary } from '@wirthforge/eventstore';
import { ALL_MODELS } from '@wirthforge/metrics';
import type { SessionRecord, UserRecord } from '@wirthforge/storage';
import {
  archivedHeadPosition,
  checkSqliteFileIntegrity,
  hasArchivedSegments,
} from '@wirthforge/storage-sqlite';
import type { IntegrityProblem } from '@wirthforge/storage-sqlite';

import type { ReadOnlyStore } from './open-store.js';

/** Where an archive problem is: the partition, and the segment when it is one segment's. */
function archiveWhere(problem: ArchiveProblem): string {
  return problem.fromPosition === undefined
    ? `partition ${problem.partition}`
    : `partition ${problem.partition} positions ${problem.fromPosition}..${problem.toPosition} (stream ${problem.stream ?? '?'})`;
}
import { SESSION_ROWS_SQL, compareSessionRow, toSessionRecord } from './session-row-check.js';
import type { RawSessionRow } from './session-row-check.js';

/** Energy differences up to this many EU are rounding, not loss. */
export const ENERGY_TOLERANCE_EU = 0.01;

/** Kinds of problem `verify` reports. */
export type VerifyProblemKind =
  | IntegrityProblem['kind']
  | 'foreign_key'
  | 'undecodable'
  | 'energy_conservation'
  | 'end_totals'
  | 'session_totals'
  | 'model_contributions'
  | 'user_totals'
  | 'rollup_totals'
  | 'snapshot'
  | 'archive';

/** One problem, with where it is. */
export interface VerifyProblem {
  readonly kind: VerifyProblemKind;
  /** Where: `position 17`, `session 20250817T194800Z_001`, `sessions rowid 3`, `sqlite`. */
  readonly where: string;
  readonly message: string;
}

/** What {@link verifyStore} found. */
export interface VerifyReport {
  readonly ok: boolean;
  readonly deep: boolean;
  readonly headPosition: bigint;
  readonly eventsChecked: number;
  readonly sessionsChecked: number;
  readonly usersChecked: number;
  /** Snapshots loaded and checked (checksum, decoding, stream, position, upcast). */
  readonly snapshotsChecked: number;
  /** Archive partitions and their segments checked (each segment decoded). */
  readonly archive: { readonly partitions: number; readonly segments: number };
  readonly problems: readonly VerifyProblem[];
  /** More problems existed than were kept. */
  readonly truncated: boolean;
}

/** Options of {@link verifyStore}. */
export interface VerifyOptions {
  readonly deep?: boolean;
  readonly maxProblems?: number;
  readonly onProgress?: (position: number) => void;
}

interface SessionCheck {
  readonly sessionId: string;
  summary: SessionSummary;
  energy: EnergyProjectionState | undefined;
  running: number;
  /** Problems of energy conservation in this session (the first is reported in full). */
  drift: number;
  firstDrift: VerifyProblem | undefined;
}

function whereOf(problem: IntegrityProblem): string {
  switch (problem.kind) {
    case 'sqlite':
      return 'sqlite';
    case 'checksum':
    case 'dangling_reference':
      return `position ${problem.position}`;
    case 'position_gap':
      return `positions ${problem.from}..${problem.to}`;
    case 'version_gap':
    case 'stream_version':
      return `stream ${problem.stream}`;
    case 'segment':
      return `segment ${problem.segmentId} (stream ${problem.stream}, positions ${problem.from}..${problem.to})`;
    default:
      // A kind added by a newer storage check: its message says where.
      return 'storage';
  }
}

/**
 * The energy of a session's rollup rows at one granularity: the rows of
 * {@link ALL_MODELS} (`allModels` 1) and the rows of each model (`allModels` 0) are
 * summed apart, since each covers every update once.
 */
interface RollupTotal {
  readonly session_id: string;
  readonly granularity: string;
  readonly allModels: 0 | 1;
  readonly energy: number;
}

const ROLLUP_TOTALS_SQL =
  'select session_id, granularity, model_id = ? as allModels, sum(energy_sum) as energy ' +
  'from rollups group by session_id, granularity, allModels ' +
  'order by session_id, granularity, allModels desc';

interface RowSnapshot {
  readonly head: bigint;
  readonly sessions: Map<string, SessionRecord>;
  readonly users: UserRecord[];
  readonly retired: ReadonlySet<string>;
  /** Read only when deep; rows are written with their events, so they match the head. */
  readonly rollups: readonly RollupTotal[];
}

/** The head, the session rows, the user rows and the rollup totals, read in one transaction. */
function readRowSnapshot(open: ReadOnlyStore, deep: boolean): RowSnapshot {
  const c = open.storage.connection;
  c.exec('BEGIN');
  try {
    const hot = c.prepare('select max(position) from events').pluck().get() as number | null;
    const sealed = c.prepare('select max(last_position) from segments').pluck().get() as
      number | null;
    const sessionRows = c.prepare(SESSION_ROWS_SQL).all() as RawSessionRow[];
    const userRows = c.prepare('select * from users order by user_id').all() as {
      user_id: string;
      level: number;
      xp: number;
      total_energy: number;
      sessions_count: number;
      updated_us: number;
    }[];
    // Sessions whose archived events a retention policy deleted: their rows outlive them.
    const retired = hasArchivedSegments(c)
      ? (c
          .prepare(
            'select distinct s.name from archived_segments a join streams s on s.id = a.stream_id where a.deleted_us is not null',
          )
          .pluck()
          .all() as string[])
      : [];
    const rollups = deep ? (c.prepare(ROLLUP_TOTALS_SQL).all(ALL_MODELS) as RollupTotal[]) : [];
    return {
      head: BigInt(Math.max(hot ?? 0, sealed ?? 0, archivedHeadPosition(c))),
      rollups,
      retired: new Set(retired),
      sessions: new Map(sessionRows.map((r) => [r.stream, toSessionRecord(r)])),
      users: userRows.map((u) => ({
        userId: u.user_id,
        level: u.level,
        xp: u.xp,
        totalEnergy: u.total_energy,
        sessionsCount: u.sessions_count,
        updatedUs: u.updated_us,
      })),
    };
  } finally {
    c.exec('COMMIT');
  }
}

/** Runs every check on the open store (read-only: safe while the daemon writes). */
export async function verifyStore(
  open: ReadOnlyStore,
  options: VerifyOptions = {},
): Promise<VerifyReport> {
  const deep = options.deep === true;
  const maxProblems = options.maxProblems ?? 1000;
  const problems: VerifyProblem[] = [];
  let truncated = false;
  const add = (problem: VerifyProblem): void => {
    if (problems.length < maxProblems) problems.push(problem);
    else truncated = true;
  };

  const integrity = await checkSqliteFileIntegrity(open.storage.path, {
    quick: !deep,
    maxProblems,
  });
  for (const p of integrity.problems) add({ kind: p.kind, where: whereOf(p), message: p.message });
  truncated ||= integrity.truncated;

  const fk = open.storage.connection.pragma('foreign_key_check') as {
    table: string;
    rowid: number | null;
    parent: string;
  }[];
  for (const row of fk) {
    add({
      kind: 'foreign_key',
      where: `${row.table} rowid ${row.rowid ?? '?'}`,
      message: `${row.table} row ${row.rowid ?? '?'} refers to a missing row of ${row.parent}`,
    });
  }

  // The archive partitions: each file, its checksum, every segment decoded, the catalog.
  const archive = openArchive({ databasePath: open.storage.path });
  let archiveReport;
  try {
    archiveReport = archive.verify();
  } finally {
    archive.close();
  }
  for (const p of archiveReport.problems) {
    add({ kind: 'archive', where: archiveWhere(p), message: `${p.kind}: ${p.message}` });
  }

  // The rows and the head from one read transaction: the rows are then exactly the fold
  // of the events up to that head, however much the daemon writes meanwhile.
  const snapshot = readRowSnapshot(open, deep);
  const head = snapshot.head;
  const sessions = new Map<string, SessionCheck>();
  let events = 0;
  // A damaged archive segment stops the scan of the events; the checks that need every
  // event are then left out (the damage is named above, their findings would be noise).
  let scanned = true;
  let reached = 0n;
  try {
    for await (const record of open.storage.readAll({ toPosition: head })) {
      events++;
      reached = record.position;
      if ((events & 4095) === 0) options.onProgress?.(Number(record.position));
      const parsed = tryParseStreamName(record.stream);
      if (parsed?.kind !== 'session') continue;
      let event: ProjectionEvent;
      try {
        event = decodeEvent(record, { sessionId: parsed.sessionId });
      } catch (error) {
        // Named here and by the checksum check; the session's folds go on without it.
        add({
          kind: 'undecodable',
          where: `position ${record.position}`,
          message: `stream ${record.stream} version ${record.version}: ${(error as Error).message}`,
        });
        continue;
      }
      let check = sessions.get(record.stream);
      if (check === undefined) {
        check = {
          sessionId: parsed.sessionId,
          summary: sessionSummaryProjection.initialState(),
          energy: deep ? energyProjection.initialState() : undefined,
          running: 0,
          drift: 0,
          firstDrift: undefined,
        };
        sessions.set(record.stream, check);
      }
      check.summary = sessionSummaryProjection.evolveInPlace(check.summary, event, record);
      if (check.energy !== undefined)
        check.energy = energyProjection.evolveInPlace(check.energy, event, record);
      if (isUnknownEvent(event)) {
        // A type this release does not know: counted in the summary, nothing to check.
      } else if (event.type === 'energy.update') {
        const data = event.data as { energy: number; accumulator: number };
        check.running += data.energy;
        if (Math.abs(data.accumulator - check.running) > ENERGY_TOLERANCE_EU) {
          check.drift++;
          check.firstDrift ??= {
            kind: 'energy_conservation',
            where: `session ${check.sessionId} position ${record.position}`,
            message: `accumulator ${data.accumulator} but the energy of the session's updates sums to ${check.running.toFixed(6)} (off by ${(data.accumulator - check.running).toFixed(6)} EU)`,
          };
        }
      } else if (event.type === 'system.end') {
        const total = (event.data as { total_energy?: number }).total_energy;
        const sum = sumValue(check.summary.energy_sum);
        if (typeof total === 'number' && Math.abs(total - sum) > ENERGY_TOLERANCE_EU) {
          add({
            kind: 'end_totals',
            where: `session ${check.sessionId} position ${record.position}`,
            message: `system.end says total_energy ${total}, the session's updates sum to ${sum.toFixed(6)}`,
          });
        }
      }
    }
  } catch (error) {
    if (archiveReport.ok) throw error;
    scanned = false;
    add({
      kind: 'archive',
      where: `events after position ${reached}`,
      message: `the events could not all be read past the damaged archive (${(error as Error).message}); energy, session, user and rollup checks were left out`,
    });
  }
  options.onProgress?.(Number(head));

  let usersChecked = 0;
  if (scanned) {
    const rows = snapshot.sessions;
    for (const [stream, check] of sessions) {
      if (check.firstDrift !== undefined) {
        add({
          ...check.firstDrift,
          message:
            check.drift > 1
              ? `${check.firstDrift.message}; ${check.drift} update(s) disagree in this session`
              : check.firstDrift.message,
        });
      }
      const differences = compareSessionRow(rows.get(stream), check.summary);
      if (differences.length > 0) {
        add({
          kind: 'session_totals',
          where: `session ${check.sessionId}`,
          message: `the sessions row disagrees with the events: ${differences
            .map((d) => `${d.field} stored ${String(d.stored)}, events give ${String(d.replayed)}`)
            .join('; ')}`,
        });
      }
      if (check.energy !== undefined) {
        const total = sumValue(check.energy.total_energy);
        const parts = check.energy.model_contributions.reduce((s, m) => s + sumValue(m.energy), 0);
        if (Math.abs(total - parts) > ENERGY_TOLERANCE_EU) {
          add({
            kind: 'model_contributions',
            where: `session ${check.sessionId}`,
            message: `model contributions sum to ${parts.toFixed(6)} EU, the total is ${total.toFixed(6)} EU`,
          });
        }
      }
    }
    for (const [stream, row] of rows) {
      if (!sessions.has(stream) && row.totalEvents > 0 && !snapshot.retired.has(stream)) {
        add({
          kind: 'session_totals',
          where: `session ${row.sessionId}`,
          message: `the sessions row counts ${row.totalEvents} event(s), the log holds none`,
        });
      }
    }

    if (deep) {
      const byUser = new Map<string, { energy: number; sessions: number }>();
      for (const check of sessions.values()) {
        // A session belongs to the user of its system.start; events before one count for nobody.
        const user = check.summary.user_id;
        if (user === null) continue;
        const entry = byUser.get(user) ?? { energy: 0, sessions: 0 };
        entry.energy += check.summary.total_energy;
        entry.sessions += 1;
        byUser.set(user, entry);
      }
      for (const user of snapshot.users) {
        usersChecked++;
        const expected = byUser.get(user.userId) ?? { energy: 0, sessions: 0 };
        if (Math.abs(user.totalEnergy - expected.energy) > ENERGY_TOLERANCE_EU) {
          add({
            kind: 'user_totals',
            where: `user ${user.userId}`,
            message: `users row has total_energy ${user.totalEnergy}, the user's sessions sum to ${expected.energy.toFixed(6)}`,
          });
        }
        if (user.sessionsCount !== expected.sessions) {
          add({
            kind: 'user_totals',
            where: `user ${user.userId}`,
            message: `users row counts ${user.sessionsCount} session(s), the log holds ${expected.sessions}`,
          });
        }
      }
      const totals = new Map<string, number>();
      for (const check of sessions.values())
        totals.set(check.sessionId, check.summary.total_energy);
      for (const r of snapshot.rollups) {
        const total = totals.get(r.session_id) ?? 0;
        if (Math.abs(total - r.energy) > ENERGY_TOLERANCE_EU) {
          const all = r.allModels === 1;
          add({
            kind: 'rollup_totals',
            where: `rollups ${r.session_id} ${r.granularity} ${all ? 'all models' : 'per model'}`,
            message: `the ${r.granularity} rollups of ${all ? 'all models' : 'each model'} sum to ${r.energy.toFixed(6)} EU, the session's events to ${total.toFixed(6)} EU`,
          });
        }
      }
    }
  }

  // Snapshots: each one loaded and checked as a recovery would (a bad one is never loaded).
  const snapshotReport = await createSnapshotStore(open.store).verify();
  for (const bad of snapshotReport.bad) {
    add({
      kind: 'snapshot',
      where: `snapshot ${bad.id} of ${bad.stream}`,
      message: `${bad.reason}: ${bad.message}`,
    });
  }

  return {
    ok: problems.length === 0 && !truncated,
    deep,
    headPosition: head,
    eventsChecked: events,
    sessionsChecked: sessions.size,
    usersChecked,
    snapshotsChecked: snapshotReport.checked,
    archive: { partitions: archiveReport.partitions, segments: archiveReport.segments },
    problems,
    truncated,
  };
}
