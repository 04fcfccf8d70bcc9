import type { SimFrame } from './sim-event.js';

/** The clock {@link runRealtime} paces with; replaceable so pacing can be tested without waiting. */
export interface RealtimeClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Resolves after about `ms` milliseconds. */
  sleep(ms: number): Promise<void>;
}

/** Options of {@link runRealtime}. */
export interface RunRealtimeOptions {
  /**
   * How much faster than real time to play: 1 is real time, 2 twice as fast.
   * `Infinity` plays without pacing. Default 1.
   */
  readonly speed?: number;
  /** Stops before the next frame once aborted; the frame in progress completes. */
  readonly signal?: AbortSignal;
  /** Defaults to `performance.now()` and `setTimeout`. */
  readonly clock?: RealtimeClock;
}

/** What {@link runRealtime} did. */
export interface RunRealtimeResult {
  /** Frames handed to `onFrame`. */
  readonly frames: number;
  /** Events in those frames. */
  readonly events: number;
  /** Frames whose due time had already passed when they were handed over. */
  readonly lateFrames: number;
  /** Wall-clock milliseconds from the first frame to the end of the last `onFrame`. */
  readonly elapsedMs: number;
  /** True when the signal stopped the run before the last frame. */
  readonly aborted: boolean;
}

const systemClock: RealtimeClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/**
 * Plays frames at the pace of their timestamps (60 Hz for a 60 fps session), awaiting
 * `onFrame` for each. Each frame's due time is computed from the first frame's start,
 * not from the previous frame, so timer lateness and slow callbacks do not accumulate:
 * a frame that is already due is handed over at once and counted as late.
 *
 * @example
 * ```ts
 * const session = simulateSession({ seed: 1, durationSeconds: 10 });
 * await runRealtime(session, (frame) => storage.appendBatch([toAppend(frame)]));
 * ```
 */
export async function runRealtime(
  frames: Iterable<SimFrame>,
  onFrame: (frame: SimFrame) => void | Promise<void>,
  options: RunRealtimeOptions = {},
): Promise<RunRealtimeResult> {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`speed must be positive, got ${speed}`);
  const clock = options.clock ?? systemClock;
  const signal = options.signal;
  // A function, so the check after an await is not narrowed away by the one before it.
  const isAborted = (): boolean => signal?.aborted === true;
  const paced = Number.isFinite(speed);

  let startMs = 0;
  let firstUs = 0;
  let count = 0;
  let events = 0;
  let lateFrames = 0;
  let aborted = false;

  for (const frame of frames) {
    if (isAborted()) {
      aborted = true;
      break;
    }
    if (count === 0) {
      startMs = clock.now();
      firstUs = frame.timestampUs;
    } else if (paced) {
      const dueMs = startMs + (frame.timestampUs - firstUs) / 1000 / speed;
      const waitMs = dueMs - clock.now();
      if (waitMs > 0) {
        await clock.sleep(waitMs);
      } else {
        lateFrames++;
      }
      if (isAborted()) {
        aborted = true;
        break;
      }
    }
    await onFrame(frame);
    count++;
    events += frame.events.length;
  }

  return {
    frames: count,
    events,
    lateFrames,
    elapsedMs: count === 0 ? 0 : clock.now() - startMs,
    aborted,
  };
}
