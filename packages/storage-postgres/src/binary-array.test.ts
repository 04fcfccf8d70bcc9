import { describe, expect, it } from 'vitest';

import { binaryBytesArray, binaryIntArray } from './binary-array.js';

/** The words of `array_send`'s header: dimensions, has-null flag, element OID, size, lower bound. */
function words(buffer: Buffer, count: number): number[] {
  return Array.from({ length: count }, (_, i) => buffer.readInt32BE(i * 4));
}

describe('binary arrays', () => {
  it('writes int4 elements with their length, and NULL as length -1', () => {
    const buffer = binaryIntArray([1, null, -2], 32);
    expect(words(buffer, 5)).toEqual([1, 1, 23, 3, 1]);
    expect(words(buffer.subarray(20), 5)).toEqual([4, 1, -1, 4, -2]);
    expect(buffer.byteLength).toBe(40);
  });

  it('writes int8 elements exactly for every safe integer, negatives in two’s complement', () => {
    const values = [Number.MAX_SAFE_INTEGER, -1, 0, 2 ** 32, -(2 ** 40) - 3];
    const buffer = binaryIntArray(values, 64);
    expect(words(buffer, 5)).toEqual([1, 0, 20, 5, 1]);
    const read = [];
    for (let at = 20; at < buffer.byteLength; at += 12) {
      expect(buffer.readInt32BE(at)).toBe(8);
      read.push(buffer.readBigInt64BE(at + 4));
    }
    expect(read).toEqual(values.map((v) => BigInt(v)));
  });

  it('writes an empty array with no dimension', () => {
    expect(words(binaryIntArray([], 64), 3)).toEqual([0, 0, 20]);
    expect(binaryIntArray([], 64).byteLength).toBe(12);
    expect(binaryBytesArray([], 'text').byteLength).toBe(12);
  });

  it('writes text as UTF-8 and bytes as they are', () => {
    const text = binaryBytesArray(['é', null, ''], 'text');
    expect(words(text, 5)).toEqual([1, 1, 25, 3, 1]);
    expect([...text.subarray(20)]).toEqual([
      0, 0, 0, 2, 0xc3, 0xa9, 255, 255, 255, 255, 0, 0, 0, 0,
    ]);
    const payload = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    const bytes = binaryBytesArray([payload], 'bytea');
    expect(words(bytes, 5)).toEqual([1, 0, 17, 1, 1]);
    expect([...bytes.subarray(20)]).toEqual([0, 0, 0, 2, 8, 7]);
  });
});
