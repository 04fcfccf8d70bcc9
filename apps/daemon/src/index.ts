export {
  DAEMON_ERROR_STATUS,
  DaemonError,
  isDaemonError,
  type DaemonErrorCode,
  type DaemonErrorOptions,
  type RequestIssue,
} from './errors.js';
export {
  DAEMON_USAGE,
  DEFAULT_BODY_LIMIT_BYTES,
  DEFAULT_PORT,
  DEFAULT_WS_MAX_BUFFERED_BYTES,
  daemonConfig,
  defaultDataDir,
  isLoopbackHost,
  resolveDaemonConfig,
  type ConfigSources,
  type DaemonConfig,
  type DaemonSettings,
  type ResolvedConfig,
} from './daemon-config.js';
export {
  STREAM_PROTOCOL,
  TOKEN_FILE,
  TOKEN_PROTOCOL_PREFIX,
  presentedToken,
  tokenMatches,
  writeAccessToken,
  type PresentedCredentials,
} from './access-token.js';
export { Scheduler, type JobRun, type ScheduledJob, type SchedulerOptions } from './scheduler.js';
export {
  replayRecovery,
  type MicrosClock,
  type RecoveredSession,
  type SessionRecovery,
} from './session-recovery.js';
export {
  DEFAULT_SNAPSHOT_RETENTION_MS,
  DaemonSnapshots,
  type DaemonSnapshotsOptions,
  type SnapshotCounts,
} from './daemon-snapshots.js';
export {
  MAX_BATCH_EVENTS,
  SessionService,
  parseStatePoint,
  type IngestObserver,
  type IngestResult,
  type ListEventsOptions,
  type SessionServiceOptions,
  type SessionState,
  type StatePoint,
} from './session-service.js';
export {
  EXPORT_CONTENT_TYPES,
  EXPORT_FORMATS,
  REDACTED,
  exportedRecord,
  renderExport,
  type ExportFormat,
  type ExportedRecord,
} from './export-session.js';
export {
  API_VERSION,
  MSGPACK,
  createHttpServer,
  errorBody,
  type DaemonContext,
  type DaemonLifecycle,
  type DaemonPlugin,
  type HttpServerOptions,
} from './http-server.js';
export { WS_CLOSE_GOING_AWAY, WS_CLOSE_SLOW_CONSUMER, type StreamOptions } from './stream-route.js';
export { SIMULATED_MODELS, startSimulatedFeed, type SimulatedFeed } from './simulated-feed.js';
export {
  DAEMON_INFO_FILE,
  DAEMON_VERSION,
  DATABASE_FILE,
  DEFAULT_JOB_INTERVALS,
  createDaemonLogger,
  startDaemon,
  type Daemon,
  type StartDaemonOptions,
  type StopReport,
} from './start-daemon.js';
export { EXIT_CODES, runDaemonCli, type DaemonCliIo } from './run-daemon-cli.js';
export {
  DAEMON_ENV,
  DAEMON_NODE_FLAGS,
  WORKER_NODE_FLAGS,
  WORKER_OLD_SPACE_MB,
  daemonShebang,
  missingNodeFlags,
} from './node-flags.js';
export { openApiDocument } from './openapi-document.js';
export {
  DAEMON_METRIC_NAMES,
  JOB_OPERATIONS,
  createDaemonMetrics,
  type DaemonMetrics,
  type DaemonMetricsOptions,
} from './daemon-metrics.js';
export {
  DEFAULT_ANALYTICS_RANGE_US,
  RESOLUTIONS,
  metricsRoutes,
  timeRange,
  type MetricsRoutesOptions,
} from './metrics-routes.js';
export {
  DaemonClient,
  readDaemonAddress,
  type DaemonAddress,
  type StreamConnection,
} from './daemon-client.js';
