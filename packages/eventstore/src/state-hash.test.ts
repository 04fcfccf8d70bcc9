import { decodeValue } from '@wirthforge/events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalEncode, encodedSize } from './canonical-encode.js';
import { energyProjection } from './energy-projection.js';
import { isStateError } from './errors.js';
import { foldEvents, foldEventsInPlace } from './fold-events.js';
import type { Projection } from './projection.js';
import { recordEvents } from './record-events.js';
import { sessionSummaryProjection } from './session-summary-projection.js';
import { stateHash } from './state-hash.js';
import { sessionEventsArbitrary } from './testing/index.js';
import { userProgressProjection } from './user-progress-projection.js';

describe('canonicalEncode', () => {
  it('does not depend on the order properties were added in', () => {
    const a = { b: 1, a: { y: [1, { q: 2, p: 1 }], x: null } };
    const b = { a: { x: null, y: [1, { p: 1, q: 2 }] }, b: 1 };
    expect(canonicalEncode(a)).toEqual(canonicalEncode(b));
    expect(decodeValue(canonicalEncode(a))).toEqual(a);
  });

  it('leaves out undefined properties, keeps -0 and exact numbers', () => {
    expect(canonicalEncode({ a: 1, b: undefined })).toEqual(canonicalEncode({ a: 1 }));
    expect(canonicalEncode({ a: -0 })).not.toEqual(canonicalEncode({ a: 0 }));
    expect(canonicalEncode(0.1 + 0.2)).not.toEqual(canonicalEncode(0.3));
    expect(Object.is(decodeValue(canonicalEncode(-0)), -0)).toBe(true);
  });

  it('returns bytes that later encodings do not overwrite', () => {
    const first = canonicalEncode({ a: 'first' });
    const copy = first.slice();
    canonicalEncode({ a: 'second, and longer' });
    expect(first).toEqual(copy);
  });

  it('refuses values outside the storable set, naming the problem', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const cases: unknown[] = [
      { n: 1n },
      { f: () => 1 },
      { d: new Date(0) },
      { m: new Map() },
      [undefined],
      { s: '\uD800' },
      JSON.parse('{"__proto__": 1}'),
      cyclic,
    ];
    for (const value of cases) {
      let caught: unknown;
      try {
        canonicalEncode(value);
      } catch (error) {
        caught = error;
      }
      expect(isStateError(caught, 'unencodable_state')).toBe(true);
    }
  });

  it('measures the encoded size whatever the key order', () => {
    const state = { z: [1, 2, 3], a: 'text', m: { k: true } };
    expect(encodedSize(state)).toBe(canonicalEncode(state).length);
  });
});

describe('stateHash', () => {
  it('is pinned: the same state hashes the same on every machine and version', () => {
    // SHA-256 of 84 a5"clean" c3 a6"models" 92 a1"a" a1"b" a4"none" c0 a5"total" cb <1.5 as float 64>.
    expect(stateHash({ total: 1.5, models: ['a', 'b'], clean: true, none: null })).toBe(
      'b710105779d6e4eeafe9dcff7f7fe3e5cb9ec9694bf5233979a399d3bd168eda',
    );
  });

  it('is 64 hex digits and changes with any change of the state', () => {
    fc.assert(
      fc.property(
        fc.dictionary(
          fc.string({ maxLength: 6 }),
          fc.oneof(fc.double(), fc.string(), fc.boolean()),
          {
            minKeys: 1,
            maxKeys: 8,
          },
        ),
        fc.string({ minLength: 1, maxLength: 6 }),
        (state, extra) => {
          const hash = stateHash(state);
          expect(hash).toMatch(/^[0-9a-f]{64}$/);
          const key = Object.keys(state)[0] as string;
          const changed = { ...state, [key]: ['changed'] };
          expect(stateHash(changed)).not.toBe(hash);
          if (!(extra in state)) expect(stateHash({ ...state, [extra]: 0 })).not.toBe(hash);
        },
      ),
    );
  });

  it('tells states apart that differ in one bit of one number', () => {
    const state = foldEvents(energyProjection, []);
    const other = structuredClone(state);
    other.total_energy.compensation = Number.MIN_VALUE;
    expect(stateHash(other)).not.toBe(stateHash(state));
  });
});

const projections: [string, Projection<unknown>][] = [
  ['energy', energyProjection],
  ['session summary', sessionSummaryProjection],
  ['user progress', userProgressProjection],
];

describe.each(projections)('replaying the %s projection', (_name, projection) => {
  const sessions = sessionEventsArbitrary({ maxEvents: 250 });

  it('gives the same hash twice, in chunks, and through a clone made midway', () => {
    fc.assert(
      fc.property(sessions, fc.array(fc.nat(), { maxLength: 4 }), (events, cuts) => {
        const records = recordEvents(events);
        const once = stateHash(foldEvents(projection, records));
        expect(stateHash(foldEvents(projection, records))).toBe(once);

        // In chunks: each fold starts from the previous state (cloned by foldEvents).
        const bounds = [...new Set(cuts.map((cut) => cut % (records.length + 1)))].sort(
          (a, b) => a - b,
        );
        let state = projection.initialState();
        let from = 0;
        for (const to of [...bounds, records.length]) {
          state = foldEvents(projection, records.slice(from, to), state);
          from = to;
        }
        expect(stateHash(state)).toBe(once);

        // Live: in place, one event at a time, with a clone taken midway that goes on alone.
        const middle = Math.floor(records.length / 2);
        let live = projection.initialState();
        let midway: unknown;
        records.forEach((record, index) => {
          if (index === middle) midway = projection.clone(live);
          live = foldEventsInPlace(projection, live, [record]);
        });
        expect(stateHash(live)).toBe(once);
        if (midway !== undefined) {
          const resumed = foldEventsInPlace(projection, midway, records.slice(middle));
          expect(stateHash(resumed)).toBe(once);
          // And the clone is a real copy: the state it was taken from went on without it.
          expect(stateHash(projection.clone(live))).toBe(once);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('goes on from a state restored from its canonical bytes as from the original', () => {
    fc.assert(
      fc.property(sessions, fc.nat(), (events, cut) => {
        const records = recordEvents(events);
        const at = cut % (records.length + 1);
        const head = foldEvents(projection, records.slice(0, at));
        // What a snapshot does: bytes out, bytes back in.
        const restored = decodeValue(canonicalEncode(head));
        expect(stateHash(restored)).toBe(stateHash(head));
        const resumed = foldEvents(projection, records.slice(at), restored);
        expect(stateHash(resumed)).toBe(stateHash(foldEvents(projection, records)));
      }),
      { numRuns: 30 },
    );
  });
});
