import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { decodeIntColumn, encodeIntColumn } from './int-column.js';

const safe = fc.oneof(
  fc.integer({ min: -1000, max: 1000 }),
  fc.integer(),
  fc.maxSafeInteger(),
  fc.constantFrom(
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    2 ** 52,
    -(2 ** 52),
    2 ** 31,
    -(2 ** 31),
  ),
);

describe('integer columns', () => {
  it('give back every safe integer, whatever coding is chosen', () => {
    fc.assert(
      fc.property(fc.array(safe, { maxLength: 60 }), (values) => {
        const bytes = encodeIntColumn(values);
        expect(Array.from(decodeIntColumn(bytes, values.length, 'test'))).toEqual(values);
      }),
    );
  });

  it('code a steady clock in about one byte a value (delta-of-delta)', () => {
    const ticks = Array.from(
      { length: 1000 },
      (_, i) => 1_755_460_080_000_000 + Math.floor((i * 1_000_000) / 60),
    );
    const bytes = encodeIntColumn(ticks);
    expect(bytes.length).toBeLessThan(1020);
    expect(Array.from(decodeIntColumn(bytes, ticks.length, 'test'))).toEqual(ticks);
  });

  it('refuse bytes that do not hold the values asked for, naming the column', () => {
    const bytes = encodeIntColumn([1, 2, 300]);
    expect(() => decodeIntColumn(bytes, 4, 'frame ids')).toThrow(
      'Segment body is corrupt: frame ids ends early',
    );
    expect(() => decodeIntColumn(bytes, 2, 'frame ids')).toThrow(
      'Segment body is corrupt: frame ids has bytes left over',
    );
    expect(() => decodeIntColumn(Uint8Array.of(9, 0), 1, 'frame ids')).toThrow(/unknown coding 9/);
  });
});
