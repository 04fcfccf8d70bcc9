import { isArchiveError, openArchive } from '@wirthforge/archive';
import type { Archive, RetentionPolicy } from '@wirthforge/archive';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommandEnv, CommonOptions } from '../cli-runtime.js';
import { requireConfirmation } from '../cli-runtime.js';
import { CliError, EXIT_CODES } from '../errors.js';
import { formatBytes, formatCount, formatTime, keyValues, table } from '../format-text.js';
import { requireDatabase } from '../open-store.js';
import { parseSessionArg } from '../session-arg.js';

/** Archive errors as CLI errors that say what to do. */
function toCliArchiveError(error: unknown): unknown {
  if (!isArchiveError(error)) return error;
  switch (error.code) {
    case 'locked':
    case 'busy':
      return new CliError('locked', error.message, {
        hint: 'another archive run (the daemon’s scheduler or another wfstate) is at work; try again when it is done',
        cause: error,
      });
    case 'not_found':
      return new CliError('not_found', error.message, {
        hint: '`wfstate archive list` shows the partitions and what they hold',
        cause: error,
      });
    case 'corrupt':
      return new CliError('check_failed', error.message, {
        hint: 'run `wfstate archive verify` to see every damaged partition and segment',
        cause: error,
      });
    case 'invalid_argument':
      return new CliError('usage', error.message, { cause: error });
    default:
      return error;
  }
}

/** Runs `work` on the data directory's archive, translating its errors. */
function withArchive<T>(env: CommandEnv, work: (archive: Archive) => T): T {
  const archive = openArchive({ databasePath: requireDatabase(env) });
  try {
    return work(archive);
  } catch (error) {
    throw toCliArchiveError(error);
  } finally {
    archive.close();
  }
}

/** A non-negative number option, or undefined. */
function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new CliError('usage', `${name}: expected a non-negative number, got ${value}`);
  }
  return n;
}

interface RunOptions extends CommonOptions {
  readonly minAgeDays?: string;
  readonly maxSessions?: string;
  readonly vacuum?: boolean;
}

interface VerifyOptions extends CommonOptions {
  readonly quick?: boolean;
}

interface RestoreOptions extends CommonOptions {
  readonly session?: string;
}

/** `wfstate archive run|list|verify|restore`. */
export const archiveCommand: CommandDefinition = {
  name: 'archive',
  register(program, runtime) {
    const archive: Command = program
      .command('archive')
      .description('move ended sessions into monthly archive partitions, list, verify, restore')
      .addHelpText(
        'after',
        `${examples('wfstate archive run --min-age-days 7', 'wfstate archive list', 'wfstate archive verify --json', 'wfstate archive restore 2026-10')}
Partitions are files in the data directory's archive/ (one per month the sessions
started in). Archived events stay readable through every command; a move or restore
interrupted by a crash is finished by the next archive command or the daemon.
`,
      );

    const run = runtime
      .common(archive.command('run'))
      .description('move the sealed events of ended sessions into their partitions')
      .option('--min-age-days <days>', 'only sessions that ended at least this long ago', '1')
      .option('--max-sessions <n>', 'move at most this many sessions')
      .option('--no-vacuum', 'do not give the freed pages of the live file back afterwards')
      .addHelpText(
        'after',
        examples('wfstate archive run', 'wfstate archive run --min-age-days 0 --json'),
      );
    runtime.bind<RunOptions>(run, (env, options) => {
      const minAgeDays = numberOption(options.minAgeDays, '--min-age-days') ?? 1;
      const maxSessions = numberOption(options.maxSessions, '--max-sessions');
      const report = withArchive(env, (a) =>
        a.run({
          minAgeMs: minAgeDays * 86_400_000,
          ...(maxSessions === undefined ? {} : { maxSessions }),
          reclaim: options.vacuum !== false,
        }),
      );
      const events = report.moved.reduce((sum, m) => sum + m.events, 0);
      const text = [
        report.moved.length === 0
          ? 'nothing to archive: no ended session old enough with every event sealed'
          : table(
              ['stream', 'partition', 'segments', 'events', 'bytes'],
              report.moved.map((m) => [
                m.stream,
                m.partition,
                formatCount(m.segments),
                formatCount(m.events),
                formatBytes(m.bytes),
              ]),
            ),
        keyValues([
          ['sessions moved', formatCount(report.moved.length)],
          ['events moved', formatCount(events)],
          ['interrupted operations finished', formatCount(report.resumed)],
          [
            'live file',
            report.reclaim === undefined
              ? '-'
              : `${formatBytes(report.reclaim.bytesBefore)} -> ${formatBytes(report.reclaim.bytesAfter)}`,
          ],
        ]),
      ].join('\n');
      return Promise.resolve({ json: report, text });
    });

    const list = runtime
      .common(archive.command('list'))
      .description('the partitions: size, sessions, events, time range')
      .addHelpText('after', examples('wfstate archive list', 'wfstate archive list --json'));
    runtime.bind<CommonOptions>(list, (env) => {
      const partitions = withArchive(env, (a) => a.list());
      const text =
        partitions.length === 0
          ? 'no archive partitions yet (`wfstate archive run` moves ended sessions)'
          : table(
              ['partition', 'bytes', 'sessions', 'segments', 'events', 'from', 'to', 'state'],
              partitions.map((p) => [
                p.name,
                formatBytes(p.bytes),
                formatCount(p.streams),
                formatCount(p.segments),
                formatCount(p.events),
                formatTime(p.firstUs),
                formatTime(p.lastUs),
                p.deleted ? 'deleted by retention' : 'present',
              ]),
            );
      return Promise.resolve({ json: { partitions }, text });
    });

    const verify = runtime
      .common(archive.command('verify'))
      .argument('[partitions...]', 'partitions to check (default: all)')
      .option('--quick', 'check segment checksums and headers without decoding every segment')
      .description(
        'check every partition: file, partition checksum, each segment, the live catalog',
      )
      .addHelpText(
        'after',
        examples('wfstate archive verify', 'wfstate archive verify 2026-10 --json'),
      );
    runtime.bind<VerifyOptions>(verify, (env, options, names) => {
      const report = withArchive(env, (a) =>
        a.verify({
          ...(names.length > 0 ? { partitions: names } : {}),
          quick: options.quick === true,
        }),
      );
      const text = [
        report.ok
          ? `ok: ${formatCount(report.partitions)} partition(s), ${formatCount(report.segments)} segment(s), ${formatCount(report.events)} event(s)`
          : `${formatCount(report.problems.length)} problem(s) in the archive`,
        ...report.problems.map((p) => `  ${p.kind}: ${p.message}`),
      ].join('\n');
      return Promise.resolve({
        json: report,
        text,
        exitCode: report.ok ? EXIT_CODES.ok : EXIT_CODES.check_failed,
      });
    });

    const restore = runtime
      .common(archive.command('restore'))
      .argument('[partition]', 'partition to bring back whole (YYYY-MM)')
      .option('--session <id>', 'bring back one session instead')
      .description('put archived segments back into the live database')
      .addHelpText(
        'after',
        examples(
          'wfstate archive restore 2026-10',
          'wfstate archive restore --session 20250817T194800Z_001',
        ),
      );
    runtime.bind<RestoreOptions>(restore, (env, options, [partition]) => {
      if ((partition === undefined) === (options.session === undefined)) {
        throw new CliError('usage', 'name one PARTITION or pass --session ID', {
          hint: '`wfstate archive list` shows the partitions',
        });
      }
      const target =
        partition !== undefined
          ? { partition }
          : { stream: parseSessionArg(options.session!).stream };
      const report = withArchive(env, (a) => a.restore(target));
      return Promise.resolve({
        json: report,
        text: keyValues([
          ['sessions restored', formatCount(report.streams)],
          ['segments', formatCount(report.segments)],
          ['events', formatCount(report.events)],
          ['partitions emptied and removed', report.removedPartitions.join(', ') || '-'],
        ]),
      });
    });
  },
};

