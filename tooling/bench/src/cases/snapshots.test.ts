import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { snapshotSessionEvents, snapshotsCase } from './snapshots.js';

const options = smallRunOptions(11);

describe('snapshots case', () => {
  it('snapshots a long session, recovers it and reads a past frame, against a full replay', async () => {
    expect(snapshotSessionEvents(false)).toBe(1_000_000);
    expect(snapshotSessionEvents(true)).toBe(6_000);
    const dataset = buildDataset({ seed: 11, batches: 5, batchSize: 60 });
    const run = await runBench([snapshotsCase], options, { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'snapshot.create_ms_full',
      'snapshot.create_ms_incremental',
      'snapshot.bytes_full',
      'snapshot.bytes_incremental',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(1);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    for (const name of [
      'recovery.ms_1m_events',
      'recovery.snapshot_ms',
      'replay.ms_1m_events',
      'pitr.ms',
      'pitr.replay_ms',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(2);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const at = (name: string, i: number): number => run.results[name]!.samples[i]!;
    for (const i of [0, 1]) {
      expect(at('recovery.speedup_vs_replay', i)).toBe(
        at('replay.ms_1m_events', i) / at('recovery.ms_1m_events', i),
      );
    }
    expect(run.results['snapshot.bytes_incremental']!.median).toBeLessThan(
      run.results['snapshot.bytes_full']!.median,
    );
    expect(run.results['recovery.ms_1m_events']!.note).toMatch(
      /^6000 events, \d+ scheduled snapshots; recovery replayed \d+ events on top of snapshot \d+$/,
    );
  }, 180_000);
});
