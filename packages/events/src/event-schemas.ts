import {
  Type,
  type Static,
  type TInteger,
  type TLiteral,
  type TObject,
  type TOptional,
  type TProperties,
  type TString,
} from '@sinclair/typebox';
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

const EVENT_ID_DESCRIPTION = 'Unique event identifier (optional; makes appends idempotent)';

/**
 * The envelope every event shares (the spec's `BaseEvent`): session id, timestamp and
 * type are required; frame id and event id optional; any other property is allowed
 * and kept.
 */
export const EventEnvelopeSchema = Type.Object(
  {
    session_id: SessionIdSchema,
    timestamp: TimestampSchema,
    type: Type.String({ minLength: 1, description: 'Event type identifier' }),
    frame_id: Type.Optional(FrameIdSchema),
    event_id: Type.Optional(Type.String({ description: EVENT_ID_DESCRIPTION })),
  },
  { additionalProperties: true, description: 'Fields every WIRTHFORGE event carries' },
);

/**
 * The envelope of any event, known type or not, with the extra properties the spec
 * allows.
 */
export type EventEnvelope = Static<typeof EventEnvelopeSchema> & { [key: string]: unknown };

/** The TypeBox type of an event whose `frame_id` is optional. */
export type TEvent<T extends string, D extends TProperties> = TObject<{
  session_id: TString;
  timestamp: TString;
  type: TLiteral<T>;
  frame_id: TOptional<TInteger>;
  event_id: TOptional<TString>;
  data: TObject<D>;
}>;

/** The TypeBox type of an event that belongs to a frame (`frame_id` required). */
export type TFrameEvent<T extends string, D extends TProperties> = TObject<{
  session_id: TString;
  timestamp: TString;
  type: TLiteral<T>;
  frame_id: TInteger;
  event_id: TOptional<TString>;
  data: TObject<D>;
}>;

function defineEvent<T extends string, D extends TProperties>(
  type: T,
  description: string,
  data: TObject<D>,
): TEvent<T, D> {
  return Type.Object(
    {
      session_id: SessionIdSchema,
      timestamp: TimestampSchema,
      type: Type.Literal(type),
      frame_id: Type.Optional(FrameIdSchema),
      event_id: Type.Optional(Type.String({ description: EVENT_ID_DESCRIPTION })),
      data,
    },
    { additionalProperties: true, description },
  );
}

function defineFrameEvent<T extends string, D extends TProperties>(
  type: T,
  description: string,
  data: TObject<D>,
): TFrameEvent<T, D> {
  return Type.Object(
    {
      session_id: SessionIdSchema,
      timestamp: TimestampSchema,
      type: Type.Literal(type),
      frame_id: FrameIdSchema,
      event_id: Type.Optional(Type.String({ description: EVENT_ID_DESCRIPTION })),
      data,
    },
    { additionalProperties: true, description },
  );
}

const SystemStart = defineEvent(
  'system.start',
  'A session started',
  ClosedObject({
    version: Type.String({ description: 'WIRTHFORGE version' }),
    user_id: Type.String({ description: 'User identifier' }),
    model_id: Type.Optional(ModelIdSchema),
    hardware_tier: Type.Optional(StringEnum(['low', 'mid', 'high'])),
    mode: StringEnum(['offline', 'online', 'debug', 'private']),
    features_enabled: Type.Optional(Type.Array(Type.String())),
    config: Type.Optional(FreeObject('System configuration snapshot')),
  }),
);

const SystemEnd = defineEvent(
  'system.end',
  'A session ended',
  ClosedObject({
    duration_ms: NonNegativeNumber('Session duration in milliseconds'),
    total_energy: Type.Optional(EnergyUnitSchema),
    total_events: Type.Optional(NonNegativeInteger()),
    clean_shutdown: Type.Boolean(),
    reason: StringEnum(['user_exit', 'system_shutdown', 'error', 'crash']),
  }),
);

