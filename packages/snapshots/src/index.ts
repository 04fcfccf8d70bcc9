export {
  SNAPSHOT_ERROR_CODES,
  SnapshotError,
  isSnapshotError,
  type SnapshotErrorCode,
  type SnapshotErrorOptions,
} from './errors.js';
export {
  SNAPSHOT_MAGIC,
  SNAPSHOT_SCHEMA_VERSION,
  decodeSnapshot,
  encodeSnapshot,
  snapshotChecksum,
  type EncodedSnapshot,
  type SnapshotBody,
  type StreamMeta,
} from './snapshot-codec.js';
export { applyDelta, diffState, type StructuralDelta } from './structural-delta.js';
export { SnapshotIndex } from './snapshot-index.js';
export {
  createSnapshotStore,
  snapshotMarkerStream,
  type CreatedSnapshot,
  type LoadedState,
  type PointInTime,
  type PruneReport,
  type SnapshotReason,
  type SnapshotRejectReason,
  type SnapshotRejection,
  type SnapshotStore,
  type SnapshotStoreOptions,
  type SnapshotUpcasters,
  type VerifyReport,
} from './snapshot-store.js';
export {
  DEFAULT_SNAPSHOT_EVERY_EVENTS,
  DEFAULT_SNAPSHOT_EVERY_MS,
  startSnapshotScheduler,
  type SnapshotScheduler,
  type SnapshotSchedulerOptions,
} from './snapshot-scheduler.js';
export {
  recoverSession,
  recoverSessions,
  type RecoverSessionsOptions,
  type RecoveredSession,
} from './recover-sessions.js';
export { createdSnapshotJson, type CreatedSnapshotJson } from './created-snapshot-json.js';
