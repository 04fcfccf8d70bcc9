import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, eventSchemas } from './event-schemas.js';
import { MAX_POSITIONAL_FIELDS, payloadFields, payloadLayouts } from './payload-layout.js';
import { SCHEMA_VERSIONS } from './schema-versions.js';

/**
 * The field list of every positional layout, by `type@version`. Stored payloads
 * depend on these lists: a list never changes once written here. Changing the
 * `data` of a type means a new schema version (with an upcaster), a new entry here,
 * and the old list kept in `RETIRED_FIELD_LISTS` of `payload-layout.ts`.
 */
const PINNED: Record<string, readonly string[]> = {
  'system.start@1': [
    'version',
    'user_id',
    'model_id',
    'hardware_tier',
    'mode',
    'features_enabled',
    'config',
  ],
  'system.end@1': ['duration_ms', 'total_energy', 'total_events', 'clean_shutdown', 'reason'],
  'energy.update@1': [
    'energy',
    'accumulator',
    'model_id',
    'fps',
    'frame_budget_used',
    'diversity_index',
    'token_count',
  ],
  'energy.peak@1': ['energy', 'threshold', 'model_id', 'context'],
  'energy.anomaly@1': [
    'metric',
    'model_id',
    'value',
    'median',
    'mad',
    'score',
    'threshold',
    'direction',
    'window_size',
    'window_seconds',
    'window_start',
  ],
  'user.prompt@1': ['prompt_id', 'interface', 'length', 'truncated', 'hash', 'language', 'intent'],
  'user.action@1': ['action', 'context', 'ui_element'],
  'ai.output@1': [
    'token',
    'token_hash',
    'prompt_id',
    'token_index',
    'is_last',
    'model_id',
    'logprobs',
    'entropy',
    'generation_time_ms',
  ],
  'ai.response_complete@1': [
    'prompt_id',
    'model_id',
    'total_tokens',
    'total_energy',
    'generation_time_ms',
    'tokens_per_second',
    'completion_reason',
  ],
  'pattern.interference@1': [
    'models_involved',
    'interference_type',
    'strength',
    'frequency',
    'duration_ms',
  ],
  'pattern.resonance@1': [
    'models_involved',
    'resonance_frequency',
    'amplitude',
    'synchronization_level',
    'harmony_detected',
    'energy_amplification',
  ],
  'ensemble.coordination@1': [
    'models',
    'coordination_mode',
    'diversity_index',
    'consensus_reached',
    'energy_distribution',
  ],
  'experience.level_unlock@1': [
    'level',
    'level_name',
    'trigger_condition',
    'features_unlocked',
    'energy_threshold',
  ],
  'experience.celebration@1': [
    'celebration_type',
    'intensity',
    'visual_effects',
    'duration_ms',
    'trigger_data',
  ],
  'health.heartbeat@1': [
    'system_health',
    'fps',
    'memory_usage_mb',
    'disk_usage_mb',
    'active_connections',
    'event_queue_size',
    'models_loaded',
  ],
  'health.performance@1': ['metric', 'value', 'threshold', 'severity', 'mitigation'],
  'state.snapshot_created@1': [
    'snapshot_id',
    'snapshot_type',
    'state_size_bytes',
    'events_since_last',
    'compression_ratio',
  ],
  'error@1': [
    'error_code',
    'error_message',
    'component',
    'severity',
    'recoverable',
    'stack_trace',
    'context',
  ],
  'model.loaded@1': ['model_id', 'load_time_ms', 'memory_mb', 'provider', 'context_length'],
  'model.unloaded@1': ['model_id', 'reason', 'memory_freed_mb', 'loaded_duration_ms'],
  'model.switched@1': ['from_model_id', 'to_model_id', 'reason', 'switch_time_ms'],
  'model.failed@1': [
    'model_id',
    'operation',
    'error_code',
    'error_message',
    'recoverable',
    'retry_count',
  ],
  'session.recovered@1': [
    'recovered_from',
    'events_replayed',
    'reason',
    'outcome',
    'recovery_time_ms',
  ],
};

describe('payload layouts', () => {
  it('are exactly the pinned field lists, one per type and version (the wire format is frozen)', () => {
    const actual = Object.fromEntries(
      payloadLayouts().map((layout) => [`${layout.type}@${layout.schemaVersion}`, layout.fields]),
    );
    expect(actual).toStrictEqual(PINNED);
  });

  it('give every known type a layout at its current version, in schema declaration order', () => {
    for (const type of EVENT_TYPES) {
      const fields = payloadFields(type, SCHEMA_VERSIONS[type]);
      expect(fields).toStrictEqual(Object.keys(eventSchemas[type].properties.data.properties));
      expect(fields!.length).toBeLessThanOrEqual(MAX_POSITIONAL_FIELDS);
      expect(new Set(fields).size).toBe(fields!.length);
    }
  });

  it('index each field by its position (its bit in the presence mask)', () => {
    for (const layout of payloadLayouts()) {
      expect([...layout.index]).toStrictEqual(layout.fields.map((field, i) => [field, i]));
    }
  });

  it('have none for unknown types or versions without a field list', () => {
    expect(payloadFields('vision.frame', 1)).toBeUndefined();
    expect(payloadFields('energy.update', 2)).toBeUndefined();
    expect(payloadFields('energy.update', 0)).toBeUndefined();
  });

  it('are frozen', () => {
    const fields = payloadFields('energy.update', 1) as string[];
    expect(Object.isFrozen(fields)).toBe(true);
    expect(() => fields.push('extra')).toThrow(TypeError);
  });
});
