import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EnergyStateSchema } from './energy-state-schema.js';
import { isEventsError, type ValidationIssue } from './errors.js';
import { EVENT_TYPES, isKnownEventType, type EventOfType } from './event-schemas.js';
import {
  anyEventArbitrary,
  energyStateArbitrary,
  eventArbitrary,
} from './testing/event-arbitraries.js';
import { isUnknownEvent } from './unknown-event.js';
import {
  assertEnergyState,
  assertEvent,
  parseEvent,
  validateEnergyState,
  validateEvent,
} from './validate-event.js';

const update: EventOfType<'energy.update'> = {
  session_id: '20250817T194800Z_001',
  timestamp: '2025-08-17T19:48:05.123456Z',
  type: 'energy.update',
  frame_id: 1234,
  event_id: 'evt_001',
  data: { energy: 4.2, accumulator: 847.3, model_id: 'ollama/llama2:7b', fps: 60 },
};

function issuesOf(input: unknown): ValidationIssue[] {
  const result = validateEvent(input);
  expect(result.status).toBe('invalid');
  return [...result.issues];
}

function pathsOf(input: unknown): string[] {
  return issuesOf(input).map((issue) => `${issue.path} ${issue.keyword}`);
}

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('validateEvent', () => {
  it('knows every event type of the spec, the model lifecycle and session recovery', () => {
    expect([...EVENT_TYPES].sort()).toEqual(
      [
        'system.start',
        'system.end',
        'energy.update',
        'energy.peak',
        'energy.anomaly',
        'user.prompt',
        'user.action',
        'ai.output',
        'ai.response_complete',
        'pattern.interference',
        'pattern.resonance',
        'ensemble.coordination',
        'experience.level_unlock',
        'experience.celebration',
        'health.heartbeat',
        'health.performance',
        'state.snapshot_created',
        'error',
        'model.loaded',
        'model.unloaded',
        'model.switched',
        'model.failed',
        'session.recovered',
      ].sort(),
    );
    expect(isKnownEventType('energy.update')).toBe(true);
    expect(isKnownEventType('toString')).toBe(false);
  });

  it('accepts valid events of every type, extra envelope fields included, and returns them as is', () => {
    fc.assert(
      fc.property(anyEventArbitrary({ extraFields: true }), (event) => {
        const result = validateEvent(event);
        expect(result.issues).toEqual([]);
        expect(result.status).toBe('valid');
        if (result.status === 'valid') expect(result.event).toBe(event);
      }),
      { numRuns: 500 },
    );
  });

  it('accepts model ids with a colon, as real producers send them', () => {
    expect(validateEvent(update).status).toBe('valid');
  });

  it('accepts -0 where 0 is the minimum', () => {
    expect(validateEvent({ ...update, data: { ...update.data, energy: -0 } }).status).toBe('valid');
  });

  it('lists every problem with its JSON Pointer, not only the first', () => {
    const input = {
      ...update,
      timestamp: '2025-02-29T00:00:00Z',
      frame_id: -1,
      data: { energy: -1, model_id: 'model with spaces', fps: 121, extra: true },
    };
    expect(issuesOf(input)).toEqual([
      {
        path: '/timestamp',
        keyword: 'pattern',
        message: expect.stringContaining('ISO-8601 UTC timestamp') as unknown,
      },
      { path: '/frame_id', keyword: 'minimum', message: 'must be >= 0' },
      { path: '/data/accumulator', keyword: 'required', message: 'is required' },
      {
        path: '/data/extra',
        keyword: 'additionalProperties',
        message: 'is not an allowed property',
      },
      { path: '/data/energy', keyword: 'minimum', message: 'must be >= 0' },
      {
        path: '/data/model_id',
        keyword: 'pattern',
        message: 'must be a model id made of letters, digits and _ - / . :',
      },
      { path: '/data/fps', keyword: 'maximum', message: 'must be <= 120' },
    ]);
  });

  it('reports a missing required property once', () => {
    const { data: _data, ...withoutData } = update;
    expect(issuesOf(withoutData)).toEqual([
      { path: '/data', keyword: 'required', message: 'is required' },
    ]);
  });

  it('requires frame_id on events that belong to a frame', () => {
    const { frame_id: _frame, ...withoutFrame } = update;
    expect(pathsOf(withoutFrame)).toEqual(['/frame_id required']);
    const { frame_id: _f, ...prompt } = {
      ...update,
      type: 'user.prompt',
      data: { prompt_id: 'p', interface: 'text', truncated: false },
    };
    expect(validateEvent(prompt).status).toBe('valid');
  });

  it('refuses NaN and Infinity in number fields with a clear message', () => {
    expect(issuesOf({ ...update, data: { ...update.data, energy: Number.NaN } })).toEqual([
      {
        path: '/data/energy',
        keyword: 'type',
        message: 'must be a finite number (NaN and Infinity are not allowed)',
      },
    ]);
    expect(pathsOf({ ...update, data: { ...update.data, accumulator: Infinity } })).toEqual([
      '/data/accumulator type',
    ]);
  });

  it('names the allowed values of an enum', () => {
    const input = {
      ...update,
      type: 'system.end',
      data: { duration_ms: 1, clean_shutdown: true, reason: 'tired' },
    };
    expect(issuesOf(input)).toEqual([
      {
        path: '/data/reason',
        keyword: 'enum',
        message: 'must be one of "user_exit", "system_shutdown", "error", "crash"',
      },
    ]);
  });

  it('reports every key of a model-id map that is not a model id, escaped as JSON Pointer', () => {
    const input = {
      session_id: update.session_id,
      timestamp: update.timestamp,
      type: 'ensemble.coordination',
      data: {
        models: ['ollama/llama2:7b'],
        coordination_mode: 'parallel',
        diversity_index: 0.5,
        energy_distribution: {
          'ollama/llama2:7b': 1,
          'bad key': 2,
          'a~b': 3,
          'ollama/mistral:7b': -1,
        },
      },
    };
    expect(pathsOf(input)).toEqual([
      '/data/energy_distribution/ollama~1mistral:7b minimum',
      '/data/energy_distribution/bad key additionalProperties',
      '/data/energy_distribution/a~0b additionalProperties',
    ]);
  });

  it('checks items of arrays and their minimum count', () => {
    const input = {
      ...update,
      type: 'pattern.resonance',
      data: {
        models_involved: ['a b'],
        resonance_frequency: 440,
        amplitude: 2,
        synchronization_level: 0.5,
      },
    };
    expect(pathsOf(input)).toEqual([
      '/data/models_involved minItems',
      '/data/models_involved/0 pattern',
      '/data/amplitude maximum',
    ]);
  });

  it('keeps an event of an unknown type intact and reports it', () => {
    const input = { ...update, type: 'vision.frame', data: { anything: [1, 2] } };
    const result = validateEvent(input);
    expect(result.status).toBe('unknown_type');
    if (result.status !== 'unknown_type') return;
    expect(isUnknownEvent(result.event)).toBe(true);
    expect(result.event.type).toBe('vision.frame');
    expect(result.event.event).toBe(input);
    expect(result.issues).toEqual([
      {
        path: '/type',
        keyword: 'unknown_type',
        message: '"vision.frame" is not an event type this code knows; the event is kept as is',
      },
    ]);
  });

  it.each([
    ['no session_id', { session_id: undefined }, ['/session_id required']],
    ['no timestamp', { timestamp: undefined }, ['/timestamp required']],
    ['no type', { type: undefined }, ['/type required']],
    ['an empty type', { type: '' }, ['/type minLength']],
    ['a type that is not a string', { type: 7 }, ['/type type']],
    ['a bad session id', { session_id: '2025-08-17_001' }, ['/session_id pattern']],
    [
      'a session id with an impossible date',
      { session_id: '20250231T194800Z_001' },
      ['/session_id pattern'],
    ],
    [
      'a timestamp with an offset',
      { timestamp: '2025-08-17T19:48:05+02:00' },
      ['/timestamp pattern'],
    ],
    [
      'a timestamp with nanoseconds',
      { timestamp: '2025-08-17T19:48:05.123456789Z' },
      ['/timestamp pattern'],
    ],
    ['a negative frame id', { frame_id: -1 }, ['/frame_id minimum']],
    ['a numeric event id', { event_id: 3 }, ['/event_id type']],
  ])('refuses a malformed envelope with %s, known type or not', (_, change, paths) => {
    const input: Record<string, unknown> = { ...update, ...change };
    for (const key of Object.keys(change)) {
      if ((change as Record<string, unknown>)[key] === undefined) delete input[key];
    }
    expect(pathsOf(input)).toEqual(paths);
    if (typeof input.type === 'string' && input.type !== '') {
      expect(pathsOf({ ...input, type: 'vision.frame' })).toEqual(paths);
    }
  });

  it('refuses what is not an object', () => {
    for (const input of [null, 'event', 42, [update], undefined]) {
      expect(issuesOf(input)).toEqual([
        { path: '', keyword: 'type', message: 'must be an object' },
      ]);
    }
  });

  it('finds every single-field mutation of a valid event (property)', () => {
    fc.assert(
      fc.property(eventArbitrary('ai.output'), (event) => {
        const broken = { ...event, data: { ...event.data, token_index: -1 } };
        expect(pathsOf(broken)).toEqual(['/data/token_index minimum']);
        const wrongType = { ...event, data: { ...event.data, is_last: 'yes' } };
        expect(pathsOf(wrongType)).toEqual(['/data/is_last type']);
      }),
      { numRuns: 100 },
    );
  });
});

