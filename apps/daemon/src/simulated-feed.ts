import { createSessionId, sessionStream } from '@wirthforge/events';
import { createRecorder, type EventStore } from '@wirthforge/eventstore';
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
  stop(): Promise<void>;
}

/**
 * Feeds a simulated live session (`--simulate`) into the store at 60 Hz through the
 * event store's recorder, as a WIRTHFORGE app would: prompts, token bursts, energy
 * updates of several models with the app's decimal values, peaks, interference and
 * resonance, heartbeats. Subscribers of `/v1/stream` see it live.
 */
export async function startSimulatedFeed(
  store: EventStore,
  logger: Logger,
  durationSeconds: number,
  now = new Date(),
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
  const recorder = createRecorder(store, {
    clock: 'external',
    onError: (failure) =>
      logger.error(
        { err: failure.error, events: failure.events },
        'simulated frames were not stored',
      ),
  });
  const abort = new AbortController();
  logger.info(
    { session: sessionId, seconds: durationSeconds, models: SIMULATED_MODELS },
    'simulating a live session',
  );
  const done = runRealtime(
    session,
    (frame) => {
      for (const event of frame.events) recorder.record(event);
      recorder.endFrame();
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
    .finally(() =>
      recorder
        .close()
        .catch((error: unknown) => logger.error({ err: error }, 'simulated frames were lost')),
    );
  return {
    sessionId,
    done,
    async stop() {
      abort.abort();
      await done;
    },
  };
}
