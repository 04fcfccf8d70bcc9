import {
  createUnknownEvent,
  toIsoMicros,
  type EventData,
  type EventOfType,
  type EventType,
  type UnknownEvent,
} from '@wirthforge/events';

export const SESSION_ID = '20250817T194800Z_001';
export const START_US = 1_755_460_080_000_000;
export const LLAMA = 'ollama/llama2:7b';
export const MISTRAL = 'ollama/mistral:7b';

/**
 * Builds valid events of one session with timestamps 1 ms apart, in the order they are
 * built.
 */
export class SessionEvents {
  #time: number;

  constructor(
    readonly sessionId: string = SESSION_ID,
    startUs: number = START_US,
  ) {
    this.#time = startUs;
  }

  /** Timestamp of the next event. */
  tick(us = 1000): string {
    const timestamp = toIsoMicros(this.#time);
    this.#time += us;
    return timestamp;
  }

  event<T extends EventType>(type: T, data: EventData<T>, frameId?: number): EventOfType<T> {
    const base = { session_id: this.sessionId, timestamp: this.tick(), type, data };
    return (frameId === undefined
      ? base
      : { ...base, frame_id: frameId }) as unknown as EventOfType<T>;
  }

  start(data: Partial<EventData<'system.start'>> = {}): EventOfType<'system.start'> {
    return this.event('system.start', {
      version: '1.0.0',
      user_id: 'ada',
      mode: 'offline',
      ...data,
    });
  }

  end(clean = true, data: Partial<EventData<'system.end'>> = {}): EventOfType<'system.end'> {
    return this.event('system.end', {
      duration_ms: 1000,
      clean_shutdown: clean,
      reason: clean ? 'user_exit' : 'crash',
      ...data,
    });
  }

  update(
    frameId: number,
    energy: number,
    modelId = LLAMA,
    data: Partial<EventData<'energy.update'>> = {},
  ): EventOfType<'energy.update'> {
    return this.event(
      'energy.update',
      { energy, accumulator: 0, model_id: modelId, ...data },
      frameId,
    );
  }

  peak(frameId: number, energy: number, modelId = LLAMA): EventOfType<'energy.peak'> {
    return this.event('energy.peak', { energy, threshold: 1, model_id: modelId }, frameId);
  }

  prompt(promptId: string): EventOfType<'user.prompt'> {
    return this.event('user.prompt', { prompt_id: promptId, interface: 'text', truncated: false });
  }

  token(
    promptId: string,
    index: number,
    isLast = false,
    modelId = LLAMA,
  ): EventOfType<'ai.output'> {
    return this.event('ai.output', {
      prompt_id: promptId,
      token_index: index,
      is_last: isLast,
      model_id: modelId,
    });
  }

  complete(promptId: string, modelId = LLAMA): EventOfType<'ai.response_complete'> {
    return this.event('ai.response_complete', {
      prompt_id: promptId,
      model_id: modelId,
      total_tokens: 2,
      completion_reason: 'finished',
    });
  }

  interference(frameId: number, durationMs?: number): EventOfType<'pattern.interference'> {
    return this.event(
      'pattern.interference',
      {
        models_involved: [LLAMA, MISTRAL],
        interference_type: 'constructive',
        strength: 0.5,
        ...(durationMs === undefined ? {} : { duration_ms: durationMs }),
      },
      frameId,
    );
  }

  resonance(frameId: number, harmony = true): EventOfType<'pattern.resonance'> {
    return this.event(
      'pattern.resonance',
      {
        models_involved: [LLAMA, MISTRAL],
        resonance_frequency: 440,
        amplitude: 0.8,
        synchronization_level: 0.9,
        harmony_detected: harmony,
      },
      frameId,
    );
  }

  unknown(type = 'future.thing'): UnknownEvent {
    return createUnknownEvent({
      session_id: this.sessionId,
      timestamp: this.tick(),
      type,
      data: { anything: 1 },
    });
  }
}
