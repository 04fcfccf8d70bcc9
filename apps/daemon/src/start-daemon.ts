import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEventStore, type EventStore } from '@wirthforge/eventstore';
import { isStorageError } from '@wirthforge/storage';
import { openArchive, type Archive } from '@wirthforge/archive';
import { openSqliteStorage, type SqliteStorage } from '@wirthforge/storage-sqlite';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { WebSocket } from 'ws';
import { removeAccessToken, writeAccessToken } from './access-token.js';
import type { StoreMetrics } from '@wirthforge/metrics';
import { AnalyticsQueries } from '@wirthforge/metrics';
import { isLoopbackHost, type DaemonConfig } from './daemon-config.js';
import { createDaemonMetrics, type DaemonMetrics } from './daemon-metrics.js';
import {
  RequestGate,
  lateBound,
  type CoreRestartReport,
  type CoreRestartWork,
  type CoreRestarter,
} from './core-restart.js';
import { DaemonError } from './errors.js';
import { createHttpServer, type DaemonLifecycle, type DaemonPlugin } from './http-server.js';
import { metricsRoutes } from './metrics-routes.js';
import { archiveJobs } from './archive-job.js';
import { Scheduler, type JobRun, type ScheduledJob } from './scheduler.js';
import { syncJobs } from './sync-job.js';
import { DaemonSnapshots, type DaemonSnapshotsOptions } from './daemon-snapshots.js';
import { maintenanceRoutes } from './maintenance-routes.js';
import type { RecoveredSession, SessionRecovery } from './session-recovery.js';
import { SessionService, type IngestObserver } from './session-service.js';
import type { SimulatedFeed } from './simulated-feed.js';
import { WS_CLOSE_GOING_AWAY } from './stream-route.js';

/** Name of the database file in the data directory. */
export const DATABASE_FILE = 'state.db';
/** Name of the file with the running daemon's pid and address. */
export const DAEMON_INFO_FILE = 'daemon.json';
/** The daemon's version (in the OpenAPI document and `daemon.json`). */
export const DAEMON_VERSION = '0.1.0';

/**
 * Page cache of the storage's read connection, in KiB. better-sqlite3 builds SQLite with
 * a default of 16 000 KiB per connection, which a long-running daemon fills (every page a
 * read touched stays cached): about 16 MB of resident memory for the reads of a few
 * sessions' recent events, which come back from the WAL and the OS page cache cheaply.
 */
export const READ_CACHE_KIB = 2048;

/** Runs a pragma on the read connection behind `db`, through its Kysely executor; its rows. */
export async function readConnectionPragma(
  db: SqliteStorage['db'],
  pragma: string,
): Promise<readonly unknown[]> {
  const compiled = {
    sql: `PRAGMA ${pragma}`,
    parameters: [],
    query: { kind: 'RawNode', sqlFragments: [`PRAGMA ${pragma}`], parameters: [] },
    queryId: { queryId: 'wfstated-read-pragma' },
  } as unknown as Parameters<SqliteStorage['db']['executeQuery']>[0];
  return (await db.executeQuery(compiled)).rows;
}

/** The default maintenance periods. */
export const DEFAULT_JOB_INTERVALS = {
  walCheckpointMs: 60_000,
  integrityCheckMs: 15 * 60_000,
  optimizeMs: 6 * 60 * 60_000,
} as const;

/** Options of {@link startDaemon} beyond the config: the seams for the packages built beside it. */
export interface StartDaemonOptions {
  /** Default: pino to stdout at the config's level. */
  readonly logger?: Logger;
  /** Recovery of sessions that did not end cleanly (default: from snapshots, see {@link DaemonSnapshots}). */
  readonly recovery?: SessionRecovery;
  /** Snapshot triggers and retention (over the config's `snapshotEveryEvents` / `snapshotEverySeconds`). */
  readonly snapshots?: Pick<DaemonSnapshotsOptions, 'everyEvents' | 'everyMs' | 'retentionMs'>;
  /** Routes of other packages (`/metrics`, `/v1/analytics/*`). */
  readonly plugins?: readonly DaemonPlugin[];
  /** More maintenance jobs (snapshots, sealing, archival, retention), run beside the built-in ones. */
  readonly jobs?: readonly ScheduledJob[];
  /** Periods of the built-in jobs. */
  readonly jobIntervals?: Partial<typeof DEFAULT_JOB_INTERVALS>;
  /** Called at stop after ingest stopped and sessions ended, before the store closes (final snapshots). */
  readonly onStop?: (store: EventStore) => Promise<void>;
  /** Every accepted ingest (metrics). */
  readonly onIngest?: IngestObserver;
  /** Every job run (metrics). */
  readonly onJobRun?: (run: JobRun) => void;
}

