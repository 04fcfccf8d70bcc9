import type { FrameAck } from '@wirthforge/eventstore';
import { createMemoryStorage, StorageError } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';
import { isMetricsError } from './errors.js';
import { METRIC_NAMES } from './metric-names.js';
import { valueOf } from './metric-registry.js';
import { createStoreMetrics } from './store-metrics.js';

function ack(latencyMs: number, commitMs: number, encodeMs: number): FrameAck {
  return {
    commit: 1,
    frames: 1,
    events: 60,
    coalesced: 0,
    aggregates: 0,
    latencyMs,
    commitMs,
    encodeMs,
    lastPosition: 1n,
  };
}

describe('createStoreMetrics', () => {
  it('blames a frame over budget on the job that ran meanwhile, else on commit or encode', async () => {
    const metrics = createStoreMetrics({ eventLoop: false, analytics: false });
    const { onAck } = metrics.recorderOptions();
    onAck!(ack(5, 3, 1)); // within budget
    onAck!(ack(40, 35, 2));
    onAck!(ack(40, 2, 30));
    await metrics.timeOperation('seal', () => {
      onAck!(ack(40, 35, 2)); // the seal runs now
    });
    metrics.recordOperation('snapshot', 1000);
    onAck!(ack(30, 25, 1)); // its 30 ms lie within the snapshot's last second
    expect(metrics.overBudget()).toEqual({ commit: 1, encode: 1, seal: 1, snapshot: 1 });
    const snapshot = metrics.snapshot();
    expect(valueOf(snapshot, METRIC_NAMES.framesOverBudget, { cause: 'seal' })).toBe(1);
    const durable = snapshot.metrics.find((m) => m.name === METRIC_NAMES.durableLatency);
    expect(durable?.type === 'histogram' ? durable.series[0]!.count : 0).toBe(5);
  });

  it('times jobs and counts their failures and errors by code', async () => {
    const metrics = createStoreMetrics({ eventLoop: false, analytics: false });
    await expect(
      metrics.timeOperation('archive', () => Promise.reject(new StorageError('full', 'disk full'))),
    ).rejects.toThrow('disk full');
    metrics.recordOperation('retention', 12);
    const snapshot = metrics.snapshot();
    const jobs = snapshot.metrics.find((m) => m.name === METRIC_NAMES.operationDuration);
    expect(jobs?.type === 'histogram' ? jobs.series.map((s) => [s.labels, s.count]) : []).toEqual([
      [{ operation: 'archive', outcome: 'error' }, 1],
      [{ operation: 'retention', outcome: 'ok' }, 1],
    ]);
    expect(
      valueOf(snapshot, METRIC_NAMES.errors, { 'error.type': 'full', component: 'archive' }),
    ).toBe(1);
    expect(
      isMetricsError(
        (() => {
          try {
            metrics.recordOperation('seal', -1);
          } catch (e) {
            return e;
          }
        })(),
        'invalid_argument',
      ),
    ).toBe(true);
  });

  it('reports sizes, their growth per hour and the commit rate', async () => {
    let now = 1_000_000;
    const metrics = createStoreMetrics({ eventLoop: false, analytics: false, now: () => now });
    const storage = metrics.instrumentStorage(createMemoryStorage());
    metrics.setSize('snapshots', 1000);
    expect(
      valueOf(metrics.snapshot(), METRIC_NAMES.storageGrowth, { kind: 'snapshots' }),
    ).toBeUndefined();
    now += 30 * 60_000;
    metrics.setSize('snapshots', 2000);
    const snapshot = metrics.snapshot();
    expect(valueOf(snapshot, METRIC_NAMES.storageSize, { kind: 'snapshots' })).toBe(2000);
    expect(valueOf(snapshot, METRIC_NAMES.storageGrowth, { kind: 'snapshots' })).toBe(2000);

    const event = { type: 'x.y', schemaVersion: 1, timestampUs: 1, payload: new Uint8Array([1]) };
    for (let i = 0; i < 30; i++) {
      await storage.appendBatch([{ stream: 'system', expectedVersion: 'any', events: [event] }]);
      now += 500; // two commits a second, for 15 s
    }
    const after = metrics.snapshot();
    expect(valueOf(after, METRIC_NAMES.commitRate)).toBe(2);
    expect(valueOf(after, METRIC_NAMES.commits, { outcome: 'ok' })).toBe(30);
    expect(valueOf(after, METRIC_NAMES.eventsCommitted, { 'event.type': 'x.y' })).toBe(30);
    await expect(
      storage.appendBatch([{ stream: 'system', expectedVersion: 0n, events: [event] }]),
    ).rejects.toThrow();
    expect(
      valueOf(metrics.snapshot(), METRIC_NAMES.errors, {
        'error.type': 'concurrency',
        component: 'storage',
      }),
    ).toBe(1);
    await storage.close();
  });
});
