import { describe, expect, it } from 'vitest';
import { SNAPSHOT_ERROR_CODES, SnapshotError, isSnapshotError } from './errors.js';

describe('SnapshotError', () => {
  it('carries a code, a cause and a name, and is recognised by brand', () => {
    const cause = new Error('disk');
    const error = new SnapshotError('not_found', 'no such version', { cause });
    expect(error).toMatchObject({
      name: 'SnapshotError',
      code: 'not_found',
      cause,
      retryable: false,
    });
    expect(isSnapshotError(error)).toBe(true);
    expect(isSnapshotError(error, 'not_found')).toBe(true);
    expect(isSnapshotError(error, 'empty_stream')).toBe(false);
    const foreign = Object.assign(new Error('x'), { code: 'empty_stream' });
    Object.defineProperty(foreign, Symbol.for('@wirthforge/snapshots/SnapshotError'), {
      value: true,
    });
    expect(isSnapshotError(foreign, 'empty_stream')).toBe(true);
    expect(isSnapshotError(Object.assign(new Error('x'), { code: 'empty_stream' }))).toBe(false);
    expect(
      isSnapshotError(Object.assign(new SnapshotError('not_found', 'x'), { code: 'nope' })),
    ).toBe(false);
    expect(SNAPSHOT_ERROR_CODES).toEqual([
      'invalid_argument',
      'unsupported_storage',
      'empty_stream',
      'not_found',
    ]);
  });
});
