import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

import { isStorageError } from '@wirthforge/storage';
import {
  acquireLockFile,
  checkSqliteFileIntegrity,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
} from '@wirthforge/storage-sqlite';

import { temporaryBeside } from '../atomic-file.js';
import { BACKUP_STEPS, backupToFile, databaseFiles, unpackBackup } from '../backup-file.js';
import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { outputFilePath, requireConfirmation } from '../cli-runtime.js';
import { runningDaemon } from '../daemon-api.js';
import type { DaemonApi } from '../daemon-api.js';
import { CliError } from '../errors.js';
import { formatBytes, formatCount, keyValues } from '../format-text.js';
import { requireDatabase, toCliError } from '../open-store.js';

interface BackupOptions extends CommonOptions {
  readonly force?: boolean;
  readonly deep?: boolean;
}

interface RestoreOptions extends CommonOptions {
  readonly yes?: boolean;
}

/** `wfstate backup FILE`. */
export const backupCommand: CommandDefinition = {
  name: 'backup',
  register(program, runtime) {
    const command = runtime
      .common(program.command('backup'))
      .argument('<file>', 'where to write the backup (gzip-compressed SQLite database)')
      .option('-f, --force', 'replace FILE if it exists')
      .option('--deep', "check the copy with SQLite's integrity_check and decode every segment")
      .description(
        'a consistent, compressed, verified copy of the database, safe while the daemon writes',
      )
      .addHelpText(
        'after',
        `${examples('wfstate backup ~/backups/wirthforge-$(date +%F).db.gz', 'wfstate backup state.db.gz --force --json')}
The copy is one consistent snapshot (VACUUM INTO), checked before it is compressed
(SQLite's quick_check, every stored event's checksum, every segment's checksum; with
--deep, integrity_check and every segment decoded), and read back after writing; FILE
appears only when all of that passed.
`,
      );
    runtime.bind<BackupOptions>(command, async (env, options, [file]) => {
      const source = requireDatabase(env);
      const destination = outputFilePath(env, file!, 'FILE');
      if (existsSync(destination) && options.force !== true) {
        throw new CliError('refused', `${destination} already exists`, {
          hint: 'pass --force to replace it, or choose another file name',
        });
      }
      mkdirSync(dirname(destination), { recursive: true });
      let report;
      const progress = env.progress('backup', BACKUP_STEPS);
      try {
        report = await backupToFile(source, destination, {
          deep: options.deep === true,
          onStep: (n) => progress.update(n),
        });
      } catch (error) {
        throw toCliError(error, source);
      } finally {
        progress.stop();
      }
      return {
        json: report,
        text: `backup written and verified: ${report.path}\n${keyValues([
          [
            'size',
            `${formatBytes(report.bytes)} (database ${formatBytes(report.databaseBytes)}, ${((report.bytes / Math.max(1, report.databaseBytes)) * 100).toFixed(0)}%)`,
          ],
          ['events', `positions 1..${formatCount(report.headPosition)}`],
          ['sha256', `${report.sha256} (of the database inside)`],
        ])}`,
      };
    });
  },
};

/** What `wfstate restore --json` prints, with or without the daemon. */
interface RestoreJson {
  readonly restored: string;
  readonly from: string;
  readonly headPosition: bigint;
  readonly previousRemoved: boolean;
  /** What opening the restored database did to its schema. */
  readonly migration: {
    readonly previousVersion: number;
    readonly schemaVersion: number;
    readonly applied: readonly string[];
  };
  /** Sessions the daemon ended before it swapped the database (none without it). */
  readonly endedSessions: readonly string[];
  readonly via: 'writer' | 'daemon';
}

function restoreText(json: RestoreJson): string {
  return [
    `restored ${json.restored} from ${json.from} (positions 1..${formatCount(json.headPosition)})${json.via === 'daemon' ? ' through the daemon, which serves it now' : ''}; the previous database was removed`,
    ...(json.migration.applied.length === 0
      ? []
      : [
          `migrated from schema version ${json.migration.previousVersion} to ${json.migration.schemaVersion}: ${json.migration.applied.join(', ')}`,
        ]),
    ...(json.endedSessions.length === 0
      ? []
      : [`sessions ended before the swap: ${json.endedSessions.join(', ')}`]),
  ].join('\n');
}

/**
 * The restore of a verified database file (unpacked beside the database) by the running
 * daemon, which swaps it in under itself (`POST /v1/admin/restore`).
 */
async function restoreThroughDaemon(
  daemon: DaemonApi,
  unpacked: string,
  source: string,
): Promise<{ json: RestoreJson; text: string }> {
  const answer = await daemon.request<{
    restored: string;
    headPosition: number;
    previousRemoved: boolean;
    endedSessions: string[];
    migration: RestoreJson['migration'];
  }>('POST', '/v1/admin/restore', { file: unpacked });
  const json: RestoreJson = {
    restored: answer.restored,
    from: source,
    headPosition: BigInt(answer.headPosition),
    previousRemoved: answer.previousRemoved,
    migration: answer.migration,
    endedSessions: answer.endedSessions,
    via: 'daemon',
  };
  return { json, text: restoreText(json) };
}

