import {
  isSessionId,
  parseIsoMicros,
  validateEvent,
  type WirthforgeEvent,
} from '@wirthforge/events';
import { describe, expect, it } from 'vitest';
import { collectEvents } from './collect-events.js';
import { SIM_EVENT_TYPES, type SimEvent, type SimFrame } from './sim-event.js';
import { DEFAULT_MODELS, TELEMETRY_TYPES, simulateSession } from './simulate-session.js';

const TWO_MODELS = ['ollama/llama3.2:3b', 'ollama/mistral:7b'];

function byType<T extends SimEvent['type']>(
  events: readonly SimEvent[],
  type: T,
): Extract<SimEvent, { type: T }>[] {
  return events.filter((e): e is Extract<SimEvent, { type: T }> => e.type === type);
}

describe('simulateSession', () => {
  it('gives identical output for the same seed, also when iterated twice', () => {
    const options = { seed: 42, durationSeconds: 20, models: TWO_MODELS };
    const session = simulateSession(options);
    const first = JSON.stringify([...session]);
    const second = JSON.stringify([...session]);
    const fresh = JSON.stringify([...simulateSession(options)]);
    expect(second).toBe(first);
    expect(fresh).toBe(first);
  });

  it('gives different output for different seeds', () => {
    const a = collectEvents({ seed: 1, durationSeconds: 5 });
    const b = collectEvents({ seed: 2, durationSeconds: 5 });
    expect(JSON.stringify(b)).not.toBe(JSON.stringify(a));
  });

  it('emits fps energy updates per model in every second and one heartbeat per second', () => {
    for (const [models, fps] of [
      [DEFAULT_MODELS, 60],
      [TWO_MODELS, 60],
      [TWO_MODELS, 30],
    ] as const) {
      const session = simulateSession({ seed: 3, durationSeconds: 12, models, fps });
      const perSecond = new Map<number, { energy: Map<string, number>; heartbeats: number }>();
      for (const frame of session) {
        const second = Math.floor(frame.frameId / fps);
        const bucket = perSecond.get(second) ?? { energy: new Map(), heartbeats: 0 };
        perSecond.set(second, bucket);
        for (const event of frame.events) {
          if (event.type === 'energy.update') {
            const id = event.data.model_id;
            bucket.energy.set(id, (bucket.energy.get(id) ?? 0) + 1);
          }
          if (event.type === 'health.heartbeat') bucket.heartbeats++;
        }
      }
      expect(perSecond.size).toBe(12);
      for (const bucket of perSecond.values()) {
        expect([...bucket.energy.keys()].sort()).toEqual([...models].sort());
        for (const count of bucket.energy.values()) expect(count).toBe(fps);
        expect(bucket.heartbeats).toBe(1);
      }
    }
  });

  it('numbers frames consecutively with increasing timestamps; events stay inside their frame', () => {
    const session = simulateSession({ seed: 5, durationSeconds: 15, models: TWO_MODELS });
    const frames = [...session];
    expect(frames).toHaveLength(session.frameCount);
    expect(session.frameCount).toBe(15 * 60);
    let previousEventUs = -1;
    frames.forEach((frame: SimFrame, index) => {
      expect(frame.frameId).toBe(index);
      const next = frames[index + 1];
      if (next) expect(next.timestampUs).toBeGreaterThan(frame.timestampUs);
      const endUs = next ? next.timestampUs : Number.POSITIVE_INFINITY;
      for (const event of frame.events) {
        const us = parseIsoMicros(event.timestamp);
        expect(us).toBeGreaterThanOrEqual(previousEventUs);
        expect(us).toBeGreaterThanOrEqual(frame.timestampUs);
        expect(us).toBeLessThan(endUs);
        previousEventUs = us;
        if (event.frame_id !== undefined) expect(event.frame_id).toBe(frame.frameId);
      }
    });
    expect(frames[0]?.timestampUs).toBe(session.startTimeUs);
  });

  it('keeps the accumulator equal to the running sum of energy', () => {
    const events = collectEvents({ seed: 9, durationSeconds: 30, models: TWO_MODELS });
    let milli = 0;
    const updates = byType(events, 'energy.update');
    expect(updates.length).toBe(30 * 60 * 2);
    for (const update of updates) {
      expect(update.data.energy).toBeGreaterThanOrEqual(0);
      expect(Math.round(update.data.energy * 1000)).toBeCloseTo(update.data.energy * 1000, 6);
      milli += Math.round(update.data.energy * 1000);
      expect(update.data.accumulator).toBe(milli / 1000);
    }
    const end = byType(events, 'system.end')[0];
    expect(end?.data.total_energy).toBe(milli / 1000);
  });

  it('reports plausible frame metrics and a rising token count that matches the tokens', () => {
    const events = collectEvents({ seed: 11, durationSeconds: 40, models: TWO_MODELS });
    const tokensSoFar = new Map<string, number>();
    for (const event of events) {
      if (event.type === 'ai.output') {
        const id = event.data.model_id;
        tokensSoFar.set(id, (tokensSoFar.get(id) ?? 0) + 1);
      }
      if (event.type === 'energy.update') {
        const d = event.data;
        expect(d.token_count).toBe(tokensSoFar.get(d.model_id) ?? 0);
        expect(d.fps).toBeGreaterThan(58);
        expect(d.fps).toBeLessThanOrEqual(60);
        expect(d.frame_budget_used).toBeGreaterThan(0);
        expect(d.frame_budget_used).toBeLessThanOrEqual(16.67);
        expect(d.diversity_index).toBeGreaterThanOrEqual(0);
        expect(d.diversity_index).toBeLessThanOrEqual(1);
      }
    }
    expect(Math.min(...tokensSoFar.values())).toBeGreaterThan(100);
  });

  it('generates answers at 20-40 tokens per second, each closed by ai.response_complete', () => {
    const events = collectEvents({ seed: 13, durationSeconds: 120 });
    const completes = byType(events, 'ai.response_complete');
    const outputs = byType(events, 'ai.output');
    const prompts = byType(events, 'user.prompt');
    expect(prompts.length).toBeGreaterThanOrEqual(5);
    expect(completes).toHaveLength(prompts.length);
    for (const complete of completes) {
      const tokens = outputs.filter((o) => o.data.prompt_id === complete.data.prompt_id);
      expect(tokens.map((t) => t.data.token_index)).toEqual(tokens.map((_, i) => i));
      expect(complete.data.total_tokens).toBe(tokens.length);
      if (complete.data.completion_reason === 'user_interrupt') continue;
      expect(tokens.at(-1)?.data.is_last).toBe(true);
      expect(tokens.slice(0, -1).every((t) => !t.data.is_last)).toBe(true);
      const first = parseIsoMicros(tokens[0]!.timestamp);
      const last = parseIsoMicros(tokens.at(-1)!.timestamp);
      const rate = ((tokens.length - 1) * 1_000_000) / (last - first);
      expect(rate).toBeGreaterThan(15);
      expect(rate).toBeLessThan(50);
    }
  });

  it('opens with system.start and model.loaded, closes with system.end counting every event', () => {
    const session = simulateSession({ seed: 17, durationSeconds: 4, models: TWO_MODELS });
    const events = collectEvents(session);
    expect(events.slice(0, 3).map((e) => e.type)).toEqual([
      'system.start',
      'model.loaded',
      'model.loaded',
    ]);
    expect(byType(events, 'model.loaded').map((e) => e.data.model_id)).toEqual(TWO_MODELS);
    const last = events.at(-1);
    expect(last?.type).toBe('system.end');
    if (last?.type !== 'system.end') return;
    expect(last.data.total_events).toBe(events.length);
    expect(last.data.clean_shutdown).toBe(true);
    expect(last.data.duration_ms).toBeGreaterThan(3900);
    expect(last.data.duration_ms).toBeLessThan(4000);
    expect(events.at(-2)?.type).toBe('user.action');
    expect(byType(events, 'system.start')).toHaveLength(1);
    expect(byType(events, 'system.end')).toHaveLength(1);
  });

  it('detects interference and resonance only when two or more models generate', () => {
    const many = collectEvents({ seed: 21, durationSeconds: 600, models: TWO_MODELS });
    const interference = byType(many, 'pattern.interference');
    const resonance = byType(many, 'pattern.resonance');
    expect(interference.length).toBeGreaterThan(0);
    expect(resonance.length).toBeGreaterThan(0);
    for (const event of [...interference, ...resonance]) {
      expect(event.data.models_involved).toEqual(TWO_MODELS);
    }
    expect(byType(many, 'energy.peak').length).toBeGreaterThan(0);
    const single = collectEvents({ seed: 21, durationSeconds: 600 });
    expect(single.some((e) => e.type.startsWith('pattern.'))).toBe(false);
  });

  it('uses valid, unique ids and ids with ":" and "/" for models', () => {
    const events = collectEvents({ seed: 23, durationSeconds: 10, eventIds: 'all' });
    expect(new Set(events.map((e) => e.event_id)).size).toBe(events.length);
    for (const event of events) {
      expect(isSessionId(event.session_id)).toBe(true);
    }
    expect(byType(events, 'energy.update')[0]?.data.model_id).toBe('ollama/llama3.2:3b');
    const bare = collectEvents({ seed: 23, durationSeconds: 1, eventIds: false });
    expect(bare.every((e) => e.event_id === undefined)).toBe(true);
  });

  it('gives ids to discrete events only by default, not to the high-rate telemetry', () => {
    const events = collectEvents({ seed: 23, durationSeconds: 10 });
    const withId = events.filter((e) => e.event_id !== undefined);
    expect(withId.length).toBeGreaterThan(0);
    for (const event of events) {
      expect(event.event_id === undefined).toBe(TELEMETRY_TYPES.has(event.type));
    }
    expect(new Set(withId.map((e) => e.event_id)).size).toBe(withId.length);
    expect(() => collectEvents({ seed: 1, durationSeconds: 1, eventIds: 'some' as never })).toThrow(
      RangeError,
    );
  });

  it('hashes tokens in privacy mode', () => {
    const events = collectEvents({ seed: 29, durationSeconds: 20, privacy: true });
    const outputs = byType(events, 'ai.output');
    expect(outputs.length).toBeGreaterThan(0);
    for (const output of outputs) {
      expect(output.data.token).toBeUndefined();
      expect(output.data.token_hash).toMatch(/^[0-9a-f]{16}$/);
    }
  });

  it('produces only events that validate against the WIRTHFORGE event schemas', () => {
    const seen = new Set<string>();
    for (const options of [
      { seed: 31, durationSeconds: 300, models: TWO_MODELS },
      { seed: 32, durationSeconds: 120, privacy: true },
      { seed: 33, durationSeconds: 30, models: [...TWO_MODELS, 'ollama/codellama:7b'], fps: 30 },
    ]) {
      for (const event of collectEvents(options)) {
        // Compile-time: a simulated event is a WirthforgeEvent as it is.
        const wire: WirthforgeEvent = event;
        const result = validateEvent(wire);
        expect(result.issues, `${event.type} ${JSON.stringify(event)}`).toEqual([]);
        expect(result.status).toBe('valid');
        seen.add(event.type);
      }
    }
    expect([...seen].sort()).toEqual([...SIM_EVENT_TYPES].sort());
  });

  it('takes start time and session id from the options', () => {
    const session = simulateSession({
      seed: 1,
      durationSeconds: 1,
      startTime: new Date('2026-01-02T03:04:05.678Z'),
    });
    expect(session.sessionId).toBe('20260102T030405Z_001');
    expect(simulateSession({ seed: 1234, durationSeconds: 1 }).sessionId).toBe(
      '20250817T194800Z_234',
    );
    expect(session.startTimeUs).toBe(Date.parse('2026-01-02T03:04:05.678Z') * 1000);
    const named = simulateSession({
      seed: 1,
      durationSeconds: 1,
      sessionId: '20250101T000000Z_007',
    });
    expect(collectEvents(named)[0]?.session_id).toBe('20250101T000000Z_007');
  });

  it('rejects invalid options', () => {
    expect(() => simulateSession({ seed: 1, durationSeconds: 0 })).toThrow(RangeError);
    expect(() => simulateSession({ seed: 1, durationSeconds: 1, fps: 0 })).toThrow(RangeError);
    expect(() => simulateSession({ seed: 1, durationSeconds: 1, fps: 59.5 })).toThrow(RangeError);
    expect(() => simulateSession({ seed: 1, durationSeconds: 1, models: [] })).toThrow(RangeError);
    expect(() => simulateSession({ seed: 1, durationSeconds: 1, models: ['a', 'a'] })).toThrow(
      RangeError,
    );
    expect(() => simulateSession({ seed: 1, durationSeconds: 1, sessionId: 'nope' })).toThrow(
      RangeError,
    );
    expect(() => simulateSession({ seed: Number.NaN, durationSeconds: 1 })).toThrow(RangeError);
  });
});
