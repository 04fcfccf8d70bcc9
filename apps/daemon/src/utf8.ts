import { isUtf8 } from 'node:buffer';

/**
 * The offset of the first byte of `bytes` that does not start or continue a well-formed
 * UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF; a
 * sequence cut off by the end counts at its first byte), or `-1` if it is all valid.
 * The fast path is `isUtf8`; the byte walk runs only for a body that fails it.
 *
 * @example
 * ```ts
 * invalidUtf8Offset(Buffer.from([0x7b, 0x22, 0xff])); // 2
 * ```
 */
export function invalidUtf8Offset(bytes: Uint8Array): number {
  if (isUtf8(bytes)) return -1;
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i]!;
    if (lead < 0x80) {
      i += 1;
      continue;
    }
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0;
      else if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90;
      else if (lead === 0xf4) high = 0x8f;
    } else return i;
    if (i + length > bytes.length) return i;
    const second = bytes[i + 1]!;
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k++) {
      const next = bytes[i + k]!;
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += length;
  }
  // isUtf8 and the walk disagree only if one of them is wrong: name the end.
  return bytes.length;
}
