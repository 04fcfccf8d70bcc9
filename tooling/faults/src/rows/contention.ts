import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DaemonClient } from '@wirthforge/daemon';
import { openSqliteReadOnlyStorage } from '@wirthforge/storage-sqlite';
import { type FaultRow } from '../fault-row.js';
import {
  CLI_MAIN,
  api,
  checkLog,
  killChild,
  sh,
  spawnDaemon,
  startChild,
  tempDir,
  waitDaemonReady,
} from '../fault-harness.js';
import { sessionEvents } from './crash-daemon.js';

/**
 * A second `wfstated` on the same data directory is refused (exit 3, naming the first),
 * and the first goes on. Then ingest at full speed over HTTP (two clients, each its own
 * session, batches of 120) while a reader in this process pages through the whole log again and again and
 * `wfstate verify --json` runs in a loop: every read gap-free and growing, every verify
 * clean, no ingest request refused, the WAL's largest size reported.
 */
export const contentionRow: FaultRow = {
  id: 'contention',
  fault: 'a second daemon; readers (CLI verify, paged reads) during full-speed ingest',
  async run(ctx, result) {
    const tmp = tempDir('contention');
    const first = spawnDaemon(tmp.dir, ['--sync', 'full']);
    try {
      const base = await waitDaemonReady(tmp.dir, first);
      const attempts = ctx.long ? 5 : 2;
      for (let i = 0; i < attempts; i++) {
        const second = spawnDaemon(tmp.dir);
        const exit = await second.closed;
        result.runs += 1;
        if (exit.code !== 3)
          result.problems.push(`second daemon exited ${String(exit.code)}, not 3 (locked)`);
        if (!second.stderr.includes(String(first.process.pid))) {
          result.problems.push(
            `second daemon's message does not name the first (pid ${first.process.pid}): ${second.stderr.slice(0, 300)}`,
          );
        }
        if (i === 0)
          result.notes.push(
            `second daemon: exit ${String(exit.code)}: ${second.stderr.trim().split('\n')[0]?.slice(0, 200) ?? ''}`,
          );
        if ((await api(base, 'GET', '/readyz')).status !== 200)
          result.problems.push('the first daemon stopped answering');
      }
      const client = new DaemonClient(base);
      const seconds = ctx.long ? 120 : 10;
      const acked = new Map<string, bigint>();
      let refused = 0;
      let done = false;
      const path = join(tmp.dir, 'state.db');
      // One client per session: the batches of one session are sent in order, as a
      // producer does (two concurrent requests to one session have no order between them).
      const writer = async (): Promise<void> => {
        const session = await client.startSession({ userId: 'ada' });
        const events = sessionEvents(session, seconds * 3, 11);
        for (let next = 0; next < events.length; next += 120) {
          const batch = events.slice(next, next + 120);
          try {
            const r = await client.ingest(session, batch);
            batch.forEach((e, j) => acked.set(e.event_id!, BigInt(r.positions[j]!)));
          } catch (error) {
            refused += 1;
            if (refused < 4)
              result.problems.push(`ingest refused under contention: ${String(error)}`);
          }
        }
      };
      let walMax = 0;
      let reads = 0;
      let lastHead = 0n;
      const reader = async (): Promise<void> => {
        while (!done) {
          const storage = await openSqliteReadOnlyStorage({ path });
          try {
            let expected = 1n;
            for await (const record of storage.readAll()) {
              if (record.position !== expected) {
                result.problems.push(
                  `reader saw position ${record.position} after ${expected - 1n}`,
                );
                break;
              }
              expected += 1n;
              // A page read resolves without a macrotask; give the HTTP clients their turn.
              if (expected % 1000n === 0n) await new Promise((resolve) => setImmediate(resolve));
            }
            if (expected - 1n < lastHead)
              result.problems.push(`reader's head went back from ${lastHead} to ${expected - 1n}`);
            lastHead = expected - 1n;
            reads += 1;
          } finally {
            await storage.close();
          }
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (existsSync(`${path}-wal`)) walMax = Math.max(walMax, statSync(`${path}-wal`).size);
        }
      };
      let verifies = 0;
      const cli = async (): Promise<void> => {
        while (!done) {
          const child = startChild(process.execPath, [
            CLI_MAIN,
            'verify',
            '--json',
            '--data-dir',
            tmp.dir,
          ]);
          const exit = await child.closed;
          verifies += 1;
          if (exit.code !== 0)
            result.problems.push(
              `wfstate verify during ingest: exit ${String(exit.code)} ${child.stdout.slice(0, 300)} ${child.stderr.slice(0, 300)}`,
            );
        }
      };
      const started = performance.now();
      const loads = [reader(), cli()];
      await Promise.all([writer(), writer()]);
      const elapsed = (performance.now() - started) / 1000;
      done = true;
      await Promise.all(loads);
      result.runs += verifies + reads;
      result.acknowledged = acked.size;
      const final = sh(process.execPath, [
        CLI_MAIN,
        'verify',
        '--deep',
        '--json',
        '--data-dir',
        tmp.dir,
      ]);
      if (final.status !== 0)
        result.problems.push(
          `verify --deep after the run: exit ${String(final.status)} ${final.stdout.slice(0, 300)}`,
        );
      first.process.kill('SIGTERM');
      await first.closed;
      const check = await checkLog(path, acked);
      result.lost = check.lost;
      result.duplicated = check.duplicated;
      result.problems.push(...check.problems);
      result.notes.push(
        `${acked.size} events ingested in ${elapsed.toFixed(1)} s (${Math.round(acked.size / elapsed)} events/s) by two HTTP clients; ${refused} requests refused`,
        `meanwhile ${reads} full paged reads (each gap-free, heads never going back) and ${verifies} \`wfstate verify --json\` runs, all clean`,
        `largest WAL seen: ${(walMax / 1024 / 1024).toFixed(2)} MiB (journal_size_limit 64 MiB, wal_autocheckpoint 1000 pages)`,
      );
      if (walMax > 64 * 1024 * 1024)
        result.problems.push(`the WAL grew to ${walMax} bytes: checkpoints starved`);
    } finally {
      await killChild(first);
      tmp.remove();
    }
  },
};
