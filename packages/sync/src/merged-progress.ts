/**
 * A user's progress merged from the sessions of every device. Local positions differ
 * from device to device (each stores its own sessions first and the pulled ones as they
 * come), so a fold in local position order would give each device its own result. The
 * merge orders events by a rule that depends on the events alone: each session stream
 * keeps its own order (versions), and streams are interleaved by event time, ties broken
 * by stream name. Any device holding the same sessions computes the same state, and the
 * same hash.
 */
import {
  foldEvents,
  stateHash,
  userProgressProjection,
  type EventStore,
  type StoreRecord,
  type UserProgress,
} from '@wirthforge/eventstore';

/** What {@link mergedUserProgress} returns. */
export interface MergedUserProgress {
  readonly userId: string;
  readonly progress: UserProgress;
  /** {@link stateHash} of `progress`: equal on every device with the same sessions. */
  readonly hash: string;
  /** The session streams folded, in name order. */
  readonly streams: readonly string[];
  readonly events: number;
}

const SESSION_PREFIX = 'session-';

function userIdOf(record: StoreRecord): string | undefined {
  const event = record.event as { type?: unknown; data?: { user_id?: unknown } };
  return event.type === 'system.start' && typeof event.data?.user_id === 'string'
    ? event.data.user_id
    : undefined;
}

/** The owner (`user_id` of the first `system.start`) of every session stream of the store. */
export async function sessionOwners(store: EventStore): Promise<Map<string, string>> {
  const owners = new Map<string, string>();
  for await (const record of store.readAll({ filter: { types: ['system.start'] } })) {
    if (!record.stream.startsWith(SESSION_PREFIX) || owners.has(record.stream)) continue;
    const userId = userIdOf(record);
    if (userId !== undefined) owners.set(record.stream, userId);
  }
  return owners;
}

/** Orders records of several streams: by timestamp, then stream name, each stream in version order. */
export function mergeStreams(streams: ReadonlyMap<string, readonly StoreRecord[]>): StoreRecord[] {
  const names = [...streams.keys()].sort();
  const cursors = names.map(() => 0);
  const out: StoreRecord[] = [];
  for (;;) {
    let best = -1;
    let bestTime = '';
    for (let i = 0; i < names.length; i++) {
      const record = streams.get(names[i]!)![cursors[i]!];
      if (record === undefined) continue;
      // Canonical ISO-8601 with microseconds: the text orders as the time does.
      const time = (record.event as { timestamp: string }).timestamp;
      if (best === -1 || time < bestTime) {
        best = i;
        bestTime = time;
      }
    }
    if (best === -1) return out;
    out.push(streams.get(names[best]!)![cursors[best]!]!);
    cursors[best]!++;
  }
}

/**
 * Folds the user's progress from every session stream this store holds (its own and
 * those pulled from a hub) in the merge order, numbering the events 1, 2, … in that order.
 *
 * @example
 * ```ts
 * const a = await mergedUserProgress(laptop, 'ada');
 * const b = await mergedUserProgress(desktop, 'ada');
 * a.hash === b.hash; // once both hold the same sessions
 * ```
 */
export async function mergedUserProgress(
  store: EventStore,
  userId: string,
): Promise<MergedUserProgress> {
  const owners = await sessionOwners(store);
  const streams = [...owners]
    .filter(([, owner]) => owner === userId)
    .map(([s]) => s)
    .sort();
  const records = new Map<string, StoreRecord[]>();
  for (const stream of streams) records.set(stream, await store.readStream(stream).toArray());
  const ordered = mergeStreams(records).map((record, i) => ({
    event: record.event,
    position: BigInt(i + 1),
    version: record.version,
    stream: record.stream,
  }));
  const progress = foldEvents(userProgressProjection, ordered);
  return { userId, progress, hash: stateHash(progress), streams, events: ordered.length };
}
