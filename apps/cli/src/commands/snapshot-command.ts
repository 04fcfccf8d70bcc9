import { SessionRepository } from '@wirthforge/storage';
import type { SnapshotInfo } from '@wirthforge/storage';
import { createSnapshotStore, createdSnapshotJson } from '@wirthforge/snapshots';
import type { CreatedSnapshotJson, PruneReport } from '@wirthforge/snapshots';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommandEnv, CommonOptions } from '../cli-runtime.js';
import { requireConfirmation } from '../cli-runtime.js';
import { runningDaemon } from '../daemon-api.js';
import { CliError, EXIT_CODES } from '../errors.js';
import { formatBytes, formatCount, formatTime, table } from '../format-text.js';
import { openReadOnly, openWritable } from '../open-store.js';
import type { ReadOnlyStore } from '../open-store.js';
import { findSession } from '../session-arg.js';

interface CreateOptions extends CommonOptions {
  readonly all?: boolean;
  readonly full?: boolean;
}

interface PruneOptions extends CommonOptions {
  readonly yes?: boolean;
}

function infoJson(s: SnapshotInfo): Record<string, unknown> {
  return {
    id: s.id,
    stream: s.stream,
    kind: s.kind,
    baseId: s.baseSnapshotId,
    streamVersion: Number(s.streamVersion),
    position: Number(s.position),
    schemaVersion: s.schemaVersion,
    createdAt: new Date(s.createdUs / 1000).toISOString(),
    sizeBytes: s.sizeBytes,
    checksum: s.checksum,
  };
}

/** The session streams named by SESSION (checked to exist), or every session's with `all`. */
async function targetStreams(
  env: CommandEnv,
  arg: string | undefined,
  all: boolean,
): Promise<string[]> {
  if ((arg === undefined) === !all) {
    throw new CliError('usage', 'name one SESSION or pass --all', {
      hint: '`wfstate sessions list` shows the session ids',
    });
  }
  const open = await openReadOnly(env);
  try {
    if (arg !== undefined) return [(await findSession(open.storage, arg)).stream];
    return await sessionStreams(open);
  } finally {
    await open.close();
  }
}

/** Every session's stream, oldest first. */
async function sessionStreams(open: ReadOnlyStore): Promise<string[]> {
  const sessions = new SessionRepository(open.storage.db);
  const streams: string[] = [];
  for (let offset = 0; ; offset += 500) {
    const page = await sessions.list({ limit: 500, offset });
    streams.push(...page.map((s) => s.stream));
    if (page.length < 500) break;
  }
  return streams.reverse();
}

function createdTable(created: readonly CreatedSnapshotJson[]): string {
  return table(
    ['id', 'stream', 'kind', 'base', 'version', 'position', 'size', 'events folded'],
    created.map((s) => [
      s.id,
      s.stream,
      s.kind,
      s.baseId ?? '-',
      formatCount(s.streamVersion),
      formatCount(s.position),
      formatBytes(s.sizeBytes),
      formatCount(s.eventsSinceLast),
    ]),
  );
}

