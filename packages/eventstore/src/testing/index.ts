export {
  projectionSpec,
  type ProjectionExpectation,
  type ProjectionSpecGiven,
  type ProjectionSpecThen,
  type ProjectionSpecWhen,
} from './projection-spec.js';
export {
  DEFAULT_SESSION_MODELS,
  sessionEventsArbitrary,
  type SessionEnding,
  type SessionEventsOptions,
} from './session-events-arbitrary.js';
