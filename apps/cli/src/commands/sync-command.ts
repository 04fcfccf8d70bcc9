import {
  isSyncError,
  mergedUserProgress,
  openSyncHub,
  pull,
  push,
  resolveSyncConfig,
  syncStatus,
} from '@wirthforge/sync';
import type { SyncConfig, SyncConflict, SyncHub, SyncReport } from '@wirthforge/sync';
import { purgeArchived } from '@wirthforge/archive';
import { deleteSqliteStreams } from '@wirthforge/storage-sqlite';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommandEnv, CommonOptions } from '../cli-runtime.js';
import { daemonHoldingLock, daemonHoldsLock } from '../daemon-api.js';
import { CliError } from '../errors.js';
import { formatCount, keyValues, table } from '../format-text.js';
import { openReadOnly, openWritable } from '../open-store.js';

interface SyncOptions extends CommonOptions {
  readonly hub?: string;
  readonly hubSchema?: string;
  readonly pageSize?: string;
}

interface StatusOptions extends SyncOptions {
  readonly offline?: boolean;
  readonly user?: string;
}

const HUB_HELP = `
The hub is a PostgreSQL database the user configures: --hub URL, else WF_SYNC_URL, else
"url" in $XDG_CONFIG_HOME/wirthforge/sync.json (or the file WF_SYNC_CONFIG names). Its
schema: --hub-schema, WF_SYNC_SCHEMA or "schema" (default wirthforge). A password may sit
in the URL, in WF_SYNC_PASSWORD or in the file's "password"; it is never printed.
Without a hub nothing leaves this device.
`;

function hubConfig(env: CommandEnv, options: SyncOptions): SyncConfig {
  let config: SyncConfig | undefined;
  try {
    config = resolveSyncConfig({
      url: options.hub,
      schema: options.hubSchema,
      env: env.io.env,
      cwd: env.io.cwd,
    });
  } catch (error) {
    if (isSyncError(error)) throw new CliError('usage', error.message, { cause: error });
    throw error;
  }
  if (config === undefined) {
    throw new CliError('usage', 'no sync hub is configured', {
      hint: 'pass --hub postgres://USER@HOST:5432/DATABASE, set WF_SYNC_URL, or put {"url": "..."} in ~/.config/wirthforge/sync.json',
    });
  }
  if (config.warning !== undefined) env.io.stderr.write(`wfstate: warning: ${config.warning}\n`);
  return config;
}

function pageSizeOf(options: SyncOptions): number | undefined {
  if (options.pageSize === undefined) return undefined;
  const n = Number(options.pageSize);
  if (!/^\d+$/.test(options.pageSize) || n < 1 || n > 100_000) {
    throw new CliError(
      'usage',
      `--page-size: expected an integer from 1 to 100000, got ${options.pageSize}`,
    );
  }
  return n;
}

async function withHub<T>(config: SyncConfig, fn: (hub: SyncHub) => Promise<T>): Promise<T> {
  let hub: SyncHub;
  try {
    hub = await openSyncHub(config);
  } catch (error) {
    throw toCliError(error);
  }
  try {
    return await fn(hub);
  } catch (error) {
    throw toCliError(error);
  } finally {
    await hub.close();
  }
}

function toCliError(error: unknown): unknown {
  if (!isSyncError(error)) return error;
  const hint =
    error.code === 'hub_unreachable'
      ? 'check that the hub is up and the URL is right (`wfstate sync status` shows it); everything stays here meanwhile, and the next run resumes'
      : error.retryable
        ? 'run the command again: it resumes where it stopped'
        : undefined;
  return new CliError('failed', error.message, {
    ...(hint === undefined ? {} : { hint }),
    cause: error,
  });
}

function conflictRows(conflicts: readonly SyncConflict[]): string {
  return table(
    ['stream', 'kind', 'found in', 'what'],
    conflicts.map((c) => [c.stream, c.kind, c.direction, c.message]),
  );
}

