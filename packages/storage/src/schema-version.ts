import { StorageError } from './errors.js';

/**
 * Schema version this code writes and understands. Recorded in `metadata` under
 * {@link SCHEMA_VERSION_KEY}; a file with a higher number is refused.
 */
export const SCHEMA_VERSION = 2;

/** `metadata` key of the schema version. */
export const SCHEMA_VERSION_KEY = 'schema_version';

/**
 * Parses the stored schema version (`metadata.value` is text). Throws `corrupt` when it is
 * not a positive integer.
 */
export function parseSchemaVersion(value: string, where = 'metadata.schema_version'): number {
  if (!/^[1-9][0-9]{0,8}$/.test(value)) {
    throw new StorageError(
      'corrupt',
      `${where} holds ${JSON.stringify(value)}, not a schema version`,
    );
  }
  return Number(value);
}

/**
 * Refuses a database written by a newer schema than this code knows: opening it could
 * misread or damage data it does not understand.
 *
 * @throws StorageError with code `version`.
 *
 * @example
 * ```ts
 * assertSchemaVersionSupported(2, 1, 'state.db');
 * // StorageError(version): database state.db has schema version 2; this code knows up to 1 …
 * ```
 */
export function assertSchemaVersionSupported(
  found: number,
  known: number = SCHEMA_VERSION,
  database = 'the database',
): void {
  if (found > known) {
    throw new StorageError(
      'version',
      `${database} has schema version ${found}; this code knows schema versions up to ${known}. ` +
        'Upgrade WIRTHFORGE State to open it (it was written by a newer release).',
    );
  }
}
