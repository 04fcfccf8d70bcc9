import { existsSync, mkdirSync } from 'node:fs';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { keyValues } from '../format-text.js';
import { daemonHoldingLock } from '../daemon-api.js';
import { openReadOnly, openWritable } from '../open-store.js';

/** `wfstate init`: creates the data directory (0700) and the database with its schema. */
export const initCommand: CommandDefinition = {
  name: 'init',
  register(program, runtime) {
    const command = runtime
      .common(program.command('init'))
      .description('create the data directory and its database (nothing changes if they exist)')
      .addHelpText('after', examples('wfstate init', 'wfstate init --data-dir /tmp/wf --json'));
    runtime.bind<CommonOptions>(command, async (env) => {
      const { dir, database } = env.dataDir;
      const created = !existsSync(database);
      const daemon = created ? undefined : daemonHoldingLock(database);
      let migration: { schemaVersion: number; applied: readonly string[] };
      if (daemon !== undefined) {
        // The daemon created and migrated it: looked at, not written.
        const open = await openReadOnly(env);
        migration = { schemaVersion: open.storage.schemaVersion, applied: [] };
        await open.close();
      } else {
        mkdirSync(dir, { recursive: true, mode: 0o700 });
        const open = await openWritable(env, { create: true });
        migration = open.storage.migration;
        await open.close();
      }
      const json = {
        dataDir: dir,
        database,
        created,
        schemaVersion: migration.schemaVersion,
        migrationsApplied: migration.applied,
        via: daemon === undefined ? 'writer' : 'daemon',
      };
      return {
        json,
        text: `${created ? 'created' : 'already there'}: ${database}\n${keyValues([
          ['data directory', dir],
          ['schema version', migration.schemaVersion],
          ['migrations applied', migration.applied.join(', ') || 'none'],
        ])}`,
      };
    });
  },
};
