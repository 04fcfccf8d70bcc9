import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  isUnknownEvent,
  parseIsoMicros,
  validateEvent,
  type EventOfType,
} from '@wirthforge/events';
import {
  createEventStore,
  createRecorder,
  isStateError,
  type EventStore,
} from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import { StorageError, type EventStorage, type RollupRow } from '@wirthforge/storage';
import { openConnection, openSqliteStorage, type SqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AnalyticsQueries } from '../src/analytics-queries.js';
import type { AnalyticsEvent } from '../src/energy-analytics.js';
import { METRIC_NAMES } from '../src/metric-names.js';
import { valueOf } from '../src/metric-registry.js';
import { createStoreMetrics, type StoreMetrics } from '../src/store-metrics.js';
import { applyWrites, bruteForceRollups } from './analytics-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'wf-metrics-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function open(
  path: string,
  metrics: StoreMetrics,
): Promise<{ store: EventStore; storage: SqliteStorage }> {
  const storage = metrics.instrumentStorage(
    await openSqliteStorage({ path, synchronous: 'normal' }),
  );
  return { store: createEventStore({ storage }), storage };
}

/** The stored events of a session as the analytics read them, in stream order. */
async function storedEvents(store: EventStore, sessionId: string): Promise<AnalyticsEvent[]> {
  const out: AnalyticsEvent[] = [];
  for await (const { event } of store.readStream(`session-${sessionId}`)) {
    if (isUnknownEvent(event)) continue;
    const timestampUs = parseIsoMicros(event.timestamp);
    out.push({
      type: event.type,
      timestampUs,
      frameId: event.frame_id,
      data: 'data' in event ? event.data : undefined,
    });
  }
  return out;
}

function rowsAsWrites(rows: readonly RollupRow[]) {
  return applyWrites(
    new Map(),
    rows.map((r) => ({
      kind: 'rollup.upsert' as const,
      sessionId: r.session_id,
      modelId: r.model_id,
      granularity: r.granularity,
      bucketStartUs: r.bucket_start_us,
      energySum: r.energy_sum,
      energyMin: r.energy_min,
      energyMax: r.energy_max,
      eventCount: r.event_count,
      tokens: r.tokens,
      fpsSum: r.fps_sum,
      budgetSum: r.budget_sum,
      drops: r.drops,
    })),
  );
}

