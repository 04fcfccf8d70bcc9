import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { rawSqliteCase } from './raw-sqlite.js';
import { storageCase, storageSizeCase } from './wirthforge-storage.js';

const options = smallRunOptions(7);

describe('storage cases', () => {
  it('append, read back everything, size a session, and compare with raw per run', async () => {
    const dataset = buildDataset({ seed: 7, batches: 5, batchSize: 60 });
    const run = await runBench([rawSqliteCase, storageCase, storageSizeCase], options, { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'storage.append_events_per_s',
      'storage.append_events_per_s_burst',
      'storage.append_ratio_vs_raw_burst',
      'storage.read_events_per_s',
      'storage.read_stream_events_per_s',
      'storage.append_ratio_vs_raw',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(2);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const ratios = run.results['storage.append_ratio_vs_raw']!.samples;
    const ours = run.results['storage.append_events_per_s']!.samples;
    const raw = run.results['raw.rows_per_s']!.samples;
    expect(ratios).toEqual([ours[0]! / raw[0]!, ours[1]! / raw[1]!]);
    // Needs the Emmett case, which did not run.
    expect(run.results['storage.append_vs_emmett']).toBeUndefined();

    const bytes = run.results['storage.bytes_per_event']!;
    const perHour = run.results['storage.mb_per_hour']!;
    expect(bytes.samples).toHaveLength(1);
    expect(bytes.median).toBeGreaterThan(20);
    expect(perHour.note).toMatch(
      /^extrapolated to one hour from a 1-minute 60 Hz session \(4,\d{3} events/,
    );
    const events = Number(/\(([\d,]+) events/.exec(perHour.note ?? '')![1]!.replace(/,/g, ''));
    expect(perHour.median).toBeCloseTo((bytes.median * events * 60) / 1e6, 6);

    // Sealing on vs off, in the same run.
    const sealedRatio = run.results['storage.append_ratio_sealed_vs_unsealed']!.samples;
    const unsealed = run.results['storage.append_events_per_s_unsealed']!.samples;
    const sealed = run.results['storage.append_events_per_s_sealed']!.samples;
    expect(sealed).toHaveLength(2);
    expect(sealedRatio).toEqual([sealed[0]! / unsealed[0]!, sealed[1]! / unsealed[1]!]);
    const sealedBytes = run.results['storage.bytes_per_event_sealed']!;
    expect(sealedBytes.median).toBeGreaterThan(0);
    const sealedPerHour = run.results['storage.mb_per_hour_sealed']!;
    expect(sealedPerHour.note).toContain(`(${events.toLocaleString('en-US')} events`);
    expect(sealedPerHour.median).toBeCloseTo((sealedBytes.median * events * 60) / 1e6, 6);
    expect(run.results['storage.read_sealed_events_per_s']!.median).toBeGreaterThan(0);
  });
});
