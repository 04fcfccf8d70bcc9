export {
  STATE_ERROR_CODES,
  StateError,
  isStateError,
  type StateErrorCode,
  type StateErrorOptions,
} from './errors.js';
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
  StateCache,
  type CachedState,
  type StateCacheOptions,
  type StateCacheStats,
} from './state-cache.js';
