import { isStorageError } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';

import { sqliteLibraryVersion } from './sqlite-connection.js';
import {
  MIN_SQLITE_VERSION,
  assertSupportedSqliteVersion,
  compareSqliteVersions,
} from './sqlite-version.js';

function versionError(version: string): string {
  try {
    assertSupportedSqliteVersion(version);
  } catch (error) {
    expect(isStorageError(error, 'version')).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`${version} was accepted`);
}

describe('SQLite version check', () => {
  it('compares versions numerically, part by part', () => {
    expect(compareSqliteVersions('3.51.3', '3.51.3')).toBe(0);
    expect(compareSqliteVersions('3.51.10', '3.51.3')).toBeGreaterThan(0);
    expect(compareSqliteVersions('3.9.0', '3.51.3')).toBeLessThan(0);
    expect(compareSqliteVersions('4.0', '3.99.99')).toBeGreaterThan(0);
    expect(compareSqliteVersions('3.52', '3.52.0')).toBe(0);
  });

  it.each(['3.51.3', '3.51.4', '3.52.0', '3.53.2', '4.0.0', '3.51.3.1'])(
    'accepts %s',
    (version) => {
      expect(() => assertSupportedSqliteVersion(version)).not.toThrow();
    },
  );

  it.each(['3.51.2', '3.45.1', '3.7.0', '2.8.17', '3.51'])(
    'refuses %s with a version error',
    (version) => {
      const message = versionError(version);
      expect(message).toContain(`SQLite ${version} is older than ${MIN_SQLITE_VERSION}`);
    },
  );

  it('refuses a version it cannot read', () => {
    expect(versionError('unknown')).toContain('cannot read the SQLite version "unknown"');
    expect(versionError('')).toContain('cannot read');
  });

  it('accepts the SQLite library in use', () => {
    expect(() => assertSupportedSqliteVersion(sqliteLibraryVersion())).not.toThrow();
  });
});
