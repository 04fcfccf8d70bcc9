import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEventStore, type EventStore } from '@wirthforge/eventstore';
import { isStorageError } from '@wirthforge/storage';
import { openArchive } from '@wirthforge/archive';
import { openSqliteStorage, type SqliteStorage } from '@wirthforge/storage-sqlite';
import type { FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import type { WebSocket } from 'ws';
import { removeAccessToken, writeAccessToken } from './access-token.js';
import type { StoreMetrics } from '@wirthforge/metrics';
import { AnalyticsQueries } from '@wirthforge/metrics';
import { isLoopbackHost, type DaemonConfig } from './daemon-config.js';
import { createDaemonMetrics } from './daemon-metrics.js';
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
  /** Stops ingest, waits for what is in flight, ends open sessions cleanly, closes the store and releases the lock. Idempotent. */
  stop(reason?: string): Promise<StopReport>;
}

/** The default logger: JSON lines on stdout. */
export function createDaemonLogger(level: DaemonConfig['logLevel']): Logger {
  return pino({ level, base: { service: 'wfstated', pid: process.pid } });
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
  let rawStorage: SqliteStorage;
  try {
    rawStorage = await openSqliteStorage({
      path: databasePath,
      synchronous: config.sync,
      // Reads of archived sessions go to the archive partitions.
      coldSegments: openArchive({ databasePath }).coldSegments,
    });
  } catch (error) {
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
  let simulation: SimulatedFeed | undefined;
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
    throw error;
  }

  let lifecycle: DaemonLifecycle = { ready: false, stopping: false, startedAt };
  const connections = new Set<WebSocket>();
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
      metricsRoutes({
        metrics: daemonMetrics.store,
        queries: new AnalyticsQueries(storage.db),
        store,
      }),
      maintenanceRoutes({ snapshots: snapshots.snapshots }),
      ...(options.plugins ?? []),
    ],
  });
  try {
    await server.listen({ host: config.host, port: config.port });
  } catch (error) {
    await daemonMetrics.close();
    await store.close();
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
  scheduler.start();
  snapshots.start();

  try {
    // Loaded only when asked: the simulator costs memory a daemon without it does not need.
    simulation = config.simulate
      ? await (
          await import('./simulated-feed.js')
        ).startSimulatedFeed(store, logger, config.simulateSeconds, new Date(), daemonMetrics.store)
      : undefined;
  } catch (error) {
    await scheduler.stop();
    await snapshots.stop();
    await server.close();
    await daemonMetrics.close();
    await store.close();
    throw error;
  }
  lifecycle = { ...lifecycle, ready: true };
  logger.info(
    { url, dataDir: config.dataDir, recovered: recovered.length, jobs: scheduler.jobs },
    'ready',
  );

  let stopping: Promise<StopReport> | undefined;
  const stop = (reason = 'stop requested'): Promise<StopReport> => {
    stopping ??= (async () => {
      const begin = performance.now();
      logger.info({ reason }, 'stopping: ingest closed');
      lifecycle = { ...lifecycle, ready: false, stopping: true };
      service.stopAccepting();
      await simulation?.stop();
      for (const socket of connections) socket.close(WS_CLOSE_GOING_AWAY, 'daemon stopping');
      await server.close();
      await service.drain();
      await scheduler.stop();
      // Peaks and anomalies found in the last batches go to their sessions before they end.
      await daemonMetrics.flushDetected();
      const endedSessions: string[] = [];
      for (const open of await store.openSessions()) {
        if (open.private) continue;
        try {
          await store.endSession(open.sessionId, { reason: 'system_shutdown' });
          endedSessions.push(open.sessionId);
        } catch (error) {
          logger.error({ err: error, session: open.sessionId }, 'could not end a session at stop');
        }
      }
      // The session_end snapshots of the sessions just ended: the final snapshots.
      try {
        const counts = await snapshots.stop();
        logger.info(counts, 'snapshots written');
      } catch (error) {
        logger.error({ err: error }, 'final snapshots failed');
      }
      if (options.onStop !== undefined) await options.onStop(store);
      try {
        await daemonMetrics.close();
      } catch (error) {
        logger.error({ err: error }, 'detected energy events were lost at stop');
      }
      await store.close();
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
    store,
    storage,
    metrics: daemonMetrics.store,
    server,
    scheduler,
    snapshots,
    logger,
    recovered,
    simulation,
    stop,
  };
}
