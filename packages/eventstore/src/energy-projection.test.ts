import { validateEnergyState, type EnergyState, type WirthforgeEvent } from '@wirthforge/events';
import { anyEventArbitrary } from '@wirthforge/events/testing';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LLAMA, MISTRAL, SessionEvents } from '../test/event-builders.js';
import { sumValue } from './compensated-sum.js';
import {
  MAX_ENERGY_PEAKS,
  MAX_INCOMPLETE_OPERATIONS,
  energyProjection,
  type EnergyProjectionState,
} from './energy-projection.js';
import { foldEvents, foldEventsInPlace } from './fold-events.js';
import type { ProjectionEvent } from './projection.js';
import { recordEvents } from './record-events.js';
import { projectionSpec, sessionEventsArbitrary } from './testing/index.js';
import { toEnergyState } from './to-energy-state.js';

function energyOf(events: readonly ProjectionEvent[]): EnergyState {
  const state = toEnergyState(foldEvents(energyProjection, events));
  if (state === undefined) throw new Error('no energy state');
  const result = validateEnergyState(state);
  expect(result.issues).toEqual([]);
  return state;
}

describe('energyProjection', () => {
  it('has no energy state before the first event', () => {
    expect(toEnergyState(energyProjection.initialState())).toBeUndefined();
  });

  it('takes the session context from system.start', () => {
    const s = new SessionEvents();
    const start = s.start({
      user_id: 'ada',
      hardware_tier: 'high',
      mode: 'debug',
      model_id: LLAMA,
      features_enabled: ['resonance_detection', 'telepathy', 'single_model', 'single_model'],
    });
    const energy = energyOf([start]);
    expect(energy.sessionContext).toEqual({
      session_id: s.sessionId,
      user_id: 'ada',
      hardware_tier: 'high',
      models_available: [LLAMA],
      session_mode: 'debug',
      features_enabled: ['resonance_detection', 'single_model'],
    });
    expect(energy.energyAccumulator.session_start).toBe(start.timestamp);
    expect(energy.created_at).toBe(start.timestamp);
    expect(energy.frameState).toEqual({
      frame_id: 0,
      timestamp: start.timestamp,
      energy_current: 0,
      energy_delta: 0,
      model_active: LLAMA,
    });
    expect(energy.schema_version).toBe('1.0.0');
  });

  it('maps offline and online to the normal mode, private to private', () => {
    for (const [mode, expected] of [
      ['offline', 'normal'],
      ['online', 'normal'],
      ['private', 'private'],
    ] as const) {
      const s = new SessionEvents();
      expect(energyOf([s.start({ mode })]).sessionContext.session_mode).toBe(expected);
    }
  });

  it('uses defaults until system.start, and the first event as session start', () => {
    const s = new SessionEvents();
    const first = s.update(3, 1);
    const energy = energyOf([first]);
    expect(energy.sessionContext).toMatchObject({ user_id: 'default', hardware_tier: 'mid' });
    expect(energy.energyAccumulator.session_start).toBe(first.timestamp);
  });

  it('sums the updates of a frame and the delta from the previous frame', () => {
    const s = new SessionEvents();
    const events = [
      s.start(),
      s.update(0, 1.5, LLAMA, { fps: 60, frame_budget_used: 9 }),
      s.update(0, 2.5, MISTRAL, { fps: 58 }),
      s.update(1, 1, LLAMA, { fps: 59 }),
      s.update(1, 0.5, MISTRAL, { token_count: 40 }),
    ];
    const energy = energyOf(events);
    expect(energy.frameState).toEqual({
      frame_id: 1,
      timestamp: events[4]?.timestamp,
      energy_current: 1.5,
      energy_delta: -2.5,
      fps: 59,
      frame_budget_used: 9,
      model_active: MISTRAL,
    });
    expect(energy.energyAccumulator).toMatchObject({
      total_energy: 5.5,
      frame_count: 2,
      token_count: 0,
      model_contributions: {
        [LLAMA]: { energy: 2.5, tokens: 0, frames: 2 },
        [MISTRAL]: { energy: 3, tokens: 0, frames: 2 },
      },
    });
    expect(energy.performanceMetrics?.avg_fps).toBe(59);
  });

  it('counts a frame once per model even when a model reports twice in it', () => {
    const s = new SessionEvents();
    const energy = energyOf([s.update(7, 1), s.update(7, 2), s.update(8, 4)]);
    expect(energy.energyAccumulator.frame_count).toBe(2);
    expect(energy.energyAccumulator.model_contributions?.[LLAMA]).toEqual({
      energy: 7,
      tokens: 0,
      frames: 2,
    });
    expect(energy.frameState.energy_delta).toBe(1);
  });

  it('counts tokens from ai.output, per model, not from update token counts', () => {
    const s = new SessionEvents();
    const energy = energyOf([
      s.update(0, 1, LLAMA, { token_count: 99 }),
      s.prompt('p1'),
      s.token('p1', 0, false, MISTRAL),
      s.token('p1', 1, false, MISTRAL),
      s.token('p1', 2, true, LLAMA),
    ]);
    expect(energy.energyAccumulator.token_count).toBe(3);
    expect(energy.energyAccumulator.model_contributions).toEqual({
      [LLAMA]: { energy: 1, tokens: 1, frames: 1 },
      [MISTRAL]: { energy: 0, tokens: 2, frames: 0 },
    });
  });

  it('keeps the highest peaks, in order, earlier ones winning ties', () => {
    const s = new SessionEvents();
    const events: ProjectionEvent[] = [];
    for (let i = 0; i < MAX_ENERGY_PEAKS; i++) events.push(s.peak(i, 10 + (i % 7)));
    const tieLoser = s.peak(500, 10);
    const higher = s.peak(501, 50);
    events.push(tieLoser, higher);
    const peaks = energyOf(events).energyAccumulator.energy_peaks ?? [];
    expect(peaks).toHaveLength(MAX_ENERGY_PEAKS);
    // The 50 replaced the latest of the lowest (10) peaks; the tying 10 was not kept.
    expect(peaks.at(-1)).toEqual({ timestamp: higher.timestamp, energy: 50, frame_id: 501 });
    expect(peaks.filter((p) => p.energy === 10)).toHaveLength(Math.ceil(MAX_ENERGY_PEAKS / 7) - 1);
    expect(peaks.some((p) => p.frame_id === 500)).toBe(false);
    const frames = peaks.map((p) => p.frame_id ?? -1);
    expect(frames).toEqual([...frames].sort((a, b) => a - b));
    expect(energyOf(events).energyAccumulator.total_energy).toBe(0);
  });

  it('counts patterns and keeps them active for their duration at 60 frames/s', () => {
    const s = new SessionEvents();
    const base = [s.update(2, 1), s.interference(2, 50)];
    const after = (frame: number) =>
      energyOf([...base, s.update(frame, 1)]).frameState.pattern_state?.interference_detected;
    // 50 ms is 3 frames at 60 Hz: frames 3 to 5 still see it, frame 6 does not.
    expect(energyOf(base).frameState.pattern_state).toEqual({ interference_detected: true });
    expect(after(5)).toBe(true);
    expect(after(6)).toBe(false);

    const r = new SessionEvents();
    const resonance = [r.update(0, 1), r.resonance(0), r.resonance(0, false)];
    const energy = energyOf(resonance);
    expect(energy.frameState.pattern_state).toEqual({
      resonance_detected: true,
      synchronization_level: 0.9,
      harmony_frequency: 440,
    });
    expect(energy.energyAccumulator.resonance_events).toBe(2);
    expect(energy.energyAccumulator.interference_events).toBe(0);
    expect(
      energyOf([...resonance, r.update(1, 1)]).frameState.pattern_state?.resonance_detected,
    ).toBe(false);
  });

  it('computes the diversity index statistics from updates and ensembles', () => {
    const s = new SessionEvents();
    const energy = energyOf([
      s.update(0, 1, LLAMA, { diversity_index: 0.2 }),
      s.event('ensemble.coordination', {
        models: ['local/phi-3.5'],
        coordination_mode: 'parallel',
        diversity_index: 0.6,
      }),
      s.update(1, 1, LLAMA, { diversity_index: 0.4 }),
    ]);
    const diversity = energy.frameState.diversity_index;
    expect(diversity?.current).toBe(0.4);
    expect(diversity?.peak).toBe(0.6);
    expect(diversity?.smoothed).toBeCloseTo(0.256, 12);
    expect(diversity?.variance).toBeCloseTo(0.08 / 3, 12);
    expect(energy.sessionContext.models_available).toEqual(['local/phi-3.5']);
  });

  it('tracks prompts and generations in progress until they finish', () => {
    const s = new SessionEvents();
    const prompt = s.prompt('p1');
    const first = s.token('p1', 0);
    const second = s.token('p1', 1);
    const ops = (events: ProjectionEvent[]) =>
      energyOf(events).recoveryContext?.incomplete_operations;
    expect(ops([prompt])).toEqual([
      {
        operation_type: 'user_prompt',
        operation_id: 'p1',
        started_at: prompt.timestamp,
        context: {},
      },
    ]);
    expect(ops([prompt, first, second])).toEqual([
      {
        operation_type: 'ai_generation',
        operation_id: 'p1',
        started_at: first.timestamp,
        context: { model_id: LLAMA, tokens_generated: 2 },
      },
    ]);
    expect(ops([prompt, first, second, s.token('p1', 2, true)])).toEqual([]);
    expect(ops([prompt, first, s.complete('p1')])).toEqual([]);
    expect(ops([prompt, s.complete('p1')])).toEqual([]);
    // A clean end leaves nothing running; a crash keeps what was running.
    expect(ops([prompt, first, s.end(true)])).toEqual([]);
    expect(ops([prompt, first, s.end(false)])).toHaveLength(1);
  });

  it('keeps at most the newest incomplete operations', () => {
    const s = new SessionEvents();
    const events = Array.from({ length: MAX_INCOMPLETE_OPERATIONS + 5 }, (_, i) =>
      s.prompt(`p${i}`),
    );
    const ops = energyOf(events).recoveryContext?.incomplete_operations ?? [];
    expect(ops).toHaveLength(MAX_INCOMPLETE_OPERATIONS);
    expect(ops[0]?.operation_id).toBe('p5');
  });

  it('follows models as they load, switch and unload, and heartbeats as the truth', () => {
    const s = new SessionEvents();
    const phi = 'local/phi-3.5';
    const events: ProjectionEvent[] = [
      s.start({ model_id: LLAMA }),
      s.event('model.loaded', { model_id: MISTRAL, load_time_ms: 900 }),
      s.event('model.switched', { from_model_id: LLAMA, to_model_id: phi, reason: 'automatic' }),
    ];
    let energy = energyOf(events);
    expect(energy.sessionContext.models_available).toEqual([LLAMA, MISTRAL, phi]);
    expect(energy.frameState.model_active).toBe(phi);

    events.push(s.event('model.unloaded', { model_id: phi, reason: 'idle_timeout' }));
    energy = energyOf(events);
    expect(energy.sessionContext.models_available).toEqual([LLAMA, MISTRAL]);
    expect(energy.frameState.model_active).toBeUndefined();

    events.push(
      s.event('health.heartbeat', {
        system_health: 'healthy',
        fps: 60,
        memory_usage_mb: 900,
        event_queue_size: 4,
        models_loaded: [MISTRAL, MISTRAL],
      }),
      s.event('health.heartbeat', { system_health: 'warning', fps: 240, memory_usage_mb: 700 }),
    );
    energy = energyOf(events);
    expect(energy.sessionContext.models_available).toEqual([MISTRAL]);
    expect(energy.performanceMetrics?.memory_usage).toEqual({ current_mb: 700, peak_mb: 900 });
    expect(energy.performanceMetrics?.disk_io).toEqual({ events_queued: 4 });
    // A heartbeat's fps is not a frame's: frame fps stays within the schema's 120.
    expect(energy.frameState.fps).toBeUndefined();
  });

  it('reads frame drops, latency and backlog from health.performance', () => {
    const s = new SessionEvents();
    const perf = (
      metric: 'frame_drop' | 'high_latency' | 'disk_slow' | 'queue_backlog',
      value: number,
    ) => s.event('health.performance', { metric, value, severity: 'warning' });
    const energy = energyOf([
      perf('frame_drop', 21),
      perf('frame_drop', 19),
      perf('high_latency', 7.5),
      perf('disk_slow', -1),
      perf('queue_backlog', 12),
      perf('queue_backlog', 2.5),
    ]);
    expect(energy.performanceMetrics).toMatchObject({
      frame_drops: 2,
      disk_io: { write_latency_ms: 7.5, events_queued: 12 },
    });
  });

  it('derives energy and token rates from the time since the session started', () => {
    const s = new SessionEvents();
    // Events 1 ms apart: start at 0, then 1, 2 and 3 ms.
    const energy = energyOf([s.start(), s.update(0, 2), s.token('p', 0), s.update(1, 4)]);
    expect(energy.performanceMetrics?.energy_rate).toBeCloseTo(6 / 0.003, 6);
    expect(energy.performanceMetrics?.token_rate).toBeCloseTo(1 / 0.003, 6);
    // A single event spans no time: no rate.
    expect(energyOf([new SessionEvents().start()]).performanceMetrics?.energy_rate).toBeUndefined();
  });

  it('keeps the recovery context: last event, snapshot, clean shutdown', () => {
    const s = new SessionEvents();
    const records = recordEvents(
      [
        s.start(),
        s.event('state.snapshot_created', {
          snapshot_id: 4,
          snapshot_type: 'periodic',
          state_size_bytes: 100,
        }),
        s.event('session.recovered', {
          recovered_from: { snapshot_id: 9, position: 10, version: 2 },
          events_replayed: 3,
          reason: 'unclean_shutdown',
          outcome: 'resumed',
        }),
      ],
      { position: 70n },
    );
    const state = toEnergyState(foldEvents(energyProjection, records));
    expect(state?.recoveryContext).toEqual({
      last_event_id: 72,
      last_snapshot_id: 9,
      incomplete_operations: [],
      clean_shutdown: false,
    });
    const ended = foldEvents(
      energyProjection,
      [s.end(true)],
      foldEvents(energyProjection, records),
    );
    expect(toEnergyState(ended)?.recoveryContext?.clean_shutdown).toBe(true);
  });

  it('lets an event of an unknown type move only the clock and the position', () => {
    const s = new SessionEvents();
    const events = [s.start(), s.update(0, 3)];
    const unknown = s.unknown();
    projectionSpec(energyProjection)
      .given(events)
      .when([unknown])
      .then((state) => {
        const without = foldEvents(energyProjection, events);
        expect({ ...state, updated_at: null, last_event_id: 0 }).toEqual({
          ...without,
          updated_at: null,
          last_event_id: 0,
        });
        expect(state.updated_at).toBe(unknown.event.timestamp);
        expect(state.last_event_id).toBe(3);
      });
  });

  it('gives an energy state that shares nothing with the fold', () => {
    const s = new SessionEvents();
    const state = foldEvents(energyProjection, [
      s.start(),
      s.update(0, 1),
      s.peak(0, 9),
      s.prompt('p'),
    ]);
    const first = toEnergyState(state);
    const copy = structuredClone(first);
    foldEventsInPlace(energyProjection, state, [s.update(1, 5), s.peak(1, 20), s.token('p', 0)]);
    expect(first).toEqual(copy);
    expect(toEnergyState(state)?.energyAccumulator.total_energy).toBe(6);
  });

  it('stores a model id spelled __proto__ as a key of its own', () => {
    const s = new SessionEvents();
    const energy = energyOf([s.update(0, 2, '__proto__')]);
    const contributions = energy.energyAccumulator.model_contributions ?? {};
    expect(Object.getPrototypeOf(contributions)).toBe(Object.prototype);
    expect(Object.keys(contributions)).toEqual(['__proto__']);
  });
});

