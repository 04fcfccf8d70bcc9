import { toIsoMicros, type EventOfType } from '@wirthforge/events';
import type { RollupRow, RollupUpsert } from '@wirthforge/storage';
import { invalidArgument } from './errors.js';
import {
  MAD_SCALE,
  exponentialMovingAverage,
  medianAndMad,
  movingAverage,
  slope,
} from './rolling-stats.js';

/** Bucket widths of the rollups, in microseconds, by the `granularity` stored. */
export const ROLLUP_GRANULARITIES = Object.freeze({
  '1s': 1_000_000,
  '1m': 60_000_000,
  '1h': 3_600_000_000,
} as const);

/** A rollup granularity: `1s`, `1m` or `1h`. */
export type RollupGranularity = keyof typeof ROLLUP_GRANULARITIES;

/** The `model_id` of the rollup rows that cover every model of a session. */
export const ALL_MODELS = '*';

/**
 * One event as the analytics read it: the decoded event's type and data, with its
 * timestamp in microseconds (the stored column) and frame.
 */
export interface AnalyticsEvent {
  readonly type: string;
  readonly timestampUs: number;
  readonly frameId?: number | undefined;
  readonly data?: unknown;
}

/** Peak detection: a rolling robust baseline of each model's energy per update. */
export interface PeakDetectionOptions {
  /** Updates in the rolling window. Default 600 (10 s at 60 Hz). */
  readonly window?: number;
  /** Updates needed before anything is flagged. Default `window`. */
  readonly warmup?: number;
  /** Threshold = median + `k` × 1.4826 × MAD of the window. Default 6. */
  readonly k?: number;
  /** A peak is at least this many EU above the median, whatever the MAD. Default 1. */
  readonly minRise?: number;
  /** The threshold is recomputed every this many updates. Default 60. */
  readonly recomputeEvery?: number;
}

/** Anomaly detection on each model's series per second (energy, token rate). */
export interface AnomalyDetectionOptions {
  /** Seconds in the rolling window. Default 60. */
  readonly windowSeconds?: number;
  /** Seconds needed before anything is flagged (warm-up). Default `windowSeconds`. */
  readonly warmupSeconds?: number;
  /** Robust z-score from which a second is anomalous. Default 6. */
  readonly threshold?: number;
  /** Consecutive anomalous seconds that make an anomaly (one event per episode). Default 3. */
  readonly minRun?: number;
  /**
   * Floor of the MAD, as a fraction of the median's magnitude: a window of almost equal
   * values must not turn rounding into anomalies. Default 0.02.
   */
  readonly relativeMadFloor?: number;
  /** Absolute floor of the MAD. Default 1e-6. */
  readonly absoluteMadFloor?: number;
}

/** Options of {@link EnergyAnalytics}. */
export interface EnergyAnalyticsOptions {
  /** Granularities to roll up. Default all: `1s`, `1m`, `1h`. */
  readonly granularities?: readonly RollupGranularity[];
  /** An update with `fps` below this is a frame drop. Default 50. */
  readonly dropFps?: number;
  /** An update whose `frame_budget_used` (ms) reaches this is a frame drop. Default 16. */
  readonly dropBudgetMs?: number;
  /** Older buckets kept open per series for late events, besides the current one. Default 2. */
  readonly lateBuckets?: number;
  /** Peak detection, or `false`. */
  readonly peaks?: PeakDetectionOptions | false;
  /** Anomaly detection, or `false`. */
  readonly anomalies?: AnomalyDetectionOptions | false;
  /** Seconds of per-second history kept for {@link EnergyAnalytics.trends}. Default 3600. */
  readonly trendHistorySeconds?: number;
  /** Called with each `energy.peak` event detected (record it, e.g. with the recorder). */
  readonly onPeak?: (event: EventOfType<'energy.peak'>) => void;
  /** Called with each `energy.anomaly` event detected. */
  readonly onAnomaly?: (event: EventOfType<'energy.anomaly'>) => void;
}

