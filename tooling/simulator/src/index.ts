export { collectEvents } from './collect-events.js';
export { createPrng } from './prng.js';
export type { Prng } from './prng.js';
export { runRealtime } from './run-realtime.js';
export type { RealtimeClock, RunRealtimeOptions, RunRealtimeResult } from './run-realtime.js';
export { SIM_EVENT_TYPES } from './sim-event.js';
export type {
  AiOutputData,
  AiOutputEvent,
  AiResponseCompleteData,
  AiResponseCompleteEvent,
  EnergyPeakData,
  EnergyPeakEvent,
  EnergyUpdateData,
  EnergyUpdateEvent,
  HealthHeartbeatData,
  HealthHeartbeatEvent,
  ModelLoadedData,
  ModelLoadedEvent,
  PatternInterferenceData,
  PatternInterferenceEvent,
  PatternResonanceData,
  PatternResonanceEvent,
  SimEvent,
  SimEventBase,
  SimEventType,
  SimFrame,
  SystemEndData,
  SystemEndEvent,
  SystemStartData,
  SystemStartEvent,
  UserActionData,
  UserActionEvent,
  UserPromptData,
  UserPromptEvent,
} from './sim-event.js';
export {
  DEFAULT_MODELS,
  DEFAULT_START_TIME_MS,
  SIMULATED_APP_VERSION,
  TELEMETRY_TYPES,
  simulateSession,
} from './simulate-session.js';
export type {
  EventIdPolicy,
  SimulatedSession,
  SimulateSessionOptions,
} from './simulate-session.js';
