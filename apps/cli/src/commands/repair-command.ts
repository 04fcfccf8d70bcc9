import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { EventStore } from '@wirthforge/eventstore';
import { createSnapshotStore } from '@wirthforge/snapshots';
import type { SnapshotRejection } from '@wirthforge/snapshots';

import { backupToFile } from '../backup-file.js';
import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { outputFilePath, requireConfirmation } from '../cli-runtime.js';
import { CliError, EXIT_CODES } from '../errors.js';
import { formatCount, keyValues, table } from '../format-text.js';
import { openReadOnly, openWritable, requireDatabase, toCliError } from '../open-store.js';
import { verifyStore } from '../verify-store.js';
import type { VerifyReport } from '../verify-store.js';
import { BACKUPS_DIR } from './purge-command.js';
import { runningDaemon } from '../daemon-api.js';

interface RepairOptions extends CommonOptions {
  readonly yes?: boolean;
  readonly backup?: string;
}

const REPAIRABLE = new Set(['session_totals', 'user_totals', 'snapshot']);
/** Problems of the events themselves: rows rebuilt from them would be wrong. */
const DAMAGED_EVENTS = new Set([
  'checksum',
  'undecodable',
  'dangling_reference',
  'sqlite',
  'archive',
]);

async function check(env: Parameters<typeof openReadOnly>[0]): Promise<VerifyReport> {
  // Damaged rows are read, and named by the checks, not refused.
  const open = await openReadOnly(env, { checkRowChecksums: false });
  try {
    return await verifyStore(open, { deep: true });
  } finally {
    await open.close();
  }
}

/**
 * Deletes every snapshot that fails its checks (checksum, decoding, header, against the
 * log, its base), in one commit, and returns them. A load never uses such a snapshot; a
 * delta whose base is bad fails as `base_unusable` and goes with it.
 */
export async function dropCorruptSnapshots(store: EventStore): Promise<SnapshotRejection[]> {
  const report = await createSnapshotStore(store).verify();
  const bad = [...report.bad];
  if (bad.length > 0) {
    await store.commitBatch([], {
      writes: [{ kind: 'snapshot.delete', ids: bad.map((b) => b.id) }],
    });
  }
  return bad;
}

/** `wfstate repair`. */
export const repairCommand: CommandDefinition = {
  name: 'repair',
  register(program, runtime) {
    const command = runtime
      .common(program.command('repair'))
      .option('-y, --yes', 'do not ask for confirmation')
      .option(
        '--backup <file>',
        `where to write the backup taken first (default: ${BACKUPS_DIR}/pre-repair-TIME.db.gz in the data directory)`,
      )
      .description(
        'rebuild the session and user rows from the events and drop corrupt snapshots, after a verified backup; says what changed',
      )
      .addHelpText(
        'after',
        `${examples('wfstate repair', 'wfstate repair --yes --backup /mnt/safe/before-repair.db.gz --json')}
Runs verify --deep, takes a verified backup, rewrites every session and user row from
the events (the projections), drops every snapshot that fails its checks (one line per
snapshot dropped: a load falls back past it anyway), and verifies again. Events themselves are never changed:
a damaged event (checksum, gap) is reported, and \`wfstate restore\` is the way back.
While the daemon runs, the rows are rewritten and the snapshots dropped by it (its API);
otherwise wfstate takes the writer lock.
`,
      );
    runtime.bind<RepairOptions>(command, async (env, options) => {
      const database = requireDatabase(env);
      const before = await check(env);
      const damaged = before.problems.filter((p) => DAMAGED_EVENTS.has(p.kind));
      if (damaged.length > 0) {
        throw new CliError(
          'check_failed',
          `${damaged.length} problem(s) in the stored events themselves (first: ${damaged[0]!.kind} at ${damaged[0]!.where}); rows rebuilt from damaged events would be wrong, nothing was changed`,
          {
            hint: '`wfstate restore BACKUP` brings the events back; `wfstate verify` lists every problem',
            details: damaged,
          },
        );
      }
      await requireConfirmation(
        env,
        options.yes,
        `rewrite the session and user rows of ${database}`,
        'repair',
      );
      const backupPath =
        (options.backup === undefined
          ? undefined
          : outputFilePath(env, options.backup, '--backup')) ??
        join(
          env.dataDir.dir,
          BACKUPS_DIR,
          `pre-repair-${new Date().toISOString().replace(/[:.]/g, '-')}.db.gz`,
        );
      mkdirSync(join(backupPath, '..'), { recursive: true, mode: 0o700 });
      let backup;
      try {
        backup = await backupToFile(database, backupPath);
      } catch (error) {
        throw toCliError(error, database);
      }
      const daemon = runningDaemon(env);
      let rebuilt: { events: number; sessions: number; users: number };
      let dropped: readonly SnapshotRejection[];
      if (daemon !== undefined) {
        rebuilt = await daemon.request<typeof rebuilt>('POST', '/v1/admin/rebuild-projections', {});
        ({ dropped } = await daemon.request<{ dropped: SnapshotRejection[] }>(
          'POST',
          '/v1/admin/snapshots/drop-corrupt',
          {},
        ));
      } else {
        const open = await openWritable(env);
        try {
          rebuilt = await open.store.rebuildProjections();
          dropped = await dropCorruptSnapshots(open.store);
        } finally {
          await open.close();
        }
      }
      const after = await check(env);
      const left = after.problems;
      const fixed = before.problems.filter(
        (p) =>
          REPAIRABLE.has(p.kind) && !left.some((q) => q.kind === p.kind && q.where === p.where),
      );
      const json = {
        via: daemon === undefined ? 'writer' : 'daemon',
        backup,
        rebuilt,
        droppedSnapshots: dropped,
        before: { problems: before.problems },
        fixed,
        remaining: left,
        ok: after.ok,
      };
      const text = [
        keyValues([
          ['backup', `${backup.path} (verified)`],
          [
            'rows rewritten',
            `${formatCount(rebuilt.sessions)} session(s), ${formatCount(rebuilt.users)} user(s) from ${formatCount(rebuilt.events)} event(s)`,
          ],
          ['snapshots dropped', String(dropped.length)],
          ['problems before', String(before.problems.length)],
          ['fixed', String(fixed.length)],
          ['remaining', String(left.length)],
        ]),
        ...dropped.map(
          (d) => `dropped snapshot ${d.id} of ${d.stream}: ${d.reason} (${d.message})`,
        ),
        ...(fixed.length === 0
          ? []
          : [
              'fixed:',
              table(
                ['problem', 'where'],
                fixed.map((p) => [p.kind, p.where]),
              ),
            ]),
        ...(left.length === 0
          ? []
          : [
              'not repairable here:',
              table(
                ['problem', 'where', 'what'],
                left.map((p) => [p.kind, p.where, p.message]),
              ),
              '  -> damaged events cannot be rebuilt from themselves: `wfstate restore BACKUP`',
            ]),
      ].join('\n');
      return { json, text, exitCode: after.ok ? EXIT_CODES.ok : EXIT_CODES.check_failed };
    });
  },
};
