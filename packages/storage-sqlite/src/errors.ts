/**
 * Translation of better-sqlite3 and file-system errors into the storage contract's
 * {@link StorageError} codes. This package throws the contract's error class (not one of
 * its own), so callers handle one type whatever dialect runs underneath.
 */
import { toStorageError } from '@wirthforge/storage';
import type { StorageError, StorageErrorCode } from '@wirthforge/storage';

const PRIMARY: Readonly<Record<string, StorageErrorCode>> = {
  SQLITE_BUSY: 'busy',
  SQLITE_LOCKED: 'busy',
  SQLITE_PROTOCOL: 'busy',
  SQLITE_SCHEMA: 'busy',
  SQLITE_FULL: 'full',
  SQLITE_IOERR: 'io',
  SQLITE_CANTOPEN: 'io',
  SQLITE_NOMEM: 'io',
  SQLITE_INTERRUPT: 'io',
  SQLITE_NOLFS: 'io',
  SQLITE_CORRUPT: 'corrupt',
  SQLITE_NOTADB: 'corrupt',
  SQLITE_FORMAT: 'corrupt',
  SQLITE_CONSTRAINT: 'constraint',
  SQLITE_READONLY: 'readonly',
  SQLITE_PERM: 'readonly',
  SQLITE_AUTH: 'readonly',
  SQLITE_TOOBIG: 'invalid_argument',
  SQLITE_RANGE: 'invalid_argument',
  SQLITE_MISMATCH: 'invalid_argument',
};

const NODE: Readonly<Record<string, StorageErrorCode>> = {
  ENOSPC: 'full',
  EDQUOT: 'full',
  EROFS: 'readonly',
  EACCES: 'readonly',
  EPERM: 'readonly',
  EIO: 'io',
  ENOENT: 'io',
  EBUSY: 'busy',
};

/**
 * Maps an SQLite result code name (primary or extended, e.g. `SQLITE_IOERR_FSYNC`,
 * `SQLITE_CONSTRAINT_UNIQUE`) or a Node file-system code (`ENOSPC`) to a
 * {@link StorageErrorCode}; undefined when it is neither.
 *
 * @example
 * ```ts
 * sqliteErrorCode('SQLITE_READONLY_DBMOVED'); // 'readonly'
 * ```
 */
export function sqliteErrorCode(code: string): StorageErrorCode | undefined {
  const exact = PRIMARY[code] ?? NODE[code];
  if (exact !== undefined) return exact;
  if (!code.startsWith('SQLITE_')) return undefined;
  // Extended codes are the primary name plus a suffix.
  const primary = /^SQLITE_[A-Z]+/.exec(code)?.[0];
  return primary === undefined ? undefined : PRIMARY[primary];
}

/** The {@link StorageErrorCode} of a thrown driver error, from its `code` property. */
export function classifySqliteError(error: unknown): StorageErrorCode | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const code = error.code;
  return typeof code === 'string' ? sqliteErrorCode(code) : undefined;
}

/**
 * Any thrown value as a {@link StorageError}: SQLite and file-system codes are mapped,
 * StorageErrors pass through, anything else becomes `io`.
 *
 * @example
 * ```ts
 * try { connection.exec(sql); } catch (error) { throw toSqliteStorageError(error, 'backup'); }
 * ```
 */
export function toSqliteStorageError(error: unknown, context?: string): StorageError {
  return toStorageError(error, classifySqliteError, context);
}