/** What stopping did. */
export interface StopReport {
  readonly endedSessions: readonly string[];
  readonly durationMs: number;
}

/** A running daemon. */
export interface Daemon {
  readonly config: DaemonConfig;
  /** `http://host:port`. */
  readonly url: string;
  readonly port: number;
  /** The access token (also in `DIR/daemon.token`). */
  readonly token: string;
  readonly store: EventStore;
  /** The storage, instrumented by the metrics (every commit measured, rollups written with it). */
  readonly storage: SqliteStorage;
  /** The store's metrics and energy analytics (`GET /metrics`, `/v1/analytics/…`). */
  readonly metrics: StoreMetrics;
  readonly server: FastifyInstance;
  readonly scheduler: Scheduler;
  /** Snapshots: recovery at start, triggers, retention, final snapshots at stop. */
  readonly snapshots: DaemonSnapshots;
  readonly logger: Logger;
  /** Sessions recovered at start. */
  readonly recovered: readonly RecoveredSession[];
  /** The simulated session, with `--simulate`. */
  readonly simulation: SimulatedFeed | undefined;
  /**
   * Closes the storage and everything on it, runs `work.closed` on the database file,
   * opens it again (migrating it) and goes on serving; requests meanwhile get 503 with
   * `Retry-After`. What `POST /v1/admin/restore`, `/migrate` and `/purge {all}` use.
   */
  restartCore<R>(work: CoreRestartWork<R>): Promise<CoreRestartReport<R>>;
  /** Stops ingest, waits for what is in flight, ends open sessions cleanly, closes the store and releases the lock. Idempotent. */
  stop(reason?: string): Promise<StopReport>;
}

/** The default logger: JSON lines on stdout. */
export function createDaemonLogger(level: DaemonConfig['logLevel']): Logger {
  return pino({ level, base: { service: 'wfstated', pid: process.pid } });
}

/**
 * The part of the daemon built on the database file: opened at start, closed at stop, and
 * closed and opened again by a core restart (see {@link Daemon.restartCore}).
 */
interface DaemonCore {
  readonly archive: Archive;
  /** The storage, instrumented by the metrics. */
  readonly storage: SqliteStorage;
  readonly metrics: DaemonMetrics;
  readonly queries: AnalyticsQueries;
  readonly store: EventStore;
  readonly service: SessionService;
  readonly snapshots: DaemonSnapshots;
  /** Built with its jobs, started by {@link startCore}. */
  readonly scheduler: Scheduler;
  readonly recovered: readonly RecoveredSession[];
}

interface CoreSettings {
  readonly config: DaemonConfig;
  readonly options: StartDaemonOptions;
  readonly logger: Logger;
  readonly databasePath: string;
  /** The simulated feed of the moment (the analytics' detections go through it). */
  readonly simulation: () => SimulatedFeed | undefined;
}

/**
 * Opens the database (migrating it; `locked` when another process writes it; `corrupt`
 * when the quick integrity check fails), the store, sessions, snapshots and metrics on it,
 * recovers the sessions that did not end cleanly and builds the scheduler with its jobs.
 */
