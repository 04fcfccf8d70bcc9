import { createSessionId, isSessionId, toIsoMicros } from '@wirthforge/events';
import { createPrng, type Prng } from './prng.js';
import type { AiResponseCompleteData, SimEvent, SimEventType, SimFrame } from './sim-event.js';

/** Options of {@link simulateSession}. */
export interface SimulateSessionOptions {
  /** Seed of the generator: the same options give the same events, byte for byte. */
  readonly seed: number;
  /** Session id (`YYYYMMDDTHHMMSSZ_NNN`); derived from `startTime` and `seed` when absent. */
  readonly sessionId?: string;
  /** Length of the session in seconds (> 0); the session has `round(durationSeconds * fps)` frames. */
  readonly durationSeconds: number;
  /** Start of the session (a `Date` or milliseconds since the epoch). Default: {@link DEFAULT_START_TIME_MS}. */
  readonly startTime?: Date | number;
  /** Models taking part; each emits one `energy.update` per frame. Default: {@link DEFAULT_MODELS}. */
  readonly models?: readonly string[];
  /** Frames per second, an integer in 1..120. Default 60. */
  readonly fps?: number;
  /**
   * Which events carry an `event_id` (`<session_id>:<sequence>`): `'discrete'` (default)
   * gives one to every event except the high-rate telemetry (`energy.update`, `ai.output`,
   * `health.heartbeat`), as a producer does that retries only what must not be lost;
   * `'all'` (or `true`) gives one to every event; `'none'` (or `false`) to none.
   */
  readonly eventIds?: EventIdPolicy | boolean;
  /** Privacy mode: `ai.output` carries `token_hash` instead of the token text. Default false. */
  readonly privacy?: boolean;
}

/**
 * A simulated session: iterate it to get its frames, in order. Each iteration starts
 * over from the seed and yields the same frames; frames are generated lazily, so a
 * session of hours costs no memory until it is collected.
 */
export interface SimulatedSession extends Iterable<SimFrame> {
  readonly seed: number;
  readonly sessionId: string;
  /** Start of the session (and of frame 0), integer microseconds since the epoch. */
  readonly startTimeUs: number;
  readonly fps: number;
  readonly frameCount: number;
  readonly models: readonly string[];
}

/** Which events of a simulated session carry an `event_id`. */
export type EventIdPolicy = 'all' | 'discrete' | 'none';

/** The high-rate telemetry types that carry no `event_id` under the `'discrete'` policy. */
export const TELEMETRY_TYPES: ReadonlySet<string> = new Set([
  'energy.update',
  'ai.output',
  'health.heartbeat',
]);

/** Default start of a simulated session: 2025-08-17T19:48:00Z, as in the reference audit log. */
export const DEFAULT_START_TIME_MS = 1_755_460_080_000;

/** Default model line-up: one local model. */
export const DEFAULT_MODELS: readonly string[] = ['ollama/llama3.2:3b'];

/** Version the simulated application reports in `system.start`. */
export const SIMULATED_APP_VERSION = '1.0.0';

/**
 * Simulates a WIRTHFORGE session, frame by frame: `system.start`, one `model.loaded`
 * per model, then per frame one `energy.update` per model (a smooth noisy signal whose
 * `accumulator` is the session's running sum), prompts followed by `ai.output` tokens at
 * 20-40 tokens/s and `ai.response_complete`, occasional `energy.peak`, interference and
 * resonance patterns when two or more models generate at once, one `health.heartbeat`
 * per second, and a `user.action` stop plus `system.end` in the last frame.
 *
 * @example
 * ```ts
 * const session = simulateSession({ seed: 7, durationSeconds: 10 });
 * for (const frame of session) recorder.write(frame.events);
 * ```
 */
export function simulateSession(options: SimulateSessionOptions): SimulatedSession {
  const config = resolveConfig(options);
  return {
    seed: config.seed,
    sessionId: config.sessionId,
    startTimeUs: config.startTimeUs,
    fps: config.fps,
    frameCount: config.frameCount,
    models: config.models,
    [Symbol.iterator]: () => generateFrames(config),
  };
}

interface SessionConfig {
  readonly seed: number;
  readonly sessionId: string;
  readonly startTimeUs: number;
  readonly fps: number;
  readonly frameCount: number;
  readonly models: readonly string[];
  readonly eventIds: EventIdPolicy;
  readonly privacy: boolean;
}

