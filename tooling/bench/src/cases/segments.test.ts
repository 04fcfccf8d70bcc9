import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import {
  decodeBaselineBlock,
  encodeBaselineBlock,
  segmentsCase,
  segmentsSizeCase,
  storedRecords,
} from './segments.js';

const options = smallRunOptions(11, 2);

describe('segments cases', () => {
  it('encode and decode rates, sizes by segment size, and ratios against the baseline per run', async () => {
    const dataset = buildDataset({ seed: 11, batches: 5, batchSize: 60 });
    const run = await runBench([segmentsCase, segmentsSizeCase], options, { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'segment.encode_events_per_s',
      'segment.decode_events_per_s',
      'segment.baseline_encode_events_per_s',
      'segment.baseline_decode_events_per_s',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(2);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const ratios = run.results['segment.decode_vs_baseline']!.samples;
    const ours = run.results['segment.decode_events_per_s']!.samples;
    const theirs = run.results['segment.baseline_decode_events_per_s']!.samples;
    expect(ratios).toEqual([ours[0]! / theirs[0]!, ours[1]! / theirs[1]!]);
    // Needs the storage cases, which did not run.
    expect(run.results['segment.decode_vs_storage_read']).toBeUndefined();
    expect(run.results['segment.size_vs_storage_size']).toBeUndefined();

    const bytes = run.results['segment.bytes_per_event']!;
    expect(bytes.samples).toHaveLength(1);
    expect(bytes.median).toBeGreaterThan(1);
    // Segments are smaller than the deflated rows of the same events.
    expect(bytes.median).toBeLessThan(run.results['segment.baseline_bytes_per_event']!.median);
    expect(run.results['segment.bytes_per_event_600']!.median).toBeGreaterThan(0);
    expect(run.results['segment.bytes_per_event_3600']!.median).toBeGreaterThan(0);
    const perHour = run.results['segment.mb_per_hour']!;
    expect(perHour.note).toMatch(
      /^extrapolated to one hour from [\d,]+ events of a 1-minute 60 Hz session/,
    );
    const events = Number(/from ([\d,]+) events/.exec(perHour.note ?? '')![1]!.replace(/,/g, ''));
    expect(perHour.median).toBeCloseTo((bytes.median * events * 60) / 1e6, 6);
  });

  it('the baseline block decodes to the records it was given', () => {
    const dataset = buildDataset({ seed: 11, batches: 2, batchSize: 60 });
    const records = storedRecords(dataset.batches.flat(), dataset.stream);
    expect(decodeBaselineBlock(encodeBaselineBlock(records), dataset.stream)).toEqual(
      records.map((r) => ({ ...r, payload: expect.any(Uint8Array) as unknown })),
    );
    const back = decodeBaselineBlock(encodeBaselineBlock(records), dataset.stream);
    expect(back.map((r) => Buffer.from(r.payload).toString('hex'))).toEqual(
      records.map((r) => Buffer.from(r.payload).toString('hex')),
    );
  });
});