/** One bucket of a rollup, as kept in memory and written as a `rollup.upsert`. */
export interface RollupBucket {
  readonly sessionId: string;
  readonly modelId: string;
  readonly granularity: RollupGranularity;
  readonly bucketStartUs: number;
  energySum: number;
  energyMin: number;
  energyMax: number;
  /** `energy.update` events in the bucket. */
  eventCount: number;
  /** `ai.output` events (one token each). */
  tokens: number;
  fpsSum: number;
  budgetSum: number;
  drops: number;
  /** Frame and timestamp of its latest update (for the events the detectors make). */
  lastFrameId: number;
  lastUs: number;
}

/** The trend of one series over one window. */
export interface SeriesTrend {
  /** Mean per second over the window. */
  readonly mean: number;
  /** Exponential moving average (`alpha = 2 / (window + 1)`). */
  readonly ema: number;
  /** Least-squares slope per step: per second for live trends, per bucket for `trendsOf`. */
  readonly slopePerStep: number;
}

/** Trends of a session's model (or {@link ALL_MODELS}) over one window. */
export interface TrendWindow {
  readonly windowSeconds: number;
  /** Seconds with activity the window holds (at most `windowSeconds`). */
  readonly seconds: number;
  readonly energy: SeriesTrend;
  readonly tokenRate: SeriesTrend;
}

/** Counters of what the analytics saw. */
export interface EnergyAnalyticsStats {
  readonly events: number;
  readonly peaks: number;
  readonly anomalies: number;
  /** Events for a bucket no longer open (older than `lateBuckets`), left out of the rollups. */
  readonly lateEvents: number;
  readonly sessions: number;
}

interface SecondSeries {
  readonly energy: number[];
  readonly tokens: number[];
}

class PeakState {
  readonly ring: Float64Array;
  count = 0;
  next = 0;
  sinceRecompute = 0;
  threshold = Number.NaN;
  median = Number.NaN;
  mad = Number.NaN;
  above = false;
  constructor(window: number) {
    this.ring = new Float64Array(window);
  }
}

class AnomalyState {
  readonly ring: Float64Array;
  readonly startsUs: Float64Array;
  count = 0;
  next = 0;
  run = 0;
  reported = false;
  constructor(window: number) {
    this.ring = new Float64Array(window);
    this.startsUs = new Float64Array(window);
  }
}

/** What one model of one session keeps. */
class ModelState {
  /** Open buckets per granularity, newest first. */
  readonly open: RollupBucket[][];
  readonly seconds: SecondSeries = { energy: [], tokens: [] };
  peak: PeakState | undefined;
  readonly anomalies = new Map<'energy' | 'token_rate', AnomalyState>();
  constructor(granularities: number) {
    this.open = Array.from({ length: granularities }, () => []);
  }
}

class SessionState {
  readonly models = new Map<string, ModelState>();
}

function newBucket(
  sessionId: string,
  modelId: string,
  granularity: RollupGranularity,
  bucketStartUs: number,
): RollupBucket {
  return {
    sessionId,
    modelId,
    granularity,
    bucketStartUs,
    energySum: 0,
    energyMin: Number.POSITIVE_INFINITY,
    energyMax: Number.NEGATIVE_INFINITY,
    eventCount: 0,
    tokens: 0,
    fpsSum: 0,
    budgetSum: 0,
    drops: 0,
    lastFrameId: 0,
    lastUs: bucketStartUs,
  };
}

/** The `rollup.upsert` row write of a bucket (min and max 0 for a bucket without updates). */
export function rollupWriteOf(bucket: RollupBucket): RollupUpsert {
  const any = bucket.eventCount > 0;
  return {
    kind: 'rollup.upsert',
    sessionId: bucket.sessionId,
    modelId: bucket.modelId,
    granularity: bucket.granularity,
    bucketStartUs: bucket.bucketStartUs,
    energySum: bucket.energySum,
    energyMin: any ? bucket.energyMin : 0,
    energyMax: any ? bucket.energyMax : 0,
    eventCount: bucket.eventCount,
    tokens: bucket.tokens,
    fpsSum: bucket.fpsSum,
    budgetSum: bucket.budgetSum,
    drops: bucket.drops,
  };
}

