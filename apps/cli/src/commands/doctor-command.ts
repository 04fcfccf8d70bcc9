import { accessSync, constants, existsSync, readFileSync, statSync, statfsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { SCHEMA_VERSION } from '@wirthforge/storage';
import {
  MIN_SQLITE_VERSION,
  compareSqliteVersions,
  sqliteLibraryVersion,
} from '@wirthforge/storage-sqlite';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { EXIT_CODES } from '../errors.js';
import { formatBytes, table } from '../format-text.js';
import { describeLock, writerLockState } from '../writer-lock.js';
import { CLI_VERSION } from '../version.js';

/** One finding of `doctor`. */
export interface DoctorCheck {
  readonly check: string;
  readonly status: 'ok' | 'warn' | 'fail';
  readonly detail: string;
}

const PACKAGES = [
  '@wirthforge/events',
  '@wirthforge/storage',
  '@wirthforge/storage-sqlite',
  '@wirthforge/eventstore',
] as const;

/** The version in a workspace package's package.json, found from its entry point. */
function packageVersion(name: string): string {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(name)));
    for (let i = 0; i < 4; i++) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === name) return pkg.version ?? 'unknown';
      }
      dir = dirname(dir);
    }
  } catch {
    // Not installed: reported as missing.
  }
  return 'missing';
}

function betterSqliteVersion(): string {
  try {
    const require = createRequire(import.meta.url);
    return (require('better-sqlite3/package.json') as { version: string }).version;
  } catch {
    return 'missing';
  }
}

function writable(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** `wfstate doctor`: versions, permissions, lock state, disk space. */
export const doctorCommand: CommandDefinition = {
  name: 'doctor',
  register(program, runtime) {
    const command = runtime
      .common(program.command('doctor'))
      .description(
        'check Node, SQLite and package versions, permissions, the writer lock and disk space',
      )
      .addHelpText('after', examples('wfstate doctor', 'wfstate doctor --json'));
    runtime.bind<CommonOptions>(command, (env) => {
      const { dir, database } = env.dataDir;
      const checks: DoctorCheck[] = [];
      const add = (check: string, status: DoctorCheck['status'], detail: string): void => {
        checks.push({ check, status, detail });
      };
      const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
      add(
        'node',
        (major === 20 && minor >= 19) || (major === 22 && minor >= 13) || major > 22
          ? 'ok'
          : 'fail',
        `${process.versions.node} (needs >= 20.19 or >= 22.13)`,
      );
      const sqlite = sqliteLibraryVersion();
      add(
        'sqlite',
        compareSqliteVersions(sqlite, MIN_SQLITE_VERSION) >= 0 ? 'ok' : 'fail',
        `${sqlite} (needs >= ${MIN_SQLITE_VERSION})`,
      );
      add(
        'better-sqlite3',
        betterSqliteVersion() === 'missing' ? 'fail' : 'ok',
        betterSqliteVersion(),
      );
      add('wfstate', 'ok', `${CLI_VERSION} (schema version ${SCHEMA_VERSION})`);
      for (const name of PACKAGES) {
        const version = packageVersion(name);
        add(name, version === 'missing' ? 'fail' : 'ok', version);
      }
      if (!existsSync(dir)) {
        add('data directory', 'warn', `${dir} does not exist (run \`wfstate init\`)`);
      } else {
        const mode = statSync(dir).mode & 0o777;
        add(
          'data directory',
          writable(dir) ? (mode & 0o077 ? 'warn' : 'ok') : 'fail',
          `${dir} mode ${mode.toString(8).padStart(4, '0')}${writable(dir) ? '' : ', not writable'}` +
            `${mode & 0o077 ? ' (readable by others: chmod 700 keeps sessions private)' : ''}`,
        );
        const fs = statfsSync(dir);
        const free = fs.bavail * fs.bsize;
        add('disk space', free < 100e6 ? 'warn' : 'ok', `${formatBytes(free)} free`);
      }
      if (existsSync(database)) {
        const mode = statSync(database).mode & 0o777;
        add(
          'database file',
          writable(database) ? 'ok' : 'fail',
          `${database} mode ${mode.toString(8).padStart(4, '0')}${writable(database) ? '' : ', not writable'}`,
        );
      } else {
        add('database file', 'warn', `${database} does not exist (run \`wfstate init\`)`);
      }
      const lock = writerLockState(database);
      add('writer lock', lock.alive === false ? 'warn' : 'ok', describeLock(lock));
      const failed = checks.some((c) => c.status === 'fail');
      return Promise.resolve({
        json: { ok: !failed, checks },
        text: table(
          ['check', 'status', 'detail'],
          checks.map((c) => [c.check, c.status, c.detail]),
        ),
        exitCode: failed ? EXIT_CODES.failed : EXIT_CODES.ok,
      });
    });
  },
};
