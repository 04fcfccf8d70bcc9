import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommonOptions } from '../cli-runtime.js';
import { formatBytes, formatCount, formatTime, keyValues } from '../format-text.js';
import { openReadOnly } from '../open-store.js';
import { describeLock, writerLockState } from '../writer-lock.js';

function size(path: string): number {
  return existsSync(path) ? statSync(path).size : 0;
}

/** Total size of the files under a directory (0 when missing). */
export function directorySize(dir: string): { files: number; bytes: number } {
  if (!existsSync(dir)) return { files: 0, bytes: 0 };
  let files = 0;
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    files++;
    bytes += statSync(join(entry.parentPath, entry.name)).size;
  }
  return { files, bytes };
}

/** `wfstate status`: sizes, sessions, events, last snapshot, health, daemon. */
export const statusCommand: CommandDefinition = {
  name: 'status',
  register(program, runtime) {
    const command = runtime
      .common(program.command('status'))
      .description(
        'database, WAL, snapshot and archive sizes; sessions; events; last snapshot; health; whether the daemon runs',
      )
      .addHelpText('after', examples('wfstate status', 'wfstate status --json | jq .sessions'));
    runtime.bind<CommonOptions>(command, async (env) => {
      const { database, dir } = env.dataDir;
      const open = await openReadOnly(env);
      try {
        const c = open.storage.connection;
        const one = <T>(sql: string): T => c.prepare(sql).get() as T;
        const sessions = c
          .prepare('select status, count(*) as n from sessions group by status')
          .all() as { status: string; n: number }[];
        const byStatus = { active: 0, ended: 0, recovered: 0 } as Record<string, number>;
        for (const r of sessions) byStatus[r.status] = r.n;
        const events = one<{ n: number; first: number | null; last: number | null }>(
          'select count(*) as n, min(timestamp_us) as first, max(timestamp_us) as last from events',
        );
        const snapshots = one<{ n: number; bytes: number | null; last: number | null }>(
          'select count(*) as n, sum(size_bytes) as bytes, max(created_us) as last from snapshots',
        );
        const segments = one<{
          n: number;
          bytes: number | null;
          events: number | null;
          first: number | null;
          last: number | null;
        }>(
          'select count(*) as n, sum(length(data)) as bytes, sum(event_count) as events, min(first_us) as first, max(last_us) as last from segments',
        );
        const sealedEvents = segments.events ?? 0;
        const firstUs = [events.first, segments.first].filter((v): v is number => v !== null);
        const lastUs = [events.last, segments.last].filter((v): v is number => v !== null);
        const spanFirst = firstUs.length === 0 ? null : Math.min(...firstUs);
        const spanLast = lastUs.length === 0 ? null : Math.max(...lastUs);
        const quick = c.pragma('quick_check', { simple: true }) as string;
        const head = await open.storage.headPosition();
        const lock = writerLockState(database);
        const daemonRunning = lock.present && lock.alive !== false;
        const unfinished = daemonRunning ? 0 : (byStatus.active ?? 0);
        const healthProblems: string[] = [];
        if (quick !== 'ok') healthProblems.push(`quick_check: ${quick}`);
        if (unfinished > 0) {
          healthProblems.push(
            `${unfinished} session(s) still marked active with no writer running (crashed; recovery closes them)`,
          );
        }
        const archive = directorySize(join(dir, 'archive'));
        const files = {
          database: size(database),
          wal: size(`${database}-wal`),
          shm: size(`${database}-shm`),
        };
        const json = {
          dataDir: dir,
          database,
          schemaVersion: open.storage.schemaVersion,
          files,
          snapshots: {
            count: snapshots.n,
            bytes: snapshots.bytes ?? 0,
            lastCreatedAt:
              snapshots.last === null ? null : new Date(snapshots.last / 1000).toISOString(),
          },
          segments: { count: segments.n, bytes: segments.bytes ?? 0, events: segments.events ?? 0 },
          archive,
          sessions: {
            total: byStatus.active! + byStatus.ended! + byStatus.recovered!,
            ...byStatus,
          },
          events: {
            headPosition: head,
            stored: events.n + sealedEvents,
            hot: events.n,
            sealed: sealedEvents,
            firstAt: spanFirst === null ? null : new Date(spanFirst / 1000).toISOString(),
            lastAt: spanLast === null ? null : new Date(spanLast / 1000).toISOString(),
          },
          health: { ok: healthProblems.length === 0, quickCheck: quick, problems: healthProblems },
          daemon: { running: daemonRunning, lock },
        };
        const text = keyValues([
          ['data directory', dir],
          [
            'database',
            `${formatBytes(files.database)} (WAL ${formatBytes(files.wal)}), schema v${open.storage.schemaVersion}`,
          ],
          [
            'snapshots',
            `${formatCount(snapshots.n)} (${formatBytes(snapshots.bytes ?? 0)}), last ${formatTime(snapshots.last)}`,
          ],
          ['segments', `${formatCount(segments.n)} (${formatBytes(segments.bytes ?? 0)})`],
          ['archive', `${formatCount(archive.files)} file(s), ${formatBytes(archive.bytes)}`],
          [
            'sessions',
            `${formatCount(json.sessions.total)} (${byStatus.active} active, ${byStatus.ended} ended, ${byStatus.recovered} recovered)`,
          ],
          [
            'events',
            `${formatCount(events.n + sealedEvents)} stored (${formatCount(sealedEvents)} sealed in segments), head position ${formatCount(head)}`,
          ],
          ['time span', `${formatTime(spanFirst)} .. ${formatTime(spanLast)}`],
          ['health', healthProblems.length === 0 ? 'ok' : healthProblems.join('; ')],
          ['daemon', describeLock(lock)],
        ]);
        return { json, text };
      } finally {
        await open.close();
      }
    });
  },
};
