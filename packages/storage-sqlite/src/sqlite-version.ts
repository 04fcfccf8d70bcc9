import { StorageError } from '@wirthforge/storage';

/**
 * Oldest SQLite this package runs on. 3.51.3 fixes the WAL-reset bug (present since
 * 3.7.0): a checkpoint racing a commit from another connection could leave a wrong WAL
 * index header and corrupt the database. This store checkpoints from a timer while other
 * connections (backups, tools) have the file open, so the race is not theoretical.
 */
export const MIN_SQLITE_VERSION = '3.51.3';

function parse(version: string): [number, number, number] | undefined {
  const match = /^(\d+)\.(\d+)(?:\.(\d+))?/.exec(version.trim());
  if (match === null) return undefined;
  return [Number(match[1]), Number(match[2]), Number(match[3] ?? '0')];
}

/**
 * Compares two `major.minor.patch` versions: negative when `a` is older, 0 when equal,
 * positive when newer. Throws `invalid_argument` for a malformed version.
 */
export function compareSqliteVersions(a: string, b: string): number {
  const pa = parse(a);
  const pb = parse(b);
  if (pa === undefined || pb === undefined) {
    throw new StorageError(
      'invalid_argument',
      `not an SQLite version: ${JSON.stringify(pa === undefined ? a : b)}`,
    );
  }
  for (let i = 0; i < 3; i++) {
    const d = pa[i]! - pb[i]!;
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * Refuses an SQLite library older than {@link MIN_SQLITE_VERSION} (code `version`). A pure
 * function of the version string, so it can be tested with any version.
 *
 * @example
 * ```ts
 * assertSupportedSqliteVersion('3.45.1');
 * // StorageError(version): SQLite 3.45.1 is older than 3.51.3, the oldest supported …
 * ```
 */
export function assertSupportedSqliteVersion(
  version: string,
  minimum: string = MIN_SQLITE_VERSION,
): void {
  let older: boolean;
  try {
    older = compareSqliteVersions(version, minimum) < 0;
  } catch (cause) {
    throw new StorageError('version', `cannot read the SQLite version ${JSON.stringify(version)}`, {
      cause,
    });
  }
  if (older) {
    throw new StorageError(
      'version',
      `SQLite ${version} is older than ${minimum}, the oldest WIRTHFORGE State supports ` +
        '(older releases have the WAL-reset corruption bug). Install a better-sqlite3 built with a newer SQLite.',
    );
  }
}
