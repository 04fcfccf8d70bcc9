/**
 * The daemon's archive and retention job: ended sessions move into the data directory's
 * monthly archive partitions (`@wirthforge/archive`), then the retention policy, when one
 * is configured, deletes whole partitions. The work runs on a worker thread of its own
 * (better-sqlite3 is synchronous; copying segments and `VACUUM` must not stall ingest),
 * through its own connections: SQLite serialises its short write transactions with the
 * writer's, and the writer's state does not depend on the segments it moves. The first
 * run also finishes any move a crash interrupted.
 *
 * Settings (environment): `WF_ARCHIVE_INTERVAL_MS` (default one hour; 0 turns the job
 * off), `WF_ARCHIVE_MIN_AGE_DAYS` (default 1), and the retention policy
 * `WF_RETENTION_MAX_AGE_DAYS`, `WF_RETENTION_MAX_BYTES`, `WF_RETENTION_MAX_PARTITIONS`
 * (none by default: nothing is deleted unless the user asks).
 */
import { Worker } from 'node:worker_threads';

import type { RetentionPolicy } from '@wirthforge/archive';
import type { Logger } from 'pino';

import type { ScheduledJob } from './scheduler.js';

/** What {@link archiveJobs} needs. */
export interface ArchiveJobOptions {
  readonly databasePath: string;
  readonly logger: Logger;
  /** Where the settings come from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

const HOUR_MS = 3_600_000;
/** The first run (which also finishes interrupted moves) comes this soon after start. */
const FIRST_RUN_MS = 5_000;

/** The worker's program: one archive run and, with a policy, one retention pass. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { openArchive } = await import(workerData.archiveUrl);
  const archive = openArchive({ databasePath: workerData.databasePath });
  try {
    const run = archive.run({ minAgeMs: workerData.minAgeMs });
    const retention = workerData.policy === undefined ? undefined : archive.applyRetention(workerData.policy);
    parentPort.postMessage({ ok: true, run, retention });
  } finally {
    archive.close();
  }
})().catch((error) => parentPort.postMessage({ ok: false, message: String(error && error.message || error) }));
`;

function numberSetting(
  env: Readonly<Record<string, string | undefined>>,
  name: string,
): number | undefined {
  const value = env[name];
  if (value === undefined || value === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new Error(`${name}: expected a non-negative number, got ${value}`);
  return n;
}

interface WorkerReply {
  readonly ok: boolean;
  readonly message?: string;
  readonly run?: { moved: { events: number }[]; resumed: number };
  readonly retention?: { deleted: { partition: string }[] };
}

/**
 * The archive job, in a list (empty when turned off or misconfigured, which is logged).
 *
 * @example
 * ```ts
 * for (const job of archiveJobs({ databasePath, logger })) scheduler.add(job);
 * ```
 */
export function archiveJobs(options: ArchiveJobOptions): ScheduledJob[] {
  const env = options.env ?? process.env;
  let intervalMs: number;
  let minAgeDays: number;
  let policy: RetentionPolicy | undefined;
  try {
    intervalMs = numberSetting(env, 'WF_ARCHIVE_INTERVAL_MS') ?? HOUR_MS;
    minAgeDays = numberSetting(env, 'WF_ARCHIVE_MIN_AGE_DAYS') ?? 1;
    const maxAgeDays = numberSetting(env, 'WF_RETENTION_MAX_AGE_DAYS');
    const maxTotalBytes = numberSetting(env, 'WF_RETENTION_MAX_BYTES');
    const maxPartitions = numberSetting(env, 'WF_RETENTION_MAX_PARTITIONS');
    const given = {
      ...(maxAgeDays === undefined ? {} : { maxAgeDays }),
      ...(maxTotalBytes === undefined ? {} : { maxTotalBytes }),
      ...(maxPartitions === undefined ? {} : { maxPartitions }),
    };
    policy = Object.keys(given).length === 0 ? undefined : given;
  } catch (error) {
    options.logger.error({ err: error }, 'archival is off: its settings are not valid');
    return [];
  }
  if (intervalMs === 0) return [];
  const archiveUrl = import.meta.resolve('@wirthforge/archive');
  return [
    {
      name: 'archive',
      intervalMs,
      firstRunMs: Math.min(intervalMs, FIRST_RUN_MS),
      run: (signal) =>
        new Promise((resolve, reject) => {
          const worker = new Worker(WORKER_SOURCE, {
            eval: true,
            workerData: {
              archiveUrl,
              databasePath: options.databasePath,
              minAgeMs: minAgeDays * 86_400_000,
              policy,
            },
          });
          // A stop waits for the run in progress: each of its steps is crash-safe anyway.
          const onAbort = (): void => options.logger.info('archive run finishing before stop');
          signal.addEventListener('abort', onAbort, { once: true });
          let reply: WorkerReply | undefined;
          worker.once('message', (message: WorkerReply) => (reply = message));
          worker.once('error', reject);
          worker.once('exit', () => {
            signal.removeEventListener('abort', onAbort);
            if (reply?.ok === true) {
              resolve({
                sessionsMoved: reply.run?.moved.length ?? 0,
                eventsMoved: reply.run?.moved.reduce((sum, m) => sum + m.events, 0) ?? 0,
                resumed: reply.run?.resumed ?? 0,
                partitionsDeleted: reply.retention?.deleted.map((d) => d.partition) ?? [],
              });
            } else {
              reject(new Error(`archive run failed: ${reply?.message ?? 'the worker exited'}`));
            }
          });
        }),
    },
  ];
}
