export type {
  AppendBatchOptions,
  AppendBatchResult,
  EventStorage,
  ExpectedVersion,
  NewEventRecord,
  ReadAllOptions,
  ReadStreamOptions,
  StoredEventRecord,
  StreamAppend,
  StreamAppendResult,
  StreamKind,
} from './event-storage.js';
export { streamKindOf } from './event-storage.js';
export {
  ARCHIVED_EVENT_IDS_TABLE,
  ARCHIVED_SEGMENTS_TABLE,
  findArchivedEventIds,
} from './cold-segment-source.js';
export type {
  ArchivedEventIdsTable,
  ArchivedSegmentsTable,
  ColdSegmentColumns,
  ColdSegmentEvents,
  ColdSegmentRecords,
  ColdSegmentRef,
  ColdSegmentSource,
} from './cold-segment-source.js';
export { PageItemIterator, readAllPages, readStreamPages } from './read-pages.js';
export { eventContentDigest } from './event-content-digest.js';
export type { EventContentInput } from './event-content-digest.js';

export type {
  ActiveSessionsView,
  AuditLogView,
  AuditRow,
  AuditTable,
  Database,
  EventRow,
  EventTypesTable,
  EventsTable,
  MetadataTable,
  NewEventRow,
  RollupRow,
  RollupsTable,
  SealedEventIdsTable,
  SegmentRow,
  SegmentsTable,
  SessionEnergySummaryView,
  SessionRow,
  SessionStatus,
  SessionsTable,
  SnapshotIndexView,
  SnapshotKind,
  SnapshotRow,
  SnapshotsTable,
  StreamRow,
  StreamsTable,
  UserRow,
  UsersTable,
} from './database.js';

export {
  ConcurrencyError,
  IdempotencyConflictError,
  STORAGE_ERROR_CODES,
  StorageError,
  invalidArgument,
  isConcurrencyError,
  isIdempotencyConflictError,
  isRetryableCode,
  isStorageError,
  storageErrorFromJSON,
  storageErrorToJSON,
  toStorageError,
} from './errors.js';
export type { StorageErrorCode, StorageErrorJSON, StorageErrorOptions } from './errors.js';

export { EVENT_CHECKSUM_ALGORITHM, eventChecksum } from './event-checksum.js';
export type { EventChecksumInput } from './event-checksum.js';

export { ROW_WRITE_KINDS, rowWriteQuery, rowWriteStreams, validateRowWrite } from './row-write.js';
export type {
  AuditInsert,
  MetadataSet,
  RollupUpsert,
  RowWrite,
  RowWriteQuery,
  RowWriteResult,
  SessionEnd,
  SessionUpsert,
  SnapshotDelete,
  SnapshotInsert,
  UserUpsert,
} from './row-write.js';

export {
  MAX_BATCH_PAYLOAD_BYTES,
  MAX_EVENTS_PER_BATCH,
  MAX_EVENT_ID_LENGTH,
  MAX_PAYLOAD_BYTES,
  MAX_SCHEMA_VERSION,
  MAX_STREAM_NAME_LENGTH,
  MAX_TYPE_NAME_LENGTH,
  expectedVersionMatches,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  validateAppendBatch,
  validateExpectedVersion,
  validateReadAllOptions,
  validateReadStreamOptions,
  validateStreamName,
} from './validate-append-batch.js';
export type { ResolvedReadAllOptions, ResolvedReadStreamOptions } from './validate-append-batch.js';

export type { SchemaDialect } from './schema-dialect.js';
export { INITIAL_MIGRATION, SEALED_EVENT_IDS_MIGRATION, createMigrations } from './migrations.js';
export { migrateToLatest, readSchemaVersion } from './migrate-to-latest.js';
export type { MigrateOptions, MigrationReport } from './migrate-to-latest.js';
export {
  SCHEMA_VERSION,
  SCHEMA_VERSION_KEY,
  assertSchemaVersionSupported,
  parseSchemaVersion,
} from './schema-version.js';

export { AuditRepository } from './repositories/audit-repository.js';
export type { AuditListOptions, AuditRecord } from './repositories/audit-repository.js';
export { MetadataRepository } from './repositories/metadata-repository.js';
export { SessionRepository } from './repositories/session-repository.js';
export type { SessionListOptions, SessionRecord } from './repositories/session-repository.js';
export { SnapshotRepository } from './repositories/snapshot-repository.js';
export type { LatestSnapshotOptions, SnapshotInfo } from './repositories/snapshot-repository.js';
export { UserRepository } from './repositories/user-repository.js';
export type { UserRecord } from './repositories/user-repository.js';
export { createMemoryStorage, type MemoryStorage } from './memory-storage.js';
