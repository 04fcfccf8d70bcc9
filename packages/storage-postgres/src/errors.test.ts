import { isStorageError } from '@wirthforge/storage';
import { StorageError } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';

import { classifyPostgresError, postgresErrorClass, toPostgresStorageError } from './errors.js';

const driverError = (code: string, message = `failed with ${code}`) =>
  Object.assign(new Error(message), { code });

describe('postgresErrorClass', () => {
  it.each([
    ['40001', 'busy', true], // serialization_failure
    ['40P01', 'busy', true], // deadlock_detected
    ['55P03', 'busy', true], // lock_not_available
    ['23505', 'constraint', false], // unique_violation
    ['23503', 'constraint', false], // foreign_key_violation
    ['23502', 'constraint', false], // not_null_violation
    ['53100', 'full', true], // disk_full
    ['25006', 'readonly', false], // read_only_sql_transaction
    ['42501', 'readonly', false], // insufficient_privilege
    ['08006', 'io', true], // connection_failure
    ['57P01', 'io', true], // admin_shutdown
    ['XX001', 'corrupt', false], // data_corrupted
    ['22003', 'invalid_argument', false], // numeric_value_out_of_range
    ['ECONNREFUSED', 'io', true],
    ['ECONNRESET', 'io', true],
  ] as const)('maps %s to %s (retryable %s)', (code, expected, retryable) => {
    expect(postgresErrorClass(code)).toEqual({ code: expected, retryable });
    const error = toPostgresStorageError(driverError(code), 'append');
    expect(error.code).toBe(expected);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain('append: ');
    expect(error.message).toContain(code);
    expect((error.cause as { code: string }).code).toBe(code);
  });

  it('leaves unknown codes to the caller and maps them to io', () => {
    expect(postgresErrorClass('EWHATEVER')).toBeUndefined();
    expect(classifyPostgresError(new Error('no code'))).toBeUndefined();
    expect(toPostgresStorageError(new Error('odd')).code).toBe('io');
    expect(toPostgresStorageError('a string').code).toBe('io');
  });

  it('finds the network code inside an AggregateError (every address refused)', () => {
    const error = new AggregateError([driverError('ECONNREFUSED')], 'connect failed');
    expect(classifyPostgresError(error)).toBe('io');
    expect(toPostgresStorageError(error).retryable).toBe(true);
  });

  it('passes a StorageError through unchanged and reports a pool used after end as closed', () => {
    const original = new StorageError('concurrency', 'x');
    expect(toPostgresStorageError(original)).toBe(original);
    const closed = toPostgresStorageError(
      new Error('Cannot use a pool after calling end on the pool'),
    );
    expect(isStorageError(closed, 'closed')).toBe(true);
  });
});