/** Energy of every energy.update, with each model's part. */
function energies(events: readonly WirthforgeEvent[]): {
  all: number[];
  byModel: Map<string, number[]>;
} {
  const all: number[] = [];
  const byModel = new Map<string, number[]>();
  for (const event of events) {
    if (event.type !== 'energy.update') continue;
    all.push(event.data.energy);
    const list = byModel.get(event.data.model_id) ?? [];
    list.push(event.data.energy);
    byModel.set(event.data.model_id, list);
  }
  return { all, byModel };
}

/** Within `ulps` units in the last place of the larger magnitude. */
function closeTo(actual: number, expected: number, ulps = 4): boolean {
  const scale = Math.max(Math.abs(actual), Math.abs(expected), Number.MIN_VALUE);
  return Math.abs(actual - expected) <= ulps * Number.EPSILON * scale;
}

function checkInvariants(events: readonly WirthforgeEvent[], state: EnergyProjectionState): void {
  const energy = toEnergyState(state);
  expect(energy).toBeDefined();
  expect(validateEnergyState(energy).issues).toEqual([]);
  const accumulator = (energy as EnergyState).energyAccumulator;
  const contributions = Object.values(accumulator.model_contributions ?? {});
  const { byModel } = energies(events);
  // Conservation: the total is every update's energy, and the models' parts add up to it.
  const partsTotal = contributions.reduce((sum, c) => sum + c.energy, 0);
  expect(closeTo(partsTotal, accumulator.total_energy, 8)).toBe(true);
  expect(contributions.length).toBeGreaterThanOrEqual(byModel.size);
  for (const [model, list] of byModel) {
    const contribution = accumulator.model_contributions?.[model];
    expect(contribution?.frames).toBeLessThanOrEqual(accumulator.frame_count);
    expect(contribution?.frames).toBeLessThanOrEqual(list.length);
  }
  const tokens = events.filter((e) => e.type === 'ai.output').length;
  expect(accumulator.token_count).toBe(tokens);
  expect(contributions.reduce((sum, c) => sum + (c.tokens ?? 0), 0)).toBe(tokens);
  expect(state.frame_count).toBe(accumulator.frame_count);
}