const EnergyUpdate = defineFrameEvent(
  'energy.update',
  'Energy produced in one frame (60 Hz telemetry)',
  ClosedObject({
    energy: EnergyUnit('Energy units in this update'),
    accumulator: EnergyUnit('Total accumulated energy'),
    model_id: ModelIdSchema,
    fps: Type.Optional(Type.Number({ minimum: 0, maximum: 120 })),
    frame_budget_used: Type.Optional(
      Type.Number({ minimum: 0, maximum: 16.67, description: 'Milliseconds used in frame budget' }),
    ),
    diversity_index: Type.Optional(UnitInterval()),
    token_count: Type.Optional(NonNegativeInteger()),
  }),
);

const EnergyPeak = defineFrameEvent(
  'energy.peak',
  'Energy crossed the peak detection threshold',
  ClosedObject({
    energy: EnergyUnitSchema,
    threshold: EnergyUnit('Peak detection threshold'),
    model_id: ModelIdSchema,
    context: Type.Optional(Type.String({ description: 'Context that triggered the peak' })),
  }),
);

const EnergyAnomaly = defineFrameEvent(
  'energy.anomaly',
  'A rolling window of a metric departed from its robust baseline (median and MAD)',
  ClosedObject({
    metric: StringEnum(['energy', 'token_rate', 'fps', 'frame_budget_used']),
    model_id: ModelIdSchema,
    value: Type.Number({ description: 'The value found anomalous (per second of the series)' }),
    median: Type.Number({ description: 'Median of the window before the value' }),
    mad: NonNegativeNumber('Median absolute deviation of that window'),
    score: Type.Number({
      description: 'Robust z-score: (value - median) / (1.4826 * MAD), MAD floored',
    }),
    threshold: NonNegativeNumber('Absolute score from which a value is anomalous'),
    direction: StringEnum(['high', 'low']),
    window_size: Type.Integer({ minimum: 1, description: 'Points in the window' }),
    window_seconds: NonNegativeNumber('Seconds of the series one window covers'),
    window_start: TimestampSchema,
  }),
);

const UserPrompt = defineEvent(
  'user.prompt',
  'The user sent a prompt (its text is not part of the event)',
  ClosedObject({
    prompt_id: Type.String({ description: 'Unique prompt identifier' }),
    interface: StringEnum(['text', 'voice', 'gesture', 'api']),
    length: Type.Optional(NonNegativeInteger('Character length of prompt')),
    truncated: Type.Boolean({ description: 'Whether prompt was truncated' }),
    hash: Type.Optional(Type.String({ description: 'SHA-256 hash of prompt content (privacy)' })),
    language: Type.Optional(Type.String({ description: 'Detected language code' })),
    intent: Type.Optional(Type.String({ description: 'Detected user intent category' })),
  }),
);

const UserAction = defineEvent(
  'user.action',
  'The user acted on the interface',
  ClosedObject({
    action: StringEnum(['pause', 'resume', 'stop', 'reset', 'export', 'settings', 'level_select']),
    context: Type.Optional(FreeObject('Action-specific context data')),
    ui_element: Type.Optional(Type.String({ description: 'UI element that triggered action' })),
  }),
);

const AiOutput = defineEvent(
  'ai.output',
  'A model generated one token',
  ClosedObject({
    token: Type.Optional(Type.String({ description: 'Generated token (if not privacy mode)' })),
    token_hash: Type.Optional(Type.String({ description: 'Token hash for privacy mode' })),
    prompt_id: Type.String({ description: 'Associated prompt ID' }),
    token_index: NonNegativeInteger(),
    is_last: Type.Boolean(),
    model_id: ModelIdSchema,
    logprobs: Type.Optional(
      Type.Array(Type.Number(), { description: 'Log probabilities for token' }),
    ),
    entropy: Type.Optional(NonNegativeNumber('Token entropy measure')),
    generation_time_ms: Type.Optional(NonNegativeNumber()),
  }),
);

