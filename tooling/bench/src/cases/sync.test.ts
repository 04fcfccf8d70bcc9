import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { syncCase } from './sync.js';

describe('sync case', () => {
  it('pushes and pulls a simulated minute through a hub, with appendBatch as the baseline', async () => {
    const dataset = buildDataset({ seed: 13, batches: 1, batchSize: 60 });
    const run = await runBench([syncCase], smallRunOptions(13, 1), { dataset });
    expect(run.failures).toEqual([]);
    const value = (name: string): number => run.results[name]!.samples[0]!;
    for (const name of [
      'sync.push_events_per_s',
      'sync.pull_events_per_s',
      'sync.events_per_s',
      'sync.baseline_append_events_per_s',
    ]) {
      expect(value(name), name).toBeGreaterThan(0);
    }
    // The round trip takes the push and the pull: slower than either alone.
    expect(value('sync.events_per_s')).toBeLessThan(value('sync.push_events_per_s'));
    expect(value('sync.push_ratio_vs_append')).toBe(
      value('sync.push_events_per_s') / value('sync.baseline_append_events_per_s'),
    );
  }, 180_000);
});
