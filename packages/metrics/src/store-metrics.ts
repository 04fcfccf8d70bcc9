import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { decodeEvent, isUnknownEvent } from '@wirthforge/events';
import type {
  FrameAck,
  Recorder,
  RecorderFailure,
  RecorderOptions,
  RecorderRejection,
} from '@wirthforge/eventstore';
import type {
  AppendBatchOptions,
  AppendBatchResult,
  EventStorage,
  RollupRow,
  RowWrite,
  StreamAppend,
} from '@wirthforge/storage';
import type { StoreDatabase } from './analytics-queries.js';
import type { Counter } from './counter.js';
import {
  EnergyAnalytics,
  type AnalyticsEvent,
  type EnergyAnalyticsOptions,
} from './energy-analytics.js';
import { invalidArgument } from './errors.js';
import type { Histogram } from './histogram.js';
import { METRIC_NAMES } from './metric-names.js';
import { MetricRegistry } from './metric-registry.js';
import type { MetricsSnapshot, ValueSeries } from './metric-types.js';
import { toPrometheusText } from './prometheus-text.js';

/** Jobs whose durations other packages report with {@link StoreMetrics.recordOperation}. */
export type OperationKind =
  | 'snapshot'
  | 'seal'
  | 'archive'
  | 'retention'
  | 'backup'
  | 'checkpoint'
  | 'integrity_check'
  | 'vacuum';

/** What a frame over budget is blamed on, where known. */
export type OverBudgetCause = OperationKind | 'commit' | 'encode' | 'unknown';

/** Storage sizes tracked: the database file, its WAL, the archive and the snapshots. */
export type StorageKind = 'database' | 'wal' | 'archive' | 'snapshots';

/** Where the files are, for the size and growth gauges. */
export interface StorageFiles {
  /** The SQLite file; its `-wal` file is measured too. */
  readonly database?: string;
  /** Directory of archive partitions (every file under it). */
  readonly archive?: string;
  /** Directory of snapshot files, if they live outside the database. */
  readonly snapshots?: string;
}

/** Options of {@link createStoreMetrics}. */
export interface StoreMetricsOptions {
  /** Registry to register into. Default a new one. */
  readonly registry?: MetricRegistry;
  /** Energy analytics riding on commits (rollups, trends, peaks, anomalies), or `false`. */
  readonly analytics?: EnergyAnalyticsOptions | false;
  /** Files whose sizes are reported. */
  readonly files?: StorageFiles;
  /** The frame budget of the write path, in ms: a commit acknowledged later is over budget. Default 1000 / 60. */
  readonly frameBudgetMs?: number;
  /** Watch the event loop's delay (`monitorEventLoopDelay`). Default `true`. */
  readonly eventLoop?: boolean;
  /** Milliseconds since the epoch, for growth rates and commit rates (tests). Default `Date.now`. */
  readonly now?: () => number;
}

/** A storage that can also checkpoint and back up (SQLite's), instrumented when present. */
interface MaintainedStorage {
  checkpoint?(
    mode?: string,
  ): Promise<{ busy: boolean; logFrames: number; checkpointedFrames: number }>;
  backup?(destination: string, options?: unknown): Promise<unknown>;
}

/**
 * The metrics of one store, and what feeds them. Create it with {@link createStoreMetrics},
 * then wire it: `instrumentStorage` around the storage given to `createEventStore`,
 * `recorderOptions` for `createRecorder` and `observeRecorder` with the recorder made.
 */
