import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { decodeFloatColumn, FloatColumnBuilder } from './float-column.js';

const view = new DataView(new ArrayBuffer(8));

function builderOf(bits: readonly (readonly [number, number])[]): FloatColumnBuilder {
  const builder = new FloatColumnBuilder();
  for (const [hi, lo] of bits) {
    view.setUint32(0, hi);
    view.setUint32(4, lo);
    builder.push(hi, lo, view.getFloat64(0));
  }
  return builder;
}

function bitsOf(value: number): [number, number] {
  view.setFloat64(0, value);
  return [view.getUint32(0), view.getUint32(4)];
}

function expected(bits: readonly (readonly [number, number])[]): number[] {
  return bits.flatMap(([hi, lo]) => [
    hi >>> 24,
    (hi >>> 16) & 0xff,
    (hi >>> 8) & 0xff,
    hi & 0xff,
    lo >>> 24,
    (lo >>> 16) & 0xff,
    (lo >>> 8) & 0xff,
    lo & 0xff,
  ]);
}

const anyBits = fc.tuple(
  fc.integer({ min: 0, max: 0xffffffff }),
  fc.integer({ min: 0, max: 0xffffffff }),
);
const decimal = fc
  .tuple(fc.integer({ min: -(10 ** 7), max: 10 ** 7 }), fc.constantFrom(0, 1, 2, 3))
  .map(([n, e]) => bitsOf(n / 10 ** e));
const special = fc
  .constantFrom(-0, Number.NaN, Infinity, -Infinity, 5e-324, Number.MAX_VALUE, 2 ** 60, 0.1 + 0.2)
  .map(bitsOf);

describe('double columns', () => {
  it('give back every bit of every double: decimals, NaN payloads, -0, infinities', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(anyBits, decimal, decimal, special), { maxLength: 80 }),
        (bits) => {
          const bytes = builderOf(bits).encode();
          expect(Array.from(decodeFloatColumn(bytes, bits.length, 'test'))).toEqual(expected(bits));
        },
      ),
    );
  });

  it('code decimals (energy to three places) as scaled integers, far smaller than their bits', () => {
    let level = 4.2;
    const bits = Array.from({ length: 1000 }, (_, i) => {
      level = Math.round((level + Math.sin(i) * 0.05) * 1000) / 1000;
      return bitsOf(level);
    });
    bits[10] = bitsOf(Number.NaN);
    bits[20] = bitsOf(-0);
    const bytes = builderOf(bits).encode();
    expect(bytes[0]).toBe(1); // decimal coding, with two exceptions
    expect(bytes.length).toBeLessThan(2200);
    expect(Array.from(decodeFloatColumn(bytes, bits.length, 'test'))).toEqual(expected(bits));
  });

  it('XOR-code doubles that are not decimals', () => {
    const bits = Array.from({ length: 100 }, (_, i) => bitsOf(Math.PI * (i + 1)));
    const bytes = builderOf(bits).encode();
    expect(bytes[0]).toBe(2);
    expect(Array.from(decodeFloatColumn(bytes, bits.length, 'test'))).toEqual(expected(bits));
  });
});
