import * as os from 'node:os';
import * as path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { BenchOptions } from '../bench-case.js';
import { buildDataset } from '../bench-dataset.js';
import { runBench } from '../run-bench.js';
import { emmettCase, emmettSingleCase, openEmmettStore } from './emmett-sqlite.js';
import { RawSqliteWriter, rawSizeCase, rawSqliteCase } from './raw-sqlite.js';

const options: BenchOptions = {
  runs: 2,
  batches: 5,
  batchSize: 60,
  singleEvents: 20,
  sizeMinutes: 1,
  seed: 3,
  quick: true,
  tmpDir: os.tmpdir(),
};
const dataset = buildDataset({ seed: 3, batches: 5, batchSize: 60 });
const dir = mkdtempSync(path.join(os.tmpdir(), 'wf-bench-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('baseline cases', () => {
  it('measure every metric they promise, in every run', async () => {
    const run = await runBench(
      [rawSqliteCase, emmettCase, emmettSingleCase, rawSizeCase],
      options,
      {
        dataset,
      },
    );
    expect(run.failures).toEqual([]);
    for (const name of [
      'raw.rows_per_s',
      'raw.bytes_per_event',
      'emmett.append_events_per_s',
      'emmett.read_events_per_s',
      'emmett.bytes_per_event',
      'emmett.append_events_per_s_single',
    ]) {
      expect(run.results[name]?.samples, name).toHaveLength(2);
      expect(run.results[name]?.median, name).toBeGreaterThan(0);
    }
    expect(run.results['raw.mb_per_hour']?.samples).toHaveLength(1);
    expect(run.results['raw.mb_per_hour']?.note).toContain(
      'extrapolated to one hour from a 1-minute',
    );
  });

  it('raw writer stores one row per event with WAL and FULL, and rolls back a failed batch', () => {
    const file = path.join(dir, 'raw.sqlite');
    const writer = new RawSqliteWriter(file);
    for (const batch of dataset.batches) writer.writeBatch(dataset.stream, batch);
    expect(writer.countRows()).toBe(dataset.eventCount);
    const broken = [{ ...dataset.batches[0]![0]!, timestamp: 'not a time' }] as never[];
    expect(() => writer.writeBatch(dataset.stream, broken)).toThrow(/timestamp/);
    expect(writer.countRows()).toBe(dataset.eventCount);
    writer.close();
  });

  it('Emmett runs on one connection with WAL and synchronous=FULL', async () => {
    const { store, connection } = await openEmmettStore(path.join(dir, 'emmett.sqlite'));
    const [sync] = await connection.query<{ synchronous: number }>('PRAGMA synchronous');
    expect(sync?.synchronous).toBe(2);
    await store.appendToStream(dataset.stream, [{ type: 'x', data: { a: 1 } }], {
      expectedStreamVersion: 0n,
    });
    const read = await store.readStream(dataset.stream);
    expect(read.events).toHaveLength(1);
    connection.close();
  });
});
