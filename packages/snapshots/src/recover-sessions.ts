import { toIsoMicros, type EventOfType } from '@wirthforge/events';
import { stateHash, type OpenSession } from '@wirthforge/eventstore';
import { invalidArgument } from './errors.js';
import type {
  CreatedSnapshot,
  LoadedState,
  SnapshotRejection,
  SnapshotStore,
} from './snapshot-store.js';

/** Options of {@link recoverSessions}. */
export interface RecoverSessionsOptions {
  /**
   * What to do with each recovered session: `'close'` (default) ends it: its
   * `session.recovered` event says `outcome: 'closed'`, which the store's session
   * projection turns into the status `recovered`; `'resume'` leaves it active for the
   * caller to record on.
   */
  readonly then?: 'resume' | 'close';
  /** Write a snapshot of each recovered session afterwards (default true). */
  readonly snapshot?: boolean;
  /** Microseconds since the epoch. Default: the system clock. */
  readonly clock?: () => number;
}

/** One session rebuilt by {@link recoverSessions}. */
export interface RecoveredSession {
  readonly sessionId: string;
  readonly stream: string;
  /** The state as of the last stored event before recovery, with its version and position. */
  readonly state: LoadedState;
  /** {@link stateHash} of `state.states` (computed when first read: recovery needs none). */
  readonly hash: string;
  readonly snapshotId: number | null;
  readonly eventsReplayed: number;
  /** Snapshots refused on the way (then `reason` is `corrupt_snapshot`). */
  readonly rejected: readonly SnapshotRejection[];
  readonly outcome: 'resumed' | 'closed';
  /** Position of the `session.recovered` event. */
  readonly recoveredPosition: bigint;
  /** Milliseconds from the start of this session's recovery to its state (before the writes). */
  readonly recoveryMs: number;
  readonly snapshot: CreatedSnapshot | undefined;
}

function systemClock(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/**
 * Crash recovery: finds every session without a clean end (active in the sessions
 * table), rebuilds its state from the newest valid snapshot plus the events after it,
 * writes a `session.recovered` event saying where it came from and how many events were
 * replayed, then closes or resumes the session. Call it after opening the store and
 * before recording.
 *
 * @example
 * ```ts
 * const store = createEventStore({ storage: await openSqliteStorage({ path }) });
 * const snapshots = createSnapshotStore(store);
 * for (const s of await recoverSessions(snapshots, { then: 'close' })) log.info(s.sessionId, s.eventsReplayed);
 * ```
 */
export async function recoverSessions(
  snapshots: SnapshotStore,
  options: RecoverSessionsOptions = {},
): Promise<RecoveredSession[]> {
  checkThen(options);
  const out: RecoveredSession[] = [];
  for (const session of await snapshots.store.openSessions()) {
    if (session.private) continue;
    out.push(await recoverSession(snapshots, session, options));
  }
  return out;
}

function checkThen(options: RecoverSessionsOptions): 'resume' | 'close' {
  const then = options.then ?? 'close';
  if (then !== 'close' && then !== 'resume')
    throw invalidArgument('options.then', `expected 'resume' or 'close'`);
  return then;
}

/**
 * Crash recovery of one session without a clean end (one of `store.openSessions()`), as
 * {@link recoverSessions} does it for each: its state from the newest valid snapshot
 * plus the events after it, a `session.recovered` event, then closed or resumed, and a
 * full snapshot of it.
 *
 * @example
 * ```ts
 * for (const open of await store.openSessions()) {
 *   const recovered = await recoverSession(snapshots, open, { then: 'close' });
 *   log.warn(open.sessionId, recovered.eventsReplayed, recovered.rejected);
 * }
 * ```
 */
export async function recoverSession(
  snapshots: SnapshotStore,
  session: Pick<OpenSession, 'sessionId' | 'stream'>,
  options: RecoverSessionsOptions = {},
): Promise<RecoveredSession> {
  const then = checkThen(options);
  const clock = options.clock ?? systemClock;
  const store = snapshots.store;
  const started = performance.now();
  const state = await snapshots.load(session.stream);
  const recoveryMs = performance.now() - started;
  const event: EventOfType<'session.recovered'> = {
    session_id: session.sessionId,
    timestamp: toIsoMicros(clock()),
    type: 'session.recovered',
    data: {
      recovered_from: {
        ...(state.snapshotId === null ? {} : { snapshot_id: state.snapshotId }),
        position: Number(state.snapshotPosition),
        version: Number(state.snapshotVersion),
      },
      events_replayed: state.eventsReplayed,
      reason: state.rejected.length > 0 ? 'corrupt_snapshot' : 'unclean_shutdown',
      outcome: then === 'close' ? 'closed' : 'resumed',
      recovery_time_ms: recoveryMs,
    },
  };
  const appended = await store.appendToStream(session.stream, [event], {
    expectedVersion: state.version,
  });
  const snapshot =
    options.snapshot === false
      ? undefined
      : await snapshots.create(session.stream, {
          reason: then === 'close' ? 'session_end' : 'manual',
          kind: 'full',
        });
  let hash: string | undefined;
  return {
    sessionId: session.sessionId,
    stream: session.stream,
    state,
    get hash(): string {
      hash ??= stateHash(state.states);
      return hash;
    },
    snapshotId: state.snapshotId,
    eventsReplayed: state.eventsReplayed,
    rejected: state.rejected,
    outcome: then === 'close' ? 'closed' : 'resumed',
    recoveredPosition: appended.positions[0]!,
    recoveryMs,
    snapshot,
  };
}
