import { toIsoMicros } from '@wirthforge/events';
import {
  energyProjection,
  sessionSummaryProjection,
  type EventStore,
  type OpenSession,
} from '@wirthforge/eventstore';

/** What recovering one session did. */
export interface RecoveredSession {
  readonly sessionId: string;
  /** Events folded to rebuild the session's state. */
  readonly eventsReplayed: number;
  /** Where the rebuilt state started: a snapshot's id, or none (full replay). */
  readonly snapshotId: number | undefined;
  /** Position of the `session.recovered` event that closed it. */
  readonly position: bigint;
  readonly durationMs: number;
}

/**
 * How the daemon recovers, at start, the sessions that did not end cleanly. The daemon
 * calls `recover` once per open session, before it is ready. By default it recovers from
 * snapshots (`DaemonSnapshots.recovery()`: the newest valid snapshot plus the events
 * after it); {@link replayRecovery} folds every event instead.
 */
export interface SessionRecovery {
  /** A name for the logs, e.g. `replay` or `snapshots`. */
  readonly name: string;
  recover(store: EventStore, session: OpenSession): Promise<RecoveredSession>;
}

/** The clock of the recovery event (tests fix it). */
export type MicrosClock = () => number;

/**
 * Recovery by full replay, without snapshots: the session's energy state and summary
 * are rebuilt from its first event (`aggregateStream`), proving its events can be read
 * and folded, then a `session.recovered` event (`reason: unclean_shutdown`, `outcome:
 * closed`, `recovered_from` position and version 0) closes the session, so its row
 * turns `recovered`. The daemon's default recovers from snapshots and replays less.
 */
export function replayRecovery(clock: MicrosClock = () => Date.now() * 1000): SessionRecovery {
  return {
    name: 'replay',
    async recover(store, session) {
      const start = performance.now();
      const energy = await store.aggregateStream(session.stream, energyProjection);
      await store.aggregateStream(session.stream, sessionSummaryProjection, {
        upTo: energy.version,
      });
      const durationMs = performance.now() - start;
      const result = await store.appendToStream(
        session.stream,
        [
          {
            session_id: session.sessionId,
            timestamp: toIsoMicros(clock()),
            type: 'session.recovered',
            data: {
              recovered_from: { position: 0, version: 0 },
              events_replayed: Number(energy.version),
              reason: 'unclean_shutdown',
              outcome: 'closed',
              recovery_time_ms: Math.round(durationMs * 1000) / 1000,
            },
          },
        ],
        { expectedVersion: energy.version },
      );
      return {
        sessionId: session.sessionId,
        eventsReplayed: Number(energy.version),
        snapshotId: undefined,
        position: result.lastPosition,
        durationMs,
      };
    },
  };
}