function resolveConfig(options: SimulateSessionOptions): SessionConfig {
  const { seed, durationSeconds } = options;
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new RangeError(`durationSeconds must be a positive number, got ${durationSeconds}`);
  }
  const fps = options.fps ?? 60;
  if (!Number.isInteger(fps) || fps < 1 || fps > 120) {
    throw new RangeError(`fps must be an integer in 1..120, got ${fps}`);
  }
  const startMs =
    options.startTime instanceof Date
      ? options.startTime.getTime()
      : (options.startTime ?? DEFAULT_START_TIME_MS);
  if (!Number.isFinite(startMs) || startMs < 0) {
    throw new RangeError(`startTime must be a valid date after 1970, got ${String(startMs)}`);
  }
  const startTimeUs = Math.round(startMs * 1000);
  const models = [...(options.models ?? DEFAULT_MODELS)];
  if (models.length === 0) throw new RangeError('at least one model is needed');
  for (const model of models) {
    if (model.length === 0) throw new RangeError('model ids must not be empty');
  }
  if (new Set(models).size !== models.length) throw new RangeError('model ids must be unique');
  const sessionId =
    options.sessionId ?? createSessionId(new Date(startMs), Math.abs(Math.trunc(seed)) % 1000);
  if (!isSessionId(sessionId)) {
    throw new RangeError(
      `session id must look like 20250817T194800Z_001, got ${String(sessionId)}`,
    );
  }
  return {
    seed,
    sessionId,
    startTimeUs,
    fps,
    frameCount: Math.max(1, Math.round(durationSeconds * fps)),
    models,
    eventIds: resolveEventIdPolicy(options.eventIds),
    privacy: options.privacy ?? false,
  };
}

function resolveEventIdPolicy(policy: EventIdPolicy | boolean | undefined): EventIdPolicy {
  if (policy === undefined) return 'discrete';
  if (policy === true) return 'all';
  if (policy === false) return 'none';
  if (policy === 'all' || policy === 'discrete' || policy === 'none') return policy;
  throw new RangeError(`eventIds must be 'all', 'discrete' or 'none', got ${String(policy)}`);
}

/** Word pieces an answer is made of: words with their leading space, and punctuation. */
const TOKENS: readonly string[] = [
  ...'the energy model of a to and is in that frame state it you can with this for as on local signal pattern light stream each token we be are when which more flow into from by at think about here how one first then so now'
    .split(' ')
    .map((word) => ` ${word}`),
  '.',
  ',',
  '\n',
];
const INTENTS: readonly string[] = ['question', 'instruction', 'creative', 'code', 'conversation'];

/** Per-model simulation state. */
interface ModelSim {
  readonly id: string;
  /** Energy per update while generating, at this fps. */
  readonly generatingLevel: number;
  readonly peakThreshold: number;
  readonly memoryMb: number;
  readonly loadTimeMs: number;
  level: number;
  noise: number;
  burst: number;
  burstContext: string;
  lastEnergy: number;
  smoothedEnergy: number;
  tokens: number;
  response: ResponseSim | undefined;
}

