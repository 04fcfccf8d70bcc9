/**
 * The events the simulator produces, in the wire shape of the WIRTHFORGE event schema
 * (`session_id`, `timestamp`, `type`, `frame_id`, `event_id`, `data`, snake_case data
 * fields). Declared structurally so the simulator needs nothing but itself; every
 * variant is a subset of the matching variant of the schema's event union.
 */

/** Fields every simulated event carries. */
export interface SimEventBase<TType extends string, TData> {
  /** `YYYYMMDDTHHMMSSZ_NNN`, as `createSessionId` of `@wirthforge/events` makes it. */
  readonly session_id: string;
  /** ISO-8601, UTC, six fractional digits: `2025-08-17T19:48:05.123456Z`. */
  readonly timestamp: string;
  readonly type: TType;
  /** The 60 Hz frame the event belongs to; present on frame-bound types only. */
  readonly frame_id?: number;
  /** Unique across sessions: `<session_id>:<sequence>`. */
  readonly event_id?: string;
  readonly data: TData;
}

export interface SystemStartData {
  readonly version: string;
  readonly user_id: string;
  readonly model_id?: string;
  readonly hardware_tier?: 'low' | 'mid' | 'high';
  readonly mode: 'offline' | 'online' | 'debug' | 'private';
  readonly features_enabled?: string[];
  readonly config?: Readonly<Record<string, number | string | boolean>>;
}

export interface SystemEndData {
  readonly duration_ms: number;
  readonly total_energy?: number;
  readonly total_events?: number;
  readonly clean_shutdown: boolean;
  readonly reason: 'user_exit' | 'system_shutdown' | 'error' | 'crash';
}

export interface ModelLoadedData {
  readonly model_id: string;
  readonly load_time_ms: number;
  readonly memory_mb?: number;
}

export interface EnergyUpdateData {
  /** Energy units produced by this model in this frame. */
  readonly energy: number;
  /** Running sum of `energy` over every `energy.update` of the session so far, this one included (three decimals, exact). */
  readonly accumulator: number;
  readonly model_id: string;
  readonly fps?: number;
  /** Milliseconds of the 16.67 ms frame budget used. */
  readonly frame_budget_used?: number;
  readonly diversity_index?: number;
  /** Tokens this model has generated in the session before this frame's tokens. */
  readonly token_count?: number;
}

export interface EnergyPeakData {
  readonly energy: number;
  readonly threshold: number;
  readonly model_id: string;
  readonly context?: string;
}

export interface UserPromptData {
  readonly prompt_id: string;
  readonly interface: 'text' | 'voice' | 'gesture' | 'api';
  readonly length?: number;
  readonly truncated: boolean;
  readonly hash?: string;
  readonly language?: string;
  readonly intent?: string;
}

export interface UserActionData {
  readonly action: 'pause' | 'resume' | 'stop' | 'reset' | 'export' | 'settings' | 'level_select';
  readonly context?: Readonly<Record<string, string | number | boolean>>;
  readonly ui_element?: string;
}

export interface AiOutputData {
  readonly token?: string;
  readonly token_hash?: string;
  readonly prompt_id: string;
  readonly token_index: number;
  readonly is_last: boolean;
  readonly model_id: string;
  readonly logprobs?: number[];
  readonly entropy?: number;
  readonly generation_time_ms?: number;
}

export interface AiResponseCompleteData {
  readonly prompt_id: string;
  readonly model_id: string;
  readonly total_tokens: number;
  readonly total_energy?: number;
  readonly generation_time_ms?: number;
  readonly tokens_per_second?: number;
  readonly completion_reason:
    'finished' | 'length_limit' | 'stop_token' | 'user_interrupt' | 'error';
}

export interface PatternInterferenceData {
  readonly models_involved: string[];
  readonly interference_type: 'constructive' | 'destructive' | 'neutral';
  readonly strength: number;
  readonly frequency?: number;
  readonly duration_ms?: number;
}

export interface PatternResonanceData {
  readonly models_involved: string[];
  readonly resonance_frequency: number;
  readonly amplitude: number;
  readonly synchronization_level: number;
  readonly harmony_detected?: boolean;
  readonly energy_amplification?: number;
}

export interface HealthHeartbeatData {
  readonly system_health: 'healthy' | 'warning' | 'critical';
  readonly fps: number;
  readonly memory_usage_mb?: number;
  readonly disk_usage_mb?: number;
  readonly active_connections?: number;
  readonly event_queue_size?: number;
  readonly models_loaded?: string[];
}

export type SystemStartEvent = SimEventBase<'system.start', SystemStartData>;
export type SystemEndEvent = SimEventBase<'system.end', SystemEndData>;
export type ModelLoadedEvent = SimEventBase<'model.loaded', ModelLoadedData>;
export type EnergyUpdateEvent = SimEventBase<'energy.update', EnergyUpdateData> & {
  readonly frame_id: number;
};
export type EnergyPeakEvent = SimEventBase<'energy.peak', EnergyPeakData> & {
  readonly frame_id: number;
};
export type UserPromptEvent = SimEventBase<'user.prompt', UserPromptData>;
export type UserActionEvent = SimEventBase<'user.action', UserActionData>;
export type AiOutputEvent = SimEventBase<'ai.output', AiOutputData>;
export type AiResponseCompleteEvent = SimEventBase<'ai.response_complete', AiResponseCompleteData>;
export type PatternInterferenceEvent = SimEventBase<
  'pattern.interference',
  PatternInterferenceData
> & { readonly frame_id: number };
export type PatternResonanceEvent = SimEventBase<'pattern.resonance', PatternResonanceData> & {
  readonly frame_id: number;
};
export type HealthHeartbeatEvent = SimEventBase<'health.heartbeat', HealthHeartbeatData>;

/** Every event the simulator can produce, discriminated by `type`. */
export type SimEvent =
  | SystemStartEvent
  | SystemEndEvent
  | ModelLoadedEvent
  | EnergyUpdateEvent
  | EnergyPeakEvent
  | UserPromptEvent
  | UserActionEvent
  | AiOutputEvent
  | AiResponseCompleteEvent
  | PatternInterferenceEvent
  | PatternResonanceEvent
  | HealthHeartbeatEvent;

/** The `type` of a {@link SimEvent}. */
export type SimEventType = SimEvent['type'];

/** Every {@link SimEventType}, in a stable order. */
export const SIM_EVENT_TYPES: readonly SimEventType[] = [
  'system.start',
  'system.end',
  'model.loaded',
  'energy.update',
  'energy.peak',
  'user.prompt',
  'user.action',
  'ai.output',
  'ai.response_complete',
  'pattern.interference',
  'pattern.resonance',
  'health.heartbeat',
];

/** One 60 Hz frame of a simulated session: everything that happened during it. */
export interface SimFrame {
  /** 0 for the first frame, then +1 per frame; equals the `frame_id` of frame-bound events. */
  readonly frameId: number;
  /** Start of the frame, integer microseconds since the Unix epoch. */
  readonly timestampUs: number;
  /** The frame's events in order; their timestamps lie in `[timestampUs, next frame)`. */
  readonly events: readonly SimEvent[];
}
