import type { EventType } from './event-schemas.js';

/**
 * The current schema version of every event type. A version changes when a type's
 * shape changes incompatibly; events stored with an older version are turned into
 * the current shape on read by an {@link UpcasterRegistry}.
 */
export const SCHEMA_VERSIONS: Readonly<Record<EventType, number>> = Object.freeze({
  'system.start': 1,
  'system.end': 1,
  'energy.update': 1,
  'energy.peak': 1,
  'energy.anomaly': 1,
  'user.prompt': 1,
  'user.action': 1,
  'ai.output': 1,
  'ai.response_complete': 1,
  'pattern.interference': 1,
  'pattern.resonance': 1,
  'ensemble.coordination': 1,
  'experience.level_unlock': 1,
  'experience.celebration': 1,
  'health.heartbeat': 1,
  'health.performance': 1,
  'state.snapshot_created': 1,
  error: 1,
  'model.loaded': 1,
  'model.unloaded': 1,
  'model.switched': 1,
  'model.failed': 1,
  'session.recovered': 1,
});

/**
 * Schema version recorded for an event whose type this code does not know: every
 * type starts at version 1.
 */
export const UNKNOWN_TYPE_SCHEMA_VERSION = 1;
