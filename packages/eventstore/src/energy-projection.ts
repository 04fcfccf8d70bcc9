import { isUnknownEvent, type EventOfType, type WirthforgeEvent } from '@wirthforge/events';
import { addToSum, emptySum, type CompensatedSum } from './compensated-sum.js';
import type { EventMeta, Projection, ProjectionEvent } from './projection.js';

/** Hardware tier of the energy state's session context. */
export type HardwareTier = 'low' | 'mid' | 'high';

/** Session mode of the energy state's session context. */
export type SessionMode = 'normal' | 'private' | 'debug' | 'turbo';

/** A feature name the energy state's `features_enabled` accepts. */
export type EnergyFeature =
  | 'single_model'
  | 'parallel_processing'
  | 'interference_detection'
  | 'resonance_detection'
  | 'ensemble_coordination'
  | 'turbo_mode';

/** Every {@link EnergyFeature}, in the order of the schema. */
export const ENERGY_FEATURES: readonly EnergyFeature[] = [
  'single_model',
  'parallel_processing',
  'interference_detection',
  'resonance_detection',
  'ensemble_coordination',
  'turbo_mode',
];

/** Most energy peaks the state keeps: the highest ones, in the order they happened. */
export const MAX_ENERGY_PEAKS = 100;

/** Most incomplete operations the state keeps; the oldest go first. */
export const MAX_INCOMPLETE_OPERATIONS = 100;

/** Weight of the newest sample in the smoothed (exponential moving average) diversity index. */
export const DIVERSITY_SMOOTHING = 0.1;

/** Frame rate used to turn a pattern's `duration_ms` into frames. */
export const PATTERN_FRAME_RATE = 60;

/** User id of the session context until `system.start` names the user. */
export const DEFAULT_USER_ID = 'default';

/** Hardware tier of the session context until `system.start` gives one. */
export const DEFAULT_HARDWARE_TIER: HardwareTier = 'mid';

/** One energy peak, as the state keeps it. */
export interface EnergyPeakEntry {
  timestamp: string;
  energy: number;
  frame_id: number;
}

/** What one model contributed to the session. */
export interface ModelContributionEntry {
  model_id: string;
  /** Energy of the model's `energy.update` events. */
  energy: CompensatedSum;
  /** `ai.output` events of the model. */
  tokens: number;
  /** Frames in which the model reported energy. */
  frames: number;
  /** The frame count when the model last reported, so a frame counts once. */
  last_frame_seq: number;
}

/** An operation started and not finished, as the state keeps it. */
export interface IncompleteOperationEntry {
  operation_type: 'ai_generation' | 'user_prompt';
  operation_id: string;
  started_at: string;
  context: { model_id?: string; tokens_generated?: number };
}

/** The current frame. */
export interface FrameEntry {
  frame_id: number;
  /** Timestamp of the frame's latest `energy.update`; `null` before the first one. */
  timestamp: string | null;
  /** Energy of the frame's `energy.update` events so far. */
  energy_current: number;
  /** `energy_current` minus the previous frame's energy. */
  energy_delta: number;
  /** Energy of the previous frame. */
  previous_energy: number;
  fps: number | null;
  frame_budget_used: number | null;
  model_active: string | null;
}

/** Interference and resonance, as the current frame sees them. */
export interface PatternEntry {
  interference_detected: boolean | null;
  resonance_detected: boolean | null;
  synchronization_level: number | null;
  harmony_frequency: number | null;
  /** Last frame the latest interference covers. */
  interference_until_frame: number;
  /** Last frame the latest resonance covers. */
  resonance_until_frame: number;
}

/** Running statistics of the diversity index. */
export interface DiversityEntry {
  samples: number;
  current: number;
  smoothed: number;
  peak: number;
  /** Welford's running mean and sum of squared deviations. */
  mean: number;
  m2: number;
}

/** Performance figures reported by health events and frames. */
export interface PerformanceEntry {
  fps_sum: number;
  fps_samples: number;
  frame_drops: number;
  memory_current_mb: number | null;
  memory_peak_mb: number | null;
  events_queued: number | null;
  write_latency_ms: number | null;
}

