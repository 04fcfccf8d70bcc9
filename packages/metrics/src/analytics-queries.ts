import { parseIsoMicros, userStream, type EventOfType } from '@wirthforge/events';
import type { EventStore } from '@wirthforge/eventstore';
import type { RollupRow, SessionRepository } from '@wirthforge/storage';
import {
  ALL_MODELS,
  ROLLUP_GRANULARITIES,
  type RollupGranularity,
  type SeriesTrend,
} from './energy-analytics.js';
import { invalidArgument } from './errors.js';
import { exponentialMovingAverage, movingAverage, slope } from './rolling-stats.js';

/** One bucket of a user's (or a session's) energy, as a dashboard plots it. */
export interface RollupPoint {
  readonly bucketStartUs: number;
  readonly energySum: number;
  readonly energyMin: number;
  readonly energyMax: number;
  /** `energySum / updates`; 0 without updates. */
  readonly energyMean: number;
  /** `energy.update` events. */
  readonly updates: number;
  readonly tokens: number;
  /** Mean `fps` of the updates; 0 without updates. */
  readonly meanFps: number;
  /** Mean `frame_budget_used` (ms) over the frame budget (16.67 ms); 0 without updates. */
  readonly budgetUse: number;
  /** Updates that were frame drops. */
  readonly drops: number;
  /** Sessions in the bucket. */
  readonly sessions: number;
}

/** Options of {@link AnalyticsQueries.rollups}. */
export interface RollupQuery {
  /** A user's sessions (`userId`) or one session (`sessionId`). */
  readonly userId?: string;
  readonly sessionId?: string;
  /** Default `1m`. */
  readonly granularity?: RollupGranularity;
  /** Default {@link ALL_MODELS}. */
  readonly modelId?: string;
  /** Inclusive start, microseconds since the epoch. */
  readonly fromUs: number;
  /** Exclusive end. */
  readonly toUs: number;
}

/** One day of a user's use. */
export interface UsageDay {
  /** `YYYY-MM-DD` (UTC, shifted by the offset asked for). */
  readonly day: string;
  /** Sessions started that day. */
  readonly sessionsStarted: number;
  readonly energy: number;
  readonly tokens: number;
  /** Seconds with at least one update or token (from the `1s` rollups). */
  readonly activeSeconds: number;
}

/** One level the user reached. */
export interface LevelStep {
  readonly level: number;
  readonly levelName: string;
  readonly timestampUs: number;
  readonly sessionId: string;
}

const FRAME_BUDGET_MS = 1000 / 60;

/** The store's `Kysely<Database>` (e.g. `SqliteStorage.db`), as the storage repositories take it. */
export type StoreDatabase = ConstructorParameters<typeof SessionRepository>[0];

function pointOf(rows: readonly RollupRow[]): RollupPoint {
  let energySum = 0;
  let energyMin = Number.POSITIVE_INFINITY;
  let energyMax = Number.NEGATIVE_INFINITY;
  let updates = 0;
  let tokens = 0;
  let fpsSum = 0;
  let budgetSum = 0;
  let drops = 0;
  for (const row of rows) {
    energySum += row.energy_sum;
    if (row.event_count > 0) {
      energyMin = Math.min(energyMin, row.energy_min);
      energyMax = Math.max(energyMax, row.energy_max);
    }
    updates += row.event_count;
    tokens += row.tokens;
    fpsSum += row.fps_sum;
    budgetSum += row.budget_sum;
    drops += row.drops;
  }
  return {
    bucketStartUs: rows[0]!.bucket_start_us,
    energySum,
    energyMin: updates > 0 ? energyMin : 0,
    energyMax: updates > 0 ? energyMax : 0,
    energyMean: updates > 0 ? energySum / updates : 0,
    updates,
    tokens,
    meanFps: updates > 0 ? fpsSum / updates : 0,
    budgetUse: updates > 0 ? budgetSum / updates / FRAME_BUDGET_MS : 0,
    drops,
    sessions: rows.length,
  };
}

/**
 * The read side of the energy analytics: rollups of a user or a session over a time
 * range, usage per day, level progression and trends, on the store's `Kysely<Database>`
 * (SQLite's read connection or the memory dialect's).
 *
 * A user's rollups are read in two indexed steps: the user's sessions that overlap the
 * range (a few hundred rows for months of use), then each session's buckets through the
 * `rollups` primary key `(session_id, model_id, granularity, bucket_start_us)`, a range
 * seek per session.
 *
 * @example
 * ```ts
 * const queries = new AnalyticsQueries(storage.db);
 * const now = Date.now() * 1000;
 * const day = await queries.rollups({ userId: 'ada', fromUs: now - 86_400_000_000, toUs: now });
 * ```
 */
export class AnalyticsQueries {
  constructor(readonly db: StoreDatabase) {}

  /** Sessions of a user that overlap `[fromUs, toUs)`. */
  async sessionsOf(userId: string, fromUs: number, toUs: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('sessions')
      .select('session_id')
      .where('user_id', '=', userId)
      .where('started_us', '<', toUs)
      .where((eb) => eb.or([eb('ended_us', 'is', null), eb('ended_us', '>=', fromUs)]))
      .execute();
    return rows.map((row) => row.session_id);
  }

