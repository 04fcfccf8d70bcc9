import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { analyticsQueryCase, metricsCase } from './metrics.js';

const options = smallRunOptions(13, 1);

describe('metrics cases', () => {
  it('measure the recorder with and without metrics, and the rollup query', async () => {
    const dataset = buildDataset({ seed: 13, batches: 5, batchSize: 60 });
    const run = await runBench([metricsCase, analyticsQueryCase], options, { dataset });
    expect(run.failures).toEqual([]);
    const value = (name: string): number => run.results[name]!.median;
    expect(value('metrics.overhead_ratio')).toBeCloseTo(
      value('metrics.frame_cost_on_us_p50') / value('metrics.frame_cost_off_us_p50'),
      9,
    );
    expect(value('metrics.analytics_us_per_commit')).toBeGreaterThan(0);
    expect(value('metrics.main_thread_ratio')).toBeGreaterThan(0);
    expect(value('analytics.rollup_query_ms')).toBeGreaterThan(0);
    expect(run.results['analytics.rollup_query_ms']!.note).toMatch(
      /^3 days of history, .* 120 minute points in the last 24 h$/,
    );
  });
});
