import type { Kysely } from 'kysely';

import type { Database, SessionStatus } from '../database.js';

/** A session as the repository returns it. */
export interface SessionRecord {
  readonly sessionId: string;
  /** Name of the session's stream. */
  readonly stream: string;
  readonly userId: string;
  readonly status: SessionStatus;
  readonly startedUs: number;
  readonly endedUs: number | null;
  /** Whether the session ended cleanly; null while it runs. */
  readonly cleanEnd: boolean | null;
  readonly totalEvents: number;
  readonly totalEnergy: number;
  readonly totalTokens: number;
  readonly updatedUs: number;
}

/** Filters of {@link SessionRepository.list}. */
export interface SessionListOptions {
  readonly status?: SessionStatus;
  readonly userId?: string;
  /** Default 100. */
  readonly limit?: number;
  readonly offset?: number;
}

/**
 * Reads sessions. Writes go through the writer as `session.upsert` / `session.end` row
 * writes, so they commit with the events they summarise.
 *
 * @example
 * ```ts
 * const sessions = new SessionRepository(storage.db);
 * for (const s of await sessions.listActive()) console.log(s.sessionId, s.totalEnergy);
 * ```
 */
export class SessionRepository {
  constructor(private readonly db: Kysely<Database>) {}

  private base() {
    return this.db
      .selectFrom('sessions')
      .innerJoin('streams', 'streams.id', 'sessions.stream_id')
      .select([
        'sessions.session_id',
        'streams.name as stream',
        'sessions.user_id',
        'sessions.status',
        'sessions.started_us',
        'sessions.ended_us',
        'sessions.clean_end',
        'sessions.total_events',
        'sessions.total_energy',
        'sessions.total_tokens',
        'sessions.updated_us',
      ]);
  }

  /** One session by its spec id. */
  async get(sessionId: string): Promise<SessionRecord | undefined> {
    const row = await this.base().where('sessions.session_id', '=', sessionId).executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  /** Sessions, newest start first. */
  async list(options: SessionListOptions = {}): Promise<SessionRecord[]> {
    let query = this.base();
    if (options.status !== undefined) query = query.where('sessions.status', '=', options.status);
    if (options.userId !== undefined) query = query.where('sessions.user_id', '=', options.userId);
    const rows = await query
      .orderBy('sessions.started_us', 'desc')
      .orderBy('sessions.session_id')
      .limit(options.limit ?? 100)
      .offset(options.offset ?? 0)
      .execute();
    return rows.map(toRecord);
  }

  /** Sessions still marked active: after a crash, the ones recovery must close or resume. */
  async listActive(): Promise<SessionRecord[]> {
    const rows = await this.base()
      .where('sessions.status', '=', 'active')
      .orderBy('sessions.started_us')
      .orderBy('sessions.session_id')
      .execute();
    return rows.map(toRecord);
  }
}

function toRecord(row: {
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
}): SessionRecord {
  return {
    sessionId: row.session_id,
    stream: row.stream,
    userId: row.user_id,
    status: row.status,
    startedUs: row.started_us,
    endedUs: row.ended_us,
    cleanEnd: row.clean_end === null ? null : row.clean_end !== 0,
    totalEvents: row.total_events,
    totalEnergy: row.total_energy,
    totalTokens: row.total_tokens,
    updatedUs: row.updated_us,
  };
}