export interface StoreMetrics {
  readonly registry: MetricRegistry;
  /** The energy analytics, unless turned off. */
  readonly analytics: EnergyAnalytics | undefined;
  /**
   * The storage with every commit measured (duration, batch size, events by type,
   * errors by code) and, with analytics on, the rollup writes of its events added to the
   * very batch that stores them. `checkpoint()` and `backup()` are measured when the
   * storage has them; everything else passes through.
   */
  instrumentStorage<S extends EventStorage>(storage: S): S;
  /** `options` for `createRecorder`, with `onAck`, `onReject` and `onError` also feeding the metrics. */
  recorderOptions(options?: RecorderOptions): RecorderOptions;
  /** Reads the recorder's counters and queue at each collection. */
  observeRecorder(recorder: Recorder): void;
  /** One frame's main-thread recording cost, as the frame loop measured it. */
  observeFrameCost(ms: number): void;
  /** One run of a job: its duration, and whether it failed. */
  recordOperation(kind: OperationKind, ms: number, outcome?: 'ok' | 'error'): void;
  /** Runs a job, measuring it with {@link recordOperation} (failures counted, rethrown). */
  timeOperation<T>(kind: OperationKind, fn: () => T | Promise<T>): Promise<T>;
  /** Counts an error by its `code` (or its name), per component. */
  recordError(error: unknown, component?: string): void;
  /** Reports a size measured elsewhere (e.g. snapshots kept in the database). */
  setSize(kind: StorageKind, bytes: number): void;
  /** Frames over budget so far, by cause. */
  overBudget(): Readonly<Record<string, number>>;
  /** Every metric now. */
  snapshot(): MetricsSnapshot;
  /** Every metric now, in the Prometheus text format. */
  prometheus(): string;
  /** Stops the event-loop monitor. */
  close(): void;
}

function errorCode(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code.length > 0) return code;
    const name = (error as { name?: unknown }).name;
    if (typeof name === 'string' && name.length > 0) return name;
  }
  return 'unknown';
}

function fileSize(file: string): number | undefined {
  try {
    return fs.statSync(file).size;
  } catch {
    return undefined;
  }
}

function directorySize(dir: string): number | undefined {
  let total = 0;
  try {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
      if (entry.isFile()) total += fileSize(path.join(entry.parentPath, entry.name)) ?? 0;
    }
  } catch {
    return undefined;
  }
  return total;
}

const SESSION_PREFIX = 'session-';

class StoreMetricsImpl implements StoreMetrics {
  readonly registry: MetricRegistry;
  readonly analytics: EnergyAnalytics | undefined;
  readonly #now: () => number;
  readonly #budgetMs: number;
  readonly #files: StorageFiles;
  readonly #loop: IntervalHistogram | undefined;
  readonly #recorders: Recorder[] = [];

  readonly #rejected: Counter;
  readonly #committed: Counter;
  readonly #frameCost: Histogram;
  readonly #commitTask: Histogram;
  readonly #durable: Histogram;
  readonly #commitDuration: Histogram;
  readonly #batchSize: Histogram;
  readonly #commits: Counter;
  readonly #checkpoints: Counter;
  readonly #checkpointFrames: Counter;
  readonly #operations: Histogram;
  readonly #errors: Counter;
  readonly #overBudget: Counter;
  readonly #peaks: Counter;
  readonly #anomalies: Counter;
  readonly #rollupWrites: Counter;
  readonly #analyticsCost: Histogram;

  /** Commits per whole second, for the commit rate: [second, count] pairs, newest last. */
  readonly #commitSeconds: [number, number][] = [];
  /** Size samples per kind, for growth per hour: [ms, bytes], at most one a minute. */
  readonly #sizeSamples = new Map<StorageKind, [number, number][]>();
  readonly #reportedSizes = new Map<StorageKind, number>();
  /** Jobs running now and ended lately: [kind, startMs, endMs] (performance.now). */
  readonly #jobs: { kind: OperationKind; start: number; end: number }[] = [];

  // Commit repair after a failed batch (the analytics' speculative state is then wrong).
  #inFlight = 0;
  readonly #idle: (() => void)[] = [];
  #gate: Promise<void> | undefined;
  /** Sessions whose stored buckets are being loaded. */
  readonly #resuming = new Set<string>();