const AiResponseComplete = defineEvent(
  'ai.response_complete',
  'A model finished its response to a prompt',
  ClosedObject({
    prompt_id: Type.String(),
    model_id: ModelIdSchema,
    total_tokens: NonNegativeInteger(),
    total_energy: Type.Optional(EnergyUnitSchema),
    generation_time_ms: Type.Optional(NonNegativeNumber()),
    tokens_per_second: Type.Optional(NonNegativeNumber()),
    completion_reason: StringEnum([
      'finished',
      'length_limit',
      'stop_token',
      'user_interrupt',
      'error',
    ]),
  }),
);

const PatternInterference = defineFrameEvent(
  'pattern.interference',
  'An interference pattern between models was detected',
  ClosedObject({
    models_involved: Type.Array(ModelIdSchema, { minItems: 2 }),
    interference_type: StringEnum(['constructive', 'destructive', 'neutral']),
    strength: UnitInterval(),
    frequency: Type.Optional(NonNegativeNumber('Detected frequency in Hz')),
    duration_ms: Type.Optional(NonNegativeNumber()),
  }),
);

const PatternResonance = defineFrameEvent(
  'pattern.resonance',
  'A resonance pattern between models was detected',
  ClosedObject({
    models_involved: Type.Array(ModelIdSchema, { minItems: 2 }),
    resonance_frequency: NonNegativeNumber('Resonance frequency in Hz'),
    amplitude: UnitInterval(),
    synchronization_level: UnitInterval(),
    harmony_detected: Type.Optional(Type.Boolean()),
    energy_amplification: Type.Optional(
      Type.Number({ minimum: 1, description: 'Energy amplification factor' }),
    ),
  }),
);

const EnsembleCoordination = defineEvent(
  'ensemble.coordination',
  'Several models coordinated on one task',
  ClosedObject({
    models: Type.Array(ModelIdSchema),
    coordination_mode: StringEnum(['parallel', 'sequential', 'hierarchical', 'competitive']),
    diversity_index: UnitInterval(),
    consensus_reached: Type.Optional(Type.Boolean()),
    energy_distribution: Type.Optional(ModelIdRecord(EnergyUnitSchema, 'Energy per model id')),
  }),
);

const ExperienceLevelUnlock = defineEvent(
  'experience.level_unlock',
  'The user unlocked an experience level',
  ClosedObject({
    level: Type.Integer({ minimum: 1, maximum: 5 }),
    level_name: StringEnum(['Lightning', 'Stream', 'Interference', 'Resonance', 'Orchestration']),
    trigger_condition: Type.String({ description: 'Condition that triggered unlock' }),
    features_unlocked: Type.Optional(Type.Array(Type.String())),
    energy_threshold: Type.Optional(EnergyUnitSchema),
  }),
);

const ExperienceCelebration = defineEvent(
  'experience.celebration',
  'The interface celebrated an achievement',
  ClosedObject({
    celebration_type: StringEnum([
      'resonance_achieved',
      'interference_mastered',
      'energy_peak',
      'session_milestone',
      'level_complete',
    ]),
    intensity: StringEnum(['subtle', 'moderate', 'spectacular']),
    visual_effects: Type.Optional(Type.Array(Type.String())),
    duration_ms: Type.Optional(NonNegativeNumber()),
    trigger_data: Type.Optional(FreeObject('Data that triggered celebration')),
  }),
);

const HealthHeartbeat = defineEvent(
  'health.heartbeat',
  'Periodic system health report',
  ClosedObject({
    system_health: StringEnum(['healthy', 'warning', 'critical']),
    fps: NonNegativeNumber(),
    memory_usage_mb: Type.Optional(NonNegativeNumber()),
    disk_usage_mb: Type.Optional(NonNegativeNumber()),
    active_connections: Type.Optional(NonNegativeInteger()),
    event_queue_size: Type.Optional(NonNegativeInteger()),
    models_loaded: Type.Optional(Type.Array(ModelIdSchema)),
  }),
);

