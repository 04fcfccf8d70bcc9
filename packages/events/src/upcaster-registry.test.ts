import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import type { EventEnvelope } from './event-schemas.js';
import { SCHEMA_VERSIONS } from './schema-versions.js';
import { isUnknownEvent } from './unknown-event.js';
import {
  UpcasterRegistry,
  createUpcasters,
  defaultUpcasters,
  type Upcaster,
} from './upcaster-registry.js';
import { validateEvent } from './validate-event.js';

// A made-up history of energy.update: version 3 is today's shape.
// v1: { eu, total, model }           (no frame budget)
// v2: { energy, accumulator, model } (renamed the numbers)
// v3: { energy, accumulator, model_id }
const envelope = {
  session_id: '20250817T194800Z_001',
  timestamp: '2025-08-17T19:48:05.150000Z',
  type: 'energy.update',
  frame_id: 7,
  event_id: 'evt_7',
  producer: 'legacy-agent',
};

const v1: EventEnvelope = { ...envelope, data: { eu: 4.2, total: 9.2, model: 'ollama/llama2:7b' } };

const v1ToV2: Upcaster = {
  type: 'energy.update',
  fromVersion: 1,
  upcast: ({ data, ...rest }) => {
    const { eu, total, model } = data as { eu: number; total: number; model: string };
    return { ...rest, data: { energy: eu, accumulator: total, model } };
  },
};

const v2ToV3: Upcaster = {
  type: 'energy.update',
  fromVersion: 2,
  upcast: ({ data, ...rest }) => {
    const { model, ...numbers } = data as { energy: number; accumulator: number; model: string };
    return { ...rest, data: { ...numbers, model_id: model } };
  },
};

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const registry = createUpcasters({ versions: { 'energy.update': 3 }, upcasters: [v2ToV3, v1ToV2] });

describe('UpcasterRegistry', () => {
  it('chains upcasters from any older version to the current one', () => {
    const expected = {
      ...envelope,
      data: { energy: 4.2, accumulator: 9.2, model_id: 'ollama/llama2:7b' },
    };
    const fromV1 = registry.upcast(v1, 1);
    expect(fromV1).toEqual(expected);
    expect(validateEvent(fromV1).status).toBe('valid');
    const v2 = v1ToV2.upcast(v1);
    expect(registry.upcast(v2, 2)).toEqual(expected);
  });

  it('does not change its input', () => {
    const copy = structuredClone(v1);
    registry.upcast(v1, 1);
    expect(v1).toEqual(copy);
  });

  it('returns an event of the current version as the same object', () => {
    const current = { ...envelope, data: { energy: 1, accumulator: 1, model_id: 'm' } };
    expect(registry.upcast(current, 3)).toBe(current);
    expect(defaultUpcasters.upcast(current, 1)).toBe(current);
  });

  it('knows the current version of every type, and of none other', () => {
    expect(registry.currentVersion('energy.update')).toBe(3);
    expect(registry.currentVersion('energy.peak')).toBe(SCHEMA_VERSIONS['energy.peak']);
    expect(registry.currentVersion('vision.frame')).toBeUndefined();
    expect(new UpcasterRegistry().currentVersion('energy.update')).toBe(1);
  });

  it('refuses a version from the future with type, version and known version', () => {
    const error = errorOf(() => registry.upcast(v1, 4));
    if (!isEventsError(error, 'future_version')) throw new Error('wrong error');
    expect(error.type).toBe('energy.update');
    expect(error.version).toBe(4);
    expect(error.knownVersion).toBe(3);
    expect(error.message).toMatch(/"energy\.update".*version 4.*\(3\)/);
    expect(
      isEventsError(
        errorOf(() => defaultUpcasters.checkVersion('energy.update', 2)),
        'future_version',
      ),
    ).toBe(true);
  });

  it('passes an unknown type through intact with its version', () => {
    const event = { ...envelope, type: 'vision.frame', data: { pixels: 3 } };
    const result = registry.upcast(event, 5);
    expect(isUnknownEvent(result)).toBe(true);
    if (!isUnknownEvent(result)) return;
    expect(result.event).toBe(event);
    expect(result.type).toBe('vision.frame');
    expect(result.schemaVersion).toBe(5);
  });

  it('refuses versions that are not positive integers', () => {
    for (const version of [0, -1, 1.5, Number.NaN]) {
      expect(
        isEventsError(
          errorOf(() => registry.upcast(v1, version)),
          'invalid_version',
        ),
      ).toBe(true);
    }
  });

  it('says which step is missing', () => {
    const partial = createUpcasters({ versions: { 'energy.update': 3 }, upcasters: [v2ToV3] });
    const error = errorOf(() => partial.upcast(v1, 1));
    expect(isEventsError(error, 'missing_upcaster')).toBe(true);
    expect((error as Error).message).toContain('version 1 into version 2');
  });

  it('refuses an upcaster that changes the type', () => {
    const renaming = createUpcasters({
      versions: { 'energy.peak': 2 },
      upcasters: [
        { type: 'energy.peak', fromVersion: 1, upcast: (e) => ({ ...e, type: 'energy.top' }) },
      ],
    });
    const event = { ...envelope, type: 'energy.peak', data: {} };
    expect(
      isEventsError(
        errorOf(() => renaming.upcast(event, 1)),
        'invalid_upcaster',
      ),
    ).toBe(true);
  });

  it.each([
    [
      'two upcasters for one step',
      { versions: { 'energy.update': 3 }, upcasters: [v1ToV2, v1ToV2] },
    ],
    [
      'an upcaster from the current version',
      { versions: { 'energy.update': 2 }, upcasters: [v2ToV3] },
    ],
    ['an upcaster when the type has only version 1', { upcasters: [v1ToV2] }],
    [
      'an upcaster from version 0',
      { versions: { 'energy.update': 3 }, upcasters: [{ ...v1ToV2, fromVersion: 0 }] },
    ],
    [
      'an upcaster for an unknown type',
      { upcasters: [{ ...v1ToV2, type: 'vision.frame' as 'energy.update' }] },
    ],
    [
      'a version for an unknown type',
      { versions: { 'vision.frame': 2 } as Record<string, number> },
    ],
    ['a version that is not a positive integer', { versions: { 'energy.update': 0 } }],
  ])('refuses a configuration with %s', (_, options) => {
    expect(
      isEventsError(
        errorOf(() => createUpcasters(options)),
        'invalid_upcaster',
      ),
    ).toBe(true);
  });
});
