/**
 * `verify --deep` on a store whose rollups were written as the daemon writes them: by the
 * energy analytics of `@wirthforge/metrics`, riding on each commit of the recorder.
 */
import { join } from 'node:path';

import { createSessionId } from '@wirthforge/events';
import { createEventStore, createRecorder } from '@wirthforge/eventstore';
import { ALL_MODELS, createStoreMetrics } from '@wirthforge/metrics';
import { simulateSession } from '@wirthforge/simulator';
import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { cli, tempDir } from './fixtures.js';

const SESSION = createSessionId(new Date('2025-08-17T19:48:00Z'), 1);
const tmp = tempDir('verify-rollups');
const dir = tmp.dir;
const path = join(dir, 'state.db');

interface Report {
  ok: boolean;
  problems: { kind: string; where: string; message: string }[];
}

async function verifyDeep(): Promise<Report> {
  const run = await cli(['verify', '--deep', '--data-dir', dir, '--json']);
  return JSON.parse(run.stdout) as Report;
}

beforeAll(async () => {
  const metrics = createStoreMetrics({
    eventLoop: false,
    analytics: { peaks: false, anomalies: false },
  });
  const store = createEventStore({
    storage: metrics.instrumentStorage(await openSqliteStorage({ path, synchronous: 'normal' })),
  });
  try {
    // Two models, across a minute boundary: every granularity has rows of each model and
    // of all models together.
    const session = simulateSession({
      seed: 5,
      sessionId: SESSION,
      startTime: new Date('2025-08-17T19:48:57Z'),
      durationSeconds: 6,
      models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
    });
    const recorder = createRecorder(store, {
      clock: 'external',
      maxPendingFrames: session.frameCount + 1,
    });
    for (const frame of session) {
      for (const event of frame.events) recorder.record(event);
      recorder.endFrame();
    }
    await recorder.close();
  } finally {
    await store.close();
    metrics.close();
  }
});
afterAll(() => tmp.remove());

describe('verify --deep and the rollups', () => {
  it('finds the rollups of a recorded session equal to its energy, at every granularity, per model and for all models', async () => {
    const raw = openConnection(path, { readonly: true });
    const rows = raw
      .prepare(
        'select granularity, model_id = ? as all_models, count(*) as n from rollups group by 1, 2',
      )
      .all(ALL_MODELS) as { granularity: string; all_models: number; n: number }[];
    raw.close();
    // The check has something to check: rows of both kinds at 1s, 1m and 1h.
    expect(rows.map((r) => `${r.granularity}/${r.all_models}`).sort()).toEqual([
      '1h/0',
      '1h/1',
      '1m/0',
      '1m/1',
      '1s/0',
      '1s/1',
    ]);
    expect(await verifyDeep()).toMatchObject({ ok: true, problems: [] });
  });

  it('names the granularity and the models of a rollup row changed behind the store', async () => {
    const raw = openConnection(path);
    const changed = raw
      .prepare(
        "update rollups set energy_sum = energy_sum + 5 where granularity = '1m' and model_id = ? " +
          'and bucket_start_us = (select min(bucket_start_us) from rollups where granularity = ?)',
      )
      .run(ALL_MODELS, '1m').changes;
    raw.close();
    expect(changed).toBe(1);
    const report = await verifyDeep();
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([
      expect.objectContaining({
        kind: 'rollup_totals',
        where: `rollups ${SESSION} 1m all models`,
      }),
    ]);
  });
});