async function openCore(settings: CoreSettings): Promise<DaemonCore> {
  const { config, options, logger, databasePath } = settings;
  // Reads of archived sessions go to the archive partitions.
  const archive = openArchive({ databasePath });
  let rawStorage: SqliteStorage;
  try {
    rawStorage = await openSqliteStorage({
      path: databasePath,
      synchronous: config.sync,
      coldSegments: archive.coldSegments,
    });
  } catch (error) {
    archive.close();
    if (isStorageError(error) && error.code === 'locked') {
      throw new DaemonError(
        'locked',
        `another daemon is using ${config.dataDir}: ${error.message}`,
        { cause: error },
      );
    }
    throw error;
  }
  // Fewer cached pages on the read connection (see READ_CACHE_KIB).
  await readConnectionPragma(rawStorage.db, `cache_size = -${READ_CACHE_KIB}`);
  // Every commit of every path (HTTP, WebSocket, the simulator, recovery, the store's own
  // repairs) goes through the instrumented storage: measured, with its rollups in the same batch.
  const daemonMetrics = createDaemonMetrics({ logger, databasePath });
  const storage = daemonMetrics.store.instrumentStorage(rawStorage);
  logger.info(
    {
      path: databasePath,
      sqlite: storage.sqliteVersion,
      pragmas: storage.pragmas,
      migration: storage.migration,
    },
    'database open',
  );

  const integrity = await storage.checkIntegrity({ quick: true });
  if (!integrity.ok) {
    await daemonMetrics.close();
    await storage.close();
    archive.close();
    throw new DaemonError(
      'corrupt',
      `the quick integrity check of ${databasePath} found ${integrity.problems.length} problem(s), first: ${JSON.stringify(integrity.problems[0])}; run wfstate verify and wfstate recover`,
    );
  }
  logger.info(
    {
      events: integrity.eventsChecked,
      streams: integrity.streamsChecked,
      head: Number(integrity.headPosition),
    },
    'integrity quick check passed',
  );

  const store = createEventStore({
    storage,
    projections: {
      onCheckpointRejected: (rejection) =>
        logger.warn(
          rejection,
          'a projection checkpoint was refused: its state is folded from the first event',
        ),
    },
  });
  const onIngest = options.onIngest;
  const service = new SessionService({
    store,
    db: storage.db,
    storeContent: config.storeContent,
    onIngest:
      onIngest === undefined
        ? (batch) => daemonMetrics.onIngest(batch)
        : (batch) => {
            daemonMetrics.onIngest(batch);
            onIngest(batch);
          },
    beforeEnd: () => daemonMetrics.flushDetected(),
  });
  // Detected peaks and anomalies go to their session: through the simulated feed's recorder
  // while it feeds that session (its only writer), else through the ingest group commit.
  daemonMetrics.attach(async (sessionId, events) => {
    const simulation = settings.simulation();
    if (simulation?.sessionId === sessionId && simulation.record(events)) return;
    await service.appendDerived(sessionId, events);
  });
  const onJobRun = options.onJobRun;
  const snapshots = new DaemonSnapshots(store, {
    logger,
    everyEvents: config.snapshotEveryEvents,
    everyMs: config.snapshotEverySeconds * 1000,
    ...options.snapshots,
    onRun: (run) => {
      daemonMetrics.onJobRun(run);
      onJobRun?.(run);
    },
  });
  const recovery = options.recovery ?? snapshots.recovery();
  const recovered: RecoveredSession[] = [];
  try {
    for (const open of await store.openSessions()) {
      if (open.private) continue;
      const result = await recovery.recover(store, open);
      service.markEnded(open.sessionId);
      recovered.push(result);
      logger.warn(
        {
          session: open.sessionId,
          recovery: recovery.name,
          eventsReplayed: result.eventsReplayed,
          durationMs: result.durationMs,
        },
        'recovered a session that did not end cleanly',
      );
    }
  } catch (error) {
    await daemonMetrics.close();
    await store.close();
    archive.close();
    throw error;
  }

  const scheduler = new Scheduler({
    logger,
    onRun: (run) => {
      daemonMetrics.onJobRun(run);
      onJobRun?.(run);
    },
  });
  const intervals = { ...DEFAULT_JOB_INTERVALS, ...options.jobIntervals };
  scheduler.add({
    name: 'wal-checkpoint',
    intervalMs: intervals.walCheckpointMs,
    // PASSIVE never waits for readers or writers; it runs on the writer thread between commits.
    run: async () => ({ ...(await storage.checkpoint('passive')) }),
  });
  scheduler.add({
    name: 'integrity-quick',
    intervalMs: intervals.integrityCheckMs,
    // On a maintenance thread, in one read transaction: writes go on meanwhile.
    run: async () => {
      const report = await storage.checkIntegrity({ quick: true });
      if (!report.ok)
        logger.error({ problems: report.problems.slice(0, 10) }, 'integrity check found problems');
      return { ok: report.ok, problems: report.problems.length, events: report.eventsChecked };
    },
  });
  const optimize = (storage as unknown as { optimize?: () => Promise<unknown> }).optimize;
  if (typeof optimize === 'function') {
    scheduler.add({
      name: 'optimize',
      intervalMs: intervals.optimizeMs,
      run: async () => ({ result: await optimize.call(storage) }),
    });
  } else {
    logger.info(
      'PRAGMA optimize is not scheduled: @wirthforge/storage-sqlite offers no optimize() on its writer yet',
    );
  }
  scheduler.add(snapshots.retentionJob());
  for (const job of options.jobs ?? []) scheduler.add(job);
  for (const job of syncJobs({ store, db: storage.db, logger })) scheduler.add(job);
  for (const job of archiveJobs({ databasePath, logger })) scheduler.add(job);
  return {
    archive,
    storage,
    metrics: daemonMetrics,
    queries: new AnalyticsQueries(storage.db),
    store,
    service,
    snapshots,
    scheduler,
    recovered,
  };
}

