import { stateHash, sumValue, toEnergyState } from '@wirthforge/eventstore';
import { SessionRepository, SnapshotRepository } from '@wirthforge/storage';
import type { SessionStatus } from '@wirthforge/storage';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { CliError } from '../errors.js';
import { formatCount, formatDuration, formatNumber, keyValues, table } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { replaySession } from '../replay-session.js';
import { findSession } from '../session-arg.js';

interface ListOptions extends CommonOptions {
  readonly limit: string;
  readonly status?: string;
  readonly user?: string;
}

function positiveInt(value: string, name: string): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new CliError('usage', `${name} must be a positive integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

export { positiveInt };

/** `wfstate sessions list|show`. */
export const sessionsCommand: CommandDefinition = {
  name: 'sessions',
  register(program, runtime) {
    const sessions: Command = program
      .command('sessions')
      .description('list sessions, or show one')
      .addHelpText(
        'after',
        examples('wfstate sessions list', 'wfstate sessions show 20250817T194800Z_001'),
      );

    const list = runtime
      .common(sessions.command('list'))
      .description('sessions, newest first')
      .option('-n, --limit <n>', 'at most this many', '50')
      .option('--status <status>', 'only active, ended or recovered sessions')
      .option('--user <id>', "only this user's sessions")
      .addHelpText(
        'after',
        examples('wfstate sessions list --status active', 'wfstate sessions list --json'),
      );
    runtime.bind<ListOptions>(list, async (env, options) => {
      const limit = positiveInt(options.limit, '--limit');
      if (
        options.status !== undefined &&
        !['active', 'ended', 'recovered'].includes(options.status)
      ) {
        throw new CliError(
          'usage',
          `--status must be active, ended or recovered, got ${options.status}`,
        );
      }
      const open = await openReadOnly(env);
      try {
        const rows = await new SessionRepository(open.storage.db).list({
          limit,
          ...(options.status === undefined ? {} : { status: options.status as SessionStatus }),
          ...(options.user === undefined ? {} : { userId: options.user }),
        });
        const json = rows.map((s) => ({
          sessionId: s.sessionId,
          userId: s.userId,
          status: s.status,
          startedAt: new Date(s.startedUs / 1000).toISOString(),
          endedAt: s.endedUs === null ? null : new Date(s.endedUs / 1000).toISOString(),
          durationS: s.endedUs === null ? null : (s.endedUs - s.startedUs) / 1e6,
          cleanEnd: s.cleanEnd,
          totalEvents: s.totalEvents,
          totalEnergy: s.totalEnergy,
          totalTokens: s.totalTokens,
        }));
        const text =
          rows.length === 0
            ? 'no sessions'
            : table(
                [
                  'session',
                  'user',
                  'status',
                  'started',
                  'duration',
                  'events',
                  'energy (EU)',
                  'tokens',
                ],
                json.map((s) => [
                  s.sessionId,
                  s.userId,
                  s.status,
                  s.startedAt.replace(/\.\d+Z$/, 'Z'),
                  s.durationS === null ? '-' : formatDuration(s.durationS),
                  formatCount(s.totalEvents),
                  formatNumber(s.totalEnergy, 1),
                  formatCount(s.totalTokens),
                ]),
              );
        return { json: { sessions: json }, text };
      } finally {
        await open.close();
      }
    });

    const show = runtime
      .common(sessions.command('show'))
      .argument('<session>', 'session id, e.g. 20250817T194800Z_001')
      .description(
        'one session: its row, its summary and energy state replayed from the events, its snapshots',
      )
      .addHelpText('after', examples('wfstate sessions show 20250817T194800Z_001'));
    runtime.bind<CommonOptions>(show, async (env, _options, [arg]) => {
      const open = await openReadOnly(env);
      try {
        const ref = await findSession(open.storage, arg!);
        const row = await new SessionRepository(open.storage.db).get(ref.sessionId);
        const energy = await replaySession(open.store, ref.stream);
        const summary = energy.summary;
        const state = toEnergyState(energy.energy);
        const snapshots = await new SnapshotRepository(open.storage.db).list(ref.stream);
        const models = energy.energy.model_contributions.map((m) => ({
          modelId: m.model_id,
          energy: sumValue(m.energy),
          tokens: m.tokens,
          frames: m.frames,
        }));
        const json = {
          sessionId: ref.sessionId,
          stream: ref.stream,
          version: ref.version,
          row: row ?? null,
          summary,
          models,
          frameCount: energy.energy.frame_count,
          stateHash: stateHash(energy.energy),
          energyState: state ?? null,
          snapshots,
        };
        const text = [
          keyValues([
            ['session', ref.sessionId],
            ['user', row?.userId ?? '-'],
            [
              'status',
              summary.status + (summary.end_reason === null ? '' : ` (${summary.end_reason})`),
            ],
            ['started', summary.started_at],
            ['ended', summary.ended_at],
            [
              'duration',
              summary.duration_ms === null ? '-' : formatDuration(summary.duration_ms / 1000),
            ],
            ['events', `${formatCount(summary.total_events)} (stream version ${ref.version})`],
            ['frames', formatCount(energy.energy.frame_count)],
            ['energy', `${formatNumber(summary.total_energy, 3)} EU`],
            [
              'tokens / prompts',
              `${formatCount(summary.tokens)} / ${formatCount(summary.prompts)}`,
            ],
            ['peaks', `${summary.peaks} (max ${summary.max_peak_energy ?? '-'} EU)`],
            ['clean shutdown', String(summary.clean_shutdown ?? '-')],
            ['snapshots', String(snapshots.length)],
            ['state hash', json.stateHash],
          ]),
          '',
          table(
            ['model', 'energy (EU)', 'tokens', 'frames'],
            models.map((m) => [
              m.modelId,
              formatNumber(m.energy, 3),
              formatCount(m.tokens),
              formatCount(m.frames),
            ]),
          ),
        ].join('\n');
        return { json, text };
      } finally {
        await open.close();
      }
    });
  },
};
