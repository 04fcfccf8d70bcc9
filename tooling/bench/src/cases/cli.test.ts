import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { cliCase } from './cli.js';

describe('cli case', () => {
  it('exports, verifies and backs up a recorded session, with ratios against same-round baselines', async () => {
    const dataset = buildDataset({ seed: 3, batches: 2, batchSize: 60 });
    const run = await runBench([cliCase], smallRunOptions(3, 1), { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'cli.export_events_per_s',
      'cli.verify_events_per_s',
      'cli.backup_mb_per_s',
      'cli.read_baseline_events_per_s',
      'cli.copy_baseline_mb_per_s',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(1);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const ratio = run.results['cli.export_vs_raw_read']!.samples[0]!;
    expect(ratio).toBeCloseTo(
      run.results['cli.export_events_per_s']!.samples[0]! /
        run.results['cli.read_baseline_events_per_s']!.samples[0]!,
      9,
    );
    expect(run.results['cli.export_events_per_s']!.note).toMatch(
      /^1-minute 60 Hz session, [\d,]+ events/,
    );
  }, 120_000);
});
