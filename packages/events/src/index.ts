export {
  EnergyStateValidationError,
  EventValidationError,
  EventsError,
  FutureVersionError,
  UnknownEventTypeError,
  isEventsError,
  type EventsErrorByCode,
  type EventsErrorCode,
  type EventsErrorOf,
  type EventsErrorOptions,
  type ValidationIssue,
  type ValidationKeyword,
} from './errors.js';
export {
  EVENT_TYPES,
  EventEnvelopeSchema,
  eventSchemas,
  isKnownEventType,
  type EventData,
  type EventEnvelope,
  type EventOfType,
  type EventType,
  type TEvent,
  type TFrameEvent,
  type WirthforgeEvent,
} from './event-schemas.js';
export { EnergyStateSchema, type EnergyState } from './energy-state-schema.js';
export {
  EnergyUnitSchema,
  FrameIdSchema,
  MODEL_ID_PATTERN,
  ModelIdSchema,
  SessionIdSchema,
  TimestampSchema,
} from './schema-primitives.js';
export { SCHEMA_VERSIONS, UNKNOWN_TYPE_SCHEMA_VERSION } from './schema-versions.js';
export { createUnknownEvent, isUnknownEvent, type UnknownEvent } from './unknown-event.js';
export {
  assertEnergyState,
  assertEvent,
  eventChecker,
  parseEvent,
  validateEnergyState,
  validateEvent,
  type EnergyStateValidationResult,
  type ValidationResult,
} from './validate-event.js';
export {
  UpcasterRegistry,
  createUpcasters,
  defaultUpcasters,
  type Upcaster,
  type UpcasterRegistryOptions,
} from './upcaster-registry.js';
export {
  MAX_SESSION_SEQUENCE,
  SESSION_ID_PATTERN,
  createSessionId,
  isSessionId,
  parseSessionId,
  tryParseSessionId,
  type ParsedSessionId,
} from './session-id.js';
export {
  SYSTEM_STREAM,
  parseStreamName,
  sessionStream,
  tryParseStreamName,
  userStream,
  type StreamName,
} from './stream-name.js';
export {
  TIMESTAMP_MAX_US,
  TIMESTAMP_MIN_US,
  TIMESTAMP_PATTERN,
  isIsoTimestamp,
  parseIsoMicros,
  toIsoMicros,
  tryParseIsoMicros,
} from './iso-micros.js';
export { MAX_NESTING_DEPTH, decodeValue, encodeValue } from './msgpack-value.js';
export { payloadFields } from './payload-layout.js';
export {
  payloadDataSource,
  registerPayloadDataSource,
  type PayloadDataSource,
} from './payload-reader.js';
export {
  decodeEvent,
  encodeEvent,
  type DecodeOptions,
  type EncodeOptions,
  type EncodedEvent,
  type EventRecord,
} from './event-codec.js';
export {
  SCHEMA_BASE_URI,
  renderSchemaFiles,
  toJsonSchema,
  type JsonObject,
  type JsonValue,
  type SchemaFile,
} from './schema-files.js';
export { fromAuditLogEntry } from './audit-log-entry.js';
