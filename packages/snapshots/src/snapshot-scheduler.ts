import type { CommittedBatch } from '@wirthforge/eventstore';
import { invalidArgument } from './errors.js';
import type {
  CreatedSnapshot,
  PruneReport,
  SnapshotReason,
  SnapshotStore,
} from './snapshot-store.js';

/**
 * Default number of a stream's events after which a snapshot is taken. Recovery folds
 * at most about this many events on top of the newest snapshot: at the replay speed of
 * the event store (about a million events per second and more) a few milliseconds, so a
 * session of a million events recovers well under 150 ms.
 */
export const DEFAULT_SNAPSHOT_EVERY_EVENTS = 10_000;

/** Default longest time a stream with new events waits for a snapshot: one minute. */
export const DEFAULT_SNAPSHOT_EVERY_MS = 60_000;

/** Options of {@link startSnapshotScheduler}. */
export interface SnapshotSchedulerOptions {
  /** A snapshot after this many events of a stream. Default {@link DEFAULT_SNAPSHOT_EVERY_EVENTS}. */
  readonly everyEvents?: number;
  /** A snapshot of a stream with new events at least this often. Default {@link DEFAULT_SNAPSHOT_EVERY_MS}. */
  readonly everyMs?: number;
  /**
   * Retention of every stream this often (and of a stream after each of its full
   * snapshots). Default 10 minutes; `false` leaves retention to the caller (a stream is
   * still pruned after each of its full snapshots).
   */
  readonly pruneEveryMs?: number | false;
  /** Called with each snapshot written. */
  readonly onSnapshot?: (snapshot: CreatedSnapshot) => void;
  /** Called with each retention run that deleted something. */
  readonly onPrune?: (report: PruneReport) => void;
  /** Called when a snapshot or retention run fails (the scheduler goes on). */
  readonly onError?: (error: unknown, stream: string | undefined) => void;
}

/** A running scheduler; see {@link startSnapshotScheduler}. */
export interface SnapshotScheduler {
  /** Waits until every snapshot asked for so far is written (or failed). */
  flush(): Promise<void>;
  /** Stops listening and timers, then waits for the snapshot in progress. */
  stop(): Promise<void>;
  /** Events of each stream committed since its last snapshot. */
  pending(): ReadonlyMap<string, number>;
}

interface StreamCount {
  events: number;
  sinceMs: number;
  queued: boolean;
}

/**
 * Takes snapshots automatically: after `everyEvents` events of a session stream, after
 * `everyMs` for a stream with new events, and when a session's `system.end` commits
 * (`session_end`); runs retention on a schedule. It counts events with the store's
 * commit listener (after each acknowledged commit, not in the frame) and writes
 * snapshots in a task of its own, one at a time.
 *
 * @example
 * ```ts
 * const scheduler = startSnapshotScheduler(snapshots, { everyEvents: 10_000 });
 * // … record …
 * await scheduler.stop();
 * ```
 */
export function startSnapshotScheduler(
  snapshots: SnapshotStore,
  options: SnapshotSchedulerOptions = {},
): SnapshotScheduler {
  const everyEvents = positive(
    'options.everyEvents',
    options.everyEvents,
    DEFAULT_SNAPSHOT_EVERY_EVENTS,
  );
  const everyMs = positive('options.everyMs', options.everyMs, DEFAULT_SNAPSHOT_EVERY_MS);
  const pruneEveryMs =
    options.pruneEveryMs === false
      ? false
      : positive('options.pruneEveryMs', options.pruneEveryMs, 600_000);
  const counts = new Map<string, StreamCount>();
  let chain: Promise<void> = Promise.resolve();
  let stopped = false;

  const report = (error: unknown, stream: string | undefined): void => {
    try {
      options.onError?.(error, stream);
    } catch {
      // A failing callback must not stop the scheduler.
    }
  };

  const run = (task: () => Promise<void>): void => {
    chain = chain.then(
      () =>
        new Promise<void>((resolve) => {
          // Off the commit callback and out of the current frame's turn.
          setImmediate(() => {
            task().then(resolve, resolve);
          });
        }),
    );
  };

  const prune = (stream: string | undefined): void => {
    run(async () => {
      try {
        const result = await snapshots.prune(stream);
        if (result.deleted.length > 0) options.onPrune?.(result);
      } catch (error) {
        report(error, stream);
      }
    });
  };

  const snapshot = (stream: string, reason: SnapshotReason): void => {
    const count = counts.get(stream);
    if (count !== undefined) count.queued = true;
    run(async () => {
      const current = counts.get(stream);
      if (current !== undefined) {
        current.queued = false;
        current.events = 0;
        current.sinceMs = performance.now();
      }
      try {
        const created = await snapshots.create(stream, {
          reason,
          ...(reason === 'session_end' ? { kind: 'full' as const } : {}),
        });
        options.onSnapshot?.(created);
        if (created.kind === 'full') prune(stream);
      } catch (error) {
        report(error, stream);
      }
      if (reason === 'session_end') counts.delete(stream);
    });
  };

  const onCommit = (commit: CommittedBatch): void => {
    if (stopped) return;
    const appends = commit.appends;
    for (let i = 0; i < appends.length; i++) {
      const append = appends[i]!;
      const stream = append.stream;
      if (!stream.startsWith('session-')) continue;
      const records = append.records;
      let count = counts.get(stream);
      if (count === undefined) {
        count = { events: 0, sinceMs: performance.now(), queued: false };
        counts.set(stream, count);
      }
      count.events += records.length;
      if (records.length > 0 && records[records.length - 1]!.type === 'system.end') {
        snapshot(stream, 'session_end');
      } else if (count.events >= everyEvents && !count.queued) {
        snapshot(stream, 'periodic');
      }
    }
  };
  const off = snapshots.store.onCommit(onCommit);

  const tick = setInterval(
    () => {
      const now = performance.now();
      for (const [stream, count] of counts) {
        if (count.events > 0 && !count.queued && now - count.sinceMs >= everyMs)
          snapshot(stream, 'periodic');
      }
    },
    Math.max(10, Math.min(everyMs, 1000)),
  );
  tick.unref();
  const pruneTick =
    pruneEveryMs === false ? undefined : setInterval(() => prune(undefined), pruneEveryMs);
  pruneTick?.unref();

  return {
    async flush() {
      for (;;) {
        const current = chain;
        await current;
        if (current === chain) return;
      }
    },
    async stop() {
      stopped = true;
      off();
      clearInterval(tick);
      clearInterval(pruneTick);
      await this.flush();
    },
    pending() {
      return new Map([...counts].map(([stream, count]) => [stream, count.events]));
    },
  };
}

function positive(where: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 1) {
    throw invalidArgument(
      where,
      `must be a number >= 1, got ${typeof value === 'number' ? value : typeof value}`,
    );
  }
  return value;
}