function reportOutcome(report: SyncReport): { json: unknown; text: string; exitCode: number } {
  const verb = report.direction === 'push' ? 'pushed to' : 'pulled from';
  const json = {
    ...report,
    checkpoint: report.checkpoint.toString(),
    durationMs: Math.round(report.durationMs),
  };
  const lines = [
    `${formatCount(report.events)} event(s) of ${formatCount(report.streams.length)} session(s) ${verb} ${report.hub}` +
      (report.repeated > 0 ? ` (${formatCount(report.repeated)} already there)` : ''),
  ];
  if (report.purged.length > 0) {
    lines.push(
      report.direction === 'push'
        ? `purge(s) of this device sent to the hub: ${report.purged.join(', ')}`
        : `purged on another device, deleted here: ${report.purged.join(', ')}`,
    );
  }
  if (report.conflicts.length > 0) {
    lines.push(
      `${report.conflicts.length} conflict(s), not overwritten:`,
      conflictRows(report.conflicts),
    );
  }
  // A conflict is a finding, like verify's: the run finished, but not everything synced.
  return { json, text: `${lines.join('\n')}\n`, exitCode: report.conflicts.length > 0 ? 5 : 0 };
}

function runCommand(
  program: Command,
  runtime: Parameters<CommandDefinition['register']>[1],
  direction: 'push' | 'pull',
): void {
  const command = runtime
    .common(program.command(direction))
    .description(
      direction === 'push'
        ? "send this device's sessions to the hub (resumes from the last push)"
        : "fetch the other devices' sessions from the hub (resumes from the last pull)",
    )
    .option('--hub <url>', 'PostgreSQL URL of the hub (else WF_SYNC_URL, else sync.json)')
    .option('--hub-schema <name>', 'PostgreSQL schema of the hub (default wirthforge)')
    .option('--page-size <n>', 'events per round trip (default 5000)')
    .addHelpText(
      'after',
      `${examples(`wfstate sync ${direction}`, `wfstate sync ${direction} --hub postgres://me@hub.lan/wirthforge --json`)}${HUB_HELP}Needs the writer lock: stop the daemon first (its sync job does the same).\n`,
    );
  runtime.bind<SyncOptions>(command, async (env, options) => {
    const config = hubConfig(env, options);
    const pageSize = pageSizeOf(options);
    const daemon = daemonHoldingLock(env.dataDir.database);
    if (daemon !== undefined) {
      throw daemonHoldsLock(
        daemon,
        undefined,
        'a sync reads and writes the store for as long as the hub takes; the daemon syncs itself when a hub URL and an interval are set (url and intervalMs in sync.json, or WF_SYNC_URL and WF_SYNC_INTERVAL_MS)',
      );
    }
    const open = await openWritable(env);
    try {
      const database = open.storage.path;
      const local = {
        store: open.store,
        db: open.storage.db,
        // A session purged on another device goes as `wfstate purge` removes it here: its
        // archived segments first, then its rows (beside this command's writer).
        purgeStreams: async (streams: readonly string[]) => {
          purgeArchived({ databasePath: database }, { streams });
          await deleteSqliteStreams(database, { streams }, { actor: 'wfstate sync pull' });
        },
      };
      const progress = env.progress(direction === 'push' ? 'pushing' : 'pulling', 1);
      const report = await withHub(config, (hub) =>
        (direction === 'push' ? push : pull)(local, hub, {
          ...(pageSize === undefined ? {} : { pageSize }),
          onPage: (page) =>
            progress.update(Number(page.checkpoint) / Math.max(1, Number(page.target))),
        }),
      );
      progress.stop();
      return reportOutcome(report);
    } finally {
      await open.close();
    }
  });
}