interface ResponseSim {
  readonly promptId: string;
  readonly targetTokens: number;
  readonly tokensPerSecond: number;
  readonly startUs: number;
  readonly reason: AiResponseCompleteData['completion_reason'];
  emitted: number;
  nextTokenUs: number;
  lastTokenUs: number;
  energy: number;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Parameter count in billions from ids like `ollama/llama3.2:3b`; 3 when absent. */
function modelSizeB(id: string): number {
  const match = /[:\-_](\d+(?:\.\d+)?)b\b/i.exec(id);
  return match?.[1] !== undefined ? Number(match[1]) : 3;
}

function createModelSim(id: string, fps: number, rng: Prng): ModelSim {
  const size = modelSizeB(id);
  const scale = Math.min(3, Math.max(0.6, 0.6 + 0.12 * size));
  const generatingLevel = (4 * scale * 60) / fps;
  const idle = generatingLevel * 0.08;
  return {
    id,
    generatingLevel,
    peakThreshold: round(generatingLevel * 2.5, 2),
    memoryMb: Math.round(size * 620 + 300 + rng.uniform(-40, 40)),
    loadTimeMs: round(800 + size * 350 + rng.uniform(-120, 120), 1),
    level: idle,
    noise: 0,
    burst: 0,
    burstContext: 'token_burst',
    lastEnergy: 0,
    smoothedEnergy: idle,
    tokens: 0,
    response: undefined,
  };
}

function* generateFrames(config: SessionConfig): Generator<SimFrame, void, undefined> {
  const { fps, frameCount, sessionId, startTimeUs } = config;
  const rng = createPrng(config.seed);
  const models = config.models.map((id) => createModelSim(id, fps, rng));
  const modelIds = config.models;
  const frameStartUs = (k: number): number => startTimeUs + Math.floor((k * 1_000_000) / fps);
  const burstDecay = 0.88 ** (60 / fps);
  const noiseKeep = 0.92 ** (60 / fps);
  const levelRate = 1 - 0.96 ** (60 / fps);
  const emaRate = 1 - 0.98 ** (60 / fps);

  let sequence = 0;
  let accumulator = 0;
  let nextPromptUs = startTimeUs + Math.round(rng.uniform(0.5, 1.5) * 1_000_000);
  let responding = false;
  let fpsSinceHeartbeat = 0;
  let framesSinceHeartbeat = 0;
  let diskMb = 150 + rng.uniform(0, 20);
  const baseMemoryMb = 900 + rng.uniform(0, 200);

  for (let k = 0; k < frameCount; k++) {
    const frameUs = frameStartUs(k);
    const frameEndUs = frameStartUs(k + 1);
    const lastFrame = k === frameCount - 1;
    const events: SimEvent[] = [];
    let offset = k === 0 ? 0 : rng.int(40, 400);
    const maxOffset = frameEndUs - frameUs - 1;

    const emit = <T extends SimEventType>(
      type: T,
      data: Extract<SimEvent, { type: T }>['data'],
      frameBound: boolean,
    ): number => {
      const timestampUs = frameUs + Math.min(offset, maxOffset);
      offset += rng.int(30, 250);
      const event = {
        session_id: sessionId,
        timestamp: toIsoMicros(timestampUs),
        type,
        ...(frameBound ? { frame_id: k } : {}),
        ...(config.eventIds === 'all' ||
        (config.eventIds === 'discrete' && !TELEMETRY_TYPES.has(type))
          ? { event_id: `${sessionId}:${sequence}` }
          : {}),
        data,
      } as Extract<SimEvent, { type: T }>;
      sequence++;
      events.push(event);
      return timestampUs;
    };

    if (k === 0) {
      emit(
        'system.start',
        {
          version: SIMULATED_APP_VERSION,
          user_id: 'default',
          model_id: modelIds[0] ?? '',
          hardware_tier: models.length > 2 ? 'high' : 'mid',
          mode: 'offline',
          features_enabled:
            models.length > 1
              ? ['parallel_processing', 'interference_detection', 'resonance_detection']
              : ['single_model'],
          config: { frame_rate: fps, energy_threshold: 0.1, batch_size: 15 },
        },
        false,
      );
      for (const model of models) {
        emit(
          'model.loaded',
          {
            model_id: model.id,
            load_time_ms: model.loadTimeMs,
            memory_mb: model.memoryMb,
          },
          false,
        );
      }
    }

    // A new prompt once the previous answers are complete and the user has "typed".
    if (!responding && !lastFrame && frameUs >= nextPromptUs) {
      const promptId = `prompt_${rng.hex(8)}`;
      const length = rng.int(12, 400);
      emit(
        'user.prompt',
        {
          prompt_id: promptId,
          interface: rng.chance(0.9) ? 'text' : 'voice',
          length,
          truncated: false,
          hash: rng.hex(64),
          language: 'en',
          intent: rng.pick(INTENTS),
        },
        false,
      );
      const promptUs = frameUs + Math.min(offset, maxOffset);
      for (const model of models) {
        const roll = rng.next();
        model.response = {
          promptId,
          targetTokens: roll < 0.05 ? 256 : rng.int(20, 150),
          tokensPerSecond: rng.uniform(20, 40),
          startUs: promptUs,
          reason: roll < 0.05 ? 'length_limit' : rng.chance(0.2) ? 'stop_token' : 'finished',
          emitted: 0,
          nextTokenUs: promptUs + Math.round(rng.uniform(150_000, 600_000)),
          lastTokenUs: promptUs,
          energy: 0,
        };
      }
      responding = true;
    }

    // Frame-level measurements shared by every model's update in this frame.
    const generatingCount = models.filter(
      (m) => m.response !== undefined && m.response.emitted > 0,
    ).length;
    const frameFps = round(
      Math.min(120, Math.max(0, fps - Math.abs(rng.normal()) * 0.15 * (fps / 60))),
      1,
    );
    const budgetMs = Math.min(1000 / fps, 16.67);
    const frameBudgetUsed = round(
      Math.min(
        budgetMs,
        Math.max(
          0.5,
          budgetMs * (0.2 + 0.08 * models.length + 0.3 * (generatingCount / models.length)) +
            rng.normal() * 0.6,
        ),
      ),
      2,
    );
    fpsSinceHeartbeat += frameFps;
    framesSinceHeartbeat++;

    // Energy of each model this frame: a smoothed level, AR(1) noise and decaying bursts.
    const energies: number[] = [];
    for (const model of models) {
      const response = model.response;
      const target =
        response === undefined
          ? model.generatingLevel * 0.08
          : response.emitted === 0
            ? model.generatingLevel * 0.4
            : model.generatingLevel;
      model.level += (target - model.level) * levelRate;
      model.noise = model.noise * noiseKeep + rng.normal() * model.generatingLevel * 0.03;
      model.burst *= burstDecay;
      if (response !== undefined && response.emitted > 0 && rng.chance(1 / (fps * 15))) {
        model.burst += model.generatingLevel * rng.uniform(1.8, 2.6);
        model.burstContext = 'token_burst';
      }
      const energy = round(Math.max(0, model.level + model.noise + model.burst), 3);
      model.smoothedEnergy += (energy - model.smoothedEnergy) * emaRate;
      energies.push(energy);
    }
    const diversityIndex = diversity(models);

    for (const [i, model] of models.entries()) {
      const energy = energies[i] ?? 0;
      // Energies have three decimals; rounding the sum keeps it the exact decimal total.
      accumulator = round(accumulator + energy, 3);
      emit(
        'energy.update',
        {
          energy,
          accumulator,
          model_id: model.id,
          fps: frameFps,
          frame_budget_used: frameBudgetUsed,
          diversity_index: diversityIndex,
          token_count: model.tokens,
        },
        true,
      );
      if (energy > model.peakThreshold && model.lastEnergy <= model.peakThreshold) {
        emit(
          'energy.peak',
          {
            energy,
            threshold: model.peakThreshold,
            model_id: model.id,
            context: model.burstContext,
          },
          true,
        );
      }
      model.lastEnergy = energy;

      const response = model.response;
      if (response === undefined) continue;
      response.energy += energy;
      while (model.response !== undefined && response.nextTokenUs < frameEndUs) {
        const index = response.emitted;
        const isLast = index + 1 >= response.targetTokens;
        const token = rng.pick(TOKENS);
        const tokenUs = Math.max(response.nextTokenUs, frameUs);
        emit(
          'ai.output',
          {
            ...(config.privacy ? { token_hash: rng.hex(16) } : { token }),
            prompt_id: response.promptId,
            token_index: index,
            is_last: isLast,
            model_id: model.id,
            logprobs: [round(-rng.uniform(0, 0.6), 3), round(-rng.uniform(0.6, 3), 3)],
            entropy: round(rng.uniform(0.2, 2.4), 3),
            generation_time_ms: round((tokenUs - response.lastTokenUs) / 1000, 1),
          },
          false,
        );
        response.emitted++;
        model.tokens++;
        response.lastTokenUs = tokenUs;
        response.nextTokenUs +=
          Math.round((1_000_000 / response.tokensPerSecond) * rng.uniform(0.7, 1.3)) || 1;
        if (isLast) {
          emit(
            'ai.response_complete',
            completion(model, response, tokenUs, response.reason),
            false,
          );
          model.response = undefined;
        }
      }
    }

    const generating = models.filter((m) => m.response !== undefined && m.response.emitted > 0);
    if (generating.length >= 2) {
      const involved = generating.map((m) => m.id);
      if (rng.chance(1 / (fps * 6))) {
        const roll = rng.next();
        const kind = roll < 0.5 ? 'constructive' : roll < 0.8 ? 'destructive' : 'neutral';
        emit(
          'pattern.interference',
          {
            models_involved: involved,
            interference_type: kind,
            strength: round(rng.uniform(0.3, 0.95), 2),
            frequency: round(rng.uniform(8, 60), 1),
            duration_ms: round(rng.uniform(80, 400), 1),
          },
          true,
        );
        if (kind === 'constructive') {
          for (const model of generating) {
            model.burst += model.generatingLevel * rng.uniform(1.2, 2.0);
            model.burstContext = 'interference_amplification';
          }
        }
      }
      if (rng.chance(1 / (fps * 20))) {
        const sync = round(rng.uniform(0.7, 0.98), 2);
        emit(
          'pattern.resonance',
          {
            models_involved: involved,
            resonance_frequency: round(Math.max(0, 432 + rng.normal() * 8), 1),
            amplitude: round(rng.uniform(0.6, 0.95), 2),
            synchronization_level: sync,
            harmony_detected: sync > 0.8,
            energy_amplification: round(rng.uniform(1.1, 2.5), 2),
          },
          true,
        );
      }
    }

    if (k % fps === 0) {
      diskMb += rng.uniform(0, 0.05);
      emit(
        'health.heartbeat',
        {
          system_health: 'healthy',
          fps: round(fpsSinceHeartbeat / framesSinceHeartbeat, 1),
          memory_usage_mb: Math.round(
            baseMemoryMb + models.reduce((sum, m) => sum + m.memoryMb, 0) + rng.uniform(0, 30),
          ),
          disk_usage_mb: round(diskMb, 1),
          active_connections: 1,
          event_queue_size: rng.int(0, 12),
          models_loaded: [...modelIds],
        },
        false,
      );
      fpsSinceHeartbeat = 0;
      framesSinceHeartbeat = 0;
    }

    if (responding && models.every((m) => m.response === undefined)) {
      responding = false;
      nextPromptUs = frameUs + Math.round(rng.uniform(1.5, 6) * 1_000_000);
    }

    if (lastFrame) {
      for (const model of models) {
        const response = model.response;
        if (response === undefined) continue;
        const atUs = frameUs + Math.min(offset, maxOffset);
        emit('ai.response_complete', completion(model, response, atUs, 'user_interrupt'), false);
        model.response = undefined;
      }
      emit(
        'user.action',
        {
          action: 'stop',
          context: { reason: 'session_complete' },
          ui_element: 'stop_button',
        },
        false,
      );
      const endUs = frameUs + Math.min(offset, maxOffset);
      emit(
        'system.end',
        {
          duration_ms: round((endUs - startTimeUs) / 1000, 3),
          total_energy: accumulator,
          total_events: sequence + 1,
          clean_shutdown: true,
          reason: 'user_exit',
        },
        false,
      );
    }

    yield { frameId: k, timestampUs: frameUs, events };
  }
}

function completion(
  model: ModelSim,
  response: ResponseSim,
  atUs: number,
  reason: AiResponseCompleteData['completion_reason'],
): AiResponseCompleteData {
  const generationMs = Math.max(0, (atUs - response.startUs) / 1000);
  return {
    prompt_id: response.promptId,
    model_id: model.id,
    total_tokens: response.emitted,
    total_energy: round(response.energy, 3),
    generation_time_ms: round(generationMs, 1),
    tokens_per_second: generationMs > 0 ? round((response.emitted * 1000) / generationMs, 1) : 0,
    completion_reason: reason,
  };
}

/** Normalised Shannon entropy of the models' smoothed energy shares; 0 with one model. */
function diversity(models: readonly ModelSim[]): number {
  if (models.length < 2) return 0;
  const total = models.reduce((sum, m) => sum + m.smoothedEnergy, 0);
  if (total <= 0) return 0;
  let entropy = 0;
  for (const model of models) {
    const p = model.smoothedEnergy / total;
    if (p > 0) entropy -= p * Math.log(p);
  }
  return round(Math.min(1, Math.max(0, entropy / Math.log(models.length))), 3);
}
