export { Archive, openArchive } from './archive.js';
export type {
  ArchiveOptions,
  ArchiveProblem,
  ArchiveProblemKind,
  ArchiveRunOptions,
  ArchiveRunReport,
  ArchiveVerifyReport,
  MovedSession,
  PartitionInfo,
  ReclaimReport,
  RestoreReport,
  RestoreTarget,
  RetentionDecision,
  RetentionPolicy,
  RetentionReport,
} from './archive.js';
export { ArchiveColdSegments, describeColdSegment } from './cold-segments.js';
export { ArchiveError, isArchiveError } from './errors.js';
export type { ArchiveErrorCode, ArchiveErrorOptions } from './errors.js';
export { PARTITION_FORMAT, isPartitionName, partitionNameOf } from './partition-file.js';
export { purgeArchived } from './purge-archived.js';
export type {
  PurgeArchivedOptions,
  PurgeArchivedReport,
  PurgeArchivedTarget,
  PurgedPartition,
} from './purge-archived.js';
