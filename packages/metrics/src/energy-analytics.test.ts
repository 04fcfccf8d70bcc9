import fc from 'fast-check';
import { validateEvent, type EventOfType } from '@wirthforge/events';
import type { RollupUpsert } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';
import {
  SESSION,
  START_US,
  applyWrites,
  bruteForceRollups,
  steadySession,
  token,
  update,
} from '../test/analytics-fixtures.js';
import { ALL_MODELS, EnergyAnalytics, type AnalyticsEvent } from './energy-analytics.js';

const MODELS = ['local/llama-3', 'local/phi-3.5'];

const sessionArbitrary = fc
  .array(
    fc.record({
      gapUs: fc.oneof(fc.integer({ min: 0, max: 20_000 }), fc.integer({ min: 0, max: 3_000_000 })),
      kind: fc.constantFrom('update', 'update', 'token'),
      model: fc.constantFrom(...MODELS),
      energy: fc.double({ min: 0, max: 1000, noNaN: true }),
      fps: fc.option(fc.double({ min: 0, max: 120, noNaN: true }), { nil: undefined }),
      budget: fc.option(fc.double({ min: 0, max: 16.67, noNaN: true }), { nil: undefined }),
    }),
    { minLength: 1, maxLength: 300 },
  )
  .map((steps) => {
    let ts = START_US + 123_456;
    return steps.map((step, i): AnalyticsEvent => {
      ts += step.gapUs;
      if (step.kind === 'token') return token(ts, step.model);
      return {
        type: 'energy.update',
        timestampUs: ts,
        frameId: i + 1,
        data: {
          energy: step.energy,
          accumulator: 0,
          model_id: step.model,
          ...(step.fps === undefined ? {} : { fps: step.fps }),
          ...(step.budget === undefined ? {} : { frame_budget_used: step.budget }),
        },
      };
    });
  });

/** Cuts `events` into commits at the given (sorted, deduplicated) indexes. */
function commitsOf<T>(events: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((c) => c % (events.length + 1)))].sort((a, b) => a - b);
  const out: T[][] = [];
  let from = 0;
  for (const p of [...points, events.length]) {
    out.push(events.slice(from, p));
    from = p;
  }
  return out;
}

describe('EnergyAnalytics rollups', () => {
  it('equal a brute-force recomputation, however the events are cut into commits', () => {
    fc.assert(
      fc.property(sessionArbitrary, fc.array(fc.nat(), { maxLength: 20 }), (events, cuts) => {
        const analytics = new EnergyAnalytics({ peaks: false, anomalies: false });
        const rows = new Map<string, RollupUpsert>();
        for (const commit of commitsOf(events, cuts)) {
          applyWrites(rows, analytics.observe(SESSION, commit));
        }
        expect(rows).toEqual(bruteForceRollups(SESSION, events));
        expect(analytics.stats().lateEvents).toBe(0);
      }),
      { numRuns: 150 },
    );
  });

  it('writes only the buckets a commit changed', () => {
    const analytics = new EnergyAnalytics({ peaks: false, anomalies: false });
    const first = analytics.observe(SESSION, [update(START_US, 1, 2)]);
    // One model: its bucket and the all-models bucket at each of three granularities.
    expect(first).toHaveLength(6);
    expect(new Set(first.map((w) => w.modelId))).toEqual(new Set(['local/llama-3', ALL_MODELS]));
    expect(analytics.observe(SESSION, [])).toEqual([]);
    const second = analytics.observe(SESSION, [update(START_US + 1_000_000, 2, 3)]);
    // A new second; the same minute and hour, updated.
    expect(second.filter((w) => w.granularity === '1s').map((w) => w.bucketStartUs)).toEqual([
      START_US + 1_000_000,
      START_US + 1_000_000,
    ]);
    expect(second.find((w) => w.granularity === '1m' && w.modelId === ALL_MODELS)).toMatchObject({
      energySum: 5,
      energyMin: 2,
      energyMax: 3,
      eventCount: 2,
    });
  });

  it('counts an event too late for its bucket instead of overwriting a closed row', () => {
    const analytics = new EnergyAnalytics({ peaks: false, anomalies: false, lateBuckets: 1 });
    analytics.observe(SESSION, [update(START_US, 1, 1)]);
    analytics.observe(SESSION, [update(START_US + 5_000_000, 2, 1)]);
    analytics.observe(SESSION, [update(START_US + 9_000_000, 3, 1)]);
    const writes = analytics.observe(SESSION, [update(START_US + 10, 4, 1)]);
    expect(writes.some((w) => w.granularity === '1s')).toBe(false);
    expect(analytics.stats().lateEvents).toBe(1);
  });
});

