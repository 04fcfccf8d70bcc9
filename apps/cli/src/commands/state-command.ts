import { stateHash, sumValue, toEnergyState } from '@wirthforge/eventstore';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { formatCount, formatNumber, keyValues, table } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { parseReplayPoint, replaySession } from '../replay-session.js';
import { findSession } from '../session-arg.js';

interface StateOptions extends CommonOptions {
  readonly at?: string;
}

/** `wfstate state SESSION [--at …]`: the energy state, replayed up to a point. */
export const stateCommand: CommandDefinition = {
  name: 'state',
  register(program, runtime) {
    const command = runtime
      .common(program.command('state'))
      .argument('<session>', 'session id')
      .option(
        '--at <point>',
        'replay up to a position (1234), a frame (frame:600) or a time (ISO-8601)',
      )
      .description(
        "a session's energy state (the WF-TECH-004 energy-state shape), replayed from its events",
      )
      .addHelpText(
        'after',
        examples(
          'wfstate state 20250817T194800Z_001',
          'wfstate state 20250817T194800Z_001 --at frame:600',
          'wfstate state 20250817T194800Z_001 --at 2025-08-17T19:48:30Z --json',
        ),
      );
    runtime.bind<StateOptions>(command, async (env, options, [arg]) => {
      const at = options.at === undefined ? undefined : parseReplayPoint(options.at);
      const open = await openReadOnly(env);
      try {
        const ref = await findSession(open.storage, arg!);
        const progress = env.progress('replaying', Number(ref.version));
        const result = await replaySession(open.store, ref.stream, {
          ...(at === undefined ? {} : { at }),
          onEvent: (n) => progress.update(n),
        });
        progress.stop();
        const state = toEnergyState(result.energy) ?? null;
        const hash = stateHash(result.energy);
        const json = {
          sessionId: ref.sessionId,
          at: at ?? null,
          events: result.events,
          position: result.lastPosition,
          version: result.lastVersion,
          stateHash: hash,
          state,
        };
        const text = [
          keyValues([
            ['session', ref.sessionId],
            [
              'replayed',
              `${formatCount(result.events)} event(s), up to position ${result.lastPosition} (version ${result.lastVersion})`,
            ],
            [
              'frame',
              `${result.energy.frame.frame_id} (${formatCount(result.energy.frame_count)} frames)`,
            ],
            [
              'energy now',
              `${formatNumber(result.energy.frame.energy_current, 3)} EU (delta ${formatNumber(result.energy.frame.energy_delta, 3)})`,
            ],
            ['total energy', `${formatNumber(sumValue(result.energy.total_energy), 3)} EU`],
            ['tokens', formatCount(result.energy.token_count)],
            ['peaks kept', String(result.energy.energy_peaks.length)],
            [
              'interference / resonance',
              `${result.energy.interference_events} / ${result.energy.resonance_events}`,
            ],
            ['incomplete operations', String(result.energy.incomplete_operations.length)],
            ['clean shutdown', String(result.energy.clean_shutdown ?? '-')],
            ['state hash', hash],
          ]),
          '',
          table(
            ['model', 'energy (EU)', 'tokens', 'frames'],
            result.energy.model_contributions.map((m) => [
              m.model_id,
              formatNumber(sumValue(m.energy), 3),
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