function positive(where: string, value: number, integer = true): number {
  if (!(value > 0) || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw invalidArgument(
      where,
      `expected a positive ${integer ? 'integer' : 'number'}, got ${value}`,
    );
  }
  return value;
}

/**
 * Energy analytics maintained incrementally, one commit at a time: rollups per session
 * and model (and all models, {@link ALL_MODELS}) per second, minute and hour; per-second
 * series for trends; peak detection on each model's updates and anomaly detection on
 * each model's seconds. {@link observe} takes a commit's events of one session and
 * returns the `rollup.upsert` writes of every bucket it changed, to commit with those
 * events: the rollups are as durable as the events, and outlive them when raw events
 * are archived or deleted.
 *
 * @example
 * ```ts
 * const analytics = new EnergyAnalytics({ onPeak: (peak) => recorder.record(peak) });
 * const writes = analytics.observe(sessionId, events); // RollupUpsert[]
 * analytics.trends(sessionId, ALL_MODELS, [10, 60, 300]);
 * ```
 */
export class EnergyAnalytics {
  readonly #granularities: readonly RollupGranularity[];
  readonly #widths: readonly number[];
  readonly #dropFps: number;
  readonly #dropBudgetMs: number;
  readonly #lateBuckets: number;
  readonly #peak: Required<PeakDetectionOptions> | undefined;
  readonly #anomaly: Required<AnomalyDetectionOptions> | undefined;
  readonly #history: number;
  readonly #onPeak: EnergyAnalyticsOptions['onPeak'];
  readonly #onAnomaly: EnergyAnalyticsOptions['onAnomaly'];
  readonly #sessions = new Map<string, SessionState>();
  #scratch = new Float64Array(64);
  #dirty = new Set<RollupBucket>();
  /** While replaying (a rebuild), detectors update their windows but emit nothing. */
  #silent = false;
  #events = 0;
  #peaks = 0;
  #anomalies = 0;
  #late = 0;