/**
 * The state the energy projection folds. It holds everything the energy state of the
 * schema shows plus what keeps that exact and cheap to update (compensated sums, the
 * previous frame's energy, running statistics); {@link toEnergyState} turns it into
 * the schema's `EnergyState`. A plain, storable value: no class, no `Map`, no bigint.
 */
export interface EnergyProjectionState {
  /** `null` until the first event. */
  session_id: string | null;
  user_id: string;
  hardware_tier: HardwareTier;
  session_mode: SessionMode;
  features_enabled: EnergyFeature[];
  models_available: string[];
  /** Timestamp of the first event; `null` before it. */
  created_at: string | null;
  /** Timestamp of the latest event. */
  updated_at: string | null;
  /** Timestamp of `system.start`, or of the first event until there is one. */
  session_start: string | null;
  /** Whether a `system.start` was seen. */
  started: boolean;
  frame: FrameEntry;
  pattern: PatternEntry;
  /** `null` until a diversity index is reported. */
  diversity: DiversityEntry | null;
  total_energy: CompensatedSum;
  /** Frames seen: runs of `energy.update` events with the same `frame_id`. */
  frame_count: number;
  token_count: number;
  energy_peaks: EnergyPeakEntry[];
  /** One entry per model, in the order models first contributed. */
  model_contributions: ModelContributionEntry[];
  interference_events: number;
  resonance_events: number;
  performance: PerformanceEntry;
  last_snapshot_id: number | null;
  /** Position of the latest event (0 before any). */
  last_event_id: number;
  incomplete_operations: IncompleteOperationEntry[];
  /** `null` until the session ends or is recovered. */
  clean_shutdown: boolean | null;
}

function initialEnergyState(): EnergyProjectionState {
  return {
    session_id: null,
    user_id: DEFAULT_USER_ID,
    hardware_tier: DEFAULT_HARDWARE_TIER,
    session_mode: 'normal',
    features_enabled: [],
    models_available: [],
    created_at: null,
    updated_at: null,
    session_start: null,
    started: false,
    frame: {
      frame_id: 0,
      timestamp: null,
      energy_current: 0,
      energy_delta: 0,
      previous_energy: 0,
      fps: null,
      frame_budget_used: null,
      model_active: null,
    },
    pattern: {
      interference_detected: null,
      resonance_detected: null,
      synchronization_level: null,
      harmony_frequency: null,
      interference_until_frame: -1,
      resonance_until_frame: -1,
    },
    diversity: null,
    total_energy: emptySum(),
    frame_count: 0,
    token_count: 0,
    energy_peaks: [],
    model_contributions: [],
    interference_events: 0,
    resonance_events: 0,
    performance: {
      fps_sum: 0,
      fps_samples: 0,
      frame_drops: 0,
      memory_current_mb: null,
      memory_peak_mb: null,
      events_queued: null,
      write_latency_ms: null,
    },
    last_snapshot_id: null,
    last_event_id: 0,
    incomplete_operations: [],
    clean_shutdown: null,
  };
}

const FEATURE_SET: ReadonlySet<string> = new Set(ENERGY_FEATURES);

function contributionOf(state: EnergyProjectionState, modelId: string): ModelContributionEntry {
  const entries = state.model_contributions;
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i] as ModelContributionEntry;
    if (entry.model_id === modelId) return entry;
  }
  const entry: ModelContributionEntry = {
    model_id: modelId,
    energy: emptySum(),
    tokens: 0,
    frames: 0,
    last_frame_seq: 0,
  };
  entries.push(entry);
  return entry;
}

function addModel(list: string[], modelId: string): void {
  if (!list.includes(modelId)) list.push(modelId);
}

function removeModel(list: string[], modelId: string): void {
  const index = list.indexOf(modelId);
  if (index >= 0) list.splice(index, 1);
}

