export { SqliteStorage, openSqliteStorage } from './sqlite-storage.js';
export type { SqliteStorageOptions } from './sqlite-storage.js';

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

export { backupSqliteFile, checkSqliteFileIntegrity } from './sqlite-maintenance.js';

export { sqliteSchemaDialect } from './sqlite-schema-dialect.js';

export { openConnection, sqliteLibraryVersion } from './sqlite-connection.js';
export type {
  OpenConnectionOptions,
  SqliteConnection,
  SqliteRunResult,
  SqliteStatement,
} from './sqlite-connection.js';

export type { CheckpointMode, CheckpointResult } from './sqlite-writer-protocol.js';