  /** The raw rollup rows of the query, ordered by bucket then session. */
  async rollupRows(query: RollupQuery): Promise<RollupRow[]> {
    const { fromUs, toUs } = query;
    if (!Number.isSafeInteger(fromUs) || !Number.isSafeInteger(toUs) || toUs < fromUs) {
      throw invalidArgument('query', 'fromUs and toUs must be integers with fromUs <= toUs');
    }
    const granularity = query.granularity ?? '1m';
    if (!(granularity in ROLLUP_GRANULARITIES)) {
      throw invalidArgument(
        'query.granularity',
        `${JSON.stringify(granularity)} is not 1s, 1m or 1h`,
      );
    }
    let sessions: string[];
    if (query.sessionId !== undefined) sessions = [query.sessionId];
    else if (query.userId !== undefined)
      sessions = await this.sessionsOf(query.userId, fromUs, toUs);
    else throw invalidArgument('query', 'give a userId or a sessionId');
    if (sessions.length === 0) return [];
    const rows: RollupRow[] = [];
    // Bounded IN lists keep each statement's parameters well under SQLite's limit.
    for (let i = 0; i < sessions.length; i += 500) {
      rows.push(
        ...(await this.db
          .selectFrom('rollups')
          .selectAll()
          .where('session_id', 'in', sessions.slice(i, i + 500))
          .where('model_id', '=', query.modelId ?? ALL_MODELS)
          .where('granularity', '=', granularity)
          .where('bucket_start_us', '>=', fromUs)
          .where('bucket_start_us', '<', toUs)
          .execute()),
      );
    }
    rows.sort(
      (a, b) => a.bucket_start_us - b.bucket_start_us || (a.session_id < b.session_id ? -1 : 1),
    );
    return rows;
  }

  /** The query's buckets, sessions merged: one point per bucket with activity, in time order. */
  async rollups(query: RollupQuery): Promise<RollupPoint[]> {
    const rows = await this.rollupRows(query);
    const points: RollupPoint[] = [];
    let i = 0;
    while (i < rows.length) {
      let j = i + 1;
      while (j < rows.length && rows[j]!.bucket_start_us === rows[i]!.bucket_start_us) j++;
      points.push(pointOf(rows.slice(i, j)));
      i = j;
    }
    return points;
  }

  /**
   * Sessions, energy, tokens and active time per day of a user over `[fromUs, toUs)`.
   * Days are UTC shifted by `offsetMinutes` (the user's time zone).
   */
  async usageByDay(
    userId: string,
    fromUs: number,
    toUs: number,
    offsetMinutes = 0,
  ): Promise<UsageDay[]> {
    const shiftUs = offsetMinutes * 60_000_000;
    const dayOf = (us: number): string =>
      new Date(Math.floor((us + shiftUs) / 1000)).toISOString().slice(0, 10);
    const days = new Map<
      string,
      { sessionsStarted: number; energy: number; tokens: number; activeSeconds: number }
    >();
    const at = (day: string) => {
      let entry = days.get(day);
      if (entry === undefined)
        days.set(day, (entry = { sessionsStarted: 0, energy: 0, tokens: 0, activeSeconds: 0 }));
      return entry;
    };
    const started = await this.db
      .selectFrom('sessions')
      .select(['started_us'])
      .where('user_id', '=', userId)
      .where('started_us', '>=', fromUs)
      .where('started_us', '<', toUs)
      .execute();
    for (const row of started) at(dayOf(row.started_us)).sessionsStarted++;
    for (const row of await this.rollupRows({ userId, granularity: '1h', fromUs, toUs })) {
      const entry = at(dayOf(row.bucket_start_us));
      entry.energy += row.energy_sum;
      entry.tokens += row.tokens;
    }
    const seconds = await this.rollupRows({ userId, granularity: '1s', fromUs, toUs });
    for (const row of seconds) at(dayOf(row.bucket_start_us)).activeSeconds++;
    return [...days.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([day, entry]) => ({ day, ...entry }));
  }

  /** The levels a user unlocked, in order, from the `experience.level_unlock` events of their stream. */
  async levelProgression(
    store: Pick<EventStore, 'readStream'>,
    userId: string,
  ): Promise<LevelStep[]> {
    const steps: LevelStep[] = [];
    for await (const { event } of store.readStream(userStream(userId))) {
      if (event.type !== 'experience.level_unlock') continue;
      const unlock = event as EventOfType<'experience.level_unlock'>;
      steps.push({
        level: unlock.data.level,
        levelName: unlock.data.level_name,
        timestampUs: parseIsoMicros(unlock.timestamp),
        sessionId: unlock.session_id,
      });
    }
    return steps;
  }
}

/**
 * Moving averages and slopes of a series of points (rollups of one granularity), per
 * bucket: energy per bucket and tokens per bucket over the last `window` points.
 */
export function trendsOf(
  points: readonly RollupPoint[],
  window: number,
): { readonly energy: SeriesTrend; readonly tokenRate: SeriesTrend } {
  if (!Number.isInteger(window) || window < 1)
    throw invalidArgument('window', 'expected a positive integer');
  const energy = points.map((p) => p.energySum);
  const tokens = points.map((p) => p.tokens);
  return {
    energy: {
      mean: movingAverage(energy, window),
      ema: exponentialMovingAverage(energy, window),
      slopePerStep: slope(energy, window),
    },
    tokenRate: {
      mean: movingAverage(tokens, window),
      ema: exponentialMovingAverage(tokens, window),
      slopePerStep: slope(tokens, window),
    },
  };
}
