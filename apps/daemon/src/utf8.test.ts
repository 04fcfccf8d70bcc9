import { describe, expect, it } from 'vitest';
import { invalidUtf8Offset } from './utf8.js';

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

describe('invalidUtf8Offset', () => {
  it('answers -1 for well-formed UTF-8 of every length', () => {
    expect(invalidUtf8Offset(Buffer.from(''))).toBe(-1);
    expect(invalidUtf8Offset(Buffer.from('{"a":"é€𐍈 👋🏽"}', 'utf8'))).toBe(-1);
    expect(invalidUtf8Offset(bytes(0xf4, 0x8f, 0xbf, 0xbf))).toBe(-1); // U+10FFFF
  });

  it('names the first byte of the first bad sequence', () => {
    const cases: [Uint8Array, number][] = [
      [bytes(0x7b, 0x22, 0xff, 0x22), 2], // a byte that never starts a sequence
      [bytes(0x61, 0x80), 1], // a continuation byte without a lead
      [bytes(0xc0, 0xaf), 0], // overlong '/'
      [bytes(0xe0, 0x80, 0xaf), 0], // overlong, three bytes
      [bytes(0x61, 0xed, 0xa0, 0x80), 1], // a surrogate (U+D800)
      [bytes(0xf4, 0x90, 0x80, 0x80), 0], // above U+10FFFF
      [bytes(0x61, 0x62, 0xe2, 0x82), 2], // cut off by the end
      [bytes(0xc3, 0xa9, 0xe2, 0x28, 0xa1), 2], // a lead followed by ASCII
      [bytes(0x61, 0xf0, 0x9f, 0x91), 1], // a four-byte sequence cut off
    ];
    for (const [input, offset] of cases) expect(invalidUtf8Offset(input)).toBe(offset);
  });
});
