import type { EventStore, FrameAck } from '@wirthforge/eventstore';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import type { BenchCase, BenchContext } from '../bench-case.js';
import { chunkEvents } from '../bench-dataset.js';
import { removeDatabase } from '../file-size.js';
import { percentile } from '../stats.js';
import { loadEventStore, openDurableStorage } from './eventstore.js';

/** Frames of one recorder run: twice the run's batch count, at least one second. */
export function recorderFrameCount(batches: number): number {
  return Math.max(60, 2 * batches);
}

let cachedFrames: { key: string; frames: SimEvent[][] } | undefined;

/**
 * `count` frames of `size` events each: a simulated one-model session cut into runs of
 * `size` consecutive events (one model makes about one event per 60 Hz frame, so a
 * 60-event frame holds about a second of its telemetry, tokens and heartbeats).
 */
function framesOf(seed: number, count: number, size: number): SimEvent[][] {
  const key = `${seed}/${count}/${size}`;
  if (cachedFrames?.key === key) return cachedFrames.frames;
  const session = simulateSession({ seed, durationSeconds: Math.ceil((count * size) / 60) + 1 });
  const frames: SimEvent[][] = [];
  for (const frame of chunkEvents(session, size)) {
    if (frames.length === count) break;
    if (frame.length === size) frames.push(frame);
  }
  if (frames.length !== count) throw new Error(`simulated ${frames.length} of ${count} frames`);
  cachedFrames = { key, frames };
  return frames;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The recorder at 60 Hz over storage-sqlite (WAL + FULL), default options (validation
 * and privacy on), paced in real time (a flood would measure queueing, not latency):
 * each frame's `record()` calls and its `endFrame()` are timed on the main thread with
 * `performance.now()` (`recorder.frame_cost_us_*`); each commit's acknowledgement gives
 * the main-thread time its commit task spent on the frame after it: enrichment,
 * validation, routing and encoding (`recorder.encode_us_*`), and the time from the frame's first `record()` to its
 * durable commit (`recorder.durable_latency_ms_*`). Defaults: 600 frames (10 s) of 60
 * events per repetition.
 */
export const recorderCase: BenchCase = {
  name: 'recorder',
  description:
    'WIRTHFORGE recorder at 60 Hz, real time: main-thread cost of a frame, record to durable commit',
  async run(ctx: BenchContext) {
    const { createEventStore, createRecorder } = await loadEventStore();
    const count = recorderFrameCount(ctx.options.batches);
    const frames = framesOf(ctx.options.seed, count, ctx.options.batchSize);
    const events = count * ctx.options.batchSize;
    const file = ctx.tempPath('recorder.sqlite');
    let store: EventStore | undefined;
    try {
      store = createEventStore({ storage: await openDurableStorage(file) });
      const acks: FrameAck[] = [];
      const recorder = createRecorder(store, {
        clock: 'external',
        onAck: (ack) => acks.push(ack),
      });
      const costsUs: number[] = [];
      const periodMs = 1000 / 60;
      const start = performance.now();
      let late = 0;
      for (let i = 0; i < frames.length; i++) {
        const wait = start + i * periodMs - performance.now();
        if (wait > 0) await sleep(wait);
        else if (i > 0) late++;
        const frame = frames[i]!;
        const t0 = performance.now();
        for (const event of frame) recorder.record(event);
        recorder.endFrame();
        costsUs.push((performance.now() - t0) * 1000);
      }
      await recorder.close();
      const stats = recorder.stats();
      if (stats.accepted !== events || stats.failed !== 0 || stats.pending !== 0) {
        throw new Error(
          `recorder accepted ${stats.accepted} of ${events} events, ${stats.failed} failed, ${stats.pending} pending`,
        );
      }
      if (stats.committed + stats.coalesced !== events) {
        throw new Error(
          `recorder stored ${stats.committed} + ${stats.coalesced} of ${events} events`,
        );
      }
      const latencies = acks.map((ack) => ack.latencyMs);
      const encodeUs = acks.map((ack) => ack.encodeMs * 1000);
      const note =
        `${frames.length} frames of ${ctx.options.batchSize} events at 60 Hz; ` +
        `${stats.commits} commits, ${stats.coalesced} events coalesced, ${late} frames started late`;
      return [
        {
          name: 'recorder.frame_cost_us_p50',
          value: percentile(costsUs, 50),
          unit: 'µs',
          better: 'lower',
        },
        {
          name: 'recorder.frame_cost_us_p99',
          value: percentile(costsUs, 99),
          unit: 'µs',
          better: 'lower',
        },
        {
          name: 'recorder.encode_us_p50',
          value: percentile(encodeUs, 50),
          unit: 'µs',
          better: 'lower',
        },
        {
          name: 'recorder.encode_us_p99',
          value: percentile(encodeUs, 99),
          unit: 'µs',
          better: 'lower',
        },
        {
          name: 'recorder.durable_latency_ms_p50',
          value: percentile(latencies, 50),
          unit: 'ms',
          better: 'lower',
        },
        {
          name: 'recorder.durable_latency_ms_p99',
          value: percentile(latencies, 99),
          unit: 'ms',
          better: 'lower',
          note,
        },
      ];
    } finally {
      if (store !== undefined && !store.closed) await store.close();
      removeDatabase(file);
    }
  },
};
