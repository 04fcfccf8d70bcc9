import { createPrng } from '@wirthforge/simulator';
import type { AnalyticsEvent, RollupGranularity } from '../src/energy-analytics.js';
import { ALL_MODELS, ROLLUP_GRANULARITIES } from '../src/energy-analytics.js';
import type { RollupUpsert } from '@wirthforge/storage';

export const SESSION = '20250817T194800Z_001';
export const START_US = 1_755_460_080_000_000;

/** An energy update as the analytics read it. */
export function update(
  timestampUs: number,
  frameId: number,
  energy: number,
  modelId = 'local/llama-3',
  fps = 60,
  budget = 8,
): AnalyticsEvent {
  return {
    type: 'energy.update',
    timestampUs,
    frameId,
    data: { energy, accumulator: 0, model_id: modelId, fps, frame_budget_used: budget },
  };
}

/** A token as the analytics read it. */
export function token(timestampUs: number, modelId = 'local/llama-3'): AnalyticsEvent {
  return {
    type: 'ai.output',
    timestampUs,
    data: { prompt_id: 'p', token_index: 0, is_last: false, model_id: modelId },
  };
}

/**
 * `seconds` of 60 Hz updates of one model: `level(second)` EU per update plus uniform
 * noise of +/- `noise`, deterministic.
 */
export function steadySession(
  seconds: number,
  level: (second: number) => number,
  noise: number,
  seed = 7,
): AnalyticsEvent[] {
  const prng = createPrng(seed);
  const events: AnalyticsEvent[] = [];
  for (let s = 0; s < seconds; s++) {
    for (let f = 0; f < 60; f++) {
      const frame = s * 60 + f + 1;
      const ts = START_US + s * 1_000_000 + Math.floor((f * 1_000_000) / 60);
      events.push(update(ts, frame, level(s) + (prng.next() * 2 - 1) * noise));
    }
  }
  return events;
}

const key = (w: RollupUpsert): string => `${w.modelId}|${w.granularity}|${w.bucketStartUs}`;

/** Rollups recomputed from scratch over all events: what the incremental ones must equal. */
export function bruteForceRollups(
  sessionId: string,
  events: readonly AnalyticsEvent[],
  granularities: readonly RollupGranularity[] = ['1s', '1m', '1h'],
  dropFps = 50,
  dropBudgetMs = 16,
): Map<string, RollupUpsert> {
  const out = new Map<string, RollupUpsert>();
  const models = new Set<string>();
  for (const e of events) {
    if (e.type === 'energy.update' || e.type === 'ai.output')
      models.add((e.data as { model_id: string }).model_id);
  }
  for (const model of [...models, ALL_MODELS]) {
    for (const g of granularities) {
      const width = ROLLUP_GRANULARITIES[g];
      const starts = new Set<number>();
      const mine = events.filter(
        (e) =>
          (e.type === 'energy.update' || e.type === 'ai.output') &&
          (model === ALL_MODELS || (e.data as { model_id: string }).model_id === model),
      );
      for (const e of mine) starts.add(Math.floor(e.timestampUs / width) * width);
      for (const start of starts) {
        const inBucket = mine.filter((e) => Math.floor(e.timestampUs / width) * width === start);
        const updates = inBucket.filter((e) => e.type === 'energy.update');
        const data = updates.map(
          (e) => e.data as { energy: number; fps?: number; frame_budget_used?: number },
        );
        let energySum = 0;
        let fpsSum = 0;
        let budgetSum = 0;
        for (const d of data) {
          energySum += d.energy;
          fpsSum += d.fps ?? 0;
          budgetSum += d.frame_budget_used ?? 0;
        }
        const write: RollupUpsert = {
          kind: 'rollup.upsert',
          sessionId,
          modelId: model,
          granularity: g,
          bucketStartUs: start,
          energySum,
          energyMin: data.length === 0 ? 0 : Math.min(...data.map((d) => d.energy)),
          energyMax: data.length === 0 ? 0 : Math.max(...data.map((d) => d.energy)),
          eventCount: data.length,
          tokens: inBucket.length - updates.length,
          fpsSum,
          budgetSum,
          drops: data.filter(
            (d) =>
              (d.fps !== undefined && d.fps < dropFps) ||
              (d.frame_budget_used !== undefined && d.frame_budget_used >= dropBudgetMs),
          ).length,
        };
        out.set(key(write), write);
      }
    }
  }
  return out;
}

/** Folds writes (later ones replace earlier ones, as upserts do) into a map. */
export function applyWrites(
  into: Map<string, RollupUpsert>,
  writes: Iterable<RollupUpsert>,
): Map<string, RollupUpsert> {
  for (const write of writes) into.set(key(write), write);
  return into;
}
