import Database from 'better-sqlite3';
import type { EventStore, FrameAck, Recorder } from '@wirthforge/eventstore';
import type { StoreMetrics } from '@wirthforge/metrics';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import type { BenchCase, BenchContext } from '../bench-case.js';
import { chunkEvents } from '../bench-dataset.js';
import { removeDatabase } from '../file-size.js';
import { percentile } from '../stats.js';
import { loadEventStore, openDurableStorage } from './eventstore.js';
import { recorderFrameCount } from './recorder.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `count` frames of `size` events: a simulated two-model session cut into runs of `size`
 * consecutive events, as the recorder case cuts its one-model session.
 */
function framesOf(seed: number, count: number, size: number): SimEvent[][] {
  const models = ['ollama/llama3.2:3b', 'ollama/phi3:mini'];
  const session = simulateSession({
    seed,
    durationSeconds: Math.ceil((count * size) / (60 * models.length)) + 2,
    models,
  });
  const frames: SimEvent[][] = [];
  for (const frame of chunkEvents(session, size)) {
    if (frames.length === count) break;
    if (frame.length === size) frames.push(frame);
  }
  if (frames.length !== count) throw new Error(`simulated ${frames.length} of ${count} frames`);
  return frames;
}

interface Side {
  readonly store: EventStore;
  readonly recorder: Recorder;
  readonly costsUs: number[];
  readonly encodeUs: number[];
  readonly metrics: StoreMetrics | undefined;
}

/**
 * The recorder with and without `@wirthforge/metrics`, in the same run, at 60 Hz in real
 * time, over two SQLite files (WAL + FULL), frames of `batchSize` events of a two-model
 * session (as the recorder case frames its session), played into the two stores in turns. With metrics on, the
 * storage is instrumented (commit durations, events by type, rollups of every commit
 * written in its batch, peak and anomaly detection), the recorder's callbacks feed the
 * histograms, its counters are read at collection, and the frame loop reports each
 * frame's cost. The sides take turns in one-second blocks (shorter in runs of fewer than
 * 240 frames); each side's first block is a warm-up. `metrics.overhead_ratio` is the median frame cost (the `record()` calls
 * and `endFrame()`, what the producer's frame pays) with metrics over without;
 * `metrics.main_thread_ratio` compares all main-thread work per frame: the frame, its
 * commit task and, with metrics, the analytics of its commit (mean per frame).
 */