describe('energyProjection on generated sessions', () => {
  it('gives a valid energy state that conserves energy', () => {
    fc.assert(
      fc.property(sessionEventsArbitrary({ maxEvents: 400 }), (events) => {
        const state = foldEvents(energyProjection, recordEvents(events));
        checkInvariants(events, state);
        const { all } = energies(events);
        const naive = all.reduce((sum, e) => sum + e, 0);
        // Few terms: the compensated total is the naive sum or within a rounding of it.
        expect(closeTo(sumValue(state.total_energy), naive, 2 * Math.max(1, all.length))).toBe(
          true,
        );
      }),
      { numRuns: 60 },
    );
  });

  it('gives a valid energy state for any sequence of valid events', () => {
    fc.assert(
      fc.property(
        fc.array(anyEventArbitrary({ extraFields: true }), { maxLength: 60 }),
        (events) => {
          const state = foldEvents(energyProjection, events);
          if (events.length === 0) {
            expect(toEnergyState(state)).toBeUndefined();
            return;
          }
          checkInvariants(events, state);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps the total exact to a rounding over a long session of three-decimal energies', () => {
    // 200 000 updates of 0.001 to 9.999 EU from three models: their exact sum is an
    // integer number of milli-EU.
    const s = new SessionEvents();
    const models = [LLAMA, MISTRAL, 'local/phi-3.5'];
    const events: WirthforgeEvent[] = [s.start()];
    let milli = 0;
    let seed = 12345;
    for (let i = 0; i < 200_000; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const units = 1 + (seed % 9999);
      milli += units;
      events.push(s.update(Math.floor(i / 3), units / 1000, models[i % 3], { fps: 60 }));
    }
    const state = foldEvents(energyProjection, recordEvents(events));
    const exact = milli / 1000;
    expect(closeTo(sumValue(state.total_energy), exact, 2)).toBe(true);
    checkInvariants(events, state);
    expect(state.frame_count).toBe(Math.ceil(200_000 / 3));
  });
});
