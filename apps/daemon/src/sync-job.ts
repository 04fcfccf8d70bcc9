/**
 * The daemon's periodic sync with a hub: opt-in. It runs only when the user configured
 * both a hub URL and an interval (`url` and `intervalMs` in
 * `$XDG_CONFIG_HOME/wirthforge/sync.json`, or `WF_SYNC_URL` and `WF_SYNC_INTERVAL_MS`);
 * otherwise nothing leaves the device. Each run pushes this device's sessions, then pulls
 * the others', through the daemon's own store (its only writer). A session purged on
 * another device goes from here as the daemon's own purge removes it: its archived
 * segments first (on a worker thread), then its rows beside the writer. Logs name the hub
 * by its URL without the password.
 */
import type { EventStore } from '@wirthforge/eventstore';
import { openSyncHub, resolveSyncConfig, syncOnce } from '@wirthforge/sync';
import type { LocalStore } from '@wirthforge/sync';
import type { Logger } from 'pino';

import { deleteStreamsBesideWriter, purgeArchivedOffThread } from './purge-beside-writer.js';
import type { ScheduledJob } from './scheduler.js';

/** What {@link syncJobs} needs. */
export interface SyncJobOptions {
  readonly store: EventStore;
  /** The local storage's Kysely (the sync checkpoints live in its metadata). */
  readonly db: LocalStore['db'];
  readonly logger: Logger;
  /** Where the settings come from (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * The SQLite file of the store (default: the path of the store's storage), whose rows
   * and archived segments a purge pulled from the hub deletes.
   */
  readonly databasePath?: string;
}

/** The audit actor of a purge that reached the daemon through a pull. */
const PURGE_ACTOR = 'wfstate daemon sync';

/**
 * What a pulled purge runs here: the archived segments of the streams first (the live
 * deletion removes the stream rows naming them), then the rows, each off the main thread.
 * Undefined when the store is not a SQLite file: the pull then refuses the purge, naming it.
 */
function purgeStreamsOf(options: SyncJobOptions): LocalStore['purgeStreams'] {
  const path =
    options.databasePath ?? (options.store.storage as { path?: unknown } | undefined)?.path;
  if (typeof path !== 'string') return undefined;
  return async (streams) => {
    await purgeArchivedOffThread(path, streams);
    await deleteStreamsBesideWriter(path, streams, { actor: PURGE_ACTOR });
  };
}

/** The first run comes this soon after start (or after one interval, if shorter). */
const FIRST_RUN_MS = 10_000;

/**
 * The sync job, in a list: empty when sync is not configured (the default), one job when
 * a hub URL and an interval are. A bad setting is logged and leaves sync off rather than
 * stopping the daemon.
 *
 * @example
 * ```ts
 * for (const job of syncJobs({ store, db: storage.db, logger })) scheduler.add(job);
 * ```
 */
export function syncJobs(options: SyncJobOptions): ScheduledJob[] {
  const { logger } = options;
  let config;
  try {
    config = resolveSyncConfig({ env: options.env ?? process.env });
  } catch (error) {
    logger.error({ err: error }, 'sync is off: its settings are not valid');
    return [];
  }
  if (config === undefined || config.intervalMs === undefined) return [];
  if (config.warning !== undefined) logger.warn(config.warning);
  const hubConfig = config;
  const intervalMs = config.intervalMs;
  const purgeStreams = purgeStreamsOf(options);
  logger.info(
    { hub: hubConfig.displayUrl, schema: hubConfig.schema, intervalMs },
    'sync with a hub is on',
  );
  return [
    {
      name: 'sync',
      intervalMs,
      firstRunMs: Math.min(intervalMs, FIRST_RUN_MS),
      run: async () => {
        const hub = await openSyncHub(hubConfig);
        try {
          const local: LocalStore = {
            store: options.store,
            db: options.db,
            ...(purgeStreams === undefined ? {} : { purgeStreams }),
          };
          const { push, pull } = await syncOnce(local, hub);
          const conflicts = [...push.conflicts, ...pull.conflicts];
          if (conflicts.length > 0) {
            logger.warn(
              {
                hub: hub.displayUrl,
                conflicts: conflicts.map((c) => ({ stream: c.stream, kind: c.kind })),
              },
              'sync found conflicts: those streams are not synchronised (wfstate sync status)',
            );
          }
          return {
            hub: hub.displayUrl,
            pushed: push.events,
            pulled: pull.events,
            purged: pull.purged,
            conflicts: conflicts.length,
          };
        } finally {
          await hub.close();
        }
      },
    },
  ];
}
