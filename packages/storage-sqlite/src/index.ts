export { SqliteStorage, openSqliteStorage } from './sqlite-storage.js';
export type { SqliteStorageOptions } from './sqlite-storage.js';
export {
  inspectSqliteWal,
  readWalDamageReports,
  scanSqliteWal,
  walChecksum,
} from './sqlite-wal-check.js';
export type { WalDamage, WalScan } from './sqlite-wal-check.js';
export { repairSqliteWal, salvageSqliteWal } from './sqlite-wal-salvage.js';
export type {
  CorrectedWalFrame,
  DamagedWalFrame,
  DroppedWalFrame,
  WalRepair,
  WalSalvage,
} from './sqlite-wal-salvage.js';
export { headMarkerPath, readHeadMarker } from './sqlite-head-marker.js';
export type { HeadMarker } from './sqlite-head-marker.js';

export { applyReaderPragmas, applyWriterPragmas } from './sqlite-pragmas.js';
export type { SqlitePragmaReport, SynchronousMode, WriterPragmaOptions } from './sqlite-pragmas.js';

export {
  MIN_SQLITE_VERSION,
  assertSupportedSqliteVersion,
  compareSqliteVersions,
} from './sqlite-version.js';

export { classifySqliteError, sqliteErrorCode, toSqliteStorageError } from './errors.js';

export { acquireLockFile, lockFilePath, readLockFile } from './lock-file.js';
export type { LockFile, LockOwner } from './lock-file.js';

export { backupSqliteDatabase } from './sqlite-backup.js';
export type { BackupOptions, BackupReport } from './sqlite-backup.js';

export { checkSqliteIntegrity } from './sqlite-integrity.js';
export type {
  IntegrityCheckOptions,
  IntegrityProblem,
  IntegrityReport,
} from './sqlite-integrity.js';

export {
  backupSqliteFile,
  checkSqliteFileIntegrity,
  deleteSqliteStreams,
  vacuumSqliteFileBesideWriter,
} from './sqlite-maintenance.js';

export { sqliteSchemaDialect } from './sqlite-schema-dialect.js';

export { openConnection, sqliteLibraryVersion } from './sqlite-connection.js';
export type {
  OpenConnectionOptions,
  SqliteConnection,
  SqliteRunResult,
  SqliteStatement,
} from './sqlite-connection.js';

export type { CheckpointMode, CheckpointResult } from './sqlite-writer-protocol.js';

export { DATABASE_FILE_NAME, resolveDataDirectory } from './data-directory.js';
export type { DataDirectory, ResolveDataDirectoryOptions } from './data-directory.js';

export { SqliteReadOnlyStorage, openSqliteReadOnlyStorage } from './sqlite-read-only-storage.js';
export type { SqliteReadOnlyStorageOptions } from './sqlite-read-only-storage.js';

export {
  PURGED_POSITIONS_KEY,
  deleteStreams,
  mergePositionRanges,
  purgeSqliteFile,
  readPurgedPositions,
  streamMetadataKeySuffix,
} from './sqlite-purge.js';
export type {
  PositionRange,
  PurgeOptions,
  PurgeReport,
  PurgeTarget,
  PurgedRows,
} from './sqlite-purge.js';

export { vacuumSqliteFile } from './sqlite-vacuum.js';
export type { VacuumReport } from './sqlite-vacuum.js';

export { DEFAULT_SEAL_OPTIONS, SEGMENT_MAX_SPAN_KEY } from './sqlite-sealer.js';

export { archivedHeadPosition, hasArchivedSegments } from './archived-segments.js';
export type { SealOptions } from './sqlite-sealer.js';