/** `wfstate snapshot create|list|verify|prune`. */
export const snapshotCommand: CommandDefinition = {
  name: 'snapshot',
  register(program, runtime) {
    const snapshot: Command = program
      .command('snapshot')
      .description('snapshots of session states: create, list, verify, prune')
      .addHelpText(
        'after',
        examples(
          'wfstate snapshot create 20250817T194800Z_001',
          'wfstate snapshot list',
          'wfstate snapshot verify',
          'wfstate snapshot prune --yes',
        ),
      );

    const create = runtime
      .common(snapshot.command('create'))
      .argument('[session]', 'session id (or --all)')
      .option('--all', 'every session')
      .option('--full', 'a full snapshot (default: full or a delta from the last full one)')
      .description("a snapshot of a session's current state, written with its marker event")
      .addHelpText(
        'after',
        `${examples('wfstate snapshot create 20250817T194800Z_001 --full', 'wfstate snapshot create --all --json')}
While the daemon runs, the snapshots are written by it (its API); otherwise wfstate
takes the writer lock.
`,
      );
    runtime.bind<CreateOptions>(create, async (env, options, [arg]) => {
      const streams = await targetStreams(env, arg, options.all === true);
      const kind = options.full === true ? ('full' as const) : undefined;
      const daemon = runningDaemon(env);
      let created: CreatedSnapshotJson[] = [];
      if (daemon !== undefined) {
        if (streams.length > 0) {
          ({ snapshots: created } = await daemon.request<{ snapshots: CreatedSnapshotJson[] }>(
            'POST',
            '/v1/admin/snapshots',
            { streams, ...(kind === undefined ? {} : { kind }) },
          ));
        }
      } else {
        const open = await openWritable(env);
        try {
          const snapshots = createSnapshotStore(open.store);
          const progress = env.progress('snapshots', streams.length);
          for (const [i, stream] of streams.entries()) {
            const made = await snapshots.create(stream, {
              reason: 'manual',
              ...(kind === undefined ? {} : { kind }),
            });
            created.push(createdSnapshotJson(made));
            progress.update(i + 1);
          }
          progress.stop();
        } finally {
          await open.close();
        }
      }
      const via = daemon === undefined ? 'writer' : 'daemon';
      return {
        json: { created, via },
        text:
          created.length === 0
            ? 'no session to snapshot'
            : `${formatCount(created.length)} snapshot(s) written${daemon === undefined ? '' : ` by the daemon (pid ${daemon.pid})`}\n${createdTable(created)}`,
      };
    });

    const list = runtime
      .common(snapshot.command('list'))
      .argument('[session]', 'only this session')
      .description('the snapshots stored, by stream, newest first (read-only)')
      .addHelpText(
        'after',
        examples('wfstate snapshot list', 'wfstate snapshot list 20250817T194800Z_001 --json'),
      );
    runtime.bind<CommonOptions>(list, async (env, _options, [arg]) => {
      const open = await openReadOnly(env);
      try {
        const snapshots = createSnapshotStore(open.store);
        let infos: SnapshotInfo[];
        if (arg === undefined) {
          infos = [...(await snapshots.repository.all()).values()].flat();
        } else {
          infos = await snapshots.repository.list((await findSession(open.storage, arg)).stream);
        }
        const rows = infos.map(infoJson);
        return {
          json: { snapshots: rows },
          text:
            infos.length === 0
              ? 'no snapshots'
              : table(
                  ['id', 'stream', 'kind', 'base', 'version', 'position', 'size', 'created'],
                  infos.map((s) => [
                    s.id,
                    s.stream,
                    s.kind,
                    s.baseSnapshotId ?? '-',
                    formatCount(s.streamVersion),
                    formatCount(s.position),
                    formatBytes(s.sizeBytes),
                    formatTime(s.createdUs),
                  ]),
                ),
        };
      } finally {
        await open.close();
      }
    });

    const verify = runtime
      .common(snapshot.command('verify'))
      .description(
        'check every snapshot: checksum, decoding, header, against the log, its base (read-only)',
      )
      .addHelpText(
        'after',
        `${examples('wfstate snapshot verify', 'wfstate snapshot verify --json')}
Exits 5 when a snapshot is bad, naming each (id, stream, reason). A bad snapshot is never
loaded: loads fall back to an older one or to a full replay; \`wfstate snapshot prune\`
or \`wfstate repair\` remove it.
`,
      );
    runtime.bind<CommonOptions>(verify, async (env) => {
      const open = await openReadOnly(env);
      try {
        const report = await createSnapshotStore(open.store).verify();
        const ok = report.bad.length === 0;
        return {
          json: { ok, checked: report.checked, valid: report.valid, bad: report.bad },
          exitCode: ok ? EXIT_CODES.ok : EXIT_CODES.check_failed,
          text: ok
            ? `${formatCount(report.checked)} snapshot(s) checked: all valid`
            : `${formatCount(report.checked)} snapshot(s) checked: ${formatCount(report.bad.length)} bad\n${table(
                ['id', 'stream', 'reason', 'message'],
                report.bad.map((b) => [b.id, b.stream, b.reason, b.message]),
              )}`,
        };
      } finally {
        await open.close();
      }
    });

    const prune = runtime
      .common(snapshot.command('prune'))
      .argument('[session]', 'only this session')
      .option('-y, --yes', 'do not ask for confirmation')
      .description(
        'retention: keep the last full snapshots of each stream and their deltas, delete the rest',
      )
      .addHelpText(
        'after',
        `${examples('wfstate snapshot prune --yes', 'wfstate snapshot prune 20250817T194800Z_001 --yes --json')}
Never deletes the snapshot a load would use now, nor the newest of all. Asks for
confirmation on a terminal; scripts pass --yes. Goes through the daemon's API while it runs.
`,
      );
    runtime.bind<PruneOptions>(prune, async (env, options, [arg]) => {
      let stream: string | undefined;
      if (arg !== undefined) [stream] = await targetStreams(env, arg, false);
      await requireConfirmation(
        env,
        options.yes,
        `delete old snapshots of ${stream ?? 'every stream'}`,
        'prune',
      );
      const daemon = runningDaemon(env);
      let report: { deleted: readonly number[]; kept: number };
      if (daemon !== undefined) {
        report = await daemon.request<PruneReport>(
          'POST',
          '/v1/admin/snapshots/prune',
          stream === undefined ? {} : { stream },
        );
      } else {
        const open = await openWritable(env);
        try {
          report = await createSnapshotStore(open.store).prune(stream);
        } finally {
          await open.close();
        }
      }
      return {
        json: {
          deleted: report.deleted,
          kept: report.kept,
          via: daemon === undefined ? 'writer' : 'daemon',
        },
        text: `deleted ${formatCount(report.deleted.length)} snapshot(s)${report.deleted.length === 0 ? '' : ` (${report.deleted.join(', ')})`}, kept ${formatCount(report.kept)}`,
      };
    });
  },
};