  constructor(options: EnergyAnalyticsOptions = {}) {
    this.#granularities = options.granularities ?? ['1s', '1m', '1h'];
    for (const g of this.#granularities) {
      if (!(g in ROLLUP_GRANULARITIES)) {
        throw invalidArgument('options.granularities', `${JSON.stringify(g)} is not 1s, 1m or 1h`);
      }
    }
    this.#widths = this.#granularities.map((g) => ROLLUP_GRANULARITIES[g]);
    this.#dropFps = options.dropFps ?? 50;
    this.#dropBudgetMs = options.dropBudgetMs ?? 16;
    this.#lateBuckets = options.lateBuckets ?? 2;
    this.#history = positive('options.trendHistorySeconds', options.trendHistorySeconds ?? 3600);
    if (options.peaks !== false) {
      const p = options.peaks ?? {};
      const window = positive('options.peaks.window', p.window ?? 600);
      this.#peak = {
        window,
        warmup: positive('options.peaks.warmup', p.warmup ?? window),
        k: positive('options.peaks.k', p.k ?? 6, false),
        minRise: p.minRise ?? 1,
        recomputeEvery: positive('options.peaks.recomputeEvery', p.recomputeEvery ?? 60),
      };
    }
    if (options.anomalies !== false) {
      const a = options.anomalies ?? {};
      const windowSeconds = positive('options.anomalies.windowSeconds', a.windowSeconds ?? 60);
      this.#anomaly = {
        windowSeconds,
        warmupSeconds: Math.min(
          windowSeconds,
          positive('options.anomalies.warmupSeconds', a.warmupSeconds ?? windowSeconds),
        ),
        threshold: positive('options.anomalies.threshold', a.threshold ?? 6, false),
        minRun: positive('options.anomalies.minRun', a.minRun ?? 3),
        relativeMadFloor: a.relativeMadFloor ?? 0.02,
        absoluteMadFloor: a.absoluteMadFloor ?? 1e-6,
      };
    }
    this.#onPeak = options.onPeak;
    this.#onAnomaly = options.onAnomaly;
  }

  /** The granularities rolled up. */
  get granularities(): readonly RollupGranularity[] {
    return this.#granularities;
  }

  /**
   * Folds one commit's events of a session in, in order, and returns the writes of the
   * buckets they changed. Events other than `energy.update` and `ai.output` change no
   * bucket; `system.end` closes the session's state (its rows stay).
   */
  observe(sessionId: string, events: Iterable<AnalyticsEvent>): RollupUpsert[] {
    let session = this.#sessions.get(sessionId);
    let ended = false;
    for (const event of events) {
      if (event.type === 'energy.update') {
        session ??= this.#session(sessionId);
        const data = event.data as EventOfType<'energy.update'>['data'];
        this.#update(
          session,
          sessionId,
          data.model_id,
          event,
          data.energy,
          data.fps,
          data.frame_budget_used,
          0,
        );
      } else if (event.type === 'ai.output') {
        session ??= this.#session(sessionId);
        const data = event.data as EventOfType<'ai.output'>['data'];
        this.#update(session, sessionId, data.model_id, event, Number.NaN, undefined, undefined, 1);
      } else if (event.type === 'system.end') {
        ended = true;
      }
    }
    const writes: RollupUpsert[] = [];
    for (const bucket of this.#dirty) writes.push(rollupWriteOf(bucket));
    this.#dirty.clear();
    if (ended) this.#sessions.delete(sessionId);
    return writes;
  }

  /**
   * Folds a session's stored events in again from nothing, without emitting peaks or
   * anomalies, and returns the writes of every bucket they make: to rebuild a session's
   * rollups (after a failed commit, or for events stored before the analytics ran).
   */
  rebuild(sessionId: string, pages: Iterable<Iterable<AnalyticsEvent>>): RollupUpsert[] {
    this.#sessions.delete(sessionId);
    const byKey = new Map<string, RollupUpsert>();
    this.#silent = true;
    try {
      for (const page of pages) {
        for (const write of this.observe(sessionId, page)) {
          byKey.set(
            `${write.modelId}\u0001${write.granularity}\u0001${write.bucketStartUs}`,
            write,
          );
        }
      }
    } finally {
      this.#silent = false;
    }
    return [...byKey.values()];
  }

  /** Whether a session has state in memory. */
  has(sessionId: string): boolean {
    return this.#sessions.has(sessionId);
  }

  /**
   * Takes up a session whose rollup rows were written before (by an earlier process):
   * the newest stored buckets of each model and granularity become its open buckets, so
   * the next events add to them instead of replacing them. Replaces any state in memory.
   * The detectors' windows start empty (a new warm-up).
   */
  resume(sessionId: string, rows: readonly RollupRow[]): void {
    const session = this.#session(sessionId);
    const keep = this.#lateBuckets + 1;
    const sorted = [...rows]
      .filter((row) => row.session_id === sessionId)
      .sort((a, b) => b.bucket_start_us - a.bucket_start_us);
    for (const row of sorted) {
      const g = this.#granularities.indexOf(row.granularity as RollupGranularity);
      if (g < 0) continue;
      const open = this.#model(session, row.model_id).open[g]!;
      if (open.length >= keep || open.some((b) => b.bucketStartUs === row.bucket_start_us)) {
        continue;
      }
      const any = row.event_count > 0;
      open.push({
        sessionId,
        modelId: row.model_id,
        granularity: row.granularity as RollupGranularity,
        bucketStartUs: row.bucket_start_us,
        energySum: row.energy_sum,
        energyMin: any ? row.energy_min : Number.POSITIVE_INFINITY,
        energyMax: any ? row.energy_max : Number.NEGATIVE_INFINITY,
        eventCount: row.event_count,
        tokens: row.tokens,
        fpsSum: row.fps_sum,
        budgetSum: row.budget_sum,
        drops: row.drops,
        lastFrameId: 0,
        lastUs: row.bucket_start_us,
      });
    }
  }

  /**
   * Where {@link resume} needs rows from, for events from `fromUs` on: per granularity,
   * the start of the oldest bucket that may still be open.
   */
  resumeBounds(
    fromUs: number,
  ): { readonly granularity: RollupGranularity; readonly fromUs: number }[] {
    return this.#granularities.map((granularity, g) => {
      const width = this.#widths[g]!;
      return { granularity, fromUs: (Math.floor(fromUs / width) - this.#lateBuckets) * width };
    });
  }

  /** Forgets the in-memory state of a session (its rows stay). */
  forget(sessionId: string): void {
    this.#sessions.delete(sessionId);
  }

  /** Sessions with state in memory. */
  sessions(): string[] {
    return [...this.#sessions.keys()];
  }

  /** Models seen in a session (without {@link ALL_MODELS}). */
  models(sessionId: string): string[] {
    return [...(this.#sessions.get(sessionId)?.models.keys() ?? [])].filter(
      (m) => m !== ALL_MODELS,
    );
  }

  /** The open buckets of a session's model at a granularity, newest first (copies). */
  openBuckets(sessionId: string, modelId: string, granularity: RollupGranularity): RollupUpsert[] {
    const g = this.#granularities.indexOf(granularity);
    const model = this.#sessions.get(sessionId)?.models.get(modelId);
    if (g < 0 || model === undefined) return [];
    return model.open[g]!.map(rollupWriteOf);
  }

  /**
   * Moving averages and slopes of a session's model (or {@link ALL_MODELS}) over the
   * last `windows` seconds with activity (closed seconds only), for energy per second
   * and tokens per second.
   */
  trends(
    sessionId: string,
    modelId: string = ALL_MODELS,
    windows: readonly number[] = [10, 60, 300],
  ): TrendWindow[] {
    const series = this.#sessions.get(sessionId)?.models.get(modelId)?.seconds;
    return windows.map((w) => {
      positive('windows[]', w);
      const energy = series?.energy ?? [];
      const tokens = series?.tokens ?? [];
      return {
        windowSeconds: w,
        seconds: Math.min(w, energy.length),
        energy: trendOf(energy, w),
        tokenRate: trendOf(tokens, w),
      };
    });
  }

  /** What the analytics saw so far. */
  stats(): EnergyAnalyticsStats {
    return {
      events: this.#events,
      peaks: this.#peaks,
      anomalies: this.#anomalies,
      lateEvents: this.#late,
      sessions: this.#sessions.size,
    };
  }

  #session(sessionId: string): SessionState {
    const session = new SessionState();
    this.#sessions.set(sessionId, session);
    return session;
  }

  #model(session: SessionState, modelId: string): ModelState {
    let model = session.models.get(modelId);
    if (model === undefined) {
      model = new ModelState(this.#granularities.length);
      session.models.set(modelId, model);
    }
    return model;
  }

  #update(
    session: SessionState,
    sessionId: string,
    modelId: string,
    event: AnalyticsEvent,
    energy: number,
    fps: number | undefined,
    budget: number | undefined,
    tokens: number,
  ): void {
    this.#events++;
    const isUpdate = tokens === 0;
    const drop =
      isUpdate &&
      ((fps !== undefined && fps < this.#dropFps) ||
        (budget !== undefined && budget >= this.#dropBudgetMs));
    const model = this.#model(session, modelId);
    const all = this.#model(session, ALL_MODELS);
    if (isUpdate && this.#peak !== undefined && !this.#silent)
      this.#detectPeak(sessionId, modelId, model, event, energy);
    else if (isUpdate && this.#peak !== undefined) this.#pushPeakWindow(model, energy);
    for (const state of [model, all]) {
      const id = state === model ? modelId : ALL_MODELS;
      for (let g = 0; g < this.#widths.length; g++) {
        const bucket = this.#bucket(state, sessionId, id, g, event.timestampUs);
        if (bucket === undefined) {
          if (state === model && g === 0) this.#late++;
          continue;
        }
        if (isUpdate) {
          bucket.energySum += energy;
          if (energy < bucket.energyMin) bucket.energyMin = energy;
          if (energy > bucket.energyMax) bucket.energyMax = energy;
          bucket.eventCount++;
          if (fps !== undefined) bucket.fpsSum += fps;
          if (budget !== undefined) bucket.budgetSum += budget;
          if (drop) bucket.drops++;
          if (event.timestampUs >= bucket.lastUs) {
            bucket.lastUs = event.timestampUs;
            if (event.frameId !== undefined) bucket.lastFrameId = event.frameId;
          }
        } else {
          bucket.tokens += tokens;
        }
        this.#dirty.add(bucket);
      }
    }
  }

  /** The open bucket of `timestampUs`, opening it (and closing old ones) when it is new. */
  #bucket(
    state: ModelState,
    sessionId: string,
    modelId: string,
    g: number,
    timestampUs: number,
  ): RollupBucket | undefined {
    const width = this.#widths[g]!;
    const start = Math.floor(timestampUs / width) * width;
    const open = state.open[g]!;
    const newest = open[0];
    if (newest !== undefined && newest.bucketStartUs === start) return newest;
    if (newest === undefined || start > newest.bucketStartUs) {
      const bucket = newBucket(sessionId, modelId, this.#granularities[g]!, start);
      open.unshift(bucket);
      if (open.length > this.#lateBuckets + 1) open.length = this.#lateBuckets + 1;
      // A second closed: its values join the per-second series.
      if (newest !== undefined && this.#granularities[g] === '1s')
        this.#secondClosed(state, newest);
      return bucket;
    }
    for (let i = 1; i < open.length; i++) {
      if (open[i]!.bucketStartUs === start) return open[i];
    }
    if (start > open[open.length - 1]!.bucketStartUs && open.length < this.#lateBuckets + 1) {
      // A gap bucket between the open ones (events out of order within the late window).
      const bucket = newBucket(sessionId, modelId, this.#granularities[g]!, start);
      open.push(bucket);
      open.sort((a, b) => b.bucketStartUs - a.bucketStartUs);
      return bucket;
    }
    return undefined;
  }

  #secondClosed(state: ModelState, second: RollupBucket): void {
    const { energy, tokens } = state.seconds;
    energy.push(second.energySum);
    tokens.push(second.tokens);
    if (energy.length > this.#history * 2) {
      energy.splice(0, energy.length - this.#history);
      tokens.splice(0, tokens.length - this.#history);
    }
    if (this.#anomaly !== undefined && second.modelId !== ALL_MODELS) {
      this.#detectAnomaly(state, second, 'energy', second.energySum);
      this.#detectAnomaly(state, second, 'token_rate', second.tokens);
    }
  }

  #pushPeakWindow(model: ModelState, energy: number): PeakState {
    const options = this.#peak!;
    const peak = (model.peak ??= new PeakState(options.window));
    peak.ring[peak.next] = energy;
    peak.next = (peak.next + 1) % options.window;
    if (peak.count < options.window) peak.count++;
    if (++peak.sinceRecompute >= options.recomputeEvery && peak.count >= options.warmup) {
      peak.sinceRecompute = 0;
      const window = peak.count < options.window ? peak.ring.subarray(0, peak.count) : peak.ring;
      const { median, mad } = medianAndMad(window, this.#scratchOf(peak.count));
      peak.median = median;
      peak.mad = mad;
      peak.threshold = median + Math.max(options.k * MAD_SCALE * mad, options.minRise);
    }
    return peak;
  }

  #detectPeak(
    sessionId: string,
    modelId: string,
    model: ModelState,
    event: AnalyticsEvent,
    energy: number,
  ): void {
    const peak = model.peak;
    const threshold = peak?.threshold ?? Number.NaN;
    const above = energy > threshold;
    if (above && peak !== undefined && !peak.above && event.frameId !== undefined) {
      this.#peaks++;
      const found: EventOfType<'energy.peak'> = {
        session_id: sessionId,
        timestamp: toIsoMicros(event.timestampUs),
        type: 'energy.peak',
        frame_id: event.frameId,
        data: {
          energy,
          threshold,
          model_id: modelId,
          context: `energy ${round(energy)} EU above the threshold ${round(threshold)} EU: median ${round(peak.median)} + max(${this.#peak!.k} x 1.4826 x MAD ${round(peak.mad)}, ${this.#peak!.minRise}) over the last ${peak.count} updates of ${modelId}`,
        },
      };
      if (this.#onPeak !== undefined) this.#onPeak(found);
    }
    // The peak itself joins the baseline only once it is over: a burst must not lift its own threshold.
    const state = this.#pushPeakWindow(model, energy);
    state.above = above;
  }

  #detectAnomaly(
    state: ModelState,
    second: RollupBucket,
    metric: 'energy' | 'token_rate',
    value: number,
  ): void {
    const options = this.#anomaly!;
    let a = state.anomalies.get(metric);
    if (a === undefined) {
      a = new AnomalyState(options.windowSeconds);
      state.anomalies.set(metric, a);
    }
    if (a.count >= options.warmupSeconds) {
      const window = a.count < options.windowSeconds ? a.ring.subarray(0, a.count) : a.ring;
      const { median, mad } = medianAndMad(window, this.#scratchOf(a.count));
      const floor = Math.max(options.absoluteMadFloor, options.relativeMadFloor * Math.abs(median));
      const score = (value - median) / (MAD_SCALE * Math.max(mad, floor));
      if (Math.abs(score) >= options.threshold) {
        a.run++;
        if (a.run >= options.minRun && !a.reported && !this.#silent) {
          a.reported = true;
          this.#anomalies++;
          let oldest = Number.POSITIVE_INFINITY;
          for (let i = 0; i < a.count; i++) oldest = Math.min(oldest, a.startsUs[i]!);
          const found: EventOfType<'energy.anomaly'> = {
            session_id: second.sessionId,
            timestamp: toIsoMicros(second.lastUs),
            type: 'energy.anomaly',
            frame_id: second.lastFrameId,
            data: {
              metric,
              model_id: second.modelId,
              value,
              median,
              mad,
              score,
              threshold: options.threshold,
              direction: score > 0 ? 'high' : 'low',
              window_size: a.count,
              window_seconds: (second.bucketStartUs - oldest) / 1_000_000,
              window_start: toIsoMicros(oldest),
            },
          };
          if (this.#onAnomaly !== undefined) this.#onAnomaly(found);
        }
      } else {
        a.run = 0;
        a.reported = false;
      }
    }
    a.ring[a.next] = value;
    a.startsUs[a.next] = second.bucketStartUs;
    a.next = (a.next + 1) % options.windowSeconds;
    if (a.count < options.windowSeconds) a.count++;
  }

  #scratchOf(n: number): Float64Array {
    if (this.#scratch.length < n) this.#scratch = new Float64Array(n);
    return this.#scratch;
  }
}

function trendOf(values: readonly number[], window: number): SeriesTrend {
  return {
    mean: movingAverage(values, window),
    ema: exponentialMovingAverage(values, window),
    slopePerStep: slope(values, window),
  };
}

function round(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}
