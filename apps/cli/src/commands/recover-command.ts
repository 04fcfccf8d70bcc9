import { SessionRepository } from '@wirthforge/storage';
import { createSnapshotStore, recoverSession } from '@wirthforge/snapshots';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { runningDaemon } from '../daemon-api.js';
import { CliError } from '../errors.js';
import { formatCount, formatNumber, table } from '../format-text.js';
import { openReadOnly, openWritable } from '../open-store.js';
import { findSession } from '../session-arg.js';

interface RecoverOptions extends CommonOptions {
  readonly resume?: boolean;
}

/** `wfstate recover [SESSION]`. */
export const recoverCommand: CommandDefinition = {
  name: 'recover',
  register(program, runtime) {
    const command = runtime
      .common(program.command('recover'))
      .argument('[session]', 'only this session (default: every session without a clean end)')
      .option('--resume', 'leave the recovered sessions active instead of closing them')
      .description(
        'rebuild sessions left open by a crash from their newest valid snapshot plus the events after it, and close them',
      )
      .addHelpText(
        'after',
        `${examples('wfstate recover', 'wfstate recover 20250817T194800Z_001 --json')}
Each session without a clean end gets a session.recovered event saying where its state
came from (snapshot id or full replay) and how many events were replayed, then its
status becomes "recovered" (or stays active with --resume), and a full snapshot of it is
written. Corrupt snapshots on the way are named and skipped. Needs the writer lock: a
running daemon recovers such sessions itself when it starts, and the sessions open while
it runs are being recorded by it.
`,
      );
    runtime.bind<RecoverOptions>(command, async (env, options, [arg]) => {
      let sessionId: string | undefined;
      let active: string[] = [];
      {
        const open = await openReadOnly(env);
        try {
          if (arg !== undefined) sessionId = (await findSession(open.storage, arg)).sessionId;
          active = (await new SessionRepository(open.storage.db).listActive()).map(
            (s) => s.sessionId,
          );
        } finally {
          await open.close();
        }
      }
      const daemon = runningDaemon(env);
      if (daemon !== undefined) {
        if (sessionId !== undefined && active.includes(sessionId)) {
          throw new CliError(
            'locked',
            `session ${sessionId} is open in the running daemon (wfstated, pid ${daemon.pid}), which records it`,
            {
              hint: `end it through the daemon (POST /v1/sessions/${sessionId}/end), or stop the daemon: it ends its sessions cleanly, and recovers those left open when it starts`,
            },
          );
        }
        return {
          json: { recovered: [], via: 'daemon', daemonPid: daemon.pid, active },
          text: `nothing to recover: the daemon (pid ${daemon.pid}) recovered the sessions left open when it started; ${formatCount(active.length)} session(s) open now are being recorded by it`,
        };
      }
      if (sessionId !== undefined && !active.includes(sessionId)) {
        return {
          json: { recovered: [], via: 'writer' },
          text: `nothing to recover: session ${sessionId} is not open (it ended or was recovered)`,
        };
      }
      const open = await openWritable(env);
      try {
        const snapshots = createSnapshotStore(open.store);
        const then = options.resume === true ? 'resume' : 'close';
        // As recoverSessions does it (private sessions never reach the log), one at a time
        // so the progress bar follows and SESSION can name one.
        const targets = (await open.store.openSessions()).filter(
          (s) => !s.private && (sessionId === undefined || s.sessionId === sessionId),
        );
        const progress = env.progress('recovering', targets.length);
        const recovered = [];
        for (const target of targets) {
          recovered.push(await recoverSession(snapshots, target, { then }));
          progress.update(recovered.length);
        }
        progress.stop();
        const rows = recovered.map((r) => ({
          sessionId: r.sessionId,
          stream: r.stream,
          outcome: r.outcome,
          snapshotId: r.snapshotId,
          eventsReplayed: r.eventsReplayed,
          version: Number(r.state.version),
          hash: r.hash,
          rejected: r.rejected,
          recoveredPosition: Number(r.recoveredPosition),
          recoveryMs: r.recoveryMs,
          snapshot: r.snapshot === undefined ? null : r.snapshot.id,
        }));
        return {
          json: { recovered: rows, via: 'writer' },
          text:
            rows.length === 0
              ? 'nothing to recover: every session ended cleanly'
              : `recovered ${formatCount(rows.length)} session(s)\n${table(
                  ['session', 'outcome', 'from', 'replayed', 'bad snapshots', 'ms', 'state hash'],
                  rows.map((r) => [
                    r.sessionId,
                    r.outcome,
                    r.snapshotId === null ? 'full replay' : `snapshot ${r.snapshotId}`,
                    formatCount(r.eventsReplayed),
                    r.rejected.length === 0
                      ? '-'
                      : r.rejected.map((b) => `${b.id} (${b.reason})`).join(', '),
                    formatNumber(r.recoveryMs, 1),
                    r.hash.slice(0, 16),
                  ]),
                )}`,
        };
      } finally {
        await open.close();
      }
    });
  },
};