  constructor(options: StoreMetricsOptions) {
    const registry = (this.registry = options.registry ?? new MetricRegistry());
    this.#now = options.now ?? Date.now;
    this.#budgetMs = options.frameBudgetMs ?? 1000 / 60;
    this.#files = options.files ?? {};
    const stat = (pick: (stats: ReturnType<Recorder['stats']>) => number) => (): ValueSeries[] => {
      let value = 0;
      for (const recorder of this.#recorders) value += pick(recorder.stats());
      return this.#recorders.length === 0 ? [] : [{ labels: {}, value }];
    };
    registry.counter({
      name: METRIC_NAMES.eventsRecorded,
      help: 'Events given to the recorder (record and append)',
      unit: '{event}',
      collect: stat((s) => s.recorded),
    });
    registry.counter({
      name: METRIC_NAMES.eventsAccepted,
      help: 'Events the recorder queued and did not reject',
      unit: '{event}',
      collect: stat((s) => s.accepted),
    });
    registry.counter({
      name: METRIC_NAMES.eventsCoalesced,
      help: 'Events stored as part of aggregate events under backpressure',
      unit: '{event}',
      collect: stat((s) => s.coalesced),
    });
    registry.counter({
      name: METRIC_NAMES.eventsFiltered,
      help: 'Events dropped on purpose by the pipeline (dropTypes, filter)',
      unit: '{event}',
      collect: stat((s) => s.filtered),
    });
    registry.counter({
      name: METRIC_NAMES.eventsFailed,
      help: 'Accepted events lost: their commit failed or the codec refused them',
      unit: '{event}',
      collect: stat((s) => s.failed),
    });
    this.#rejected = registry.counter({
      name: METRIC_NAMES.eventsRejected,
      help: 'Events the recorder refused, by reason and event type',
      unit: '{event}',
      labelNames: ['reason', 'event.type'],
    });
    this.#committed = registry.counter({
      name: METRIC_NAMES.eventsCommitted,
      help: 'Events committed by the store, by event type',
      unit: '{event}',
      labelNames: ['event.type'],
    });
    this.#frameCost = registry.histogram({
      name: METRIC_NAMES.frameCost,
      help: 'Main-thread cost of recording one frame (record calls and endFrame), as the frame loop measured it',
      unit: 's',
    });
    this.#commitTask = registry.histogram({
      name: METRIC_NAMES.commitTask,
      help: "Main-thread time of a commit's task after its frame (enrich, validate, route, encode)",
      unit: 's',
    });
    this.#durable = registry.histogram({
      name: METRIC_NAMES.durableLatency,
      help: 'From the first record() of a frame to its durable commit',
      unit: 's',
    });
    registry.gauge({
      name: METRIC_NAMES.queueDepth,
      help: 'Commits waiting for the writer or being committed',
      unit: '{commit}',
      collect: stat((s) => s.pendingFrames),
    });
    registry.gauge({
      name: METRIC_NAMES.backpressure,
      help: 'Whether telemetry is being coalesced now (1) or not (0)',
      unit: '1',
      collect: stat((s) => (s.backpressure ? 1 : 0)),
    });
    this.#commitDuration = registry.histogram({
      name: METRIC_NAMES.commitDuration,
      help: 'Duration of storage operations: a commit (appendBatch) from the call to its result',
      unit: 's',
      labelNames: ['db.system.name', 'db.operation.name'],
    });
    this.#batchSize = registry.histogram({
      name: METRIC_NAMES.batchSize,
      help: 'Events in one commit',
      unit: '{event}',
      resolution: 1,
    });
    this.#commits = registry.counter({
      name: METRIC_NAMES.commits,
      help: 'Commits, by outcome',
      unit: '{commit}',
      labelNames: ['outcome'],
    });
    registry.gauge({
      name: METRIC_NAMES.commitRate,
      help: 'Commits per second over the last 10 whole seconds',
      unit: '1/s',
      collect: () => this.#commitRate(),
    });
    registry.gauge({
      name: METRIC_NAMES.storageSize,
      help: 'Bytes on disk, by kind (database, wal, archive, snapshots)',
      unit: 'By',
      labelNames: ['kind'],
      collect: () => this.#sizeSeries(),
    });
    registry.gauge({
      name: METRIC_NAMES.storageGrowth,
      help: 'Growth in bytes per hour over the last hour of samples, by kind',
      unit: 'By/h',
      labelNames: ['kind'],
      collect: () => this.#growthSeries(),
    });
    registry.gauge({
      name: METRIC_NAMES.walSize,
      help: 'Bytes of the write-ahead log',
      unit: 'By',
      collect: () =>
        this.#files.database === undefined
          ? undefined
          : (fileSize(`${this.#files.database}-wal`) ?? 0),
    });
    this.#checkpoints = registry.counter({
      name: METRIC_NAMES.checkpoints,
      help: 'WAL checkpoints asked for, by mode and result (done, busy, error)',
      unit: '{checkpoint}',
      labelNames: ['mode', 'result'],
    });
    this.#checkpointFrames = registry.counter({
      name: METRIC_NAMES.checkpointFrames,
      help: 'WAL frames copied back into the database by checkpoints',
      unit: '{frame}',
    });
    this.#operations = registry.histogram({
      name: METRIC_NAMES.operationDuration,
      help: 'Duration of jobs: snapshot, seal, archive, retention, backup, checkpoint, …',
      unit: 's',
      labelNames: ['operation', 'outcome'],
    });
    this.#errors = registry.counter({
      name: METRIC_NAMES.errors,
      help: 'Errors, by code (error.type) and component',
      unit: '{error}',
      labelNames: ['error.type', 'component'],
    });
    this.#overBudget = registry.counter({
      name: METRIC_NAMES.framesOverBudget,
      help: 'Commits acknowledged later than one frame after their first event, by cause',
      unit: '{frame}',
      labelNames: ['cause'],
    });
    this.#peaks = registry.counter({
      name: METRIC_NAMES.peaks,
      help: 'energy.peak events detected',
      unit: '{event}',
    });
    this.#anomalies = registry.counter({
      name: METRIC_NAMES.anomalies,
      help: 'energy.anomaly events detected',
      unit: '{event}',
    });
    registry.counter({
      name: METRIC_NAMES.lateEvents,
      help: 'Events for rollup buckets no longer open, left out of the rollups',
      unit: '{event}',
      collect: () => this.analytics?.stats().lateEvents ?? 0,
    });
    this.#rollupWrites = registry.counter({
      name: METRIC_NAMES.rollupWrites,
      help: 'Rollup rows written with commits',
      unit: '{row}',
    });
    this.#analyticsCost = registry.histogram({
      name: METRIC_NAMES.analyticsCost,
      help: "Main-thread time the analytics spent on one commit's events (decode, rollups, detectors)",
      unit: 's',
    });
    registry.gauge({
      name: METRIC_NAMES.memoryUsage,
      help: 'Resident set size of the process',
      unit: 'By',
      collect: () => process.memoryUsage.rss(),
    });
    registry.gauge({
      name: METRIC_NAMES.heapUsed,
      help: 'V8 heap in use',
      unit: 'By',
      collect: () => process.memoryUsage().heapUsed,
    });
    if (options.eventLoop ?? true) {
      const loop = (this.#loop = monitorEventLoopDelay({ resolution: 20 }));
      loop.enable();
      const seconds = (ns: number): number => (Number.isFinite(ns) ? ns / 1e9 : 0);
      registry.gauge({
        name: METRIC_NAMES.eventLoopDelayP50,
        help: 'Event loop delay, median',
        unit: 's',
        collect: () => seconds(loop.percentile(50)),
      });
      registry.gauge({
        name: METRIC_NAMES.eventLoopDelayP99,
        help: 'Event loop delay, 99th percentile',
        unit: 's',
        collect: () => seconds(loop.percentile(99)),
      });
      registry.gauge({
        name: METRIC_NAMES.eventLoopDelayMax,
        help: 'Event loop delay, maximum',
        unit: 's',
        collect: () => seconds(loop.max),
      });
    }
    if (options.analytics !== false) {
      const given = options.analytics ?? {};
      this.analytics = new EnergyAnalytics({
        ...given,
        onPeak: (event) => {
          this.#peaks.inc();
          given.onPeak?.(event);
        },
        onAnomaly: (event) => {
          this.#anomalies.inc();
          given.onAnomaly?.(event);
        },
      });
    }
  }

  // ---- storage ------------------------------------------------------------------------

  instrumentStorage<S extends EventStorage>(storage: S): S {
    if (
      typeof storage !== 'object' ||
      storage === null ||
      typeof storage.appendBatch !== 'function'
    ) {
      throw invalidArgument('storage', 'expected an EventStorage');
    }
    const appendBatch = (
      appends: readonly StreamAppend[],
      options?: AppendBatchOptions,
    ): Promise<AppendBatchResult> => {
      if (this.analytics !== undefined) this.#resumeUnseen(storage, appends);
      if (this.#gate === undefined) return this.#append(storage, appends, options);
      // Behind a repair or a resume: handed over in call order once it is done (each
      // batch right after the one before it was handed over, not after it committed).
      let result!: Promise<AppendBatchResult>;
      const sent = this.#gate.then(() => {
        result = this.#append(storage, appends, options);
      });
      this.#gate = sent;
      void sent.then(() => {
        if (this.#gate === sent) this.#gate = undefined;
      });
      return sent.then(() => result);
    };
    const maintained = storage as unknown as MaintainedStorage;
    const checkpoint = async (mode = 'passive') => {
      const start = performance.now();
      try {
        const result = await maintained.checkpoint!(mode);
        this.#checkpoints.inc(1, { mode, result: result.busy ? 'busy' : 'done' });
        this.#checkpointFrames.inc(result.checkpointedFrames);
        this.recordOperation('checkpoint', performance.now() - start);
        return result;
      } catch (error) {
        this.#checkpoints.inc(1, { mode, result: 'error' });
        this.recordOperation('checkpoint', performance.now() - start, 'error');
        this.recordError(error, 'storage');
        throw error;
      }
    };
    const backup = (destination: string, options?: unknown) =>
      this.timeOperation('backup', () => maintained.backup!(destination, options));
    return new Proxy(storage, {
      get(target, property) {
        if (property === 'appendBatch') return appendBatch;
        if (property === 'checkpoint' && typeof maintained.checkpoint === 'function')
          return checkpoint;
        if (property === 'backup' && typeof maintained.backup === 'function') return backup;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === 'function'
          ? (value as (...args: unknown[]) => unknown).bind(target)
          : value;
      },
    });
  }

  async #append(
    storage: EventStorage,
    appends: readonly StreamAppend[],
    options: AppendBatchOptions | undefined,
  ): Promise<AppendBatchResult> {
    const given = options?.writes ?? [];
    let rollups: RowWrite[] = [];
    const sessions: string[] = [];
    let events = 0;
    const byType = new Map<string, number>();
    const analytics = this.analytics;
    const analyticsStart = analytics === undefined ? 0 : performance.now();
    for (const append of appends) {
      events += append.events.length;
      for (const record of append.events)
        byType.set(record.type, (byType.get(record.type) ?? 0) + 1);
      if (analytics !== undefined && append.stream.startsWith(SESSION_PREFIX)) {
        const sessionId = append.stream.slice(SESSION_PREFIX.length);
        const writes = analytics.observe(sessionId, analyticsEvents(append, sessionId));
        if (writes.length > 0) {
          sessions.push(sessionId);
          rollups = rollups.length === 0 ? writes : rollups.concat(writes);
        }
      }
    }
    const start = performance.now();
    if (analytics !== undefined) this.#analyticsCost.record((start - analyticsStart) / 1000);
    this.#inFlight++;
    try {
      const result = await storage.appendBatch(
        appends,
        rollups.length === 0 ? options : { ...options, writes: [...given, ...rollups] },
      );
      this.#commitDuration.record((performance.now() - start) / 1000, {
        'db.system.name': 'sqlite',
        'db.operation.name': 'commit',
      });
      if (events > 0) this.#batchSize.record(events);
      this.#commits.inc(1, { outcome: 'ok' });
      this.#tickCommit();
      for (const [type, count] of byType) this.#committed.inc(count, { 'event.type': type });
      this.#rollupWrites.inc(rollups.length);
      return rollups.length === 0
        ? result
        : { ...result, writes: result.writes.slice(0, given.length) };
    } catch (error) {
      this.#commits.inc(1, { outcome: 'error' });
      this.recordError(error, 'storage');
      if (sessions.length > 0) this.#repair(storage, sessions);
      throw error;
    } finally {
      if (--this.#inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
    }
  }

  /**
   * A batch with rollup writes failed: the analytics counted events that are not stored,
   * and batches sent after it were built on that. Once every batch in flight has
   * settled, the sessions' rollups are rebuilt from their stored events; batches that
   * arrive meanwhile wait, in order.
   */
  #repair(storage: EventStorage, sessions: readonly string[]): void {
    const analytics = this.analytics!;
    for (const id of sessions) analytics.forget(id);
    const previous = this.#gate ?? Promise.resolve();
    const run = previous.then(async () => {
      if (this.#inFlight > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
      for (const sessionId of sessions) {
        try {
          const pages = await readSession(storage, sessionId);
          const writes = analytics.rebuild(sessionId, pages);
          if (writes.length > 0) await storage.appendBatch([], { writes });
          this.#rollupWrites.inc(writes.length);
        } catch (error) {
          this.recordError(error, 'analytics');
        }
      }
    });
    const gate = run.then(noop, noop);
    this.#gate = gate;
    void gate.then(() => {
      if (this.#gate === gate) this.#gate = undefined;
    });
  }

  /**
   * Sessions this batch writes updates or tokens to that the analytics hold nothing of
   * (new, or written by an earlier process): their newest stored buckets are loaded
   * before the batch goes on, so its rollups add to them instead of replacing them.
   * Batches that arrive meanwhile wait, in order. A storage without `db` cannot be read
   * back: a session then starts from empty buckets.
   */
  #resumeUnseen(storage: EventStorage, appends: readonly StreamAppend[]): void {
    const analytics = this.analytics!;
    const db = (storage as { db?: StoreDatabase }).db;
    if (db === undefined) return;
    const unseen: { sessionId: string; fromUs: number }[] = [];
    for (const append of appends) {
      if (!append.stream.startsWith(SESSION_PREFIX)) continue;
      const sessionId = append.stream.slice(SESSION_PREFIX.length);
      if (analytics.has(sessionId) || this.#resuming.has(sessionId)) continue;
      let fromUs = Number.POSITIVE_INFINITY;
      for (const record of append.events) {
        if (record.type === 'energy.update' || record.type === 'ai.output') {
          fromUs = Math.min(fromUs, record.timestampUs);
        }
      }
      if (fromUs !== Number.POSITIVE_INFINITY) unseen.push({ sessionId, fromUs });
    }
    if (unseen.length === 0) return;
    for (const { sessionId } of unseen) this.#resuming.add(sessionId);
    const previous = this.#gate ?? Promise.resolve();
    const run = previous.then(async () => {
      for (const { sessionId, fromUs } of unseen) {
        try {
          const rows: RollupRow[] = [];
          for (const bound of analytics.resumeBounds(fromUs)) {
            rows.push(
              ...(await db
                .selectFrom('rollups')
                .selectAll()
                .where('session_id', '=', sessionId)
                .where('granularity', '=', bound.granularity)
                .where('bucket_start_us', '>=', bound.fromUs)
                .execute()),
            );
          }
          if (rows.length > 0 && !analytics.has(sessionId)) analytics.resume(sessionId, rows);
        } catch (error) {
          this.recordError(error, 'analytics');
        } finally {
          this.#resuming.delete(sessionId);
        }
      }
    });
    const gate = run.then(noop, noop);
    this.#gate = gate;
    void gate.then(() => {
      if (this.#gate === gate) this.#gate = undefined;
    });
  }

  #tickCommit(): void {
    const second = Math.floor(this.#now() / 1000);
    const last = this.#commitSeconds[this.#commitSeconds.length - 1];
    if (last !== undefined && last[0] === second) last[1]++;
    else {
      this.#commitSeconds.push([second, 1]);
      if (this.#commitSeconds.length > 16) this.#commitSeconds.shift();
    }
  }

  #commitRate(): number {
    const now = Math.floor(this.#now() / 1000);
    let total = 0;
    for (const [second, count] of this.#commitSeconds) {
      if (second < now && second >= now - 10) total += count;
    }
    return total / 10;
  }

  // ---- recorder -----------------------------------------------------------------------

  recorderOptions(options: RecorderOptions = {}): RecorderOptions {
    const { onAck, onReject, onError } = options;
    return {
      ...options,
      onAck: (ack: FrameAck) => {
        this.#ack(ack);
        onAck?.(ack);
      },
      onReject: (rejection: RecorderRejection) => {
        this.#rejected.inc(1, {
          reason: rejection.reason,
          'event.type': rejection.type ?? 'unknown',
        });
        onReject?.(rejection);
      },
      onError: (failure: RecorderFailure) => {
        this.recordError(
          failure.error,
          failure.kind === 'commit' ? 'recorder.commit' : 'recorder.encode',
        );
        onError?.(failure);
      },
    };
  }

  observeRecorder(recorder: Recorder): void {
    if (typeof recorder !== 'object' || recorder === null || typeof recorder.stats !== 'function') {
      throw invalidArgument('recorder', 'expected a Recorder');
    }
    if (!this.#recorders.includes(recorder)) this.#recorders.push(recorder);
  }

  observeFrameCost(ms: number): void {
    this.#frameCost.record(ms / 1000);
  }

  #ack(ack: FrameAck): void {
    this.#durable.record(ack.latencyMs / 1000);
    this.#commitTask.record(ack.encodeMs / 1000);
    if (ack.latencyMs > this.#budgetMs) this.#overBudget.inc(1, { cause: this.#causeOf(ack) });
  }

  /** A job that ran during the frame's way to disk, else the larger of commit and encode time. */
  #causeOf(ack: FrameAck): OverBudgetCause {
    const end = performance.now();
    const start = end - ack.latencyMs;
    let cause: OverBudgetCause | undefined;
    let overlap = 0;
    for (const job of this.#jobs) {
      const jobEnd = Number.isNaN(job.end) ? end : job.end;
      const shared = Math.min(end, jobEnd) - Math.max(start, job.start);
      if (shared > overlap) {
        overlap = shared;
        cause = job.kind;
      }
    }
    if (cause !== undefined) return cause;
    if (ack.commitMs >= ack.encodeMs && ack.commitMs > this.#budgetMs / 2) return 'commit';
    if (ack.encodeMs > this.#budgetMs / 2) return 'encode';
    return 'unknown';
  }

  // ---- jobs and errors ----------------------------------------------------------------

  recordOperation(kind: OperationKind, ms: number, outcome: 'ok' | 'error' = 'ok'): void {
    if (!(ms >= 0))
      throw invalidArgument('recordOperation.ms', `expected a duration >= 0, got ${ms}`);
    this.#operations.record(ms / 1000, { operation: kind, outcome });
    const end = performance.now();
    this.#remember({ kind, start: end - ms, end });
  }

  async timeOperation<T>(kind: OperationKind, fn: () => T | Promise<T>): Promise<T> {
    const job = { kind, start: performance.now(), end: Number.NaN };
    this.#remember(job);
    try {
      const value = await fn();
      job.end = performance.now();
      this.#operations.record((job.end - job.start) / 1000, { operation: kind, outcome: 'ok' });
      return value;
    } catch (error) {
      job.end = performance.now();
      this.#operations.record((job.end - job.start) / 1000, { operation: kind, outcome: 'error' });
      this.recordError(error, kind);
      throw error;
    }
  }

  #remember(job: { kind: OperationKind; start: number; end: number }): void {
    this.#jobs.push(job);
    // Keep the jobs that may still overlap a frame being acknowledged: the last 10 s.
    const horizon = performance.now() - 10_000;
    while (this.#jobs.length > 0 && this.#jobs[0]!.end < horizon) this.#jobs.shift();
    if (this.#jobs.length > 64) this.#jobs.shift();
  }

  recordError(error: unknown, component = 'store'): void {
    this.#errors.inc(1, { 'error.type': errorCode(error), component });
  }

  overBudget(): Readonly<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const series of this.#overBudget.collect().series)
      out[series.labels.cause!] = series.value;
    return out;
  }

  // ---- sizes --------------------------------------------------------------------------

  setSize(kind: StorageKind, bytes: number): void {
    if (!(bytes >= 0)) throw invalidArgument('setSize.bytes', `expected bytes >= 0, got ${bytes}`);
    this.#reportedSizes.set(kind, bytes);
  }

  #measure(): Map<StorageKind, number> {
    const sizes = new Map(this.#reportedSizes);
    const files = this.#files;
    if (files.database !== undefined) {
      const db = fileSize(files.database);
      if (db !== undefined) sizes.set('database', db);
      sizes.set('wal', fileSize(`${files.database}-wal`) ?? 0);
    }
    if (files.archive !== undefined) {
      const bytes = directorySize(files.archive);
      if (bytes !== undefined) sizes.set('archive', bytes);
    }
    if (files.snapshots !== undefined) {
      const bytes = directorySize(files.snapshots);
      if (bytes !== undefined) sizes.set('snapshots', bytes);
    }
    const now = this.#now();
    for (const [kind, bytes] of sizes) {
      let samples = this.#sizeSamples.get(kind);
      if (samples === undefined) this.#sizeSamples.set(kind, (samples = []));
      const last = samples[samples.length - 1];
      if (last === undefined || now - last[0] >= 60_000) samples.push([now, bytes]);
      else if (samples.length > 1) last[1] = bytes; // the newest sample follows the size
      while (samples.length > 2 && now - samples[1]![0] >= 3_600_000) samples.shift();
    }
    return sizes;
  }

  #sizeSeries(): ValueSeries[] {
    return [...this.#measure()].map(([kind, value]) => ({ labels: { kind }, value }));
  }

  #growthSeries(): ValueSeries[] {
    const out: ValueSeries[] = [];
    for (const [kind, samples] of this.#sizeSamples) {
      const first = samples[0];
      const last = samples[samples.length - 1];
      if (first === undefined || last === undefined || last[0] - first[0] < 60_000) continue;
      out.push({
        labels: { kind },
        value: ((last[1] - first[1]) * 3_600_000) / (last[0] - first[0]),
      });
    }
    return out;
  }

  // ---- exposition ---------------------------------------------------------------------

  snapshot(): MetricsSnapshot {
    return this.registry.snapshot();
  }

  prometheus(): string {
    return toPrometheusText(this.registry.snapshot());
  }

  close(): void {
    this.#loop?.disable();
  }
}

function noop(): void {}

/** The events of one append the analytics read, decoded lazily (updates and tokens only). */
function* analyticsEvents(append: StreamAppend, sessionId: string): Generator<AnalyticsEvent> {
  for (const record of append.events) {
    const type = record.type;
    if (type === 'energy.update' || type === 'ai.output') {
      const event = decodeEvent(record, { sessionId });
      if (isUnknownEvent(event)) continue;
      yield { type, timestampUs: record.timestampUs, frameId: record.frameId, data: event.data };
    } else if (type === 'system.end') {
      yield { type, timestampUs: record.timestampUs };
    }
  }
}

async function readSession(storage: EventStorage, sessionId: string): Promise<AnalyticsEvent[][]> {
  const events: AnalyticsEvent[] = [];
  for await (const record of storage.readStream(`${SESSION_PREFIX}${sessionId}`)) {
    if (record.type !== 'energy.update' && record.type !== 'ai.output') continue;
    const event = decodeEvent(record, { sessionId });
    if (isUnknownEvent(event)) continue;
    events.push({
      type: record.type,
      timestampUs: record.timestampUs,
      frameId: record.frameId ?? undefined,
      data: event.data,
    });
  }
  return [events];
}

/**
 * Creates the metrics of a store: the registry with every instrument of
 * {@link METRIC_NAMES}, and the energy analytics.
 *
 * @example
 * ```ts
 * const metrics = createStoreMetrics({ files: { database: 'state.db' }, analytics: { onPeak: (e) => recorder.record(e) } });
 * const store = createEventStore({ storage: metrics.instrumentStorage(await openSqliteStorage({ path: 'state.db' })) });
 * const recorder = createRecorder(store, metrics.recorderOptions({ clock: 'external' }));
 * metrics.observeRecorder(recorder);
 * await metrics.timeOperation('snapshot', () => snapshots.take(stream));
 * metrics.prometheus(); // for GET /metrics
 * ```
 */
export function createStoreMetrics(options: StoreMetricsOptions = {}): StoreMetrics {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object');
  }
  return new StoreMetricsImpl(options);
}
