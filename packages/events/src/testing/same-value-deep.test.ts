import { describe, expect, it } from 'vitest';
import { sameValueDeep } from './same-value-deep.js';

describe('sameValueDeep', () => {
  it('compares numbers with Object.is', () => {
    expect(sameValueDeep(Number.NaN, Number.NaN)).toBe(true);
    expect(sameValueDeep(-0, 0)).toBe(false);
    expect(sameValueDeep({ a: [-0] }, { a: [-0] })).toBe(true);
    expect(sameValueDeep({ a: [-0] }, { a: [0] })).toBe(false);
  });

  it('ignores key order and gives no meaning to special property names', () => {
    expect(sameValueDeep({ a: 1, b: 2 }, { b: 2, a: 1 })).toBe(true);
    expect(sameValueDeep({ constructor: {} }, { constructor: {} })).toBe(true);
    expect(sameValueDeep({ constructor: {} }, { constructor: [] })).toBe(false);
  });

  it('tells apart missing keys, extra keys, arrays and objects', () => {
    expect(sameValueDeep({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameValueDeep({ a: 1, b: 2 }, { a: 1, c: 2 })).toBe(false);
    expect(sameValueDeep([1], { 0: 1 })).toBe(false);
    expect(sameValueDeep({ 0: 1 }, [1])).toBe(false);
    expect(sameValueDeep([1, 2], [1])).toBe(false);
    expect(sameValueDeep(null, {})).toBe(false);
    expect(sameValueDeep('1', 1)).toBe(false);
  });
});