describe('peak detection', () => {
  it('finds a planted spike as one energy.peak with its threshold and context', () => {
    const peaks: EventOfType<'energy.peak'>[] = [];
    const analytics = new EnergyAnalytics({ anomalies: false, onPeak: (p) => peaks.push(p) });
    const events = steadySession(30, () => 5, 0.5);
    // Frame 1500 (second 25) carries a spike.
    const spiked = events.map((e) => (e.frameId === 1500 ? update(e.timestampUs, 1500, 40) : e));
    for (let i = 0; i < spiked.length; i += 60) analytics.observe(SESSION, spiked.slice(i, i + 60));
    expect(peaks).toHaveLength(1);
    const [peak] = peaks;
    expect(peak!.frame_id).toBe(1500);
    expect(peak!.data.energy).toBe(40);
    expect(peak!.data.threshold).toBeGreaterThan(5.5);
    expect(peak!.data.threshold).toBeLessThan(40);
    expect(peak!.data.context).toMatch(
      /median 5\.\d+ .*over the last 600 updates of local\/llama-3/,
    );
    expect(validateEvent(peak).status).toBe('valid');
  });

  it('flags nothing in a steady session, nor during warm-up', () => {
    const peaks: unknown[] = [];
    const analytics = new EnergyAnalytics({ anomalies: false, onPeak: (p) => peaks.push(p) });
    // Warm-up: a wild first second must not count, there is no baseline yet.
    const events = [
      ...steadySession(1, () => 50, 45, 3),
      ...steadySession(120, () => 5, 0.5, 4).map((e) => ({
        ...e,
        timestampUs: e.timestampUs + 1_000_000,
      })),
    ];
    for (let i = 0; i < events.length; i += 60) analytics.observe(SESSION, events.slice(i, i + 60));
    expect(peaks).toEqual([]);
  });
});

describe('anomaly detection', () => {
  it('finds a planted level shift as one energy.anomaly with its score and window', () => {
    const anomalies: EventOfType<'energy.anomaly'>[] = [];
    const analytics = new EnergyAnalytics({ peaks: false, onAnomaly: (a) => anomalies.push(a) });
    // 5 EU per update for 120 s, then 9 EU from second 120 on.
    const events = steadySession(240, (s) => (s < 120 ? 5 : 9), 0.5);
    for (let i = 0; i < events.length; i += 60) analytics.observe(SESSION, events.slice(i, i + 60));
    const energy = anomalies.filter((a) => a.data.metric === 'energy');
    expect(energy).toHaveLength(1);
    const [found] = energy;
    expect(found!.data).toMatchObject({
      model_id: 'local/llama-3',
      direction: 'high',
      threshold: 6,
      window_size: 60,
    });
    expect(found!.data.median).toBeGreaterThan(290); // 60 updates of about 5 EU per second
    expect(found!.data.median).toBeLessThan(310);
    expect(found!.data.value).toBeGreaterThan(520);
    expect(found!.data.score).toBeGreaterThanOrEqual(6);
    expect(found!.data.window_seconds).toBe(60); // seconds 62 to 121, before the one judged
    // Found within the few seconds minRun asks for, in the shifted part.
    const second = (Date.parse(found!.timestamp) * 1000 - START_US) / 1_000_000;
    expect(second).toBeGreaterThanOrEqual(122);
    expect(second).toBeLessThan(124);
    expect(validateEvent(found).status).toBe('valid');
  });

  it('raises no anomaly for a steady session, its warm-up, or one spike', () => {
    const anomalies: unknown[] = [];
    const analytics = new EnergyAnalytics({ onAnomaly: (a) => anomalies.push(a) });
    const events = steadySession(600, (s) => (s < 2 ? 30 : 5), 0.5, 11).map((e) =>
      e.frameId === 20_000 ? update(e.timestampUs, 20_000, 60) : e,
    );
    for (let i = 0; i < events.length; i += 60) analytics.observe(SESSION, events.slice(i, i + 60));
    expect(anomalies).toEqual([]);
  });
});

describe('trends', () => {
  it('gives moving averages and the slope of a ramp', () => {
    const analytics = new EnergyAnalytics({ peaks: false, anomalies: false });
    // Energy per second grows by 60 EU each second (1 EU per update more each second).
    const events = steadySession(31, (s) => 1 + s, 0);
    for (let i = 0; i < events.length; i += 60) analytics.observe(SESSION, events.slice(i, i + 60));
    const [ten] = analytics.trends(SESSION, ALL_MODELS, [10]);
    expect(ten!.seconds).toBe(10);
    expect(ten!.energy.slopePerStep).toBeCloseTo(60, 6);
    expect(ten!.energy.mean).toBeCloseTo(60 * (1 + 24.5), 6);
    expect(ten!.tokenRate.mean).toBe(0);
  });
});