describe('parseEvent and assertEvent', () => {
  it('parseEvent returns known events, wraps unknown ones, throws on invalid ones with every issue', () => {
    expect(parseEvent(update)).toBe(update);
    const unknown = parseEvent({ ...update, type: 'vision.frame' });
    expect(isUnknownEvent(unknown)).toBe(true);
    const error = errorOf(() => parseEvent({ ...update, frame_id: -1, data: {} }));
    if (!isEventsError(error, 'invalid_event')) throw new Error('wrong error');
    expect(error.issues.map((issue) => issue.path)).toEqual([
      '/frame_id',
      '/data/energy',
      '/data/accumulator',
      '/data/model_id',
    ]);
  });

  it('assertEvent passes valid events and narrows them', () => {
    const input: unknown = update;
    assertEvent(input);
    expect(input.type).toBe('energy.update');
  });

  it('assertEvent throws invalid_event for invalid events and unknown_type (with the event) for unknown types', () => {
    expect(
      isEventsError(
        errorOf(() => assertEvent({ ...update, data: null })),
        'invalid_event',
      ),
    ).toBe(true);
    const input = { ...update, type: 'vision.frame' };
    const error = errorOf(() => assertEvent(input));
    if (!isEventsError(error, 'unknown_type')) throw new Error('wrong error');
    expect(error.event.event).toBe(input);
  });
});