const HealthPerformance = defineEvent(
  'health.performance',
  'A performance metric crossed a threshold',
  ClosedObject({
    metric: StringEnum([
      'frame_drop',
      'high_latency',
      'memory_pressure',
      'disk_slow',
      'queue_backlog',
    ]),
    value: Type.Number(),
    threshold: Type.Optional(Type.Number()),
    severity: StringEnum(['info', 'warning', 'error', 'critical']),
    mitigation: Type.Optional(Type.String({ description: 'Automatic mitigation taken' })),
  }),
);

const StateSnapshotCreated = defineEvent(
  'state.snapshot_created',
  'A state snapshot was written',
  ClosedObject({
    snapshot_id: NonNegativeInteger(),
    snapshot_type: StringEnum(['periodic', 'session_end', 'migration', 'manual']),
    state_size_bytes: NonNegativeInteger(),
    events_since_last: Type.Optional(NonNegativeInteger()),
    compression_ratio: Type.Optional(UnitInterval()),
  }),
);

const ErrorEvent = defineEvent(
  'error',
  'A component reported an error',
  ClosedObject({
    error_code: Type.String(),
    error_message: Type.String(),
    component: StringEnum([
      'orchestrator',
      'decipher',
      'state_manager',
      'websocket',
      'model',
      'ui',
    ]),
    severity: StringEnum(['low', 'medium', 'high', 'critical']),
    recoverable: Type.Boolean(),
    stack_trace: Type.Optional(Type.String()),
    context: Type.Optional(FreeObject('Error context data')),
  }),
);

const ModelLoaded = defineEvent(
  'model.loaded',
  'A model was loaded and can generate',
  ClosedObject({
    model_id: ModelIdSchema,
    load_time_ms: NonNegativeNumber('Time from load request to ready, in milliseconds'),
    memory_mb: Type.Optional(NonNegativeNumber('Memory the loaded model occupies, in MB')),
    provider: Type.Optional(
      Type.String({ description: "Runtime serving the model, e.g. 'ollama'" }),
    ),
    context_length: Type.Optional(NonNegativeInteger('Context window in tokens')),
  }),
);

const ModelUnloaded = defineEvent(
  'model.unloaded',
  'A model was unloaded',
  ClosedObject({
    model_id: ModelIdSchema,
    reason: StringEnum([
      'user_request',
      'idle_timeout',
      'memory_pressure',
      'model_switch',
      'session_end',
      'error',
    ]),
    memory_freed_mb: Type.Optional(NonNegativeNumber('Memory released, in MB')),
    loaded_duration_ms: Type.Optional(
      NonNegativeNumber('How long the model stayed loaded, in milliseconds'),
    ),
  }),
);

const ModelSwitched = defineEvent(
  'model.switched',
  'The active model changed',
  ClosedObject({
    from_model_id: ModelId('Model active before the switch'),
    to_model_id: ModelId('Model active after the switch'),
    reason: StringEnum(['user_request', 'automatic', 'fallback', 'ensemble']),
    switch_time_ms: Type.Optional(NonNegativeNumber('Time the switch took, in milliseconds')),
  }),
);

const ModelFailed = defineEvent(
  'model.failed',
  'A model failed to load, generate or unload',
  ClosedObject({
    model_id: ModelIdSchema,
    operation: StringEnum(['load', 'inference', 'unload']),
    error_code: Type.String(),
    error_message: Type.String(),
    recoverable: Type.Boolean(),
    retry_count: Type.Optional(
      NonNegativeInteger('Attempts made before this failure was reported'),
    ),
  }),
);

