import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { EXIT_CODES } from '../errors.js';
import { formatCount, table } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { verifyStore } from '../verify-store.js';

interface VerifyOptions extends CommonOptions {
  readonly deep?: boolean;
}

/** `wfstate verify [--deep]`. */
export const verifyCommand: CommandDefinition = {
  name: 'verify',
  register(program, runtime) {
    const command = runtime
      .common(program.command('verify'))
      .option('--deep', "SQLite's full integrity_check, model contributions, users and rollups too")
      .description(
        'prove the store intact: SQLite integrity, row, segment, snapshot and archive checksums, position gaps, energy conservation, session totals, foreign keys',
      )
      .addHelpText(
        'after',
        `${examples('wfstate verify', 'wfstate verify --deep --json')}
Exits 5 when a problem is found; each one is named with where it is.
Runs read-only on a consistent snapshot: safe while the daemon writes.
`,
      );
    runtime.bind<VerifyOptions>(command, async (env, options) => {
      // Damaged rows are read, and named by the checks, not refused.
      const open = await openReadOnly(env, { checkRowChecksums: false });
      try {
        const head = Number(await open.storage.headPosition());
        const progress = env.progress('verifying', head);
        const report = await verifyStore(open, {
          deep: options.deep === true,
          onProgress: (p) => progress.update(p),
        });
        progress.stop();
        const summary = `${formatCount(report.eventsChecked)} event(s), ${report.sessionsChecked} session(s)${
          report.deep ? `, ${report.usersChecked} user(s)` : ''
        }, ${report.snapshotsChecked} snapshot(s), ${report.archive.partitions} archive partition(s) (${formatCount(report.archive.segments)} segment(s)) checked up to position ${report.headPosition}${report.deep ? ' (deep)' : ''}`;
        const text = report.ok
          ? `ok: ${summary}, no problem found`
          : `${table(
              ['problem', 'where', 'what'],
              report.problems.map((p) => [p.kind, p.where, p.message]),
            )}\n${report.problems.length} problem(s)${report.truncated ? ' (more not shown)' : ''}: ${summary}\n` +
            '  -> `wfstate repair` rebuilds session and user rows from the events and drops corrupt snapshots; damaged events or archive partitions need `wfstate restore BACKUP`';
        return {
          json: report,
          text,
          exitCode: report.ok ? EXIT_CODES.ok : EXIT_CODES.check_failed,
        };
      } finally {
        await open.close();
      }
    });
  },
};