export const metricsCase: BenchCase = {
  name: 'metrics',
  description: 'recorder frame cost with @wirthforge/metrics (analytics on) over without, same run',
  async run(ctx: BenchContext) {
    const { createEventStore, createRecorder } = await loadEventStore();
    const { createStoreMetrics, METRIC_NAMES } = await import('@wirthforge/metrics');
    const count = recorderFrameCount(ctx.options.batches);
    const frames = framesOf(ctx.options.seed, count, ctx.options.batchSize);
    const files = [ctx.tempPath('metrics-off.sqlite'), ctx.tempPath('metrics-on.sqlite')];
    const sides: Side[] = [];
    try {
      for (const [i, file] of files.entries()) {
        const metrics = i === 1 ? createStoreMetrics({ files: { database: file } }) : undefined;
        const raw = await openDurableStorage(file);
        const store = createEventStore({ storage: metrics?.instrumentStorage(raw) ?? raw });
        const encodeUs: number[] = [];
        const onAck = (ack: FrameAck): void => {
          encodeUs.push(ack.encodeMs * 1000);
        };
        const base = { clock: 'external' as const, onAck };
        const recorder = createRecorder(store, metrics?.recorderOptions(base) ?? base);
        metrics?.observeRecorder(recorder);
        sides.push({ store, recorder, costsUs: [], encodeUs, metrics });
      }
      // The sides take turns in one-second blocks (60 frames at 60 Hz, each side alone
      // while it records: both at once would overload the writer threads of a small
      // machine and measure that), the side that starts alternating from block to block
      // and from one repetition to the next, so neither gains from a warmer JIT, a
      // quieter machine or a later GC. Each side's first block is its warm-up and is not
      // counted.
      const periodMs = 1000 / 60;
      // One second a turn; short runs (tests, --quick) get at least four turns.
      const blockFrames = Math.max(1, Math.min(60, Math.floor(frames.length / 4)));
      for (let block = 0; block * blockFrames < frames.length; block++) {
        const first = (block + ctx.round) % 2;
        for (const side of [sides[first]!, sides[1 - first]!]) {
          const start = performance.now();
          const end = Math.min(frames.length, (block + 1) * blockFrames);
          for (let i = block * blockFrames; i < end; i++) {
            const wait = start + (i - block * blockFrames) * periodMs - performance.now();
            if (wait > 0) await sleep(wait);
            const frame = frames[i]!;
            const t0 = performance.now();
            for (const event of frame) side.recorder.record(event);
            side.recorder.endFrame();
            const ms = performance.now() - t0;
            side.metrics?.observeFrameCost(ms);
            if (block > 0) side.costsUs.push(ms * 1000);
          }
        }
      }
      for (const side of sides) await side.recorder.close();
      const [off, on] = sides as [Side, Side];
      const stats = [off.recorder.stats(), on.recorder.stats()];
      for (const s of stats) {
        if (
          s.committed + s.coalesced !== s.accepted ||
          s.failed !== 0 ||
          s.accepted !== stats[0]!.accepted
        ) {
          throw new Error(
            `stored ${s.committed} + ${s.coalesced} of ${s.accepted} accepted events (${s.failed} failed; ${stats[0]!.accepted} without metrics)`,
          );
        }
      }
      const snapshot = on.metrics!.snapshot();
      const analytics = snapshot.metrics.find((m) => m.name === METRIC_NAMES.analyticsCost);
      const analyticsSeries = analytics?.type === 'histogram' ? analytics.series[0] : undefined;
      if (analyticsSeries === undefined || analyticsSeries.count === 0) {
        throw new Error('the analytics saw no commit');
      }
      const analyticsUsPerCommit = (analyticsSeries.sum / analyticsSeries.count) * 1e6;
      const offP50 = percentile(off.costsUs, 50);
      const onP50 = percentile(on.costsUs, 50);
      const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
      // Main-thread microseconds per frame: the frame (counted ones), its commit task,
      // the analytics (every frame).
      const mainThread = (side: Side, extraUs: number): number =>
        sum(side.costsUs) / side.costsUs.length + (sum(side.encodeUs) + extraUs) / frames.length;
      const note =
        `${frames.length} frames of ${ctx.options.batchSize} events (two models) at 60 Hz into each store, in one-second turns (the first of each side a warm-up); ` +
        `${stats[1]!.commits} commits with metrics (${stats[1]!.coalesced} events coalesced), ${stats[0]!.commits} without (${stats[0]!.coalesced}); ${on.metrics!.analytics!.stats().peaks} peaks found`;
      on.metrics!.close();
      return [
        { name: 'metrics.frame_cost_off_us_p50', value: offP50, unit: 'µs', better: 'lower' },
        { name: 'metrics.frame_cost_on_us_p50', value: onP50, unit: 'µs', better: 'lower' },
        { name: 'metrics.overhead_ratio', value: onP50 / offP50, unit: 'x', better: 'lower' },
        {
          name: 'metrics.analytics_us_per_commit',
          value: analyticsUsPerCommit,
          unit: 'µs',
          better: 'lower',
        },
        {
          name: 'metrics.main_thread_ratio',
          value: mainThread(on, analyticsSeries.sum * 1e6) / mainThread(off, 0),
          unit: 'x',
          better: 'lower',
          note,
        },
      ];
    } finally {
      for (const side of sides) if (!side.store.closed) await side.store.close();
      for (const file of files) removeDatabase(file);
    }
  },
};

const DAY_US = 86_400_000_000;
const MODEL = 'ollama/llama3.2:3b';

/**
 * Writes `days` of history of one user straight into a migrated database: one session a
 * day of `sessionMinutes`, each with rollup rows of one model and of all models at 1 s,
 * 1 m and 1 h, as the analytics write them. Returns the end of the history (µs).
 */