interface RetentionOptions extends CommonOptions {
  readonly maxAgeDays?: string;
  readonly maxBytes?: string;
  readonly maxPartitions?: string;
  readonly dryRun?: boolean;
  readonly yes?: boolean;
}

/** `wfstate retention apply [--dry-run]`. */
export const retentionCommand: CommandDefinition = {
  name: 'retention',
  register(program, runtime) {
    const retention: Command = program
      .command('retention')
      .description('delete whole archive partitions by age, total size or count');
    const apply = runtime
      .common(retention.command('apply'))
      .option('--max-age-days <days>', 'delete partitions whose month ended longer ago than this')
      .option(
        '--max-bytes <bytes>',
        'keep the archive files under this many bytes (oldest go first)',
      )
      .option('--max-partitions <n>', 'keep at most this many partitions (newest stay)')
      .option('--dry-run', 'list what would be deleted and change nothing')
      .option('-y, --yes', 'do not ask for confirmation')
      .description('apply a retention policy to the archive')
      .addHelpText(
        'after',
        `${examples('wfstate retention apply --max-age-days 365 --dry-run', 'wfstate retention apply --max-bytes 500000000 --yes --json')}
Only archived events go; the live database, session summaries, snapshots and analytics
rollups stay. A partition holding a running session is never deleted. The live file's
freed pages are given back afterwards.
`,
      );
    runtime.bind<RetentionOptions>(apply, async (env, options) => {
      const maxAgeDays = numberOption(options.maxAgeDays, '--max-age-days');
      const maxTotalBytes = numberOption(options.maxBytes, '--max-bytes');
      const maxPartitions = numberOption(options.maxPartitions, '--max-partitions');
      const policy: RetentionPolicy = {
        ...(maxAgeDays === undefined ? {} : { maxAgeDays }),
        ...(maxTotalBytes === undefined ? {} : { maxTotalBytes }),
        ...(maxPartitions === undefined ? {} : { maxPartitions }),
      };
      if (Object.keys(policy).length === 0) {
        throw new CliError(
          'usage',
          'give at least one of --max-age-days, --max-bytes, --max-partitions',
        );
      }
      const preview = withArchive(env, (a) => a.applyRetention(policy, { dryRun: true }));
      let report = preview;
      if (options.dryRun !== true && preview.deleted.length > 0) {
        await requireConfirmation(
          env,
          options.yes,
          `delete archive partition(s) ${preview.deleted.map((d) => d.partition).join(', ')} for good`,
          'delete',
        );
        report = withArchive(env, (a) => a.applyRetention(policy));
      }
      const verb = report.dryRun ? 'would delete' : 'deleted';
      const text = [
        report.deleted.length === 0
          ? 'nothing to delete under this policy'
          : table(
              ['partition', 'bytes', 'events', 'why'],
              report.deleted.map((d) => [
                d.partition,
                formatBytes(d.bytes),
                formatCount(d.events),
                d.reasons.join(', '),
              ]),
            ),
        ...report.kept.map((k) => `kept ${k.partition}: ${k.reason}`),
        report.deleted.length === 0
          ? ''
          : `${verb} ${formatCount(report.deleted.length)} partition(s)`,
      ]
        .filter((line) => line !== '')
        .join('\n');
      return { json: report, text };
    });
  },
};
