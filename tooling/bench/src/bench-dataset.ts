import { simulateSession, type SimEvent, type SimFrame } from '@wirthforge/simulator';

/** The simulated events every throughput case of a run writes. */
export interface BenchDataset {
  readonly seed: number;
  readonly sessionId: string;
  /** The stream the events are appended to (one stream per session). */
  readonly stream: string;
  /**
   * `batches` batches of `batchSize` events, in session order. Discrete events carry an
   * `event_id`, the high-rate telemetry does not (the simulator's default).
   */
  readonly batches: readonly (readonly SimEvent[])[];
  /** The same events with an `event_id` on every one, for the cost of idempotency. */
  readonly batchesAllIds: readonly (readonly SimEvent[])[];
  readonly eventCount: number;
}

/** Stream name of a session, as the cases write it. */
export function sessionStream(sessionId: string): string {
  return `session-${sessionId}`;
}

/**
 * Groups the events of consecutive frames into batches of exactly `size` events (the
 * last one may be shorter). A 60 Hz session of one model produces slightly more than 60
 * events per second, so a batch of 60 is about one second of telemetry.
 */
export function* chunkEvents(
  frames: Iterable<SimFrame>,
  size: number,
): Generator<SimEvent[], void, undefined> {
  if (!Number.isInteger(size) || size < 1)
    throw new RangeError(`batch size must be >= 1, got ${size}`);
  let batch: SimEvent[] = [];
  for (const frame of frames) {
    for (const event of frame.events) {
      batch.push(event);
      if (batch.length === size) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

/**
 * Simulates a 60 Hz session (one model) long enough for `batches` full batches of
 * `batchSize` events and keeps exactly those.
 */
export function buildDataset(options: {
  readonly seed: number;
  readonly batches: number;
  readonly batchSize: number;
}): BenchDataset {
  const { seed, batches, batchSize } = options;
  const wanted = batches * batchSize;
  // At least one energy update per frame, so this many seconds always suffice.
  const durationSeconds = Math.ceil(wanted / 60) + 1;
  const session = simulateSession({ seed, durationSeconds });
  const allIds = simulateSession({ seed, durationSeconds, eventIds: 'all' });
  const take = (frames: Iterable<SimFrame>): SimEvent[][] => {
    const out: SimEvent[][] = [];
    for (const batch of chunkEvents(frames, batchSize)) {
      if (out.length === batches) break;
      if (batch.length === batchSize) out.push(batch);
    }
    if (out.length !== batches) {
      throw new Error(`simulated session produced ${out.length} of ${batches} batches`);
    }
    return out;
  };
  return {
    seed,
    sessionId: session.sessionId,
    stream: sessionStream(session.sessionId),
    batches: take(session),
    batchesAllIds: take(allIds),
    eventCount: wanted,
  };
}
