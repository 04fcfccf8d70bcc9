import type { EventStore } from '@wirthforge/eventstore';
import {
  DEFAULT_SNAPSHOT_EVERY_EVENTS,
  DEFAULT_SNAPSHOT_EVERY_MS,
  createSnapshotStore,
  recoverSession,
  startSnapshotScheduler,
  type SnapshotScheduler,
  type SnapshotStore,
} from '@wirthforge/snapshots';
import type { Logger } from 'pino';
import type { JobRun, ScheduledJob } from './scheduler.js';
import type { MicrosClock, SessionRecovery } from './session-recovery.js';

/** Default period of the retention run of snapshots: ten minutes. */
export const DEFAULT_SNAPSHOT_RETENTION_MS = 10 * 60_000;

/** Options of {@link DaemonSnapshots}. */
export interface DaemonSnapshotsOptions {
  readonly logger: Logger;
  /** A snapshot of a session after this many of its events (default 10 000). */
  readonly everyEvents?: number;
  /** A snapshot of a session with new events at least this often (default one minute). */
  readonly everyMs?: number;
  /** Period of the retention job (default {@link DEFAULT_SNAPSHOT_RETENTION_MS}). */
  readonly retentionMs?: number;
  /** Each snapshot written or failed, as a job run named `snapshot` (metrics). */
  readonly onRun?: (run: JobRun) => void;
  /** The clock of `session.recovered` events (tests fix it). */
  readonly clock?: MicrosClock;
}

/** What the daemon's snapshots did since it started. */
export interface SnapshotCounts {
  readonly written: number;
  readonly failed: number;
  readonly pruned: number;
}

/**
 * The daemon's snapshots, one {@link SnapshotStore} over its event store:
 *
 * - {@link recovery}: recovery at start from each session's newest valid snapshot plus
 *   the events after it (a corrupt snapshot falls back to the previous one, then to a
 *   replay), a `session.recovered` event closing the session, and a full snapshot of it;
 * - {@link start}: the triggers of `@wirthforge/snapshots` (every N events of a session,
 *   every T seconds for a session with new events, and its `system.end`), counted after
 *   each acknowledged commit and written in a task of their own, never in a request;
 * - {@link retentionJob}: the retention policy (last 3 full snapshots per session and
 *   their deltas, never the one a recovery would use) as a scheduler job;
 * - {@link stop}: waits for the snapshots asked for, including the `session_end` ones of
 *   the sessions the daemon ended at stop: the final snapshots.
 */
export class DaemonSnapshots {
  readonly snapshots: SnapshotStore;
  readonly #options: DaemonSnapshotsOptions;
  #scheduler: SnapshotScheduler | undefined;
  #written = 0;
  #failed = 0;
  #pruned = 0;

  constructor(store: EventStore, options: DaemonSnapshotsOptions) {
    this.snapshots = createSnapshotStore(store);
    this.#options = options;
  }

  /** Counts since start. */
  counts(): SnapshotCounts {
    return { written: this.#written, failed: this.#failed, pruned: this.#pruned };
  }

  /** Recovery of sessions that did not end cleanly, from snapshots. */
  recovery(): SessionRecovery {
    const clock = this.#options.clock;
    return {
      name: 'snapshots',
      recover: async (_store, session) => {
        const recovered = await recoverSession(this.snapshots, session, {
          then: 'close',
          ...(clock === undefined ? {} : { clock }),
        });
        if (recovered.rejected.length > 0) {
          this.#options.logger.warn(
            {
              session: session.sessionId,
              rejected: recovered.rejected.map((r) => ({
                id: r.id,
                reason: r.reason,
                message: r.message,
              })),
            },
            'snapshots refused during recovery (fell back to an older one or to a replay)',
          );
        }
        if (recovered.snapshot !== undefined) this.#written += 1;
        return {
          sessionId: session.sessionId,
          eventsReplayed: recovered.eventsReplayed,
          snapshotId: recovered.snapshotId ?? undefined,
          position: recovered.recoveredPosition,
          durationMs: recovered.recoveryMs,
        };
      },
    };
  }

  /** Starts the snapshot triggers. */
  start(): void {
    if (this.#scheduler !== undefined) return;
    const { logger, onRun } = this.#options;
    this.#scheduler = startSnapshotScheduler(this.snapshots, {
      everyEvents: this.#options.everyEvents ?? DEFAULT_SNAPSHOT_EVERY_EVENTS,
      everyMs: this.#options.everyMs ?? DEFAULT_SNAPSHOT_EVERY_MS,
      // Retention runs as the daemon's job (see retentionJob).
      pruneEveryMs: false,
      onSnapshot: (snapshot) => {
        this.#written += 1;
        logger.debug(
          {
            job: 'snapshot',
            stream: snapshot.stream,
            id: snapshot.id,
            kind: snapshot.kind,
            reason: snapshot.reason,
            version: Number(snapshot.streamVersion),
            bytes: snapshot.sizeBytes,
            eventsSinceLast: snapshot.eventsSinceLast,
            durationMs: Math.round(snapshot.durationMs * 100) / 100,
          },
          'snapshot written',
        );
        onRun?.({
          name: 'snapshot',
          ok: true,
          durationMs: snapshot.durationMs,
          result: { kind: snapshot.kind, reason: snapshot.reason, bytes: snapshot.sizeBytes },
        });
      },
      onPrune: (report) => {
        this.#pruned += report.deleted.length;
      },
      onError: (error, stream) => {
        this.#failed += 1;
        logger.error({ job: 'snapshot', stream, err: error }, 'snapshot failed');
        onRun?.({ name: 'snapshot', ok: false, durationMs: 0, error });
      },
    });
  }

  /** The retention job: prunes every session's snapshots by the policy. */
  retentionJob(): ScheduledJob {
    return {
      name: 'snapshot-retention',
      intervalMs: this.#options.retentionMs ?? DEFAULT_SNAPSHOT_RETENTION_MS,
      run: async () => {
        const report = await this.snapshots.prune();
        this.#pruned += report.deleted.length;
        return {
          deleted: report.deleted.length,
          kept: report.kept,
          written: this.#written,
          pending: this.#scheduler?.pending().size ?? 0,
        };
      },
    };
  }

  /** Waits for every snapshot asked for so far (the final ones at stop), then stops the triggers. */
  async stop(): Promise<SnapshotCounts> {
    await this.#scheduler?.stop();
    this.#scheduler = undefined;
    return this.counts();
  }
}
