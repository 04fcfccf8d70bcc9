import { stateHash, sumValue } from '@wirthforge/eventstore';
import type { SessionRecord } from '@wirthforge/storage';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { EXIT_CODES } from '../errors.js';
import { formatCount, formatNumber, keyValues, table } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { replaySession } from '../replay-session.js';
import { findSession } from '../session-arg.js';
import { SESSION_ROWS_SQL, compareSessionRow, toSessionRecord } from '../session-row-check.js';
import type { RawSessionRow } from '../session-row-check.js';

interface ReplayOptions extends CommonOptions {
  readonly verify?: boolean;
}

/** `wfstate replay SESSION [--verify]`. */
export const replayCommand: CommandDefinition = {
  name: 'replay',
  register(program, runtime) {
    const command = runtime
      .common(program.command('replay'))
      .argument('<session>', 'session id')
      .option('--verify', 'compare with the stored session row and fail on any difference')
      .description(
        'replay a session from its events and print its state hash (SHA-256 of the canonical energy state)',
      )
      .addHelpText(
        'after',
        examples(
          'wfstate replay 20250817T194800Z_001',
          'wfstate replay 20250817T194800Z_001 --verify --json',
        ),
      );
    runtime.bind<ReplayOptions>(command, async (env, options, [arg]) => {
      const open = await openReadOnly(env);
      try {
        const ref = await findSession(open.storage, arg!);
        // The stored row and the stream version from one read transaction, so the replay
        // covers exactly the events the row sums up, even while the daemon appends.
        let row: SessionRecord | undefined;
        let toVersion: bigint | undefined;
        if (options.verify === true) {
          const c = open.storage.connection;
          c.exec('BEGIN');
          try {
            toVersion = BigInt(
              (c.prepare('select version from streams where name = ?').pluck().get(ref.stream) as
                number | undefined) ?? 0,
            );
            const raw = c
              .prepare(`${SESSION_ROWS_SQL} where s.session_id = ?`)
              .get(ref.sessionId) as RawSessionRow | undefined;
            row = raw === undefined ? undefined : toSessionRecord(raw);
          } finally {
            c.exec('COMMIT');
          }
        }
        const progress = env.progress('replaying', Number(ref.version));
        const started = performance.now();
        const result = await replaySession(open.store, ref.stream, {
          ...(toVersion === undefined ? {} : { toVersion }),
          onEvent: (n) => progress.update(n),
        });
        const elapsedMs = performance.now() - started;
        progress.stop();
        const hash = stateHash(result.energy);
        const summaryHash = stateHash(result.summary);
        let differences: ReturnType<typeof compareSessionRow> | undefined;
        if (options.verify === true) {
          differences = compareSessionRow(row, result.summary);
        }
        const ok = differences === undefined || differences.length === 0;
        const json = {
          sessionId: ref.sessionId,
          events: result.events,
          position: result.lastPosition,
          version: result.lastVersion,
          stateHash: hash,
          summaryHash,
          totalEnergy: sumValue(result.energy.total_energy),
          eventsPerSecond: elapsedMs > 0 ? Math.round((result.events * 1000) / elapsedMs) : null,
          ...(differences === undefined ? {} : { verified: ok, differences }),
        };
        const lines = [
          keyValues([
            ['session', ref.sessionId],
            [
              'events',
              `${formatCount(result.events)} replayed in ${formatNumber(elapsedMs, 0)} ms`,
            ],
            ['total energy', `${formatNumber(json.totalEnergy, 3)} EU`],
            ['state hash', hash],
            ['summary hash', summaryHash],
          ]),
        ];
        if (differences !== undefined) {
          lines.push(
            ok
              ? 'verified: the stored session row equals the replay'
              : `DIFFERENT: the stored session row disagrees with the replay\n${table(
                  ['field', 'stored', 'replayed'],
                  differences.map((d) => [d.field, String(d.stored), String(d.replayed)]),
                )}\n  -> \`wfstate repair\` rebuilds the rows from the events`,
          );
        }
        return {
          json,
          text: lines.join('\n'),
          exitCode: ok ? EXIT_CODES.ok : EXIT_CODES.check_failed,
        };
      } finally {
        await open.close();
      }
    });
  },
};
