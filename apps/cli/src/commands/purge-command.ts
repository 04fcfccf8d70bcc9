import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { isArchiveError, purgeArchived } from '@wirthforge/archive';
import type { PurgeArchivedReport } from '@wirthforge/archive';
import { purgeSqliteFile } from '@wirthforge/storage-sqlite';
import type { PurgeReport } from '@wirthforge/storage-sqlite';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { requireConfirmation } from '../cli-runtime.js';
import { CliError } from '../errors.js';
import { formatBytes, formatCount, keyValues, table } from '../format-text.js';
import { openReadOnly, openWritable, requireDatabase, toCliError } from '../open-store.js';
import { findSession } from '../session-arg.js';
import { daemonHoldingLock, daemonHoldsLock, runningDaemon } from '../daemon-api.js';
import { writerLockState } from '../writer-lock.js';

interface PurgeOptions extends CommonOptions {
  readonly all?: boolean;
  readonly yes?: boolean;
}

/** Backups the CLI itself wrote into the data directory (e.g. before a repair). */
export const BACKUPS_DIR = 'backups';

/** The purge with the writer lock: the archived segments, then the live rows and file. */
function purgeWithWriter(
  database: string,
  stream: string | undefined,
): { report: PurgeReport; archived: PurgeArchivedReport } {
  try {
    // The archived segments first: the live purge removes the stream rows that name them.
    const archived = purgeArchived(
      { databasePath: database },
      stream === undefined ? { all: true } : { streams: [stream] },
    );
    const report = purgeSqliteFile(
      database,
      stream === undefined ? { all: true } : { streams: [stream] },
      { actor: 'wfstate purge' },
    );
    return { report, archived };
  } catch (error) {
    if (isArchiveError(error, 'locked') || isArchiveError(error, 'busy')) {
      throw new CliError('locked', error.message, {
        hint: 'an archive run, restore or retention pass is at work (the daemon’s scheduler or another wfstate); run the purge again when it is done',
        cause: error,
      });
    }
    throw toCliError(error, database);
  }
}

/** `wfstate purge SESSION|--all`. */
export const purgeCommand: CommandDefinition = {
  name: 'purge',
  register(program, runtime) {
    const command = runtime
      .common(program.command('purge'))
      .argument('[session]', 'session id (or --all)')
      .option('--all', 'every session, user and event: an empty store (with or without the daemon)')
      .option('-y, --yes', 'do not ask for confirmation')
      .description(
        'delete a session (or everything) for good, from the database, its WAL and its free pages',
      )
      .addHelpText(
        'after',
        `${examples('wfstate purge 20250817T194800Z_001', 'wfstate purge --all --yes --json')}
Removes the session's events, its row, snapshots, segments and rollups, and its archived
segments from the partition files in archive/ (each rewritten in place without them);
its user's progress is recomputed from what remains. Deleted pages are zeroed (secure_delete), the
WAL is emptied (checkpoint TRUNCATE) and the file rebuilt (VACUUM), so nothing of it
stays on disk; backups that wfstate wrote inside the data directory (${BACKUPS_DIR}/) hold
the old data too and are deleted. Backups elsewhere are yours to delete.
--all empties the store: every session, user (progress included), event, snapshot,
rollup, audit row and archive partition. Asks for confirmation on a terminal; scripts
pass --yes. While the daemon runs, the purge goes through its API and the daemon stays
up: a running session is refused (end it first); for --all the daemon holds requests a
moment (503 with Retry-After), empties the store with its database closed and serves the
empty store. Otherwise wfstate takes the writer lock.
`,
      );
    runtime.bind<PurgeOptions>(command, async (env, options, [arg]) => {
      if ((arg === undefined) === (options.all !== true)) {
        throw new CliError('usage', 'name one SESSION or pass --all', {
          hint: '`wfstate sessions list` shows the session ids',
        });
      }
      const database = requireDatabase(env);
      let stream: string | undefined;
      let sessionId: string | undefined;
      if (arg !== undefined) {
        const open = await openReadOnly(env);
        try {
          ({ stream, sessionId } = await findSession(open.storage, arg));
        } finally {
          await open.close();
        }
      }
      // Checked before anything is removed: the archive's part must not go without the rest.
      const daemon = runningDaemon(env);
      await requireConfirmation(
        env,
        options.yes,
        sessionId === undefined
          ? `delete EVERY session, user and event in ${database} for good`
          : `delete session ${sessionId} for good`,
        sessionId ?? 'purge all',
      );
      const lock = writerLockState(database);
      if (daemon === undefined && lock.present && lock.alive !== false) {
        const holder = daemonHoldingLock(database);
        if (holder !== undefined) throw daemonHoldsLock(holder);
        throw new CliError('locked', `process ${lock.pid} holds the writer lock of ${database}`, {
          hint: 'this command writes: stop that process, or run the command again when it is done',
        });
      }
      let report: PurgeReport;
      let archived: PurgeArchivedReport;
      let rebuilt = { sessions: 0, users: 0 };
      if (daemon !== undefined) {
        let _all: boolean;
        ({
          all: _all,
          archive: archived,
          rebuilt,
          ...report
        } = await daemon.request<
          PurgeReport & { all: boolean; archive: PurgeArchivedReport; rebuilt: typeof rebuilt }
        >('POST', '/v1/admin/purge', stream === undefined ? { all: true } : { stream }));
      } else {
        ({ report, archived } = purgeWithWriter(database, stream));
      }
      // The user's progress row went with the session; rebuild it from what remains (the
      // daemon did it itself).
      if (daemon === undefined && stream !== undefined && report.users.length > 0) {
        const open = await openWritable(env);
        try {
          const result = await open.store.rebuildProjections();
          rebuilt = { sessions: result.sessions, users: result.users };
        } finally {
          await open.close();
        }
      }
      const backupsDir = join(env.dataDir.dir, BACKUPS_DIR);
      const backupsRemoved: string[] = [];
      if (existsSync(backupsDir)) {
        for (const name of readdirSync(backupsDir)) {
          rmSync(join(backupsDir, name), { force: true, recursive: true });
          backupsRemoved.push(join(backupsDir, name));
        }
      }
      const via = daemon === undefined ? 'writer' : 'daemon';
      const json = {
        all: stream === undefined,
        ...report,
        archive: archived,
        rebuilt,
        backupsRemoved,
        via,
      };
      const text = [
        `purged ${stream === undefined ? 'everything' : `session ${sessionId}`} from ${database}${daemon === undefined ? '' : ` (through the daemon, pid ${daemon.pid})`}`,
        table(
          ['removed', 'rows'],
          Object.entries(report.rows).map(([k, v]) => [k, formatCount(v)]),
        ),
        keyValues([
          ['streams', report.streams.join(', ') || '-'],
          [
            'positions',
            report.positions.map(([a, b]) => (a === b ? `${a}` : `${a}..${b}`)).join(', ') || '-',
          ],
          [
            'archive',
            archived.segments === 0 && archived.catalogRows === 0
              ? 'nothing archived'
              : `${formatCount(archived.segments)} segment(s), ${formatCount(archived.events)} event(s) from ${archived.partitions.map((p) => `${p.partition}${p.removed ? ' (emptied, removed)' : ''}`).join(', ') || '-'}`,
          ],
          ['users recomputed', report.users.join(', ') || '-'],
          [
            'file',
            `${formatBytes(report.bytesBefore)} -> ${formatBytes(report.bytesAfter)} (WAL ${formatBytes(report.walBytesAfter)})`,
          ],
          ['backups removed', backupsRemoved.join(', ') || '-'],
        ]),
      ].join('\n');
      return { json, text };
    });
  },
};