const SessionRecovered = defineEvent(
  'session.recovered',
  'A session that did not end cleanly was rebuilt from a snapshot and its later events',
  ClosedObject({
    recovered_from: ClosedObject(
      {
        snapshot_id: Type.Optional(
          NonNegativeInteger('Snapshot used; absent when replayed from the start'),
        ),
        position: NonNegativeInteger(
          'Global position the snapshot covers (0 when replayed from the start)',
        ),
        version: NonNegativeInteger(
          'Stream version the snapshot covers (0 when replayed from the start)',
        ),
      },
      'Where the rebuilt state came from',
    ),
    events_replayed: NonNegativeInteger('Events applied on top of the snapshot'),
    reason: StringEnum(['unclean_shutdown', 'corrupt_snapshot', 'manual']),
    outcome: Type.Optional(StringEnum(['resumed', 'closed'])),
    recovery_time_ms: Type.Optional(NonNegativeNumber()),
  }),
);

/**
 * The schema of every event type, by type name. Each is a TypeBox schema, hence a
 * JSON Schema object too.
 *
 * @example
 * ```ts
 * import { TypeCompiler } from '@sinclair/typebox/compiler';
 * const check = TypeCompiler.Compile(eventSchemas['energy.update']);
 * ```
 */
export const eventSchemas = {
  'system.start': SystemStart,
  'system.end': SystemEnd,
  'energy.update': EnergyUpdate,
  'energy.peak': EnergyPeak,
  'energy.anomaly': EnergyAnomaly,
  'user.prompt': UserPrompt,
  'user.action': UserAction,
  'ai.output': AiOutput,
  'ai.response_complete': AiResponseComplete,
  'pattern.interference': PatternInterference,
  'pattern.resonance': PatternResonance,
  'ensemble.coordination': EnsembleCoordination,
  'experience.level_unlock': ExperienceLevelUnlock,
  'experience.celebration': ExperienceCelebration,
  'health.heartbeat': HealthHeartbeat,
  'health.performance': HealthPerformance,
  'state.snapshot_created': StateSnapshotCreated,
  error: ErrorEvent,
  'model.loaded': ModelLoaded,
  'model.unloaded': ModelUnloaded,
  'model.switched': ModelSwitched,
  'model.failed': ModelFailed,
  'session.recovered': SessionRecovered,
} as const;

/** Name of an event type this code knows, e.g. `'energy.update'`. */
export type EventType = keyof typeof eventSchemas;

/** Every event type this code knows, in the order of the spec, then model and session events. */
export const EVENT_TYPES: readonly EventType[] = Object.freeze(
  Object.keys(eventSchemas) as EventType[],
);

/**
 * Any WIRTHFORGE event of a known type: a union discriminated by `type`.
 *
 * @example
 * ```ts
 * function energyOf(event: WirthforgeEvent): number {
 *   switch (event.type) {
 *     case 'energy.update':
 *     case 'energy.peak':
 *       return event.data.energy;
 *     default:
 *       return 0;
 *   }
 * }
 * ```
 */
export type WirthforgeEvent = {
  [T in EventType]: Static<(typeof eventSchemas)[T]>;
}[EventType];

/**
 * The event of one type.
 *
 * @example
 * ```ts
 * const update: EventOfType<'energy.update'> = {
 *   session_id: '20250817T194800Z_001',
 *   timestamp: '2025-08-17T19:48:05.150000Z',
 *   type: 'energy.update',
 *   frame_id: 1,
 *   data: { energy: 4.2, accumulator: 4.2, model_id: 'ollama/llama2:7b' },
 * };
 * ```
 */
export type EventOfType<T extends EventType> = Extract<WirthforgeEvent, { type: T }>;

/** The `data` of the event of one type. */
export type EventData<T extends EventType> = EventOfType<T>['data'];

const KNOWN_TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);

/** Whether `type` names an event type this code knows. */
export function isKnownEventType(type: unknown): type is EventType {
  return typeof type === 'string' && KNOWN_TYPES.has(type);
}
