import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import { MAX_NESTING_DEPTH, decodeValue, encodeValue } from './msgpack-value.js';
import { storableValueArbitrary } from './testing/event-arbitraries.js';
import { sameValueDeep } from './testing/same-value-deep.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

/** Exact equality (see sameValueDeep), with the matcher's diff when it fails. */
function expectSameValue(actual: unknown, expected: unknown): void {
  if (!sameValueDeep(actual, expected)) expect(actual).toStrictEqual(expected);
  expect(sameValueDeep(actual, expected)).toBe(true);
}

function holey(): unknown[] {
  const array: unknown[] = [1];
  array[2] = 3;
  return array;
}

function hasNegativeZero(value: unknown): boolean {
  if (Object.is(value, -0)) return true;
  if (Array.isArray(value)) return value.some(hasNegativeZero);
  if (typeof value === 'object' && value !== null)
    return Object.values(value).some(hasNegativeZero);
  return false;
}

function float64Bits(value: number): string {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, value);
  return hex(new Uint8Array(view.buffer));
}

describe('encodeValue / decodeValue', () => {
  it('round-trips every storable value exactly (-0, NaN, ±Infinity, any string, any size)', () => {
    fc.assert(
      fc.property(storableValueArbitrary(4), (value) => {
        expectSameValue(decodeValue(encodeValue(value)), value);
      }),
      { numRuns: 1000 },
    );
  });

  it('writes the same standard MessagePack as msgpackr for values msgpackr keeps', () => {
    const packr = new Packr({ useRecords: false, variableMapSize: true });
    fc.assert(
      fc.property(
        storableValueArbitrary(4).filter((value) => !hasNegativeZero(value)),
        (value) => {
          expect(hex(encodeValue(value))).toBe(hex(packr.pack(value)));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('keeps -0, which msgpackr would turn into 0', () => {
    expect(hex(encodeValue(-0))).toBe('cb8000000000000000');
    expect(Object.is(decodeValue(encodeValue(-0)), -0)).toBe(true);
    expect(Object.is(decodeValue(encodeValue(0)), 0)).toBe(true);
    expect(hex(encodeValue(0))).toBe('00');
  });

  it('keeps the bits of NaN and of ±Infinity', () => {
    const view = new DataView(new ArrayBuffer(8));
    view.setUint32(0, 0x7ff81234);
    view.setUint32(4, 0x0000abcd);
    const payloadNaN = view.getFloat64(0);
    for (const value of [Number.NaN, payloadNaN, Infinity, -Infinity]) {
      const decoded = decodeValue(encodeValue({ value })) as { value: number };
      expect(float64Bits(decoded.value)).toBe(float64Bits(value));
    }
  });

  it('stores integral numbers compactly and large ones as float 64, without loss', () => {
    expect(hex(encodeValue(1))).toBe('01');
    expect(hex(encodeValue(-1))).toBe('ff');
    expect(hex(encodeValue(300))).toBe('cd012c');
    for (const value of [
      2 ** 32,
      -(2 ** 31) - 1,
      Number.MAX_SAFE_INTEGER,
      2 ** 60,
      1e300,
      5e-324,
    ]) {
      expect(decodeValue(encodeValue(value))).toBe(value);
    }
  });

  it('leaves out object properties whose value is undefined, as JSON does', () => {
    expect(decodeValue(encodeValue({ a: 1, b: undefined, c: { d: undefined } }))).toStrictEqual({
      a: 1,
      c: {},
    });
    const many = Object.fromEntries(
      Array.from({ length: 20 }, (_, i) => [`k${i}`, i < 5 ? i : undefined]),
    );
    expect(decodeValue(encodeValue(many))).toStrictEqual({ k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 });
    expect(hex(encodeValue(many)).slice(0, 2)).toBe('85');
  });

  it('reads null-prototype objects as plain objects', () => {
    const bare = Object.assign(Object.create(null) as object, { a: 1 });
    expect(decodeValue(encodeValue(bare))).toStrictEqual({ a: 1 });
  });

  it('refuses a lone surrogate anywhere, naming where (value or property name)', () => {
    for (const [value, path] of [
      ['a\ud800', ''],
      [{ data: { token: 'x\udc00y' } }, '/data/token'],
      [{ list: ['ok', 'z'.repeat(100) + '\ud83d'] }, '/list/1'],
      [{ ['bad\ud800key']: 1 }, '/bad\ud800key'],
      [{ 'a/b': { 'c~d': '\udfff' } }, '/a~1b/c~0d'],
    ] as const) {
      const error = errorOf(() => encodeValue(value));
      expect(isEventsError(error, 'invalid_string')).toBe(true);
      expect((error as { path: string }).path).toBe(path);
    }
  });

  it('keeps astral characters (surrogate pairs) of every length', () => {
    for (const value of ['😀', 'a😀'.repeat(40), '😀'.repeat(200), 'é'.repeat(70_000)]) {
      expect(decodeValue(encodeValue(value))).toBe(value);
    }
  });

  it.each([
    ['a bigint', { n: 10n }, '/n'],
    ['undefined at the top', undefined, ''],
    ['undefined in an array', { a: [1, undefined] }, '/a/1'],
    ['an array hole', { a: holey() }, '/a/1'],
    ['a Date', { at: new Date(0) }, '/at'],
    ['a Map', { m: new Map() }, '/m'],
    ['bytes', { b: new Uint8Array(2) }, '/b'],
    ['a class instance', { c: new (class Point {})() }, '/c'],
    ['a function', { f: () => 1 }, '/f'],
    ['a symbol', { s: Symbol('s') }, '/s'],
    ['a __proto__ property', JSON.parse('{"x":{"__proto__":1}}') as unknown, '/x/__proto__'],
  ])('refuses %s with encode_failed and its path', (_, value, path) => {
    const error = errorOf(() => encodeValue(value));
    expect(isEventsError(error, 'encode_failed')).toBe(true);
    expect((error as { path: string }).path).toBe(path);
  });

  it('refuses cycles and nesting deeper than the limit', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(
      isEventsError(
        errorOf(() => encodeValue(cyclic)),
        'encode_failed',
      ),
    ).toBe(true);
    let deep: unknown = 1;
    for (let i = 0; i < MAX_NESTING_DEPTH; i++) deep = [deep];
    expect(decodeValue(encodeValue(deep))).toStrictEqual(deep);
    expect(
      isEventsError(
        errorOf(() => encodeValue([deep])),
        'encode_failed',
      ),
    ).toBe(true);
  });

  it('keeps earlier results intact while later values are written (shared chunks)', () => {
    fc.assert(
      fc.property(
        fc.array(storableValueArbitrary(3), { minLength: 1, maxLength: 60 }),
        (values) => {
          const encoded = values.map((value) => encodeValue(value));
          encoded.push(encodeValue('x'.repeat(40_000)));
          values.forEach((value, i) => {
            expectSameValue(decodeValue(encoded[i]!), value);
          });
        },
      ),
      { numRuns: 50 },
    );
  });

  it('encodes a value whose getter encodes another value', () => {
    const inner: Uint8Array[] = [];
    const outer = encodeValue({
      a: 'before',
      get b() {
        inner.push(encodeValue({ nested: true }));
        return 2;
      },
      c: 'after',
    });
    expect(decodeValue(outer)).toStrictEqual({ a: 'before', b: 2, c: 'after' });
    expect(decodeValue(inner[0]!)).toStrictEqual({ nested: true });
  });

  it('recovers after a refused value', () => {
    expect(() => encodeValue({ a: 'ok', b: 1n })).toThrow();
    expect(decodeValue(encodeValue({ a: 'ok' }))).toStrictEqual({ a: 'ok' });
  });

  it('refuses truncated, empty and trailing bytes with decode_failed', () => {
    const good = encodeValue({ a: [1, 2, 3] });
    for (const bytes of [
      good.subarray(0, good.length - 1),
      new Uint8Array([0xd9, 0x05, 0x61]),
      new Uint8Array([...good, 0]),
      new Uint8Array(0),
    ]) {
      expect(
        isEventsError(
          errorOf(() => decodeValue(bytes)),
          'decode_failed',
        ),
      ).toBe(true);
    }
  });
});
