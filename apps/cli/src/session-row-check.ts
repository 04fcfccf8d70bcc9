/**
 * The `sessions` row a session's events give, and the differences from the stored one.
 * The row is written by the event store's inline projection in the same transaction as
 * the events; a difference means a projection bug, an interrupted repair or an edit
 * behind the store's back.
 */
import { parseIsoMicros } from '@wirthforge/events';
import type { SessionSummary } from '@wirthforge/eventstore';
import type { SessionRecord, SessionStatus } from '@wirthforge/storage';

/** A field of the row that differs. */
export interface RowDifference {
  readonly field: string;
  readonly stored: unknown;
  readonly replayed: unknown;
}

/** The row fields the summary gives (as the event store's session projection writes them). */
export function expectedSessionRow(
  summary: SessionSummary,
): Omit<SessionRecord, 'sessionId' | 'stream' | 'updatedUs'> | undefined {
  if (summary.status === 'not_started' || summary.started_at === null) return undefined;
  return {
    userId: summary.user_id ?? 'default',
    status:
      summary.status === 'active'
        ? 'active'
        : summary.end_reason === 'recovered'
          ? 'recovered'
          : 'ended',
    startedUs: Math.max(0, parseIsoMicros(summary.started_at)),
    endedUs: summary.ended_at === null ? null : Math.max(0, parseIsoMicros(summary.ended_at)),
    cleanEnd: summary.clean_shutdown,
    totalEvents: summary.total_events,
    totalEnergy: summary.total_energy,
    totalTokens: summary.tokens,
  };
}

/** Every field where the stored row and the replayed summary disagree (exactly). */
export function compareSessionRow(
  stored: SessionRecord | undefined,
  summary: SessionSummary,
): RowDifference[] {
  const expected = expectedSessionRow(summary);
  if (expected === undefined && stored === undefined) return [];
  if (expected === undefined)
    return [{ field: 'row', stored: 'present', replayed: 'no session start' }];
  if (stored === undefined) return [{ field: 'row', stored: 'missing', replayed: 'present' }];
  const out: RowDifference[] = [];
  for (const [field, value] of Object.entries(expected)) {
    const actual = (stored as unknown as Record<string, unknown>)[field];
    if (!Object.is(actual, value)) out.push({ field, stored: actual, replayed: value });
  }
  return out;
}

/**
 * A `sessions` row joined with its stream's name, as SQLite returns it. `verify` reads
 * the rows on the same raw connection and in the same read transaction as the head and
 * the archive catalogue, where the repositories (Kysely, another connection) cannot go;
 * every other reader uses storage's `SessionRepository`.
 */
export interface RawSessionRow {
  session_id: string;
  stream: string;
  user_id: string;
  status: SessionStatus;
  started_us: number;
  ended_us: number | null;
  clean_end: number | null;
  total_events: number;
  total_energy: number;
  total_tokens: number;
  updated_us: number;
}

/** The SQL selecting {@link RawSessionRow}s (append a `where` as needed). */
export const SESSION_ROWS_SQL =
  'select s.*, st.name as stream from sessions s join streams st on st.id = s.stream_id';

/** A raw row as the repositories' {@link SessionRecord}. */
export function toSessionRecord(r: RawSessionRow): SessionRecord {
  return {
    sessionId: r.session_id,
    stream: r.stream,
    userId: r.user_id,
    status: r.status,
    startedUs: r.started_us,
    endedUs: r.ended_us,
    cleanEnd: r.clean_end === null ? null : r.clean_end !== 0,
    totalEvents: r.total_events,
    totalEnergy: r.total_energy,
    totalTokens: r.total_tokens,
    updatedUs: r.updated_us,
  };
}