function writeHistory(file: string, days: number, sessionMinutes: number): number {
  const db = new Database(file);
  try {
    const endUs = Date.UTC(2025, 7, 17) * 1000;
    const stream = db.prepare(
      'insert into streams (id, name, kind, version, created_us) values (?, ?, ?, ?, ?)',
    );
    const session = db.prepare(
      `insert into sessions (session_id, stream_id, user_id, status, started_us, ended_us, clean_end,
        total_events, total_energy, total_tokens, updated_us) values (?, ?, 'ada', 'ended', ?, ?, 1, 0, 0, 0, ?)`,
    );
    const rollup = db.prepare(
      `insert into rollups (session_id, model_id, granularity, bucket_start_us, energy_sum, energy_min,
        energy_max, event_count, tokens, fps_sum, budget_sum, drops) values (?, ?, ?, ?, ?, ?, ?, 60, 25, 3600, 480, 0)`,
    );
    db.transaction(() => {
      for (let d = 0; d < days; d++) {
        // The newest session ends a quarter of an hour before the end of the history.
        const startUs =
          endUs - (d + 1) * DAY_US + DAY_US - sessionMinutes * 60_000_000 - 900_000_000;
        const id = `${new Date(startUs / 1000).toISOString().replace(/[-:]/g, '').slice(0, 15)}Z_001`;
        stream.run(d + 1, `session-${id}`, 'session', 0, startUs);
        session.run(id, d + 1, startUs, startUs + sessionMinutes * 60_000_000, startUs);
        for (const model of [MODEL, '*']) {
          for (let s = 0; s < sessionMinutes * 60; s++) {
            rollup.run(id, model, '1s', startUs + s * 1_000_000, 300 + (s % 7), 4, 6);
          }
          for (let m = 0; m < sessionMinutes; m++) {
            rollup.run(id, model, '1m', startUs + m * 60_000_000, 18_000 + (m % 11), 4, 6);
          }
          for (let h = 0; h < Math.ceil(sessionMinutes / 60); h++) {
            rollup.run(id, model, '1h', startUs + h * 3_600_000_000, 1_080_000, 4, 6);
          }
        }
      }
    })();
    return endUs;
  } finally {
    db.close();
  }
}

/**
 * The dashboard's query: the last 24 hours of minute rollups of a user with 90 days of
 * history (one two-hour session a day: 1.3 M rollup rows), through
 * `AnalyticsQueries.rollups` on the SQLite storage's read connection. The history is
 * written once per repetition, then the query runs 25 times; `analytics.rollup_query_ms`
 * is the median of those. Quick mode: 3 days.
 */
export const analyticsQueryCase: BenchCase = {
  name: 'analytics',
  description:
    'last 24 h of minute rollups of a user with 90 days of history, through the read side',
  async run(ctx: BenchContext) {
    const { AnalyticsQueries } = await import('@wirthforge/metrics');
    const { openSqliteStorage } = await import('@wirthforge/storage-sqlite');
    const days = ctx.options.quick ? 3 : 90;
    const sessionMinutes = 120;
    const file = ctx.tempPath('analytics.sqlite');
    try {
      await (await openSqliteStorage({ path: file })).close(); // the schema
      ctx.log(`analytics: writing ${days} days of rollups`);
      const endUs = writeHistory(file, days, sessionMinutes);
      const storage = await openSqliteStorage({ path: file });
      try {
        const queries = new AnalyticsQueries(storage.db);
        const timesMs: number[] = [];
        let points = 0;
        for (let i = 0; i < 25; i++) {
          const t0 = performance.now();
          const got = await queries.rollups({
            userId: 'ada',
            granularity: '1m',
            fromUs: endUs - DAY_US,
            toUs: endUs,
          });
          timesMs.push(performance.now() - t0);
          points = got.length;
        }
        if (points !== sessionMinutes)
          throw new Error(`expected ${sessionMinutes} minute points, got ${points}`);
        return [
          {
            name: 'analytics.rollup_query_ms',
            value: percentile(timesMs, 50),
            unit: 'ms',
            better: 'lower',
            note: `${days} days of history, ${days * sessionMinutes * 60 * 2 + days * sessionMinutes * 2} rollup rows and more; ${points} minute points in the last 24 h`,
          },
        ];
      } finally {
        await storage.close();
      }
    } finally {
      removeDatabase(file);
    }
  },
};
