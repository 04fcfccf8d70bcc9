import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionEvents } from '../test/event-builders.js';
import { canonicalEncode } from './canonical-encode.js';
import { energyProjection, type EnergyProjectionState } from './energy-projection.js';
import { isStateError } from './errors.js';
import { foldEvents } from './fold-events.js';
import { StateCache, type CachedState } from './state-cache.js';

function entry(size: number, version = 1n): CachedState<string> {
  return { state: 'x'.repeat(size), version, position: version };
}

/** States are strings; their size is their length. */
function cache(maxEntries: number, maxBytes: number): StateCache<string> {
  return new StateCache<string>({ maxEntries, maxBytes, sizeOf: (state) => state.length });
}

describe('StateCache', () => {
  it('returns what was stored and counts hits and misses', () => {
    const c = cache(4, 100);
    const a = entry(10, 3n);
    expect(c.set('a', a)).toBe(true);
    expect(c.get('a')).toBe(a);
    expect(c.get('b')).toBeUndefined();
    expect(c.has('a')).toBe(true);
    expect(c.stats()).toEqual({
      hits: 1,
      misses: 1,
      evictions: 0,
      rejected: 0,
      entries: 1,
      bytes: 10,
      maxEntries: 4,
      maxBytes: 100,
    });
  });

  it('evicts the least recently used entry beyond maxEntries', () => {
    const c = cache(2, 1000);
    c.set('a', entry(1));
    c.set('b', entry(1));
    c.get('a');
    c.set('c', entry(1));
    expect(c.keys()).toEqual(['c', 'a']);
    expect(c.stats().evictions).toBe(1);
  });

  it('evicts least recently used entries until the bytes fit', () => {
    const c = cache(10, 100);
    c.set('a', entry(40));
    c.set('b', entry(40));
    c.set('c', entry(50));
    expect(c.keys()).toEqual(['c', 'b']);
    expect(c.stats()).toMatchObject({ bytes: 90, entries: 2, evictions: 1 });
    c.set('d', entry(100));
    expect(c.keys()).toEqual(['d']);
    expect(c.stats()).toMatchObject({ bytes: 100, evictions: 3 });
  });

  it('refuses a state larger than maxBytes, dropping the older entry of its key', () => {
    const c = cache(10, 100);
    c.set('a', entry(10));
    expect(c.set('a', entry(101))).toBe(false);
    expect(c.get('a')).toBeUndefined();
    expect(c.stats()).toMatchObject({ rejected: 1, entries: 0, bytes: 0, evictions: 0 });
  });

  it('replaces an entry without counting an eviction, and deletes and clears', () => {
    const c = cache(10, 100);
    c.set('a', entry(10));
    c.set('a', entry(30, 2n));
    expect(c.get('a')?.version).toBe(2n);
    expect(c.stats()).toMatchObject({ bytes: 30, entries: 1, evictions: 0 });
    expect(c.delete('a')).toBe(true);
    expect(c.delete('a')).toBe(false);
    c.set('b', entry(1));
    c.clear();
    expect(c.stats()).toMatchObject({ entries: 0, bytes: 0, evictions: 0 });
    c.resetStats();
    expect(c.stats()).toMatchObject({ hits: 0, misses: 0, evictions: 0, rejected: 0 });
  });

  it('charges an empty state one byte', () => {
    const c = cache(10, 100);
    c.set('a', entry(0));
    expect(c.stats().bytes).toBe(1);
  });

  it('sizes states by their canonical encoding by default', () => {
    const s = new SessionEvents();
    const state = foldEvents(energyProjection, [s.start(), s.update(0, 2), s.peak(0, 4)]);
    const c = new StateCache<EnergyProjectionState>({ maxEntries: 8, maxBytes: 1 << 20 });
    c.set('session-1', { state, version: 3n, position: 3n });
    expect(c.stats().bytes).toBe(canonicalEncode(state).length);
    let caught: unknown;
    try {
      new StateCache<unknown>({ maxEntries: 1, maxBytes: 10 }).set('k', {
        state: { big: 1n },
        version: 1n,
        position: 1n,
      });
    } catch (error) {
      caught = error;
    }
    expect(isStateError(caught, 'unencodable_state')).toBe(true);
  });

  it('refuses bounds that are not positive integers, and bad sizes', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Infinity]) {
      expect(() => cache(bad, 10)).toThrow(/options\.maxEntries/);
      expect(() => cache(10, bad)).toThrow(/options\.maxBytes/);
    }
    const c = new StateCache<string>({ maxEntries: 1, maxBytes: 10, sizeOf: () => -1 });
    expect(() => c.set('a', entry(1))).toThrow(/sizeOf/);
  });

  it('behaves as a simple LRU model under any sequence of operations', () => {
    type Op =
      | { kind: 'get'; key: number }
      | { kind: 'set'; key: number; size: number }
      | { kind: 'delete'; key: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('get' as const), key: fc.nat(6) }),
      fc.record({ kind: fc.constant('set' as const), key: fc.nat(6), size: fc.nat(60) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.nat(6) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 120 }),
        fc.array(op),
        (maxEntries, maxBytes, ops) => {
          const c = cache(maxEntries, maxBytes);
          // The model: keys from least to most recently used, with their sizes.
          const model = new Map<string, number>();
          let hits = 0;
          let misses = 0;
          let evictions = 0;
          let rejected = 0;
          const charge = (size: number) => Math.max(1, size);
          const bytes = () => [...model.values()].reduce((a, b) => a + charge(b), 0);
          for (const o of ops) {
            const key = `k${o.key}`;
            if (o.kind === 'get') {
              const got = c.get(key);
              if (model.has(key)) {
                hits += 1;
                const size = model.get(key) as number;
                model.delete(key);
                model.set(key, size);
                expect(got?.state.length).toBe(size);
              } else {
                misses += 1;
                expect(got).toBeUndefined();
              }
            } else if (o.kind === 'delete') {
              expect(c.delete(key)).toBe(model.delete(key));
            } else {
              model.delete(key);
              if (charge(o.size) > maxBytes) {
                rejected += 1;
                expect(c.set(key, entry(o.size))).toBe(false);
              } else {
                expect(c.set(key, entry(o.size))).toBe(true);
                model.set(key, o.size);
                while (model.size > maxEntries || bytes() > maxBytes) {
                  model.delete(model.keys().next().value as string);
                  evictions += 1;
                }
              }
            }
            expect(c.keys()).toEqual([...model.keys()].reverse());
            expect(c.stats()).toEqual({
              hits,
              misses,
              evictions,
              rejected,
              entries: model.size,
              bytes: bytes(),
              maxEntries,
              maxBytes,
            });
          }
        },
      ),
    );
  });
});