/** `wfstate sync push|pull|status`: multi-device sync through a PostgreSQL hub. */
export const syncCommand: CommandDefinition = {
  name: 'sync',
  register(program, runtime) {
    const sync: Command = program
      .command('sync')
      .description('synchronise sessions with other devices through a PostgreSQL hub (opt-in)')
      .addHelpText(
        'after',
        `${examples('wfstate sync push', 'wfstate sync pull', 'wfstate sync status --json')}${HUB_HELP}`,
      );
    runCommand(sync, runtime, 'push');
    runCommand(sync, runtime, 'pull');

    const status = runtime
      .common(sync.command('status'))
      .description(
        'device id, checkpoints, events left to push, the hub and its devices, conflicts',
      )
      .option('--hub <url>', 'PostgreSQL URL of the hub (else WF_SYNC_URL, else sync.json)')
      .option('--hub-schema <name>', 'PostgreSQL schema of the hub (default wirthforge)')
      .option('--offline', 'do not contact the hub: local checkpoints only')
      .option(
        '--user <id>',
        "also the user's progress merged from every device's sessions, and its hash",
      )
      .addHelpText(
        'after',
        `${examples('wfstate sync status', 'wfstate sync status --offline --json', 'wfstate sync status --user default')}${HUB_HELP}`,
      );
    runtime.bind<StatusOptions>(status, async (env, options) => {
      const config = hubConfig(env, options);
      const open = await openReadOnly(env);
      try {
        const local = { store: open.store, db: open.storage.db };
        let hubError: string | undefined;
        let state;
        if (options.offline === true) {
          state = await syncStatus(local, config);
        } else {
          try {
            state = await withHub(config, (hub) => syncStatus(local, config, hub));
          } catch (error) {
            hubError = error instanceof Error ? error.message : String(error);
            state = await syncStatus(local, config);
          }
        }
        const merged =
          options.user === undefined
            ? undefined
            : await mergedUserProgress(open.store, options.user);
        const json = {
          ...state,
          local: {
            headPosition: state.local.headPosition.toString(),
            pushedPosition: state.local.pushedPosition.toString(),
            pendingPush: state.local.pendingPush,
            running: state.local.running,
          },
          remote:
            state.remote === undefined
              ? null
              : {
                  ...state.remote,
                  headPosition: state.remote.headPosition.toString(),
                  pulledPosition: state.remote.pulledPosition.toString(),
                },
          hubError: hubError ?? null,
          source: config.source,
          ...(merged === undefined
            ? {}
            : {
                progress: {
                  userId: merged.userId,
                  hash: merged.hash,
                  sessions: merged.progress.total_sessions,
                  level: merged.progress.level,
                  experiencePoints: merged.progress.experience_points,
                  totalEnergy: merged.progress.total_energy,
                },
              }),
        };
        const pairs: [string, string][] = [
          ['hub', `${state.hub} (from ${config.source})`],
          ['device', state.deviceId ?? 'not synced yet (an id is made at the first push or pull)'],
          ['local head', formatCount(state.local.headPosition)],
          [
            'pushed up to',
            `${formatCount(state.local.pushedPosition)} (${formatCount(state.local.pendingPush)} event(s) of ended sessions to push, ${formatCount(state.local.running)} of running sessions held until they end)`,
          ],
          [
            'hub state',
            hubError !== undefined
              ? `not reachable: ${hubError}`
              : state.remote === undefined
                ? 'not asked (--offline)'
                : `head ${formatCount(state.remote.headPosition)}, pulled up to ${formatCount(state.remote.pulledPosition)}, ${state.remote.devices.length} device(s)`,
          ],
          ['last push', state.lastPushAt ?? 'never'],
          ['last pull', state.lastPullAt ?? 'never'],
          [
            'conflicts',
            state.conflicts.length === 0
              ? 'none'
              : `${state.conflicts.length} stream(s) not synced`,
          ],
        ];
        if (merged !== undefined) {
          pairs.push([
            `progress of ${merged.userId}`,
            `level ${merged.progress.level}, ${formatCount(merged.progress.experience_points)} XP, ${merged.progress.total_sessions} session(s), hash ${merged.hash.slice(0, 16)}`,
          ]);
        }
        let text = keyValues(pairs);
        if (state.remote !== undefined && state.remote.devices.length > 0) {
          text += `\n${table(
            ['device', 'name', 'sessions', 'last push', 'last pull'],
            state.remote.devices.map((d) => [
              d.deviceId === state.deviceId ? `${d.deviceId} (this one)` : d.deviceId,
              d.name,
              String(d.streams),
              d.lastPushAt ?? '-',
              d.lastPullAt ?? '-',
            ]),
          )}`;
        }
        if (state.conflicts.length > 0) text += `\n${conflictRows(state.conflicts)}`;
        return { json, text, exitCode: hubError === undefined ? 0 : 1 };
      } finally {
        await open.close();
      }
    });
  },
};
