import {
  energyProjection,
  sessionSummaryProjection,
  stateHash,
  sumValue,
} from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import { createSnapshotStore } from '@wirthforge/snapshots';
import { SessionRepository } from '@wirthforge/storage';
import type { SessionRecord } from '@wirthforge/storage';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { EXIT_CODES } from '../errors.js';
import { formatCount, formatNumber, keyValues, table } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { replaySession } from '../replay-session.js';
import type { ReplayResult } from '../replay-session.js';
import { findSession } from '../session-arg.js';
import { compareSessionRow } from '../session-row-check.js';
import type { RowDifference } from '../session-row-check.js';

/** The replay against the session's newest snapshot at or before its last version. */
interface SnapshotCheck {
  readonly id: number | null;
  readonly version: bigint;
  readonly eventsAfter: number;
  readonly rejected: readonly { id: number; reason: string }[];
  readonly differences: RowDifference[];
}

/**
 * Loads the state the snapshots give at the replay's last version (the newest valid
 * snapshot plus the events after it) and compares it with the replay: each projection's
 * state hash, and every snapshot refused on the way. `null` when the stream has no
 * snapshot to compare with.
 */
async function compareWithSnapshot(
  store: EventStore,
  stream: string,
  result: ReplayResult,
): Promise<SnapshotCheck | null> {
  if (result.lastVersion === 0n) return null;
  const loaded = await createSnapshotStore(store).stateAt(stream, {
    version: result.lastVersion,
  });
  if (loaded.snapshotId === null && loaded.rejected.length === 0) return null;
  const differences: RowDifference[] = loaded.rejected.map((r) => ({
    field: `snapshot ${r.id}`,
    stored: `${r.reason}: ${r.message}`,
    replayed: 'a loadable snapshot',
  }));
  if (loaded.snapshotId !== null) {
    const replayed: Record<string, unknown> = {
      [energyProjection.name]: result.energy,
      [sessionSummaryProjection.name]: result.summary,
    };
    for (const [name, state] of Object.entries(replayed)) {
      const fromSnapshot = stateHash(loaded.states[name]);
      const fromReplay = stateHash(state);
      if (fromSnapshot !== fromReplay) {
        differences.push({
          field: `snapshot ${loaded.snapshotId} ${name} state`,
          stored: fromSnapshot,
          replayed: fromReplay,
        });
      }
    }
  }
  return {
    id: loaded.snapshotId,
    version: loaded.snapshotVersion,
    eventsAfter: loaded.eventsReplayed,
    rejected: loaded.rejected.map((r) => ({ id: r.id, reason: r.reason })),
    differences,
  };
}

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
      .option(
        '--verify',
        'compare with the stored session row and the newest snapshot, and fail on any difference',
      )
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
          ({ row, toVersion } = await open.storage.db.transaction().execute(async (trx) => {
            const stream = await trx
              .selectFrom('streams')
              .select('version')
              .where('name', '=', ref.stream)
              .executeTakeFirst();
            return {
              toVersion: BigInt(stream?.version ?? 0),
              row: await new SessionRepository(trx).get(ref.sessionId),
            };
          }));
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
        let snapshot: SnapshotCheck | null | undefined;
        if (options.verify === true) {
          differences = compareSessionRow(row, result.summary);
          snapshot = await compareWithSnapshot(open.store, ref.stream, result);
          if (snapshot !== null) differences.push(...snapshot.differences);
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
          ...(snapshot === undefined
            ? {}
            : {
                snapshot:
                  snapshot === null
                    ? null
                    : {
                        id: snapshot.id,
                        version: snapshot.version,
                        eventsAfter: snapshot.eventsAfter,
                        rejected: snapshot.rejected,
                      },
              }),
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
              ? `verified: the stored session row${
                  snapshot === null || snapshot === undefined
                    ? ''
                    : ` and snapshot ${snapshot.id} (plus ${formatCount(snapshot.eventsAfter)} event(s) after it)`
                } equal the replay`
              : `DIFFERENT: the stored session row or a snapshot disagrees with the replay\n${table(
                  ['field', 'stored', 'replayed'],
                  differences.map((d) => [d.field, String(d.stored), String(d.replayed)]),
                )}\n  -> \`wfstate repair\` rebuilds the rows from the events; \`wfstate snapshot verify\` names every bad snapshot`,
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
