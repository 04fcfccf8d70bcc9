import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from './msgpack-value.js';
import { PayloadReadError, readMessagePackValue } from './payload-reader.js';
import { storableValueArbitrary } from './testing/event-arbitraries.js';
import { sameValueDeep } from './testing/same-value-deep.js';

const bytes = (hex: string): Uint8Array => Uint8Array.from(Buffer.from(hex, 'hex'));

function float64Bits(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return Buffer.from(new Uint8Array(view.buffer)).toString('hex');
}

function expectSameValue(actual: unknown, expected: unknown): void {
  if (!sameValueDeep(actual, expected)) expect(actual).toStrictEqual(expected);
  expect(sameValueDeep(actual, expected)).toBe(true);
}

describe('readMessagePackValue', () => {
  it('reads back every storable value exactly, as msgpackr does', () => {
    fc.assert(
      fc.property(storableValueArbitrary(4), (value) => {
        const encoded = encodeValue(value);
        const read = readMessagePackValue(encoded);
        expectSameValue(read, value);
        expectSameValue(read, decodeValue(encoded));
      }),
      { numRuns: 1000 },
    );
  });

  it('reads what msgpackr writes for the standard types (float 32, 64-bit integers included)', () => {
    const packr = new Packr({ useRecords: false, useFloat32: 1, int64AsType: 'number' });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.integer(),
          fc.maxSafeInteger(),
          fc.float({ noNaN: true }).filter((n) => !Object.is(n, -0)),
          fc.string({ unit: 'grapheme', maxLength: 40 }),
          fc.array(fc.integer(), { maxLength: 40 }),
          fc.dictionary(
            fc.string({ maxLength: 8 }).filter((key) => key !== '__proto__'),
            fc.boolean(),
            { maxKeys: 40 },
          ),
        ),
        (value) => {
          expectSameValue(readMessagePackValue(packr.pack(value)), value);
        },
      ),
      { numRuns: 500 },
    );
  });

  it.each([
    ['c0', null],
    ['c2', false],
    ['c3', true],
    ['7f', 127],
    ['e0', -32],
    ['cc80', 128],
    ['cd0100', 256],
    ['ce00010000', 65536],
    ['cf0000000100000000', 2 ** 32],
    ['d080', -128],
    ['d18000', -32768],
    ['d280000000', -(2 ** 31)],
    ['d3ffffffff00000000', -(2 ** 32)],
    ['d3fffffffffffffffe', -2],
    ['ca3fc00000', 1.5],
    ['cb3ff8000000000000', 1.5],
    ['d90161', 'a'],
    ['da000161', 'a'],
    ['db0000000161', 'a'],
    ['dc000101', [1]],
    ['dd0000000101', [1]],
    ['de0001a16101', { a: 1 }],
    ['df00000001a16101', { a: 1 }],
  ])('reads %s', (hex, value) => {
    expect(readMessagePackValue(bytes(hex))).toStrictEqual(value);
  });

  it('keeps -0, the bits of NaN and ±Infinity', () => {
    expect(Object.is(readMessagePackValue(bytes('cb8000000000000000')), -0)).toBe(true);
    for (const hex of [
      '7ff8000000000000',
      '7ff812340000abcd',
      '7ff0000000000000',
      'fff0000000000000',
    ]) {
      expect(float64Bits(readMessagePackValue(bytes(`cb${hex}`)) as number)).toBe(hex);
    }
  });

  it('keeps every string as written: a leading byte order mark, astral and long text', () => {
    for (const value of [
      '\ufeff',
      '\ufeffabc',
      'é',
      'a😀b',
      'x'.repeat(31),
      'y'.repeat(32),
      'é'.repeat(70_000),
    ]) {
      expect(readMessagePackValue(encodeValue(value))).toBe(value);
    }
  });

  it('reads repeated and look-alike short strings exactly, however often they recur', () => {
    // Short strings are handed out again from a table by a hash of their bytes: any mix
    // of repeats, near misses (one byte apart, a prefix, another length) and colliding
    // slots must still give each string exactly.
    const wellFormed = (text: string): boolean =>
      Buffer.from(text, 'utf8').toString('utf8') === text;
    const base = fc.string({ unit: 'binary', maxLength: 31 }).filter(wellFormed);
    const family = base
      .chain((text) =>
        fc.constantFrom(
          text,
          text.slice(0, -1),
          `${text}x`,
          text.length > 0 ? `${String.fromCharCode(text.charCodeAt(0) ^ 1)}${text.slice(1)}` : 'a',
        ),
      )
      .filter(wellFormed);
    fc.assert(
      fc.property(
        fc.array(family, { maxLength: 60 }),
        fc.array(base, { maxLength: 20 }),
        (a, b) => {
          const strings = [...a, ...b, ...a];
          expect(readMessagePackValue(encodeValue(strings))).toEqual(strings);
          for (const text of strings) expect(readMessagePackValue(encodeValue(text))).toBe(text);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('does not hand out a string read from input that failed as ill-formed', () => {
    expect(() => readMessagePackValue(bytes('a2c328'))).toThrow(PayloadReadError);
    expect(() => readMessagePackValue(bytes('a2c328'))).toThrow(PayloadReadError);
    expect(readMessagePackValue(bytes('a2c3a9'))).toBe('é');
  });

  it.each([
    ['empty input', ''],
    ['a truncated string', 'a36162'],
    ['a truncated float', 'cb3ff80000'],
    ['a truncated array', '9201'],
    ['an array longer than the input', 'ddffffffff'],
    ['a map longer than the input', 'dfffffffff'],
    ['bytes after the value', '0101'],
    ['ill-formed UTF-8', 'a2c328'],
    ['a lone surrogate in UTF-8', 'a3eda080'],
    ['a map key that is not a string', '810101'],
    ['a __proto__ key', '81a95f5f70726f746f5f5f01'],
    ['binary data', 'c40100'],
    ['an extension type', 'd4010000'],
    ['the reserved byte', 'c1'],
  ])('refuses %s', (_, hex) => {
    expect(() => readMessagePackValue(bytes(hex))).toThrow(PayloadReadError);
  });

  it('refuses nesting deeper than any payload the encoder writes', () => {
    expect(readMessagePackValue(bytes('91'.repeat(101) + '01'))).toHaveLength(1);
    expect(() => readMessagePackValue(bytes('91'.repeat(102) + '01'))).toThrow(PayloadReadError);
  });
});