function sampleDiversity(state: EnergyProjectionState, value: number): void {
  let d = state.diversity;
  if (d === null) {
    d = { samples: 0, current: value, smoothed: value, peak: value, mean: 0, m2: 0 };
    state.diversity = d;
  } else {
    // Clamped: rounding must not push a [0, 1] value out of its range.
    d.smoothed = Math.min(1, Math.max(0, d.smoothed + DIVERSITY_SMOOTHING * (value - d.smoothed)));
    if (value > d.peak) d.peak = value;
    d.current = value;
  }
  d.samples += 1;
  const deviation = value - d.mean;
  d.mean += deviation / d.samples;
  d.m2 += deviation * (value - d.mean);
}

/** Last frame a pattern of `durationMs` detected in `frameId` covers. */
function patternUntil(frameId: number, durationMs: number | undefined): number {
  if (durationMs === undefined) return frameId;
  return frameId + Math.ceil((durationMs * PATTERN_FRAME_RATE) / 1000);
}

function openFrame(state: EnergyProjectionState, frameId: number): void {
  const frame = state.frame;
  frame.previous_energy = state.frame_count === 0 ? 0 : frame.energy_current;
  frame.frame_id = frameId;
  frame.energy_current = 0;
  state.frame_count += 1;
  const pattern = state.pattern;
  if (pattern.interference_detected === true && frameId > pattern.interference_until_frame) {
    pattern.interference_detected = false;
  }
  if (pattern.resonance_detected === true && frameId > pattern.resonance_until_frame) {
    pattern.resonance_detected = false;
  }
}

function energyUpdate(state: EnergyProjectionState, event: EventOfType<'energy.update'>): void {
  const data = event.data;
  const frame = state.frame;
  if (state.frame_count === 0 || event.frame_id !== frame.frame_id) {
    openFrame(state, event.frame_id);
  }
  const energy = data.energy;
  frame.energy_current += energy;
  frame.energy_delta = frame.energy_current - frame.previous_energy;
  frame.timestamp = event.timestamp;
  frame.model_active = data.model_id;
  if (data.fps !== undefined) {
    frame.fps = data.fps;
    state.performance.fps_sum += data.fps;
    state.performance.fps_samples += 1;
  }
  if (data.frame_budget_used !== undefined) frame.frame_budget_used = data.frame_budget_used;
  if (data.diversity_index !== undefined) sampleDiversity(state, data.diversity_index);
  addToSum(state.total_energy, energy);
  const contribution = contributionOf(state, data.model_id);
  addToSum(contribution.energy, energy);
  if (contribution.last_frame_seq !== state.frame_count) {
    contribution.last_frame_seq = state.frame_count;
    contribution.frames += 1;
  }
}

function energyPeak(state: EnergyProjectionState, event: EventOfType<'energy.peak'>): void {
  const peak: EnergyPeakEntry = {
    timestamp: event.timestamp,
    energy: event.data.energy,
    frame_id: event.frame_id,
  };
  const peaks = state.energy_peaks;
  if (peaks.length < MAX_ENERGY_PEAKS) {
    peaks.push(peak);
    return;
  }
  // Full: the new peak replaces the lowest one if it is higher. Among equal lowest
  // peaks the latest goes, so earlier peaks win ties.
  let lowest = 0;
  for (let i = 1; i < peaks.length; i++) {
    if ((peaks[i] as EnergyPeakEntry).energy <= (peaks[lowest] as EnergyPeakEntry).energy) {
      lowest = i;
    }
  }
  if (peak.energy > (peaks[lowest] as EnergyPeakEntry).energy) {
    peaks.splice(lowest, 1);
    peaks.push(peak);
  }
}

function findOperation(
  state: EnergyProjectionState,
  type: IncompleteOperationEntry['operation_type'],
  id: string,
): number {
  const operations = state.incomplete_operations;
  for (let i = 0; i < operations.length; i++) {
    const operation = operations[i] as IncompleteOperationEntry;
    if (operation.operation_id === id && operation.operation_type === type) return i;
  }
  return -1;
}