describe('store metrics on SQLite, through the recorder', () => {
  it('count what the recorder and the store did, keep rollups equal to a recomputation, and keep them when the raw events are gone', async () => {
    const path = join(dir, 'state.db');
    const peaks: EventOfType<'energy.peak'>[] = [];
    const sink: { record?: (event: EventOfType<'energy.peak'>) => void } = {};
    const metrics = createStoreMetrics({
      files: { database: path },
      analytics: {
        peaks: { window: 120, recomputeEvery: 30 },
        onPeak: (event) => {
          peaks.push(event);
          sink.record?.(event);
        },
      },
    });
    const { store, storage } = await open(path, metrics);
    const recorder = createRecorder(
      store,
      metrics.recorderOptions({ clock: 'external', maxPendingFrames: 10_000 }),
    );
    metrics.observeRecorder(recorder);
    sink.record = (event) => recorder.record(event);
    const session = simulateSession({
      seed: 3,
      durationSeconds: 20,
      models: ['ollama/llama3.2:3b', 'ollama/phi3:mini'],
    });
    let frames = 0;
    for (const frame of session) {
      const t0 = performance.now();
      for (const event of frame.events) recorder.record(event);
      recorder.endFrame();
      metrics.observeFrameCost(performance.now() - t0);
      if (++frames % 30 === 0) await recorder.flush();
    }
    recorder.record({
      session_id: session.sessionId,
      timestamp: '2025-08-17T19:48:01.000000Z',
      type: 'energy.update',
      data: { energy: -1 },
    } as never);
    await recorder.close();
    await metrics.timeOperation('snapshot', () => new Promise((resolve) => setTimeout(resolve, 5)));
    await storage.checkpoint('truncate');

    const stats = recorder.stats();
    const snap = metrics.snapshot();
    expect(valueOf(snap, METRIC_NAMES.eventsRecorded)).toBe(stats.recorded);
    expect(valueOf(snap, METRIC_NAMES.eventsCoalesced)).toBe(stats.coalesced);
    expect(
      valueOf(snap, METRIC_NAMES.eventsRejected, {
        reason: 'invalid',
        'event.type': 'energy.update',
      }),
    ).toBe(1);
    expect(stats.rejected).toBe(1);
    // Committed by type: what the store holds, type by type.
    const stored = new Map<string, number>();
    for await (const { event } of store.readAll())
      stored.set(event.type, (stored.get(event.type) ?? 0) + 1);
    for (const [type, count] of stored) {
      expect(valueOf(snap, METRIC_NAMES.eventsCommitted, { 'event.type': type }), type).toBe(count);
    }
    const histogram = (name: string) => {
      const metric = snap.metrics.find((m) => m.name === name);
      return metric?.type === 'histogram' ? metric.series : [];
    };
    expect(histogram(METRIC_NAMES.durableLatency)[0]!.count).toBe(stats.commits);
    expect(histogram(METRIC_NAMES.frameCost)[0]!.count).toBe(frames);
    expect(histogram(METRIC_NAMES.operationDuration).map((s) => s.labels)).toEqual([
      { operation: 'snapshot', outcome: 'ok' },
      { operation: 'checkpoint', outcome: 'ok' },
    ]);
    expect(valueOf(snap, METRIC_NAMES.checkpoints, { mode: 'truncate', result: 'done' })).toBe(1);
    expect(valueOf(snap, METRIC_NAMES.storageSize, { kind: 'database' })).toBeGreaterThan(0);
    expect(valueOf(snap, METRIC_NAMES.walSize)).toBe(0); // truncated
    expect(valueOf(snap, METRIC_NAMES.memoryUsage)).toBeGreaterThan(0);
    expect(metrics.prometheus()).toContain(
      '# TYPE wirthforge_store_events_committed_total counter\n',
    );

    // Peaks found were recorded as energy.peak events, valid, and counted.
    expect(peaks.length).toBeGreaterThan(0);
    for (const peak of peaks) expect(validateEvent(peak).status).toBe('valid');
    expect(valueOf(snap, METRIC_NAMES.peaks)).toBe(peaks.length);

    // The rollups in the table equal a recomputation from the stored events.
    const rows = await storage.db.selectFrom('rollups').selectAll().execute();
    const events = await storedEvents(store, session.sessionId);
    expect(rowsAsWrites(rows)).toEqual(bruteForceRollups(session.sessionId, events));
    const queries = new AnalyticsQueries(storage.db);
    const fromUs = session.startTimeUs - 3_600_000_000;
    const toUs = session.startTimeUs + 3_600_000_000;
    const before = await queries.rollups({ userId: 'default', fromUs, toUs });
    expect(before.reduce((sum, p) => sum + p.updates, 0)).toBe(
      events.filter((e) => e.type === 'energy.update').length,
    );
    await store.close();

    // Raw events deleted (as archival and retention do): the rollups stay.
    const raw = openConnection(path);
    raw.exec('delete from events');
    raw.close();
    const again = await open(path, createStoreMetrics({ eventLoop: false }));
    try {
      expect(await again.store.readAll().toArray()).toEqual([]);
      const after = await new AnalyticsQueries(again.storage.db).rollups({
        userId: 'default',
        fromUs,
        toUs,
      });
      expect(after).toEqual(before);
      const usage = await new AnalyticsQueries(again.storage.db).usageByDay(
        'default',
        fromUs,
        toUs,
      );
      expect(usage).toHaveLength(1);
      expect(usage[0]!.sessionsStarted).toBe(1);
      expect(usage[0]!.activeSeconds).toBe(20);
      expect(usage[0]!.energy).toBeCloseTo(
        before.reduce((sum, p) => sum + p.energySum, 0),
        6,
      );
    } finally {
      await again.store.close();
    }
    metrics.close();
  });

  it('adds to the stored buckets of a session taken up by a new process, instead of replacing them', async () => {
    const path = join(dir, 'state.db');
    const session = simulateSession({ seed: 8, durationSeconds: 6 });
    const frames = [...session];
    // The restart falls in the middle of a second (and of its minute and hour).
    const halves = [frames.slice(0, 170), frames.slice(170)];
    for (const half of halves) {
      const metrics = createStoreMetrics({
        eventLoop: false,
        analytics: { peaks: false, anomalies: false },
      });
      const { store } = await open(path, metrics);
      const recorder = createRecorder(
        store,
        metrics.recorderOptions({ clock: 'external', maxPendingFrames: 10_000 }),
      );
      for (const frame of half) {
        for (const event of frame.events) recorder.record(event);
        recorder.endFrame();
      }
      await recorder.close();
      await store.close();
      metrics.close();
    }
    const { store, storage } = await open(path, createStoreMetrics({ eventLoop: false }));
    try {
      const rows = await storage.db.selectFrom('rollups').selectAll().execute();
      const events = await storedEvents(store, session.sessionId);
      expect(events.filter((e) => e.type === 'energy.update')).toHaveLength(frames.length);
      expect(rowsAsWrites(rows)).toEqual(bruteForceRollups(session.sessionId, events));
    } finally {
      await store.close();
    }
  });

  it("rebuilds a session's rollups after a commit that failed, and counts the error by code", async () => {
    const path = join(dir, 'state.db');
    const metrics = createStoreMetrics({
      eventLoop: false,
      analytics: { peaks: false, anomalies: false },
    });
    const inner = await openSqliteStorage({ path, synchronous: 'normal' });
    let failNext = false;
    const flaky: EventStorage = Object.assign(Object.create(inner) as SqliteStorage, {
      appendBatch: (...args: Parameters<EventStorage['appendBatch']>) => {
        if (failNext && args[0].length > 0) {
          failNext = false;
          return Promise.reject(new StorageError('io', 'disk I/O error (injected)'));
        }
        return inner.appendBatch(...args);
      },
    });
    const storage = metrics.instrumentStorage(flaky);
    const store = createEventStore({ storage });
    const recorder = createRecorder(store, metrics.recorderOptions({ clock: 'external' }));
    const session = simulateSession({ seed: 5, durationSeconds: 4 });
    let i = 0;
    const flushErrors: unknown[] = [];
    for (const frame of session) {
      if (++i === 100) failNext = true;
      for (const event of frame.events) recorder.record(event);
      recorder.endFrame();
      if (i % 10 === 0) await recorder.flush().catch((error: unknown) => flushErrors.push(error));
    }
    await recorder.close();
    expect(recorder.stats().failedCommits).toBe(1);
    // The frames of the failed commit are reported lost by the flush that covers them.
    expect(flushErrors.map((e) => isStateError(e, 'commit_failed'))).toEqual([true]);
    expect(
      valueOf(metrics.snapshot(), METRIC_NAMES.errors, {
        'error.type': 'io',
        component: 'storage',
      }),
    ).toBe(1);
    const rows = await inner.db.selectFrom('rollups').selectAll().execute();
    const events = await storedEvents(store, session.sessionId);
    expect(rowsAsWrites(rows)).toEqual(bruteForceRollups(session.sessionId, events));
    await store.close();
    metrics.close();
  });
});
