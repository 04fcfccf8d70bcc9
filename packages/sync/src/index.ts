export { SYNC_ERROR_CODES, SyncError, isSyncError } from './errors.js';
export type { SyncErrorCode, SyncErrorOptions } from './errors.js';
export {
  DEFAULT_HUB_SCHEMA,
  DEFAULT_SYNC_INTERVAL_MS,
  MIN_SYNC_INTERVAL_MS,
  defaultSyncConfigFile,
  hubIdOf,
  passwordOfUrl,
  redactHubUrl,
  resolveSyncConfig,
  scrubSecrets,
} from './sync-config.js';
export type { SyncConfig, SyncConfigSources } from './sync-config.js';
export {
  claimStreams,
  hubDevices,
  hubPurges,
  openSyncHub,
  purgeOnHub,
  streamOwners,
} from './sync-hub.js';
export type {
  HubDevice,
  OpenSyncHubOptions,
  SyncDevicesTable,
  SyncHub,
  SyncHubTables,
  SyncPurgesTable,
  SyncStreamsTable,
} from './sync-hub.js';
export {
  deviceIdOf,
  ensureDeviceId,
  hubEventId,
  pull,
  push,
  syncOnce,
  syncStatus,
} from './sync-device.js';
export type {
  LocalStore,
  SyncConflict,
  SyncConflictKind,
  SyncPage,
  SyncReport,
  SyncRunOptions,
  SyncStatus,
} from './sync-device.js';
export { mergeStreams, mergedUserProgress, sessionOwners } from './merged-progress.js';
export type { MergedUserProgress } from './merged-progress.js';
