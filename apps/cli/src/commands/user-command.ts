import { levelName } from '@wirthforge/eventstore';
import type { Level } from '@wirthforge/eventstore';
import { UserRepository } from '@wirthforge/storage';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { CliError } from '../errors.js';
import { formatCount, formatNumber, formatTime, table } from '../format-text.js';
import { openReadOnly } from '../open-store.js';

function nameOf(level: number): string {
  try {
    return levelName(level as Level);
  } catch {
    return '-';
  }
}

/** `wfstate user [USER]`: progress (level, experience, energy, sessions). */
export const userCommand: CommandDefinition = {
  name: 'user',
  register(program, runtime) {
    const command = runtime
      .common(program.command('user'))
      .argument('[user]', 'one user id (default: every user)')
      .description("users' progress: level, experience points, total energy, sessions")
      .addHelpText('after', examples('wfstate user', 'wfstate user default --json'));
    runtime.bind<CommonOptions>(command, async (env, _options, [userId]) => {
      const open = await openReadOnly(env);
      try {
        const repository = new UserRepository(open.storage.db);
        const users =
          userId === undefined
            ? await repository.list()
            : [await repository.get(userId)].filter((u) => u !== undefined);
        if (userId !== undefined && users.length === 0) {
          throw new CliError('not_found', `no user ${userId} in this store`, {
            hint: '`wfstate user` lists every user',
          });
        }
        const json = users.map((u) => ({ ...u, levelName: nameOf(u.level) }));
        return {
          json: { users: json },
          text:
            users.length === 0
              ? 'no users yet'
              : table(
                  ['user', 'level', 'xp', 'energy (EU)', 'sessions', 'updated'],
                  json.map((u) => [
                    u.userId,
                    `${u.level} ${u.levelName}`,
                    formatCount(u.xp),
                    formatNumber(u.totalEnergy, 1),
                    formatCount(u.sessionsCount),
                    formatTime(u.updatedUs),
                  ]),
                ),
        };
      } finally {
        await open.close();
      }
    });
  },
};
