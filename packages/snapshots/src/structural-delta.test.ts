import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDelta, diffState } from './structural-delta.js';

/** Storable values, with -0 and nested arrays and objects. */
const storable = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, false, 0, -0, 1.5, -2, 'x', ''),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string({ maxLength: 4 }),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd', '0', '10'), tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** Deep equality that tells -0 from 0 and sees key sets. */
function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => same(x, b[i]));
  if (typeof a === 'object' && a !== null && typeof b === 'object' && b !== null) {
    if (Array.isArray(a) || Array.isArray(b)) return false;
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    return (
      same(ka, kb) &&
      ka.every((k) => same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
    );
  }
  return Object.is(a, b);
}

describe('structural delta', () => {
  it('turns any storable value into any other, and leaves the base as it was', () => {
    fc.assert(
      fc.property(storable, storable, (from, to) => {
        const before = structuredClone(from);
        const delta = diffState(from, to);
        expect(same(applyDelta(from, delta), to)).toBe(true);
        expect(same(from, before)).toBe(true);
        expect(delta === null).toBe(same(from, to));
      }),
      { numRuns: 400 },
    );
  });

  it('is small when little changed', () => {
    const base = { peaks: Array.from({ length: 100 }, (_, i) => ({ energy: i })), total: 1 };
    const next = structuredClone(base);
    next.total = 2;
    next.peaks[7]!.energy = -0;
    expect(diffState(base, next)).toEqual([
      1,
      { peaks: [2, 100, [7, [1, { energy: [0, -0] }, []]]], total: [0, 2] },
      [],
    ]);
  });

  it('refuses a delta that does not fit its base, naming where', () => {
    const delta = diffState({ a: { b: [1, 2] } }, { a: { b: [1, 3] } });
    expect(() => applyDelta({ a: 5 }, delta)).toThrow(/\/a/);
    expect(() => applyDelta({}, [9, 1] as never)).toThrow(/unknown form/);
    expect(() => applyDelta([], [2, 2, [5, [0, 1]]])).toThrow(/bad index/);
  });
});
