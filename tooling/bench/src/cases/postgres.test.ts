import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { postgresCase } from './postgres.js';
import { storageCase } from './wirthforge-storage.js';

const options = smallRunOptions(11);

describe('postgres case', () => {
  it('appends and reads back on PostgreSQL, with the SQLite storage as the baseline', async () => {
    const dataset = buildDataset({ seed: 11, batches: 5, batchSize: 60 });
    const run = await runBench([storageCase, postgresCase], options, { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'postgres.append_events_per_s',
      'postgres.append_events_per_s_awaited',
      'postgres.append_events_per_s_burst',
      'postgres.append_events_per_s_writers',
      'postgres.read_events_per_s',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(2);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const ours = run.results['postgres.append_events_per_s']!.samples;
    const sqlite = run.results['storage.append_events_per_s']!.samples;
    expect(run.results['postgres.append_ratio_vs_sqlite_storage']!.samples).toEqual([
      ours[0]! / sqlite[0]!,
      ours[1]! / sqlite[1]!,
    ]);
  }, 120_000);
});
