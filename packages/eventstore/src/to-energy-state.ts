import { tryParseIsoMicros, type EnergyState } from '@wirthforge/events';
import { sumValue } from './compensated-sum.js';
import type { EnergyProjectionState } from './energy-projection.js';

/** The `schema_version` written into every energy state. */
export const ENERGY_STATE_SCHEMA_VERSION = '1.0.0';

type FrameState = EnergyState['frameState'];
type Accumulator = EnergyState['energyAccumulator'];
type SessionContext = EnergyState['sessionContext'];
type PerformanceMetrics = NonNullable<EnergyState['performanceMetrics']>;
type RecoveryContext = NonNullable<EnergyState['recoveryContext']>;
type ModelContributions = NonNullable<Accumulator['model_contributions']>;

/** Seconds from `from` to `to`, or `undefined` when not a positive span. */
function secondsBetween(from: string, to: string): number | undefined {
  const start = tryParseIsoMicros(from);
  const end = tryParseIsoMicros(to);
  if (start === undefined || end === undefined || end <= start) return undefined;
  return (end - start) / 1_000_000;
}

function frameStateOf(state: EnergyProjectionState, createdAt: string): FrameState {
  const { frame, pattern, diversity } = state;
  const out: FrameState = {
    frame_id: frame.frame_id,
    timestamp: frame.timestamp ?? createdAt,
    energy_current: frame.energy_current,
    energy_delta: frame.energy_delta,
  };
  if (frame.fps !== null) out.fps = frame.fps;
  if (frame.frame_budget_used !== null) out.frame_budget_used = frame.frame_budget_used;
  if (frame.model_active !== null) out.model_active = frame.model_active;
  const patternState: NonNullable<FrameState['pattern_state']> = {};
  if (pattern.interference_detected !== null) {
    patternState.interference_detected = pattern.interference_detected;
  }
  if (pattern.resonance_detected !== null) {
    patternState.resonance_detected = pattern.resonance_detected;
  }
  if (pattern.synchronization_level !== null) {
    patternState.synchronization_level = pattern.synchronization_level;
  }
  if (pattern.harmony_frequency !== null) {
    patternState.harmony_frequency = pattern.harmony_frequency;
  }
  if (Object.keys(patternState).length > 0) out.pattern_state = patternState;
  if (diversity !== null) {
    out.diversity_index = {
      current: diversity.current,
      smoothed: diversity.smoothed,
      peak: diversity.peak,
      variance: Math.max(0, diversity.m2 / diversity.samples),
    };
  }
  return out;
}

function accumulatorOf(state: EnergyProjectionState, sessionStart: string): Accumulator {
  const contributions: ModelContributions = {};
  for (const entry of state.model_contributions) {
    // defineProperty: a model id may be spelled `__proto__`, which assignment would not store.
    Object.defineProperty(contributions, entry.model_id, {
      value: { energy: sumValue(entry.energy), tokens: entry.tokens, frames: entry.frames },
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return {
    total_energy: sumValue(state.total_energy),
    session_start: sessionStart,
    frame_count: state.frame_count,
    token_count: state.token_count,
    energy_peaks: state.energy_peaks.map((peak) => ({
      timestamp: peak.timestamp,
      energy: peak.energy,
      frame_id: peak.frame_id,
    })),
    model_contributions: contributions,
    interference_events: state.interference_events,
    resonance_events: state.resonance_events,
  };
}

function sessionContextOf(state: EnergyProjectionState, sessionId: string): SessionContext {
  return {
    session_id: sessionId,
    user_id: state.user_id,
    hardware_tier: state.hardware_tier,
    models_available: [...state.models_available],
    session_mode: state.session_mode,
    features_enabled: [...state.features_enabled],
  };
}

function performanceOf(
  state: EnergyProjectionState,
  sessionStart: string,
  updatedAt: string,
): PerformanceMetrics {
  const performance = state.performance;
  const out: PerformanceMetrics = { frame_drops: performance.frame_drops };
  if (performance.fps_samples > 0) out.avg_fps = performance.fps_sum / performance.fps_samples;
  const memory: NonNullable<PerformanceMetrics['memory_usage']> = {};
  if (performance.memory_current_mb !== null) memory.current_mb = performance.memory_current_mb;
  if (performance.memory_peak_mb !== null) memory.peak_mb = performance.memory_peak_mb;
  if (Object.keys(memory).length > 0) out.memory_usage = memory;
  const diskIo: NonNullable<PerformanceMetrics['disk_io']> = {};
  if (performance.events_queued !== null) diskIo.events_queued = performance.events_queued;
  if (performance.write_latency_ms !== null) diskIo.write_latency_ms = performance.write_latency_ms;
  if (Object.keys(diskIo).length > 0) out.disk_io = diskIo;
  const seconds = secondsBetween(sessionStart, updatedAt);
  if (seconds !== undefined) {
    out.energy_rate = Math.max(0, sumValue(state.total_energy)) / seconds;
    out.token_rate = state.token_count / seconds;
  }
  return out;
}

function recoveryOf(state: EnergyProjectionState): RecoveryContext {
  const out: RecoveryContext = {
    last_event_id: state.last_event_id,
    incomplete_operations: state.incomplete_operations.map((operation) => ({
      operation_type: operation.operation_type,
      operation_id: operation.operation_id,
      started_at: operation.started_at,
      context: { ...operation.context },
    })),
  };
  if (state.last_snapshot_id !== null) out.last_snapshot_id = state.last_snapshot_id;
  if (state.clean_shutdown !== null) out.clean_shutdown = state.clean_shutdown;
  return out;
}

/**
 * The energy state in the shape of the WF-TECH-004 energy-state schema (it passes
 * `validateEnergyState`), built from the energy projection's state. A new object that
 * shares nothing with `state`, so it stays as it is while the fold goes on.
 * `undefined` before the first event: the schema requires a session id and timestamps.
 *
 * `performanceMetrics.energy_rate` and `token_rate` are the session's totals divided by
 * the time from `session_start` to the latest event, present once that time is positive.
 *
 * @example
 * ```ts
 * const energy = toEnergyState(foldEvents(energyProjection, records));
 * if (energy) socket.send(JSON.stringify({ type: 'state.sync', energy }));
 * ```
 */
export function toEnergyState(state: EnergyProjectionState): EnergyState | undefined {
  const { session_id: sessionId, created_at: createdAt, updated_at: updatedAt } = state;
  const sessionStart = state.session_start;
  if (sessionId === null || createdAt === null || updatedAt === null || sessionStart === null) {
    return undefined;
  }
  return {
    frameState: frameStateOf(state, createdAt),
    energyAccumulator: accumulatorOf(state, sessionStart),
    sessionContext: sessionContextOf(state, sessionId),
    performanceMetrics: performanceOf(state, sessionStart, updatedAt),
    recoveryContext: recoveryOf(state),
    schema_version: ENERGY_STATE_SCHEMA_VERSION,
    created_at: createdAt,
    updated_at: updatedAt,
  };
}
