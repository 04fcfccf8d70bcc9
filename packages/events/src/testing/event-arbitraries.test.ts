import { Type } from '@sinclair/typebox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../event-schemas.js';
import {
  anyEventArbitrary,
  arbitraryFromSchema,
  eventArbitrary,
  extraFieldsArbitrary,
  storableValueArbitrary,
} from './event-arbitraries.js';

describe('event arbitraries', () => {
  it('generate every event type', () => {
    const seen = new Set(fc.sample(anyEventArbitrary(), 2000).map((event) => event.type));
    expect([...seen].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('generate events of the asked type, with and without extra fields', () => {
    const plain = fc.sample(eventArbitrary('energy.peak'), 200);
    expect(plain.every((event) => event.type === 'energy.peak')).toBe(true);
    const extended = fc.sample(eventArbitrary('energy.peak', { extraFields: true }), 200);
    const envelope = ['session_id', 'timestamp', 'type', 'frame_id', 'event_id', 'data'];
    expect(
      extended.some((event) => Object.keys(event).some((key) => !envelope.includes(key))),
    ).toBe(true);
  });

  it('reach the edges the codec must keep: -0, NaN, ±Infinity, astral strings', () => {
    const values = fc.sample(storableValueArbitrary(0), 3000);
    expect(values.some((v) => Object.is(v, -0))).toBe(true);
    expect(values.some((v) => Number.isNaN(v))).toBe(true);
    expect(values.some((v) => v === Infinity)).toBe(true);
    expect(values.some((v) => v === -Infinity)).toBe(true);
    expect(values.some((v) => typeof v === 'string' && /[\u{10000}-\u{10FFFF}]/u.test(v))).toBe(
      true,
    );
    expect(
      fc.sample(eventArbitrary('energy.update'), 500).some((e) => Object.is(e.data.energy, -0)),
    ).toBe(true);
  });

  it('never produce envelope names or __proto__ as extra fields', () => {
    for (const extra of fc.sample(extraFieldsArbitrary(), 500)) {
      for (const key of Object.keys(extra)) {
        expect([
          'session_id',
          'timestamp',
          'type',
          'frame_id',
          'event_id',
          'data',
          '__proto__',
        ]).not.toContain(key);
      }
    }
  });

  it('refuse schema kinds they do not know', () => {
    expect(() => arbitraryFromSchema(Type.Date())).toThrow(TypeError);
  });
});