/** Starts the core's scheduled jobs and snapshot triggers. */
function startCore(core: DaemonCore): void {
  core.scheduler.start();
  core.snapshots.start();
}

/**
 * Closes a core whose ingest is stopped: waits for the ingests in flight and the jobs,
 * ends the open sessions (`system_shutdown`) with their final snapshots, stores the last
 * detected events, closes the store (the writer lock is released). The sessions ended.
 */
async function closeCore(core: DaemonCore, settings: CoreSettings): Promise<string[]> {
  const { logger, options } = settings;
  core.service.stopAccepting();
  await core.service.drain();
  await core.scheduler.stop();
  // Peaks and anomalies found in the last batches go to their sessions before they end.
  await core.metrics.flushDetected();
  const endedSessions: string[] = [];
  for (const open of await core.store.openSessions()) {
    if (open.private) continue;
    try {
      await core.store.endSession(open.sessionId, { reason: 'system_shutdown' });
      endedSessions.push(open.sessionId);
    } catch (error) {
      logger.error({ err: error, session: open.sessionId }, 'could not end a session at stop');
    }
  }
  // The session_end snapshots of the sessions just ended: the final snapshots.
  try {
    const counts = await core.snapshots.stop();
    logger.info(counts, 'snapshots written');
  } catch (error) {
    logger.error({ err: error }, 'final snapshots failed');
  }
  if (options.onStop !== undefined) await options.onStop(core.store);
  try {
    await core.metrics.close();
  } catch (error) {
    logger.error({ err: error }, 'detected energy events were lost at stop');
  }
  await core.store.close();
  core.archive.close();
  return endedSessions;
}

/** How long a core restart tries to take the writer lock back from another process. */
const REOPEN_LOCKED_MS = 10_000;

