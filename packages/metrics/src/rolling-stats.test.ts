import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  exponentialMovingAverage,
  median,
  medianAndMad,
  movingAverage,
  slope,
} from './rolling-stats.js';

function sortedMedian(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

describe('rolling statistics', () => {
  it('median and MAD equal the sorted definitions, and leave the input alone', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -1e6, max: 1e6, noNaN: true }), { minLength: 1, maxLength: 200 }),
        (values) => {
          const copy = Float64Array.from(values);
          const scratch = new Float64Array(256);
          expect(median(copy, scratch)).toBe(sortedMedian(values));
          expect([...copy]).toEqual(values);
          const { median: m, mad } = medianAndMad(copy, scratch);
          expect(mad).toBe(sortedMedian(values.map((v) => Math.abs(v - m))));
        },
      ),
      { numRuns: 300 },
    );
    expect(median([])).toBeNaN();
  });

  it('averages and slopes the last window of a series', () => {
    const ramp = [0, 0, 0, 1, 3, 5, 7];
    expect(movingAverage(ramp, 4)).toBe(4);
    expect(slope(ramp, 4)).toBe(2);
    expect(slope([1], 4)).toBeNaN();
    expect(exponentialMovingAverage([2, 2, 2], 3)).toBe(2);
    // alpha = 2 / (1 + 1) = 1: the last value.
    expect(exponentialMovingAverage([1, 5, 9], 1)).toBe(9);
    expect(exponentialMovingAverage([0, 10], 3)).toBe(5);
  });
});
