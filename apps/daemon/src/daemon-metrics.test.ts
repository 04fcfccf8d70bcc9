import { valueOf } from '@wirthforge/metrics';
import { createEventStore } from '@wirthforge/eventstore';
import { createMemoryStorage } from '@wirthforge/storage';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { createDaemonMetrics } from './daemon-metrics.js';
import { timeRange } from './metrics-routes.js';
import { isDaemonError } from './errors.js';

const logger = pino({ level: 'silent' });

describe('createDaemonMetrics', () => {
  it('reports each job run per job, as its operation kind, and counts failures', () => {
    const metrics = createDaemonMetrics({ logger, databasePath: '/nonexistent/state.db' });
    try {
      metrics.onJobRun({ name: 'integrity-quick', ok: true, durationMs: 12 });
      metrics.onJobRun({ name: 'wal-checkpoint', ok: true, durationMs: 3 });
      metrics.onJobRun({
        name: 'archive',
        ok: false,
        durationMs: 5,
        error: Object.assign(new Error('disk full'), { code: 'io_error' }),
      });
      const snapshot = metrics.store.snapshot();
      const histogram = snapshot.metrics.find((m) => m.name === 'wirthforge.daemon.job.duration');
      expect(histogram?.type).toBe('histogram');
      const series = (
        histogram as unknown as {
          series: { labels: Record<string, string>; count: number; sum: number }[];
        }
      ).series;
      expect(series.find((s) => s.labels.job === 'integrity-quick')).toMatchObject({
        count: 1,
        sum: 0.012,
      });
      expect(valueOf(snapshot, 'wirthforge.daemon.job.failures', { job: 'archive' })).toBe(1);
      const operations = snapshot.metrics.find(
        (m) => m.name === 'wirthforge.operation.duration',
      ) as unknown as {
        series: { labels: Record<string, string>; count: number }[];
      };
      expect(
        operations.series.map((s) => `${s.labels.operation}:${s.labels.outcome}:${s.count}`).sort(),
      ).toEqual(['archive:error:1', 'integrity_check:ok:1']);
      expect(
        valueOf(snapshot, 'wirthforge.errors', {
          'error.type': 'io_error',
          component: 'job.archive',
        }),
      ).toBe(1);
    } finally {
      metrics.store.close();
    }
  });

  it('counts ingest batches and their events', () => {
    const metrics = createDaemonMetrics({ logger, databasePath: '/nonexistent/state.db' });
    metrics.onIngest({ events: 60 });
    metrics.onIngest({ events: 7 });
    const snapshot = metrics.store.snapshot();
    expect(valueOf(snapshot, 'wirthforge.daemon.ingest.batches')).toBe(2);
    expect(valueOf(snapshot, 'wirthforge.daemon.ingest.events')).toBe(67);
    metrics.store.close();
  });

  it('hands detected peaks to the sink after their commit, grouped by session, and flushDetected waits for them', async () => {
    const metrics = createDaemonMetrics({
      logger,
      databasePath: '/nonexistent/state.db',
      analytics: { peaks: { window: 20, warmup: 20, recomputeEvery: 5 }, anomalies: false },
    });
    const store = createEventStore({
      storage: metrics.store.instrumentStorage(createMemoryStorage()),
    });
    const received: { session: string; frames: number[]; atCommit: bigint }[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    metrics.attach(async (session, events) => {
      received.push({
        session,
        frames: events.map((e) => e.frame_id),
        atCommit: await store.headPosition(),
      });
      await gate;
    });
    try {
      const handle = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
      const t0 = Date.parse('2026-11-27T16:00:00Z');
      const update = (frame: number, energy: number) => ({
        session_id: handle.id,
        type: 'energy.update' as const,
        timestamp: new Date(t0 + frame * 16).toISOString().replace('Z', '000Z'),
        frame_id: frame,
        data: { model_id: 'm', energy, accumulator: frame, fps: 60, frame_budget_used: 8 },
      });
      const events = Array.from({ length: 40 }, (_, i) => update(i + 1, 1 + (i % 3) * 0.01));
      events.push(update(41, 50));
      const result = await store.appendToStream(handle.stream, events);
      // Not inside the commit: handed over afterwards.
      expect(received).toEqual([]);
      let flushed = false;
      const flushing = metrics.flushDetected().then(() => (flushed = true));
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received).toEqual([
        { session: handle.id, frames: [41], atCommit: result.lastPosition },
      ]);
      expect(flushed).toBe(false); // still storing
      release();
      await flushing;
      expect(valueOf(metrics.store.snapshot(), 'wirthforge.analytics.peaks')).toBe(1);
    } finally {
      release();
      await metrics.close();
      await store.close();
    }
  });
});

describe('timeRange', () => {
  const now = Date.parse('2026-11-27T16:00:00Z') * 1000;

  it('defaults to the 24 hours before now', () => {
    expect(timeRange({}, now)).toEqual({ fromUs: now - 86_400_000_000, toUs: now });
    expect(timeRange({ to: '2026-11-27T12:00:00Z' }, now)).toEqual({
      fromUs: Date.parse('2026-11-26T12:00:00Z') * 1000,
      toUs: Date.parse('2026-11-27T12:00:00Z') * 1000,
    });
  });

  it('refuses a bad time or an inverted range, naming the parameter', () => {
    for (const [query, path] of [
      [{ from: 'yesterday' }, '/query/from'],
      [{ to: '2026-02-30T00:00:00Z' }, '/query/to'],
      [{ from: '2026-11-27T13:00:00Z', to: '2026-11-27T12:00:00Z' }, '/query/from'],
    ] as const) {
      let caught: unknown;
      try {
        timeRange(query, now);
      } catch (error) {
        caught = error;
      }
      expect(isDaemonError(caught) && caught.code).toBe('invalid_request');
      expect(isDaemonError(caught) ? caught.issues.map((i) => i.path) : []).toEqual([path]);
    }
  });
});