/** {@link openCore}, tried again while another process holds the writer lock for a moment. */
async function reopenCore(settings: CoreSettings): Promise<DaemonCore> {
  const deadline = Date.now() + REOPEN_LOCKED_MS;
  for (;;) {
    try {
      return await openCore(settings);
    } catch (error) {
      if (!(error instanceof DaemonError && error.code === 'locked') || Date.now() > deadline) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

/**
 * Starts `wfstated`: data directory (0700), database (migrations, lock: a second daemon
 * on the same directory is refused with `locked`), quick integrity check (`corrupt`
 * refuses to start), recovery of sessions that did not end cleanly, a fresh token,
 * the HTTP and WebSocket server, the scheduler and, with `simulate`, a simulated session.
 * Resolves once ready.
 *
 * @example
 * ```ts
 * const daemon = await startDaemon(daemonConfig({ dataDir: '/tmp/wf', port: 0 }));
 * await fetch(`${daemon.url}/readyz`, { headers: { authorization: `Bearer ${daemon.token}` } });
 * await daemon.stop();
 * ```
 */
export async function startDaemon(
  config: DaemonConfig,
  options: StartDaemonOptions = {},
): Promise<Daemon> {
  const logger = options.logger ?? createDaemonLogger(config.logLevel);
  const startedAt = Date.now();
  if (!isLoopbackHost(config.host)) {
    logger.warn(
      { host: config.host },
      `listening on ${config.host}, not loopback: other machines can reach the daemon (the token still guards every request)`,
    );
  }
  // The token first: it also creates the data directory with mode 0700.
  const token = writeAccessToken(config.dataDir);
  const databasePath = join(config.dataDir, DATABASE_FILE);
  let simulation: SimulatedFeed | undefined;
  const settings: CoreSettings = {
    config,
    options,
    logger,
    databasePath,
    simulation: () => simulation,
  };
  let core = await openCore(settings);
  /** Set when the storage could not be opened again after a core restart. */
  let coreLost = false;

  let lifecycle: DaemonLifecycle = { ready: false, stopping: false, startedAt };
  const connections = new Set<WebSocket>();
  const gate = new RequestGate();
  // The routes keep these; behind them is the core of the moment.
  const store = lateBound(() => core.store);
  const service = lateBound(() => core.service);
  let restarting: Promise<unknown> = Promise.resolve();
  let stopping: Promise<StopReport> | undefined;

  const restartCore = <R>(work: CoreRestartWork<R>): Promise<CoreRestartReport<R>> => {
    const run = restarting.then(async (): Promise<CoreRestartReport<R>> => {
      if (stopping !== undefined || coreLost) {
        throw new DaemonError('stopping', 'the daemon is stopping');
      }
      const begin = performance.now();
      gate.hold(work.label);
      try {
        await gate.idle();
        await work.check?.();
      } catch (error) {
        gate.resume();
        throw error;
      }
      lifecycle = { ...lifecycle, ready: false };
      logger.warn({ work: work.label }, 'restarting the storage: requests are held');
      core.service.stopAccepting();
      await simulation?.stop();
      simulation = undefined;
      for (const socket of connections) {
        socket.close(WS_CLOSE_GOING_AWAY, `the daemon is restarting its storage (${work.label})`);
      }
      let endedSessions: string[] = [];
      let result: R | undefined;
      let failure: unknown;
      try {
        endedSessions = await closeCore(core, settings);
      } catch (error) {
        // Not closed cleanly: the file work is not done; opening again says what is left.
        logger.error({ err: error, work: work.label }, 'the storage did not close cleanly');
        failure = error;
      }
      let worked = false;
      if (failure === undefined) {
        try {
          worked = true;
          result = await work.closed(databasePath);
        } catch (error) {
          failure = error;
        }
      }
      try {
        try {
          core = await reopenCore(settings);
        } catch (error) {
          if (work.undo === undefined || !worked) throw error;
          logger.error({ err: error, work: work.label }, 'the storage did not open: undoing');
          await work.undo(databasePath, error);
          failure ??= error;
          core = await reopenCore(settings);
        }
      } catch (error) {
        coreLost = true;
        gate.hold(
          `it could not open ${databasePath} again: ${(error as Error).message}; stop and start the daemon`,
        );
        logger.fatal({ err: error, work: work.label }, 'the storage did not open again');
        throw error;
      }
      startCore(core);
      lifecycle = { ...lifecycle, ready: true };
      gate.resume();
      if (failure !== undefined) {
        throw failure instanceof Error ? failure : new Error(JSON.stringify(failure));
      }
      const durationMs = performance.now() - begin;
      logger.warn(
        {
          work: work.label,
          endedSessions,
          migration: core.storage.migration,
          durationMs: Math.round(durationMs),
        },
        'storage restarted: serving again',
      );
      return {
        result: result as R,
        endedSessions,
        migration: core.storage.migration,
        headPosition: await core.store.headPosition(),
        durationMs,
      };
    });
    restarting = run.catch(() => undefined);
    return run;
  };
  const restarter: CoreRestarter = {
    restart: (work, request) => {
      if (request !== undefined) gate.exempt(request);
      return restartCore(work);
    },
  };

  const server = await createHttpServer({
    context: {
      service,
      store,
      logger,
      token,
      lifecycle: () => lifecycle,
      stream: { connections, maxBufferedBytes: config.wsMaxBufferedBytes },
    },
    bodyLimitBytes: config.bodyLimitBytes,
    version: DAEMON_VERSION,
    plugins: [
      (app) => gate.install(app),
      metricsRoutes({
        metrics: lateBound(() => core.metrics.store),
        queries: lateBound(() => core.queries),
        store,
      }),
      maintenanceRoutes({
        snapshots: lateBound(() => core.snapshots.snapshots),
        restarter,
      }),
      ...(options.plugins ?? []),
    ],
  });
  try {
    await server.listen({ host: config.host, port: config.port });
  } catch (error) {
    await core.metrics.close();
    await core.store.close();
    core.archive.close();
    throw new DaemonError(
      'invalid_config',
      `cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const address = server.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  const infoFile = join(config.dataDir, DAEMON_INFO_FILE);
  // Written whole then renamed: a client polling for it never reads half of it.
  writeFileSync(
    `${infoFile}.tmp`,
    `${JSON.stringify({ pid: process.pid, url, host: config.host, port, version: DAEMON_VERSION, startedAt: new Date(startedAt).toISOString() })}\n`,
    { mode: 0o600 },
  );
  renameSync(`${infoFile}.tmp`, infoFile);

  startCore(core);
  try {
    // Loaded only when asked: the simulator costs memory a daemon without it does not need.
    simulation = config.simulate
      ? await (
          await import('./simulated-feed.js')
        ).startSimulatedFeed(
          core.store,
          logger,
          config.simulateSeconds,
          new Date(),
          core.metrics.store,
        )
      : undefined;
  } catch (error) {
    await core.scheduler.stop();
    await core.snapshots.stop();
    await server.close();
    await core.metrics.close();
    await core.store.close();
    core.archive.close();
    throw error;
  }
  lifecycle = { ...lifecycle, ready: true };
  logger.info(
    { url, dataDir: config.dataDir, recovered: core.recovered.length, jobs: core.scheduler.jobs },
    'ready',
  );

  const stop = (reason = 'stop requested'): Promise<StopReport> => {
    stopping ??= (async () => {
      const begin = performance.now();
      logger.info({ reason }, 'stopping: ingest closed');
      lifecycle = { ...lifecycle, ready: false, stopping: true };
      // A core restart under way finishes first (its requests are held meanwhile).
      await restarting;
      if (!coreLost) core.service.stopAccepting();
      await simulation?.stop();
      for (const socket of connections) socket.close(WS_CLOSE_GOING_AWAY, 'daemon stopping');
      await server.close();
      const endedSessions = coreLost ? [] : await closeCore(core, settings);
      rmSync(infoFile, { force: true });
      removeAccessToken(config.dataDir);
      const durationMs = performance.now() - begin;
      logger.info(
        { endedSessions, durationMs: Math.round(durationMs) },
        'stopped: sessions ended, lock released',
      );
      return { endedSessions, durationMs };
    })();
    return stopping;
  };

  return {
    config,
    url,
    port,
    token,
    get store() {
      return core.store;
    },
    get storage() {
      return core.storage;
    },
    get metrics() {
      return core.metrics.store;
    },
    server,
    get scheduler() {
      return core.scheduler;
    },
    get snapshots() {
      return core.snapshots;
    },
    logger,
    get recovered() {
      return core.recovered;
    },
    get simulation() {
      return simulation;
    },
    restartCore,
    stop,
  };
}
