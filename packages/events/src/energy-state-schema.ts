import { Type, type Static } from '@sinclair/typebox';
import {
  ClosedObject,
  EnergyUnit,
  EnergyUnitSchema,
  FrameIdSchema,
  FreeObject,
  ModelId,
  ModelIdRecord,
  ModelIdSchema,
  NonNegativeInteger,
  NonNegativeNumber,
  SessionIdSchema,
  StringEnum,
  TimestampSchema,
  UnitInterval,
} from './schema-primitives.js';

const HardwareTier = StringEnum(['low', 'mid', 'high'], {
  description: 'Hardware tier classification for performance optimization',
});

const PatternState = ClosedObject({
  interference_detected: Type.Optional(
    Type.Boolean({ description: 'Whether interference pattern is currently active' }),
  ),
  resonance_detected: Type.Optional(
    Type.Boolean({ description: 'Whether resonance pattern is currently active' }),
  ),
  synchronization_level: Type.Optional(UnitInterval('Level of model synchronization (0-1)')),
  harmony_frequency: Type.Optional(NonNegativeNumber('Detected harmonic frequency in Hz')),
});

const DiversityIndex = ClosedObject({
  current: UnitInterval('Current diversity index value'),
  smoothed: Type.Optional(UnitInterval('EMA-smoothed diversity index')),
  peak: Type.Optional(UnitInterval('Peak diversity index in current session')),
  variance: Type.Optional(NonNegativeNumber('Statistical variance of diversity measurements')),
});

const FrameState = ClosedObject(
  {
    frame_id: FrameIdSchema,
    timestamp: TimestampSchema,
    energy_current: EnergyUnit('Energy produced in current frame'),
    energy_delta: Type.Optional(
      Type.Number({ description: 'Change in energy from previous frame' }),
    ),
    fps: Type.Optional(
      Type.Number({ minimum: 0, maximum: 120, description: 'Current frames per second' }),
    ),
    frame_budget_used: Type.Optional(
      Type.Number({
        minimum: 0,
        maximum: 16.67,
        description: 'Milliseconds used in 16.67ms frame budget',
      }),
    ),
    model_active: Type.Optional(ModelId('Currently active model generating energy')),
    pattern_state: Type.Optional(PatternState),
    diversity_index: Type.Optional(DiversityIndex),
  },
  'Current frame-level energy state (ephemeral, 60Hz updates)',
);

const EnergyPeakEntry = ClosedObject({
  timestamp: TimestampSchema,
  energy: EnergyUnitSchema,
  frame_id: Type.Optional(FrameIdSchema),
});

const ModelContribution = ClosedObject({
  energy: EnergyUnitSchema,
  tokens: Type.Optional(NonNegativeInteger()),
  frames: Type.Optional(NonNegativeInteger()),
});

const EnergyAccumulator = ClosedObject(
  {
    total_energy: EnergyUnit('Total energy accumulated since session start'),
    session_start: TimestampSchema,
    frame_count: NonNegativeInteger('Total frames processed in session'),
    token_count: Type.Optional(NonNegativeInteger('Total tokens processed')),
    energy_peaks: Type.Optional(
      Type.Array(EnergyPeakEntry, { description: 'Notable energy peaks during session' }),
    ),
    model_contributions: Type.Optional(
      ModelIdRecord(ModelContribution, 'Energy contributions by model ID'),
    ),
    interference_events: Type.Optional(
      NonNegativeInteger('Count of interference pattern detections'),
    ),
    resonance_events: Type.Optional(NonNegativeInteger('Count of resonance pattern detections')),
  },
  'Running totals and accumulated energy metrics',
);

const SessionContext = ClosedObject(
  {
    session_id: SessionIdSchema,
    user_id: Type.String({ description: 'User identifier' }),
    hardware_tier: HardwareTier,
    models_available: Type.Optional(
      Type.Array(ModelIdSchema, { description: 'List of available AI models' }),
    ),
    session_mode: Type.Optional(
      StringEnum(['normal', 'private', 'debug', 'turbo'], {
        description: 'Session operation mode',
      }),
    ),
    features_enabled: Type.Optional(
      Type.Array(
        StringEnum([
          'single_model',
          'parallel_processing',
          'interference_detection',
          'resonance_detection',
          'ensemble_coordination',
          'turbo_mode',
        ]),
        { description: 'Enabled features based on hardware tier and user level' },
      ),
    ),
  },
  'Session-level context and metadata',
);

const PerformanceMetrics = ClosedObject(
  {
    avg_fps: Type.Optional(NonNegativeNumber('Average frames per second over session')),
    frame_drops: Type.Optional(NonNegativeInteger('Count of dropped frames (>16.67ms)')),
    memory_usage: Type.Optional(
      ClosedObject({
        current_mb: Type.Optional(NonNegativeNumber()),
        peak_mb: Type.Optional(NonNegativeNumber()),
        available_mb: Type.Optional(NonNegativeNumber()),
      }),
    ),
    disk_io: Type.Optional(
      ClosedObject({
        events_queued: Type.Optional(NonNegativeInteger('Events waiting to be written to disk')),
        write_latency_ms: Type.Optional(NonNegativeNumber('Average write latency in milliseconds')),
        batch_size: Type.Optional(
          Type.Integer({ minimum: 1, description: 'Current batch size for event writes' }),
        ),
      }),
    ),
    energy_rate: Type.Optional(NonNegativeNumber('Energy units per second')),
    token_rate: Type.Optional(NonNegativeNumber('Tokens per second')),
  },
  'Real-time performance monitoring data',
);

const IncompleteOperation = ClosedObject({
  operation_type: StringEnum(['ai_generation', 'user_prompt', 'model_switch', 'snapshot_creation']),
  operation_id: Type.String(),
  started_at: TimestampSchema,
  context: Type.Optional(FreeObject('Operation-specific context data')),
});

const RecoveryContext = ClosedObject(
  {
    last_snapshot_id: Type.Optional(NonNegativeInteger('ID of most recent snapshot')),
    last_event_id: Type.Optional(NonNegativeInteger('ID of last processed event')),
    incomplete_operations: Type.Optional(
      Type.Array(IncompleteOperation, {
        description: 'Operations that were in progress during crash',
      }),
    ),
    clean_shutdown: Type.Optional(Type.Boolean({ description: 'Whether last shutdown was clean' })),
  },
  'Context needed for crash recovery and state restoration',
);

/**
 * Schema of the energy state (the spec's energy-state schema): frame state,
 * accumulator, session context, performance metrics, recovery context.
 */
export const EnergyStateSchema = ClosedObject(
  {
    frameState: FrameState,
    energyAccumulator: EnergyAccumulator,
    sessionContext: SessionContext,
    performanceMetrics: Type.Optional(PerformanceMetrics),
    recoveryContext: Type.Optional(RecoveryContext),
    schema_version: Type.String({
      pattern: '^\\d+\\.\\d+\\.\\d+$',
      description: 'Schema version for migration compatibility',
    }),
    created_at: TimestampSchema,
    updated_at: TimestampSchema,
  },
  'Energy state of a WIRTHFORGE session',
);

/** The energy state of a session, as {@link EnergyStateSchema} describes it. */
export type EnergyState = Static<typeof EnergyStateSchema>;