describe('validateEnergyState', () => {
  it('accepts valid energy states', () => {
    fc.assert(
      fc.property(energyStateArbitrary(), (state) => {
        expect(validateEnergyState(state).issues).toEqual([]);
        assertEnergyState(state);
      }),
      { numRuns: 200 },
    );
  });

  it('lists every problem with its path', () => {
    const result = validateEnergyState({
      frameState: { frame_id: 1, timestamp: 'yesterday', energy_current: -1 },
      energyAccumulator: { total_energy: 1, session_start: '2025-08-17T19:45:00Z', frame_count: 1 },
      sessionContext: {
        session_id: '20250817T194500Z_001',
        user_id: 'default',
        hardware_tier: 'huge',
      },
      schema_version: '1.0',
      created_at: '2025-08-17T19:45:00Z',
    });
    expect(result.issues.map((issue) => `${issue.path} ${issue.keyword}`)).toEqual([
      '/updated_at required',
      '/frameState/timestamp pattern',
      '/frameState/energy_current minimum',
      '/sessionContext/hardware_tier enum',
      '/schema_version pattern',
    ]);
    expect(
      isEventsError(
        errorOf(() => assertEnergyState({})),
        'invalid_energy_state',
      ),
    ).toBe(true);
    expect(validateEnergyState(null).issues).toEqual([
      { path: '', keyword: 'type', message: 'must be an object' },
    ]);
  });

  it('describes the whole state shape of the spec', () => {
    expect(Object.keys(EnergyStateSchema.properties)).toEqual([
      'frameState',
      'energyAccumulator',
      'sessionContext',
      'performanceMetrics',
      'recoveryContext',
      'schema_version',
      'created_at',
      'updated_at',
    ]);
  });
});
