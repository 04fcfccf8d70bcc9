export {
  InvalidEventError,
  STATE_ERROR_CODES,
  StateError,
  isInvalidEventError,
  isStateError,
  type EventIssue,
  type StateErrorCode,
  type StateErrorOptions,
} from './errors.js';
export {
  createEventStore,
  type AggregateStreamOptions,
  type AggregateStreamResult,
  type AppendToStreamOptions,
  type AppendToStreamResult,
  type Clock,
  type CommitBatchOptions,
  type CommitListener,
  type CommittedBatch,
  type CommitResult,
  type EndSessionOptions,
  type EventStore,
  type EventStoreOptions,
  type OpenSession,
  type ReadAllOptions,
  type ReadStreamOptions,
  type RebuildReport,
  type SessionHandle,
  type StartSessionOptions,
  type Transaction,
  type TransactionResult,
} from './event-store.js';
export {
  prepareAppend,
  sessionIdOfStream,
  type AppendableEvent,
  type PrepareAppendOptions,
  type PreparedAppend,
} from './prepare-append.js';
export { collect, type EventIterable } from './event-iterable.js';
export type { StoreRecord } from './store-record.js';
export type { EventFilter, SubscribeOptions, Subscription } from './store-subscription.js';
// Storage's errors, as the store's operations reject with them.
export {
  ConcurrencyError,
  IdempotencyConflictError,
  StorageError,
  isConcurrencyError,
  isIdempotencyConflictError,
  isStorageError,
  type ExpectedVersion,
  type NewEventRecord,
  type RowWrite,
  type RowWriteResult,
  type StorageErrorCode,
} from '@wirthforge/storage';
export {
  defineProjection,
  evolve,
  type EventMeta,
  type Projection,
  type ProjectionDefinition,
  type ProjectionEvent,
  type RecordedEvent,
} from './projection.js';
export {
  foldEvents,
  foldEventsInPlace,
  isRecordedEvent,
  type AsyncFoldInput,
  type FoldInput,
} from './fold-events.js';
export { recordEvents, type RecordEventsOptions } from './record-events.js';
export { sumValue, type CompensatedSum } from './compensated-sum.js';
export {
  DEFAULT_HARDWARE_TIER,
  DEFAULT_USER_ID,
  DIVERSITY_SMOOTHING,
  ENERGY_FEATURES,
  MAX_ENERGY_PEAKS,
  MAX_INCOMPLETE_OPERATIONS,
  PATTERN_FRAME_RATE,
  energyProjection,
  type DiversityEntry,
  type EnergyFeature,
  type EnergyPeakEntry,
  type EnergyProjectionState,
  type FrameEntry,
  type HardwareTier,
  type IncompleteOperationEntry,
  type ModelContributionEntry,
  type PatternEntry,
  type PerformanceEntry,
  type SessionMode,
} from './energy-projection.js';
export { ENERGY_STATE_SCHEMA_VERSION, toEnergyState } from './to-energy-state.js';
export {
  sessionSummaryProjection,
  type SessionEndReason,
  type SessionStatus,
  type SessionSummary,
} from './session-summary-projection.js';
export {
  ENERGY_PER_EXPERIENCE_POINT,
  EXPERIENCE_POINTS,
  LEVEL_NAMES,
  levelName,
  userProgressProjection,
  type Level,
  type LevelName,
  type UnlockedLevel,
  type UserProgress,
  type UserSessionEntry,
} from './user-progress-projection.js';
export { canonicalEncode, encodedSize } from './canonical-encode.js';
export { stateHash } from './state-hash.js';
export {
  CHECKPOINT_KEY_PREFIX,
  DEFAULT_CHECKPOINT_EVERY,
  type CheckpointRejection,
} from './projection-checkpoint.js';
export {
  StateCache,
  type CachedState,
  type StateCacheOptions,
  type StateCacheStats,
} from './state-cache.js';
export {
  REJECT_REASONS,
  createRecorder,
  type AppendedEvent,
  type FrameAck,
  type RecordResult,
  type Recorder,
  type RecorderAuditEntry,
  type RecorderAuditOptions,
  type RecorderFailure,
  type RecorderOptions,
  type RecorderPipelineOptions,
  type RecorderRejection,
  type RecorderStats,
  type RecorderStore,
  type RejectReason,
} from './recorder/recorder.js';
export {
  COALESCABLE_EVENT_TYPES,
  isCriticalEventType,
  type CoalescableEventType,
} from './recorder/is-critical-event-type.js';
export type { CoalescedMarker } from './recorder/telemetry-coalescer.js';
export type { EventEnricher, TextHashOptions } from './recorder/event-enricher.js';
export { createPromptTextHasher, hashPromptText } from './recorder/hash-prompt-text.js';
export { createTokenTextHasher, hashTokenText } from './recorder/hash-token-text.js';