/** `wfstate restore FILE`. */
export const restoreCommand: CommandDefinition = {
  name: 'restore',
  register(program, runtime) {
    const command = runtime
      .common(program.command('restore'))
      .argument('<file>', 'a backup written by `wfstate backup` (or a plain database file)')
      .option('-y, --yes', 'do not ask for confirmation')
      .description('replace the database with a backup, after verifying the backup')
      .addHelpText(
        'after',
        `${examples('wfstate restore ~/backups/wirthforge-2025-08-17.db.gz', 'wfstate restore backup.db.gz --yes --json')}
The backup is unpacked beside the database and fully checked first; a damaged backup is
refused and nothing changes. The current database is kept aside until the restored one
has opened cleanly (migrated to this release's schema if it is older), then removed; if
the restored one does not open, the current one is put back. While the daemon runs, the
verified file goes to its API: the daemon holds requests (503 with Retry-After), ends
the running sessions (their final snapshots go with the old database), swaps the
database under itself, opens it and serves again.
`,
      );
    runtime.bind<RestoreOptions>(command, async (env, options, [file]) => {
      const source = resolve(env.io.cwd, file!);
      if (!existsSync(source)) {
        throw new CliError('not_found', `no backup at ${source}`, { hint: 'check the path' });
      }
      const { database, dir } = env.dataDir;
      await requireConfirmation(
        env,
        options.yes,
        `replace ${database} with the backup ${source}`,
        'restore',
      );
      const daemon = runningDaemon(env);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      let lock;
      if (daemon === undefined) {
        try {
          lock = acquireLockFile(database);
        } catch (error) {
          throw toCliError(error, database);
        }
      }
      const unpacked = temporaryBeside(database, 'restore');
      let aside: string | undefined;
      try {
        // 1. Unpack and verify the backup before touching anything.
        try {
          await unpackBackup(source, unpacked);
        } catch (error) {
          throw new CliError(
            'invalid_input',
            `${source} is not a readable backup: ${(error as Error).message}`,
            {
              hint: 'use a file written by `wfstate backup`; the current database was not touched',
              cause: error,
            },
          );
        }
        let headPosition: bigint;
        try {
          const integrity = await checkSqliteFileIntegrity(unpacked);
          if (!integrity.ok) {
            throw new CliError(
              'check_failed',
              `the backup ${source} is damaged: ${integrity.problems[0]?.message ?? 'unknown problem'}`,
              {
                hint: 'use another backup; the current database was not touched',
                details: integrity.problems,
              },
            );
          }
          headPosition = integrity.headPosition;
          const probe = await openSqliteReadOnlyStorage({ path: unpacked });
          await probe.close();
        } catch (error) {
          if (error instanceof CliError) throw error;
          throw new CliError(
            'check_failed',
            `the backup ${source} is not a usable WIRTHFORGE State database: ${(error as Error).message}`,
            { hint: 'use another backup; the current database was not touched', cause: error },
          );
        }
        if (daemon !== undefined) return await restoreThroughDaemon(daemon, unpacked, source);
        // 2. Keep the current database aside, put the backup in place.
        const current = databaseFiles(database);
        if (current.length > 0) {
          aside = `${database}.before-restore-${Date.now()}`;
          for (const f of current) renameSync(f, f.replace(database, aside));
        }
        renameSync(unpacked, database);
        // 3. It must open cleanly (schema, writer, pragmas) before the old one goes.
        lock?.release();
        lock = undefined;
        let migration;
        try {
          const storage = await openSqliteStorage({ path: database });
          migration = storage.migration;
          const check = await storage.checkIntegrity({ quick: true });
          await storage.close();
          if (!check.ok) throw new Error(check.problems[0]?.message ?? 'integrity check failed');
        } catch (error) {
          for (const f of databaseFiles(database)) rmSync(f, { force: true });
          if (aside !== undefined) {
            for (const f of databaseFiles(aside)) renameSync(f, f.replace(aside, database));
          }
          throw new CliError(
            'failed',
            `the restored database did not open cleanly (${(error as Error).message}); the previous database is back in place`,
            {
              hint: isStorageError(error, 'locked')
                ? 'stop the daemon and try again'
                : 'use another backup',
              cause: error,
            },
          );
        }
        const previous = aside;
        if (previous !== undefined)
          for (const f of databaseFiles(previous)) rmSync(f, { force: true });
        const json: RestoreJson = {
          restored: database,
          from: source,
          headPosition,
          previousRemoved: previous !== undefined,
          migration,
          endedSessions: [],
          via: 'writer',
        };
        return { json, text: restoreText(json) };
      } finally {
        rmSync(unpacked, { force: true });
        lock?.release();
      }
    });
  },
};
