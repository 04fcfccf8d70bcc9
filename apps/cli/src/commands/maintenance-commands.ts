import { createMigrations, SCHEMA_VERSION } from '@wirthforge/storage';
import { sqliteSchemaDialect, vacuumSqliteFile } from '@wirthforge/storage-sqlite';
import type { VacuumReport } from '@wirthforge/storage-sqlite';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { daemonHoldingLock, daemonHoldsLock, runningDaemon } from '../daemon-api.js';
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
        'apply pending migrations (needs the writer lock, or nothing pending while the daemon runs; a newer schema is refused)',
      )
      .addHelpText('after', examples('wfstate migrate up', 'wfstate migrate up --json'));
    runtime.bind<CommonOptions>(up, async (env) => {
      const database = requireDatabase(env);
      const daemon = daemonHoldingLock(database);
      if (daemon !== undefined) {
        // The daemon migrated the schema when it opened the database; with nothing
        // pending there is nothing to write.
        const open = await openReadOnly(env);
        const version = open.storage.schemaVersion;
        await open.close();
        if (version === SCHEMA_VERSION) {
          return {
            json: { previousVersion: version, schemaVersion: version, applied: [], via: 'daemon' },
            text: `up to date: schema version ${version} (the daemon, pid ${daemon}, migrated it when it started)`,
          };
        }
        throw daemonHoldsLock(
          daemon,
          undefined,
          `the schema is at version ${version} and this release migrates to ${SCHEMA_VERSION}; a migration changes tables under the daemon's writer and prepared statements`,
        );
      }
      const open = await openWritable(env);
      const migration = open.storage.migration;
      await open.close();
      return {
        json: migration,
        text:
          migration.applied.length === 0
            ? `up to date: schema version ${migration.schemaVersion}`
            : `migrated from schema version ${migration.previousVersion} to ${migration.schemaVersion}: ${migration.applied.join(', ')}`,
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
