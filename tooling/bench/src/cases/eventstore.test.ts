import { describe, expect, it } from 'vitest';
import { smallRunOptions } from '../../test/small-run-options.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { emmettCase } from './emmett-sqlite.js';
import { eventstoreCase } from './eventstore.js';
import { rawSqliteCase } from './raw-sqlite.js';

const options = smallRunOptions(5);

describe('eventstore case', () => {
  it('appends through the recorder, reads, replays, and compares with raw and Emmett per run', async () => {
    const dataset = buildDataset({ seed: 5, batches: 5, batchSize: 60 });
    const run = await runBench([rawSqliteCase, emmettCase, eventstoreCase], options, { dataset });
    expect(run.failures).toEqual([]);
    for (const name of [
      'eventstore.append_events_per_s',
      'eventstore.read_events_per_s',
      'eventstore.replay_events_per_s',
      'eventstore.replay_simple_events_per_s',
      'eventstore.read_sealed_events_per_s',
      'eventstore.replay_sealed_events_per_s',
      'emmett.aggregate_events_per_s',
      'eventstore.append_ratio_vs_raw',
      'eventstore.read_vs_emmett',
      'eventstore.replay_vs_emmett',
      'eventstore.replay_simple_vs_emmett',
      'eventstore.read_sealed_vs_emmett',
      'eventstore.replay_sealed_vs_emmett',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(2);
      expect(run.results[name]?.min, name).toBeGreaterThan(0);
    }
    const at = (name: string, i: number): number => run.results[name]!.samples[i]!;
    for (const i of [0, 1]) {
      expect(at('eventstore.append_ratio_vs_raw', i)).toBe(
        at('eventstore.append_events_per_s', i) / at('raw.rows_per_s', i),
      );
      expect(at('eventstore.replay_vs_emmett', i)).toBe(
        at('eventstore.replay_events_per_s', i) / at('emmett.aggregate_events_per_s', i),
      );
      expect(at('eventstore.read_sealed_vs_emmett', i)).toBe(
        at('eventstore.read_sealed_events_per_s', i) / at('emmett.read_events_per_s', i),
      );
    }
    expect(run.results['eventstore.append_events_per_s']!.note).toBe(
      'through the recorder: 5 frames of 60 events, one commitBatch each, recorded without pacing',
    );
    expect(run.results['eventstore.read_events_per_s']!.note).toMatch(
      /^readAll on the reopened store; \d+ of 300 events still hot rows as it starts/,
    );
  });
});
