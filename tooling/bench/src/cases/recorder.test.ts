import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { recorderCase, recorderFrameCount } from './recorder.js';

const options = smallRunOptions(9, 1);

describe('recorder case', () => {
  it('plays at least a second of 60-event frames and reports distributions', async () => {
    expect(recorderFrameCount(5)).toBe(60);
    expect(recorderFrameCount(300)).toBe(600);
    const dataset = buildDataset({ seed: 9, batches: 5, batchSize: 60 });
    const run = await runBench([recorderCase], options, { dataset });
    expect(run.failures).toEqual([]);
    for (const metric of ['frame_cost_us', 'encode_us', 'durable_latency_ms']) {
      const p50 = run.results[`recorder.${metric}_p50`]!;
      const p99 = run.results[`recorder.${metric}_p99`]!;
      expect(p50.median, metric).toBeGreaterThan(0);
      expect(p99.median, metric).toBeGreaterThanOrEqual(p50.median);
    }
    expect(run.results['recorder.durable_latency_ms_p99']!.note).toMatch(
      /^60 frames of 60 events at 60 Hz; \d+ commits, \d+ events coalesced, \d+ frames started late$/,
    );
  });
});
