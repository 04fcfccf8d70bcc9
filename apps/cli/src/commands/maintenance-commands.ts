import { createMigrations, SCHEMA_VERSION } from '@wirthforge/storage';
import { sqliteSchemaDialect, vacuumSqliteFile } from '@wirthforge/storage-sqlite';
import type { VacuumReport } from '@wirthforge/storage-sqlite';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { runningDaemon } from '../daemon-api.js';
import { formatBytes, keyValues } from '../format-text.js';
import { openReadOnly, openWritable, requireDatabase, toCliError } from '../open-store.js';

/** `wfstate migrate status|up`. */
export const migrateCommand: CommandDefinition = {
  name: 'migrate',
  register(program, runtime) {
    const migrate: Command = program
      .command('migrate')
      .description('schema version of the database, and migrating it to this release')
      .addHelpText('after', examples('wfstate migrate status', 'wfstate migrate up'));

    const status = runtime
      .common(migrate.command('status'))
      .description('schema version, migrations applied and pending (read-only)')
      .addHelpText('after', examples('wfstate migrate status --json'));
    runtime.bind<CommonOptions>(status, async (env) => {
      const open = await openReadOnly(env);
      try {
        const known = Object.keys(createMigrations(sqliteSchemaDialect)).sort();
        const tables = open.storage.connection
          .prepare(
            "select name from sqlite_master where type = 'table' and name = 'kysely_migration'",
          )
          .all();
        const applied =
          tables.length === 0
            ? []
            : (open.storage.connection
                .prepare('select name from kysely_migration order by name')
                .pluck()
                .all() as string[]);
        const pending = known.filter((m) => !applied.includes(m));
        const json = {
          schemaVersion: open.storage.schemaVersion,
          latest: SCHEMA_VERSION,
          applied,
          pending,
          upToDate: pending.length === 0 && open.storage.schemaVersion === SCHEMA_VERSION,
        };
        return {
          json,
          text: keyValues([
            ['schema version', `${json.schemaVersion} (this release: ${SCHEMA_VERSION})`],
            ['applied', applied.join(', ') || '-'],
            ['pending', pending.join(', ') || 'none: up to date'],
          ]),
        };
      } finally {
        await open.close();
      }
    });

    const up = runtime
      .common(migrate.command('up'))
      .description(
        'apply pending migrations (through the daemon while it runs; a newer schema is refused)',
      )
      .addHelpText(
        'after',
        `${examples('wfstate migrate up', 'wfstate migrate up --json')}
While the daemon runs, it migrates the database under itself when its release knows the
pending migrations: it holds requests (503 with Retry-After), ends the running sessions
(with their final snapshots), closes the database, opens it again (which migrates it)
and serves again. A daemon of another release is refused: restart it from this one (a
daemon migrates the database when it starts).
`,
      );
    runtime.bind<CommonOptions>(up, async (env) => {
      requireDatabase(env);
      const daemon = runningDaemon(env);
      let json: {
        previousVersion: number;
        schemaVersion: number;
        applied: readonly string[];
        endedSessions: readonly string[];
        via: 'writer' | 'daemon';
      };
      if (daemon !== undefined) {
        const answer = await daemon.request<{
          previousVersion: number;
          schemaVersion: number;
          applied: string[];
          endedSessions: string[];
        }>('POST', '/v1/admin/migrate', { schemaVersion: SCHEMA_VERSION });
        json = {
          previousVersion: answer.previousVersion,
          schemaVersion: answer.schemaVersion,
          applied: answer.applied,
          endedSessions: answer.endedSessions,
          via: 'daemon',
        };
      } else {
        const open = await openWritable(env);
        const migration = open.storage.migration;
        await open.close();
        json = { ...migration, endedSessions: [], via: 'writer' };
      }
      const through = daemon === undefined ? '' : ` (through the daemon, pid ${daemon.pid})`;
      return {
        json,
        text: [
          json.applied.length === 0
            ? `up to date: schema version ${json.schemaVersion}${through}`
            : `migrated from schema version ${json.previousVersion} to ${json.schemaVersion}${through}: ${json.applied.join(', ')}`,
          ...(json.endedSessions.length === 0
            ? []
            : [`sessions ended before the migration: ${json.endedSessions.join(', ')}`]),
        ].join('\n'),
      };
    });
  },
};

/** `wfstate vacuum`. */
export const vacuumCommand: CommandDefinition = {
  name: 'vacuum',
  register(program, runtime) {
    const command = runtime
      .common(program.command('vacuum'))
      .description(
        'checkpoint the WAL, rebuild the file without free pages, truncate the WAL (through the daemon while it runs)',
      )
      .addHelpText('after', examples('wfstate vacuum', 'wfstate vacuum --json'));
    runtime.bind<CommonOptions>(command, async (env) => {
      const database = requireDatabase(env);
      const daemon = runningDaemon(env);
      let report: VacuumReport & { via: 'writer' | 'daemon' };
      if (daemon !== undefined) {
        report = {
          ...(await daemon.request<VacuumReport>('POST', '/v1/admin/vacuum', {})),
          via: 'daemon',
        };
      } else {
        try {
          report = { ...vacuumSqliteFile(database), via: 'writer' };
        } catch (error) {
          throw toCliError(error, database);
        }
      }
      return {
        json: report,
        text: keyValues([
          ['database', report.path],
          ['before', `${formatBytes(report.bytesBefore)} (${report.freePagesBefore} free page(s))`],
          ['after', formatBytes(report.bytesAfter)],
          ...(daemon === undefined ? [] : [['through', `the daemon (pid ${daemon.pid})`] as const]),
        ]),
      };
    });
  },
};
