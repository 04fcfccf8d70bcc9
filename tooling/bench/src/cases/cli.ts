/**
 * The `wfstate` command-line tool on a one-hour 60 Hz session (by default): export,
 * verify and backup, each run as the built CLI in a child process (start-up included,
 * as a user runs it), against baselines measured in the same round on the same file:
 * reading every event with storage-sqlite's `readAll` in process (for export and
 * verify) and copying the database file (for backup).
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { sessionStream } from '@wirthforge/events';
import { simulateSession } from '@wirthforge/simulator';

import { perSecond, type BenchCase, ratioMetric } from '../bench-case.js';
import { loadEventStore } from './eventstore.js';

/** The built CLI (apps/cli); a case that finds it missing fails, the others still run. */
export const CLI_MAIN = fileURLToPath(
  new URL('../../../../apps/cli/dist/main.js', import.meta.url),
);

/** Events per commit while the session is recorded: one 60 Hz frame's worth, as the recorder commits. */
const RECORD_BATCH = 60;

/** Runs the CLI; rejects with its stderr when it exits non-zero. */
export function runCliProcess(args: readonly string[]): Promise<{ ms: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI_MAIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.once('error', reject);
    child.once('close', (code) => {
      const ms = performance.now() - started;
      if (code === 0) resolve({ ms, stdout });
      else reject(new Error(`wfstate ${args[0]} exited ${code}: ${stderr.trim()}`));
    });
  });
}

/** Records a simulated session through the event store (session and user rows included). */
async function recordSession(
  dir: string,
  minutes: number,
  seed: number,
): Promise<{ sessionId: string; events: number }> {
  const { openSqliteStorage } = await import('@wirthforge/storage-sqlite');
  const { createEventStore } = await loadEventStore();
  const session = simulateSession({ seed, durationSeconds: minutes * 60 });
  const storage = await openSqliteStorage({ path: join(dir, 'state.db'), synchronous: 'normal' });
  const store = createEventStore({ storage });
  const stream = sessionStream(session.sessionId);
  let events = 0;
  try {
    let batch: Parameters<typeof store.prepareAppend>[1][number][] = [];
    const pending: Promise<unknown>[] = [];
    for (const frame of session) {
      for (const event of frame.events) batch.push(event);
      if (batch.length >= RECORD_BATCH) {
        events += batch.length;
        pending.push(store.commitBatch([store.prepareAppend(stream, batch)]));
        batch = [];
        if (pending.length >= 4) await pending.shift();
      }
    }
    if (batch.length > 0) {
      events += batch.length;
      pending.push(store.commitBatch([store.prepareAppend(stream, batch)]));
    }
    await Promise.all(pending);
    await storage.checkpoint('truncate');
  } finally {
    await store.close();
  }
  return { sessionId: session.sessionId, events };
}

/**
 * Reads every event through storage-sqlite's `readAll` (hot rows and sealed segments, in
 * position order), in this process: the floor any reading command stands on.
 */
async function storageReadRate(file: string): Promise<{ events: number; ms: number }> {
  const { openSqliteReadOnlyStorage } = await import('@wirthforge/storage-sqlite');
  const storage = await openSqliteReadOnlyStorage({ path: file });
  try {
    const started = performance.now();
    let events = 0;
    for await (const event of storage.readAll()) if (event.position > 0n) events++;
    return { events, ms: performance.now() - started };
  } finally {
    await storage.close();
  }
}

/**
 * `cli.export_events_per_s` (NDJSON of the whole session to a file, content redacted),
 * `cli.verify_events_per_s` (`verify`: integrity, checksums, gaps, energy conservation,
 * session totals), `cli.backup_mb_per_s` (`backup`: VACUUM INTO, verify, gzip, read
 * back; database MB per second), with `cli.read_baseline_events_per_s` and
 * `cli.copy_baseline_mb_per_s` measured on the same file in the same round.
 */
