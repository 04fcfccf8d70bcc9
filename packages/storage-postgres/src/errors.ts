/**
 * Translation of `pg` driver and PostgreSQL server errors into the storage contract's
 * {@link StorageError} codes. This package throws the contract's error class (not one of
 * its own), so callers handle one type whatever dialect runs underneath.
 */
import { StorageError, isStorageError } from '@wirthforge/storage';
import type { StorageErrorCode } from '@wirthforge/storage';

/** How a PostgreSQL or network error maps onto the contract. */
export interface PostgresErrorClass {
  readonly code: StorageErrorCode;
  /** Whether retrying the same operation may succeed. */
  readonly retryable: boolean;
}

const c = (code: StorageErrorCode, retryable: boolean): PostgresErrorClass => ({
  code,
  retryable,
});

/** Exact SQLSTATEs and Node network codes. */
const EXACT: Readonly<Record<string, PostgresErrorClass>> = {
  // Transaction rollback: serialization failure, deadlock. Retrying runs again.
  '40001': c('busy', true),
  '40P01': c('busy', true),
  '55P03': c('busy', true), // lock_not_available
  '57014': c('busy', true), // query_canceled (statement or lock timeout)
  '53300': c('busy', true), // too_many_connections
  '53100': c('full', true), // disk_full
  '53200': c('io', true), // out_of_memory
  '25006': c('readonly', false), // read_only_sql_transaction (hot standby, read-only tx)
  '42501': c('readonly', false), // insufficient_privilege
  '57P01': c('io', true), // admin_shutdown
  '57P02': c('io', true), // crash_shutdown
  '57P03': c('io', true), // cannot_connect_now (starting up, recovering)
  '58030': c('io', false), // io_error
  XX001: c('corrupt', false), // data_corrupted
  XX002: c('corrupt', false), // index_corrupted
  '54000': c('invalid_argument', false), // program_limit_exceeded
  '3D000': c('io', false), // invalid_catalog_name: the database does not exist
  '28000': c('readonly', false), // invalid_authorization_specification
  '28P01': c('readonly', false), // invalid_password
  ECONNREFUSED: c('io', true),
  ECONNRESET: c('io', true),
  ETIMEDOUT: c('io', true),
  EPIPE: c('io', true),
  EHOSTUNREACH: c('io', true),
  ENETUNREACH: c('io', true),
  EAI_AGAIN: c('io', true),
  ENOTFOUND: c('io', false),
};

/** SQLSTATE classes (first two characters). */
const CLASSES: Readonly<Record<string, PostgresErrorClass>> = {
  '08': c('io', true), // connection exception
  '22': c('invalid_argument', false), // data exception
  '23': c('constraint', false), // integrity constraint violation
  '25': c('busy', true), // invalid transaction state
  '40': c('busy', true), // transaction rollback
  '53': c('full', true), // insufficient resources
  '57': c('io', true), // operator intervention
  '58': c('io', false), // system error
  XX: c('corrupt', false), // internal error
};

/**
 * Maps a SQLSTATE (e.g. `40001`, `23505`) or a Node network code (`ECONNREFUSED`) to a
 * {@link PostgresErrorClass}; undefined when it is neither.
 *
 * @example
 * ```ts
 * postgresErrorClass('40001'); // { code: 'busy', retryable: true }
 * ```
 */
export function postgresErrorClass(code: string): PostgresErrorClass | undefined {
  const exact = EXACT[code];
  if (exact !== undefined) return exact;
  if (/^[0-9A-Z]{5}$/.test(code)) return CLASSES[code.slice(0, 2)];
  return undefined;
}

function driverCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  if ('code' in error && typeof error.code === 'string') return error.code;
  // Node wraps connection failures to every address of a host name in an AggregateError.
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const code = driverCode(inner);
      if (code !== undefined) return code;
    }
  }
  return undefined;
}

/** The contract code of a thrown driver error (from its `code`), undefined when unknown. */
export function classifyPostgresError(error: unknown): StorageErrorCode | undefined {
  const code = driverCode(error);
  return code === undefined ? undefined : postgresErrorClass(code)?.code;
}

/**
 * Any thrown value as a {@link StorageError}: SQLSTATEs and network codes are mapped
 * (with `retryable` where a retry can succeed), StorageErrors pass through, a connection
 * the pool ended becomes `closed`, anything else `io`.
 *
 * @example
 * ```ts
 * try { await db.selectFrom('events').execute(); } catch (e) { throw toPostgresStorageError(e, 'read'); }
 * ```
 */
export function toPostgresStorageError(error: unknown, context?: string): StorageError {
  if (isStorageError(error)) return error;
  const message = error instanceof Error ? error.message : String(error);
  const text = context === undefined ? message : `${context}: ${message}`;
  const code = driverCode(error);
  const mapped = code === undefined ? undefined : postgresErrorClass(code);
  if (mapped !== undefined) {
    return new StorageError(mapped.code, code === undefined ? text : `${text} (${code})`, {
      cause: error,
      retryable: mapped.retryable,
    });
  }
  if (/Cannot use a pool after calling end|driver has already been destroyed/i.test(message)) {
    return new StorageError('closed', text, { cause: error });
  }
  if (/Connection terminated|timeout exceeded when trying to connect/i.test(message)) {
    return new StorageError('io', text, { cause: error, retryable: true });
  }
  return new StorageError('io', text, { cause: error });
}
