import { describe, expect, it } from 'vitest';

import { isSegmentError, SEGMENT_ERROR_CODES, SegmentError } from './errors.js';

describe('SegmentError', () => {
  it('carries its code, name and cause, and is recognised by brand and code', () => {
    const cause = new Error('inner');
    const error = new SegmentError('checksum', 'Segment checksum mismatch', { cause });
    expect(error).toMatchObject({
      name: 'SegmentError',
      code: 'checksum',
      retryable: false,
      cause,
    });
    expect(isSegmentError(error)).toBe(true);
    expect(isSegmentError(error, 'checksum')).toBe(true);
    expect(isSegmentError(error, 'corrupt')).toBe(false);
  });

  it('is recognised across copies of the package (brand), not by shape alone', () => {
    const brand = Symbol.for('@wirthforge/segments/SegmentError');
    const foreign = Object.assign(new Error('x'), { code: 'corrupt', [brand]: true });
    expect(isSegmentError(foreign, 'corrupt')).toBe(true);
    expect(isSegmentError({ code: 'corrupt' })).toBe(false);
    expect(isSegmentError(Object.assign(new Error('x'), { code: 'other', [brand]: true }))).toBe(
      false,
    );
    expect(isSegmentError(null)).toBe(false);
  });

  it('lists every code', () => {
    expect(SEGMENT_ERROR_CODES).toEqual([
      'invalid_argument',
      'corrupt',
      'checksum',
      'unsupported_codec',
      'mismatch',
    ]);
  });
});
