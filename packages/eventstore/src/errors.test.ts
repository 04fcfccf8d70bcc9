import { describe, expect, it } from 'vitest';
import {
  InvalidEventError,
  STATE_ERROR_CODES,
  StateError,
  invalidArgument,
  isInvalidEventError,
  isStateError,
} from './errors.js';

describe('StateError', () => {
  it('carries its code, name, cause and retryable', () => {
    const cause = new Error('underneath');
    const error = new StateError('unencodable_state', 'no bigint', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('StateError');
    expect(error.code).toBe('unencodable_state');
    expect(error.message).toBe('no bigint');
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(false);
    expect(new StateError('invalid_argument', 'x', { retryable: true }).retryable).toBe(true);
    expect('cause' in new StateError('invalid_argument', 'x')).toBe(false);
  });

  it('is retryable only for exhausted session ids', () => {
    for (const code of STATE_ERROR_CODES) {
      expect(new StateError(code, code).retryable).toBe(code === 'session_ids_exhausted');
    }
  });

  it('lists the issues of invalid events with their index', () => {
    const issues = [
      { index: 2, path: '/data/energy', keyword: 'minimum' as const, message: 'must be >= 0' },
      { index: 4, path: '/session_id', keyword: 'stream' as const, message: 'must be x' },
    ];
    const error = new InvalidEventError('session-x', issues);
    expect(error.name).toBe('InvalidEventError');
    expect(error.code).toBe('invalid_event');
    expect(error.issues).toBe(issues);
    expect(error.message).toBe(
      'stream "session-x": events[2]/data/energy must be >= 0; events[4]/session_id must be x',
    );
    expect(isInvalidEventError(error)).toBe(true);
    expect(isStateError(error, 'invalid_event')).toBe(true);
    expect(isInvalidEventError(new StateError('invalid_event', 'no issues'))).toBe(false);
  });

  it('names the argument in invalid_argument errors', () => {
    const error = invalidArgument('options.maxEntries', 'must be a positive integer');
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toBe('options.maxEntries: must be a positive integer');
  });
});

describe('isStateError', () => {
  it('recognises state errors, by code when asked', () => {
    for (const code of STATE_ERROR_CODES) {
      const error = new StateError(code, code);
      expect(isStateError(error)).toBe(true);
      expect(isStateError(error, code)).toBe(true);
      for (const other of STATE_ERROR_CODES) {
        if (other !== code) expect(isStateError(error, other)).toBe(false);
      }
    }
  });

  it('recognises an error of another copy of the package by its brand', () => {
    const foreign = Object.assign(new Error('elsewhere'), { code: 'projection_failed' });
    Object.defineProperty(foreign, Symbol.for('@wirthforge/eventstore/StateError'), {
      value: true,
    });
    expect(isStateError(foreign, 'projection_failed')).toBe(true);
  });

  it('refuses look-alikes and other values', () => {
    expect(isStateError(Object.assign(new Error('x'), { code: 'invalid_argument' }))).toBe(false);
    const branded = new StateError('invalid_argument', 'x');
    (branded as { code: string }).code = 'not_a_code';
    expect(isStateError(branded)).toBe(false);
    expect(isStateError(null)).toBe(false);
    expect(isStateError('invalid_argument')).toBe(false);
  });
});