function startOperation(state: EnergyProjectionState, operation: IncompleteOperationEntry): void {
  const operations = state.incomplete_operations;
  if (operations.length >= MAX_INCOMPLETE_OPERATIONS) operations.shift();
  operations.push(operation);
}

function endOperation(
  state: EnergyProjectionState,
  type: IncompleteOperationEntry['operation_type'],
  id: string,
): void {
  const index = findOperation(state, type, id);
  if (index >= 0) state.incomplete_operations.splice(index, 1);
}

function aiOutput(state: EnergyProjectionState, event: EventOfType<'ai.output'>): void {
  const data = event.data;
  state.token_count += 1;
  contributionOf(state, data.model_id).tokens += 1;
  endOperation(state, 'user_prompt', data.prompt_id);
  if (data.is_last) {
    endOperation(state, 'ai_generation', data.prompt_id);
    return;
  }
  const index = findOperation(state, 'ai_generation', data.prompt_id);
  if (index >= 0) {
    const context = (state.incomplete_operations[index] as IncompleteOperationEntry).context;
    context.tokens_generated = (context.tokens_generated ?? 0) + 1;
    return;
  }
  startOperation(state, {
    operation_type: 'ai_generation',
    operation_id: data.prompt_id,
    started_at: event.timestamp,
    context: { model_id: data.model_id, tokens_generated: 1 },
  });
}

function systemStart(state: EnergyProjectionState, event: EventOfType<'system.start'>): void {
  const data = event.data;
  state.session_id = event.session_id;
  state.user_id = data.user_id;
  if (data.hardware_tier !== undefined) state.hardware_tier = data.hardware_tier;
  state.session_mode =
    data.mode === 'debug' ? 'debug' : data.mode === 'private' ? 'private' : 'normal';
  if (data.features_enabled !== undefined) {
    const features: EnergyFeature[] = [];
    for (const feature of data.features_enabled) {
      if (FEATURE_SET.has(feature) && !features.includes(feature as EnergyFeature)) {
        features.push(feature as EnergyFeature);
      }
    }
    state.features_enabled = features;
  }
  if (data.model_id !== undefined) {
    state.frame.model_active = data.model_id;
    addModel(state.models_available, data.model_id);
  }
  if (!state.started) {
    state.started = true;
    state.session_start = event.timestamp;
  }
}

function healthPerformance(
  state: EnergyProjectionState,
  event: EventOfType<'health.performance'>,
): void {
  const { metric, value } = event.data;
  const performance = state.performance;
  switch (metric) {
    case 'frame_drop':
      performance.frame_drops += 1;
      break;
    case 'high_latency':
    case 'disk_slow':
      if (value >= 0) performance.write_latency_ms = value;
      break;
    case 'queue_backlog':
      if (Number.isSafeInteger(value) && value >= 0) performance.events_queued = value;
      break;
    case 'memory_pressure':
      break;
  }
}