export const cliCase: BenchCase = {
  name: 'cli',
  description:
    'wfstate export / verify / backup on a recorded 60 Hz session, against raw reads and a file copy',
  derived: [
    ratioMetric(
      'cli.export_vs_raw_read',
      'cli.export_events_per_s',
      'cli.read_baseline_events_per_s',
    ),
    ratioMetric(
      'cli.verify_vs_raw_read',
      'cli.verify_events_per_s',
      'cli.read_baseline_events_per_s',
    ),
    ratioMetric('cli.backup_vs_copy', 'cli.backup_mb_per_s', 'cli.copy_baseline_mb_per_s'),
  ],
  async run(ctx) {
    if (!existsSync(CLI_MAIN))
      throw new Error(
        `the CLI is not built (${CLI_MAIN}); run pnpm --filter @wirthforge/cli build`,
      );
    const { sizeMinutes, seed } = ctx.options;
    const dir = ctx.tempPath('cli-data');
    const out = ctx.tempPath('cli-out');
    mkdirSync(dir, { recursive: true });
    mkdirSync(out, { recursive: true });
    try {
      ctx.log(`cli: recording a ${sizeMinutes}-minute 60 Hz session`);
      const { sessionId, events } = await recordSession(dir, sizeMinutes, seed);
      const file = join(dir, 'state.db');
      const mb = statSync(file).size / 1e6;
      const note = `${sizeMinutes}-minute 60 Hz session, ${events.toLocaleString('en-US')} events, ${mb.toFixed(1)} MB; the CLI as a child process, start-up included`;

      const raw = await storageReadRate(file);
      if (raw.events !== events)
        throw new Error(`raw read found ${raw.events} events, expected ${events}`);
      const copyStarted = performance.now();
      copyFileSync(file, join(out, 'copy.db'));
      const copyMs = performance.now() - copyStarted;

      ctx.log('cli: export');
      const exported = await runCliProcess([
        'export',
        sessionId,
        '--format',
        'ndjson',
        '-o',
        join(out, 'export.ndjson'),
        '--json',
        '--data-dir',
        dir,
      ]);
      const exportReport = JSON.parse(exported.stdout) as { events: number };
      if (exportReport.events !== events)
        throw new Error(`export wrote ${exportReport.events} events, expected ${events}`);

      ctx.log('cli: verify');
      const verified = await runCliProcess(['verify', '--json', '--data-dir', dir]);
      const verifyReport = JSON.parse(verified.stdout) as { ok: boolean; eventsChecked: number };
      if (!verifyReport.ok || verifyReport.eventsChecked !== events) {
        throw new Error(
          `verify: ok ${verifyReport.ok}, ${verifyReport.eventsChecked} events checked of ${events}`,
        );
      }

      ctx.log('cli: backup');
      const backedUp = await runCliProcess([
        'backup',
        join(out, 'backup.db.gz'),
        '--json',
        '--data-dir',
        dir,
      ]);
      const backupReport = JSON.parse(backedUp.stdout) as {
        verified: boolean;
        databaseBytes: number;
      };
      if (!backupReport.verified) throw new Error('backup not verified');

      return [
        {
          name: 'cli.read_baseline_events_per_s',
          value: perSecond(raw.events, raw.ms),
          unit: 'events/s',
          better: 'higher',
          note: 'storage-sqlite readAll of every event of the same file, in process',
        },
        {
          name: 'cli.export_events_per_s',
          value: perSecond(events, exported.ms),
          unit: 'events/s',
          better: 'higher',
          note,
        },
        {
          name: 'cli.verify_events_per_s',
          value: perSecond(events, verified.ms),
          unit: 'events/s',
          better: 'higher',
          note,
        },
        {
          name: 'cli.copy_baseline_mb_per_s',
          value: perSecond(mb, copyMs),
          unit: 'MB/s',
          better: 'higher',
          note: 'copyFileSync of the same database file',
        },
        {
          name: 'cli.backup_mb_per_s',
          value: perSecond(mb, backedUp.ms),
          unit: 'MB/s',
          better: 'higher',
          note: `${note}; VACUUM INTO, integrity check, gzip, read back`,
        },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  },
};
