import { dirname, join } from 'node:path';

import type { EventOfType } from '@wirthforge/events';
import {
  createStoreMetrics,
  type EnergyAnalyticsOptions,
  type Histogram,
  type Counter,
  type OperationKind,
  type StoreMetrics,
} from '@wirthforge/metrics';
import type { Logger } from 'pino';
import type { JobRun } from './scheduler.js';

/** The daemon's own metric names (beside those of `@wirthforge/metrics`). */
export const DAEMON_METRIC_NAMES = Object.freeze({
  jobDuration: 'wirthforge.daemon.job.duration',
  jobFailures: 'wirthforge.daemon.job.failures',
  ingestBatches: 'wirthforge.daemon.ingest.batches',
  ingestEvents: 'wirthforge.daemon.ingest.events',
});

/**
 * The `@wirthforge/metrics` operation each job reports as. `wal-checkpoint` is measured
 * by the instrumented storage's `checkpoint()` itself, so it is not reported twice.
 */
export const JOB_OPERATIONS: Readonly<Record<string, OperationKind | undefined>> = Object.freeze({
  'integrity-quick': 'integrity_check',
  snapshot: 'snapshot',
  snapshots: 'snapshot',
  seal: 'seal',
  archive: 'archive',
  retention: 'retention',
  backup: 'backup',
  vacuum: 'vacuum',
});

/** An event the energy analytics detected: `energy.peak` or `energy.anomaly`. */
export type DetectedEvent = EventOfType<'energy.peak'> | EventOfType<'energy.anomaly'>;

/** Stores detected events in their session (resolves once durable). */
export type DetectedEventSink = (
  sessionId: string,
  events: readonly DetectedEvent[],
) => Promise<unknown>;

/** Options of {@link createDaemonMetrics}. */
export interface DaemonMetricsOptions {
  readonly logger: Logger;
  /** The database file, for the size, WAL size and growth gauges. */
  readonly databasePath: string;
  /** Options of the energy analytics (detector windows and thresholds); the callbacks are the daemon's. */
  readonly analytics?: Omit<EnergyAnalyticsOptions, 'onPeak' | 'onAnomaly'>;
}

/**
 * The daemon's metrics: the store's (`createStoreMetrics`, with energy analytics), the
 * scheduler's job runs and the ingest batches; and the `energy.peak` and
 * `energy.anomaly` events the analytics detect, handed to a sink that stores each in
 * its session once the commit that revealed it is done.
 */
export interface DaemonMetrics {
  readonly store: StoreMetrics;
  /** Where detected events go. Events detected before are kept and handed over then. */
  attach(sink: DetectedEventSink): void;
  /** Every job run: its duration and outcome, per job, and as its operation kind. */
  onJobRun(run: JobRun): void;
  /** Every accepted ingest batch. */
  onIngest(batch: { readonly events: number }): void;
  /** Waits until every event detected so far is stored (or failed, logged and counted). */
  flushDetected(): Promise<void>;
  /** Stores what is left, then stops the event-loop monitor. */
  close(): Promise<void>;
}

/** Creates the daemon's metrics (see {@link DaemonMetrics}). */
export function createDaemonMetrics(options: DaemonMetricsOptions): DaemonMetrics {
  const { logger } = options;
  const pending: DetectedEvent[] = [];
  const storing = new Set<Promise<unknown>>();
  let sink: DetectedEventSink | undefined;
  let scheduled = false;

  const handOver = (): void => {
    scheduled = false;
    if (sink === undefined || pending.length === 0) return;
    const bySession = new Map<string, DetectedEvent[]>();
    for (const event of pending.splice(0)) {
      const list = bySession.get(event.session_id);
      if (list === undefined) bySession.set(event.session_id, [event]);
      else list.push(event);
    }
    for (const [sessionId, events] of bySession) {
      const stored = sink(sessionId, events).catch((error: unknown) => {
        store.recordError(error, 'analytics');
        logger.error(
          { err: error, session: sessionId, events: events.length },
          'detected energy events were not stored',
        );
      });
      storing.add(stored);
      void stored.finally(() => storing.delete(stored));
    }
  };
  const detected = (event: DetectedEvent): void => {
    logger.info(
      { session: event.session_id, type: event.type, frame: event.frame_id },
      'energy analytics detected an event',
    );
    pending.push(event);
    if (!scheduled) {
      scheduled = true;
      // After the commit that revealed it: never from inside the storage's appendBatch.
      setImmediate(handOver);
    }
  };

  const store = createStoreMetrics({
    // The archive's partitions live in `archive/` beside the database (@wirthforge/archive).
    files: {
      database: options.databasePath,
      archive: join(dirname(options.databasePath), 'archive'),
    },
    analytics: { ...options.analytics, onPeak: detected, onAnomaly: detected },
  });
  const registry = store.registry;
  const jobDuration: Histogram = registry.histogram({
    name: DAEMON_METRIC_NAMES.jobDuration,
    help: 'Duration of each scheduled maintenance job run, by job and outcome',
    unit: 's',
    labelNames: ['job', 'outcome'],
  });
  const jobFailures: Counter = registry.counter({
    name: DAEMON_METRIC_NAMES.jobFailures,
    help: 'Failed runs of scheduled maintenance jobs, by job',
    unit: '{run}',
    labelNames: ['job'],
  });
  const ingestBatches = registry.counter({
    name: DAEMON_METRIC_NAMES.ingestBatches,
    help: 'Ingest batches accepted (HTTP and WebSocket), once durable',
    unit: '{batch}',
  });
  const ingestEvents = registry.counter({
    name: DAEMON_METRIC_NAMES.ingestEvents,
    help: 'Events of the ingest batches accepted (HTTP and WebSocket), once durable',
    unit: '{event}',
  });

  const flushDetected = async (): Promise<void> => {
    handOver();
    await Promise.allSettled([...storing]);
  };

  return {
    store,
    attach(given) {
      sink = given;
      if (pending.length > 0 && !scheduled) {
        scheduled = true;
        setImmediate(handOver);
      }
    },
    onJobRun(run) {
      const outcome = run.ok ? 'ok' : 'error';
      jobDuration.record(run.durationMs / 1000, { job: run.name, outcome });
      if (!run.ok) {
        jobFailures.inc(1, { job: run.name });
        store.recordError(run.error, `job.${run.name}`);
      }
      const kind = JOB_OPERATIONS[run.name];
      if (kind !== undefined) store.recordOperation(kind, run.durationMs, outcome);
    },
    onIngest(batch) {
      ingestBatches.inc();
      ingestEvents.inc(batch.events);
    },
    flushDetected,
    async close() {
      try {
        await flushDetected();
      } finally {
        store.close();
      }
    },
  };
}