function evolveKnown(state: EnergyProjectionState, event: WirthforgeEvent): void {
  switch (event.type) {
    case 'energy.update':
      energyUpdate(state, event);
      break;
    case 'ai.output':
      aiOutput(state, event);
      break;
    case 'energy.peak':
      energyPeak(state, event);
      break;
    case 'pattern.interference': {
      state.interference_events += 1;
      const pattern = state.pattern;
      pattern.interference_detected = true;
      pattern.interference_until_frame = Math.max(
        pattern.interference_until_frame,
        patternUntil(event.frame_id, event.data.duration_ms),
      );
      break;
    }
    case 'pattern.resonance': {
      state.resonance_events += 1;
      const { data } = event;
      const pattern = state.pattern;
      pattern.resonance_detected = true;
      pattern.resonance_until_frame = Math.max(pattern.resonance_until_frame, event.frame_id);
      pattern.synchronization_level = data.synchronization_level;
      if (data.harmony_detected === true) pattern.harmony_frequency = data.resonance_frequency;
      break;
    }
    case 'ensemble.coordination':
      sampleDiversity(state, event.data.diversity_index);
      for (const model of event.data.models) addModel(state.models_available, model);
      break;
    case 'user.prompt':
      if (findOperation(state, 'user_prompt', event.data.prompt_id) < 0) {
        startOperation(state, {
          operation_type: 'user_prompt',
          operation_id: event.data.prompt_id,
          started_at: event.timestamp,
          context: {},
        });
      }
      break;
    case 'ai.response_complete':
      endOperation(state, 'user_prompt', event.data.prompt_id);
      endOperation(state, 'ai_generation', event.data.prompt_id);
      break;
    case 'model.loaded':
      addModel(state.models_available, event.data.model_id);
      break;
    case 'model.unloaded':
      removeModel(state.models_available, event.data.model_id);
      if (state.frame.model_active === event.data.model_id) state.frame.model_active = null;
      break;
    case 'model.switched':
      addModel(state.models_available, event.data.to_model_id);
      state.frame.model_active = event.data.to_model_id;
      break;
    case 'health.heartbeat': {
      const { data } = event;
      const performance = state.performance;
      if (data.memory_usage_mb !== undefined) {
        performance.memory_current_mb = data.memory_usage_mb;
        if (
          performance.memory_peak_mb === null ||
          data.memory_usage_mb > performance.memory_peak_mb
        ) {
          performance.memory_peak_mb = data.memory_usage_mb;
        }
      }
      if (data.event_queue_size !== undefined) performance.events_queued = data.event_queue_size;
      if (data.models_loaded !== undefined) {
        const models: string[] = [];
        for (const model of data.models_loaded) addModel(models, model);
        state.models_available = models;
      }
      break;
    }
    case 'health.performance':
      healthPerformance(state, event);
      break;
    case 'state.snapshot_created':
      state.last_snapshot_id = event.data.snapshot_id;
      break;
    case 'system.start':
      systemStart(state, event);
      break;
    case 'system.end':
      state.clean_shutdown = event.data.clean_shutdown;
      // After a clean end nothing is left running; after a crash what was running is
      // exactly what a recovery needs to know about.
      if (event.data.clean_shutdown) state.incomplete_operations = [];
      break;
    case 'session.recovered': {
      state.clean_shutdown = false;
      const snapshotId = event.data.recovered_from.snapshot_id;
      if (snapshotId !== undefined) state.last_snapshot_id = snapshotId;
      break;
    }
    case 'user.action':
    case 'experience.level_unlock':
    case 'experience.celebration':
    case 'model.failed':
    case 'error':
      break;
  }
}

function evolveEnergy(
  state: EnergyProjectionState,
  event: ProjectionEvent,
  meta: EventMeta,
): EnergyProjectionState {
  const unknown = isUnknownEvent(event);
  const envelope = unknown ? event.event : event;
  if (state.created_at === null) {
    state.created_at = envelope.timestamp;
    state.session_start = envelope.timestamp;
    state.session_id = envelope.session_id;
  }
  state.updated_at = envelope.timestamp;
  state.last_event_id = Number(meta.position);
  if (!unknown) evolveKnown(state, event);
  return state;
}

/**
 * The energy state of one session, folded from the session's stream: frame state,
 * accumulator (total energy, frames, tokens, peaks, per-model contributions,
 * interference and resonance counts), session context, performance metrics and
 * recovery context. {@link toEnergyState} gives it in the schema's shape.
 *
 * Total energy is the sum of the `energy` of every `energy.update`, kept as a
 * compensated sum, and each model's contribution is the same sum over its own updates,
 * so the contributions add up to the total. How each event type changes the state is
 * listed in the package README.
 *
 * @example
 * ```ts
 * const state = foldEvents(energyProjection, sessionRecords);
 * const energy = toEnergyState(state); // passes validateEnergyState
 * energy?.energyAccumulator.total_energy;
 * ```
 */
export const energyProjection: Projection<EnergyProjectionState> = Object.freeze({
  name: 'energy',
  initialState: initialEnergyState,
  evolveInPlace: evolveEnergy,
  clone: (state: EnergyProjectionState): EnergyProjectionState => structuredClone(state),
});
