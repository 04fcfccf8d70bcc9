import { createSessionId, sessionStream } from '@wirthforge/events';
import {
  createRecorder,
  type AppendableEvent,
  type EventStore,
  type RecorderOptions,
} from '@wirthforge/eventstore';
import type { StoreMetrics } from '@wirthforge/metrics';
import { runRealtime, simulateSession } from '@wirthforge/simulator';
import type { Logger } from 'pino';

/** The models of the simulated session. */
export const SIMULATED_MODELS = [
  'ollama/llama3.2:3b',
  'ollama/mistral:7b',
  'ollama/qwen2.5:7b',
] as const;

/** A running simulated session; `stop()` ends the feed (the daemon then ends the session cleanly). */
export interface SimulatedFeed {
  readonly sessionId: string;
  /** Resolves when the session has been fed to its end (or stopped). */
  readonly done: Promise<void>;
  /**
   * Records events of the simulated session (the analytics' detections) with its frames,
   * as the session's only writer while it is fed; `false` once the feed is over (then
   * the caller appends them itself).
   */
  record(events: readonly AppendableEvent[]): boolean;
  stop(): Promise<void>;
}

/**
 * Feeds a simulated live session (`--simulate`) into the store at 60 Hz through the
 * event store's recorder, as a WIRTHFORGE app would: prompts, token bursts, energy
 * updates of several models with the app's decimal values, peaks, interference and
 * resonance, heartbeats. Subscribers of `/v1/stream` see it live. With `metrics`, the
 * recorder's counters, rejections, acknowledgements and frame costs are measured.
 */
export async function startSimulatedFeed(
  store: EventStore,
  logger: Logger,
  durationSeconds: number,
  now = new Date(),
  metrics?: Pick<StoreMetrics, 'recorderOptions' | 'observeRecorder' | 'observeFrameCost'>,
): Promise<SimulatedFeed> {
  let sessionId = createSessionId(now, 1);
  for (let sequence = 2; (await store.streamVersion(sessionStream(sessionId))) > 0n; sequence++) {
    sessionId = createSessionId(now, sequence);
  }
  const session = simulateSession({
    seed: now.getTime() % 1_000_000,
    sessionId,
    startTime: now,
    durationSeconds,
    models: [...SIMULATED_MODELS],
  });
  const options = {
    clock: 'external',
    onError: (failure) =>
      logger.error(
        { err: failure.error, events: failure.events },
        'simulated frames were not stored',
      ),
  } satisfies RecorderOptions;
  const recorder = createRecorder(store, metrics?.recorderOptions(options) ?? options);
  metrics?.observeRecorder(recorder);
  const abort = new AbortController();
  let feeding = true;
  logger.info(
    { session: sessionId, seconds: durationSeconds, models: SIMULATED_MODELS },
    'simulating a live session',
  );
  const done = runRealtime(
    session,
    (frame) => {
      const start = performance.now();
      for (const event of frame.events) recorder.record(event);
      recorder.endFrame();
      metrics?.observeFrameCost(performance.now() - start);
    },
    { speed: 1, signal: abort.signal },
  )
    .then((run) =>
      logger.info(
        {
          session: sessionId,
          frames: run.frames,
          events: run.events,
          lateFrames: run.lateFrames,
          aborted: run.aborted,
        },
        'simulated session fed',
      ),
    )
    .catch((error: unknown) => logger.error({ err: error }, 'the simulated session failed'))
    .finally(() => {
      feeding = false;
      return recorder
        .close()
        .catch((error: unknown) => logger.error({ err: error }, 'simulated frames were lost'));
    });
  return {
    sessionId,
    done,
    record(events) {
      if (!feeding) return false;
      for (const event of events) recorder.record(event);
      return true;
    },
    async stop() {
      abort.abort();
      await done;
    },
  };
}
