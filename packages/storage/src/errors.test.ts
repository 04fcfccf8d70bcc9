import { describe, expect, it } from 'vitest';

import {
  ConcurrencyError,
  IdempotencyConflictError,
  STORAGE_ERROR_CODES,
  StorageError,
  invalidArgument,
  isConcurrencyError,
  isIdempotencyConflictError,
  isRetryableCode,
  isStorageError,
  storageErrorFromJSON,
  storageErrorToJSON,
  toStorageError,
} from './errors.js';
import type { StorageErrorCode } from './errors.js';

describe('StorageError', () => {
  it('carries code, name, cause and a retryable flag by code', () => {
    const cause = new Error('disk');
    const error = new StorageError('full', 'no space', { cause });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('StorageError');
    expect(error.code).toBe('full');
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(true);
    expect(new StorageError('corrupt', 'x').retryable).toBe(false);
    expect(new StorageError('corrupt', 'x', { retryable: true }).retryable).toBe(true);
  });

  it('marks exactly the transient codes retryable', () => {
    const retryable = STORAGE_ERROR_CODES.filter(isRetryableCode);
    expect(retryable).toEqual(['busy', 'full', 'locked', 'concurrency']);
  });

  it('is recognised by brand and code, also from another copy of the package', () => {
    expect(isStorageError(new StorageError('io', 'x'))).toBe(true);
    expect(isStorageError(new StorageError('io', 'x'), 'io')).toBe(true);
    expect(isStorageError(new StorageError('io', 'x'), 'busy')).toBe(false);
    const foreign = Object.assign(new Error('x'), { code: 'busy' });
    Object.defineProperty(foreign, Symbol.for('@wirthforge/storage/StorageError'), {
      value: true,
    });
    expect(isStorageError(foreign, 'busy')).toBe(true);
    expect(isStorageError(Object.assign(new Error('x'), { code: 'busy' }))).toBe(false);
    const badCode = Object.assign(new Error('x'), { code: 'nope' });
    Object.defineProperty(badCode, Symbol.for('@wirthforge/storage/StorageError'), {
      value: true,
    });
    expect(isStorageError(badCode)).toBe(false);
    expect(isStorageError(null)).toBe(false);
    expect(isStorageError('busy')).toBe(false);
  });
});

describe('ConcurrencyError', () => {
  it('carries stream, expected and actual and says them', () => {
    const error = new ConcurrencyError('session-1', 3n, 5n);
    expect(error.code).toBe('concurrency');
    expect(error.name).toBe('ConcurrencyError');
    expect(error.stream).toBe('session-1');
    expect(error.expected).toBe(3n);
    expect(error.actual).toBe(5n);
    expect(error.retryable).toBe(true);
    expect(error.message).toBe('stream "session-1": expected version 3, actual version 5');
    expect(isConcurrencyError(error)).toBe(true);
    expect(isConcurrencyError(new StorageError('io', 'x'))).toBe(false);
    expect(new ConcurrencyError('s', 'no_stream', 2n).message).toContain("'no_stream'");
  });
});

describe('IdempotencyConflictError', () => {
  it('names the event id and where it is stored', () => {
    const error = new IdempotencyConflictError('evt-9', 12n, 'payload differs');
    expect(error.code).toBe('idempotency_conflict');
    expect(error.eventId).toBe('evt-9');
    expect(error.existingPosition).toBe(12n);
    expect(error.message).toContain('evt-9');
    expect(error.message).toContain('payload differs');
    expect(isIdempotencyConflictError(error)).toBe(true);
    const inBatch = new IdempotencyConflictError('evt-9', null, 'type differs');
    expect(inBatch.existingPosition).toBeNull();
    expect(inBatch.message).toBe(
      'event id "evt-9" is used twice in one batch with different content (type differs)',
    );
  });
});

describe('toStorageError', () => {
  const classify = (error: unknown): StorageErrorCode | undefined =>
    (error as { code?: string }).code === 'E_FULL' ? 'full' : undefined;

  it('maps driver errors with the classifier and keeps the cause', () => {
    const driver = Object.assign(new Error('database or disk is full'), { code: 'E_FULL' });
    const error = toStorageError(driver, classify, 'append');
    expect(error.code).toBe('full');
    expect(error.message).toBe('append: database or disk is full');
    expect(error.cause).toBe(driver);
  });

  it('falls back to io and passes StorageErrors through', () => {
    expect(toStorageError(new Error('odd'), classify).code).toBe('io');
    expect(toStorageError('text', classify).message).toBe('text');
    const original = new StorageError('busy', 'x');
    expect(toStorageError(original, classify)).toBe(original);
  });

  it('builds invalid_argument errors that say where', () => {
    const error = invalidArgument('appends[1].stream', 'expected a non-empty stream name');
    expect(error.code).toBe('invalid_argument');
    expect(error.message).toBe('appends[1].stream: expected a non-empty stream name');
  });
});

describe('JSON form', () => {
  it('round-trips every error class through structured clone', () => {
    const errors = [
      new StorageError('busy', 'database is locked', { cause: { code: 'SQLITE_BUSY' } }),
      new ConcurrencyError('session-1', 'stream_exists', 0n),
      new IdempotencyConflictError('evt-1', 4n, 'type differs'),
    ];
    for (const error of errors) {
      const back = storageErrorFromJSON(structuredClone(storageErrorToJSON(error)));
      expect(isStorageError(back, error.code)).toBe(true);
      expect(back.message).toBe(error.message);
      expect(back.retryable).toBe(error.retryable);
      expect(back.name).toBe(error.name);
    }
    const c = storageErrorFromJSON(storageErrorToJSON(errors[1]!)) as ConcurrencyError;
    expect([c.stream, c.expected, c.actual]).toEqual(['session-1', 'stream_exists', 0n]);
    const i = storageErrorFromJSON(storageErrorToJSON(errors[2]!)) as IdempotencyConflictError;
    expect([i.eventId, i.existingPosition]).toEqual(['evt-1', 4n]);
    expect(storageErrorToJSON(errors[0]!).driverCode).toBe('SQLITE_BUSY');
  });
});
