import { describe, expect, it } from 'vitest';
import { runRealtime, type RealtimeClock } from './run-realtime.js';
import type { SimFrame } from './sim-event.js';
import { simulateSession } from './simulate-session.js';

/** A clock that only moves when told to: sleeps advance it, callbacks may too. */
class ManualClock implements RealtimeClock {
  time = 1000;
  readonly sleeps: number[] = [];
  now(): number {
    return this.time;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.time += ms;
    return Promise.resolve();
  }
}

function frames(count: number, periodUs: number): SimFrame[] {
  return Array.from({ length: count }, (_, i) => ({
    frameId: i,
    timestampUs: 5_000_000 + i * periodUs,
    events: [],
  }));
}

describe('runRealtime', () => {
  it('waits for each frame until its due time counted from the first frame', async () => {
    const clock = new ManualClock();
    const seenAt: number[] = [];
    const result = await runRealtime(frames(4, 16_000), () => void seenAt.push(clock.now()), {
      clock,
    });
    expect(seenAt).toEqual([1000, 1016, 1032, 1048]);
    expect(result).toMatchObject({ frames: 4, lateFrames: 0, aborted: false, elapsedMs: 48 });
  });

  it('absorbs slow callbacks instead of accumulating drift, and counts late frames', async () => {
    const clock = new ManualClock();
    const seenAt: number[] = [];
    const costs = [10, 30, 0, 0, 0];
    const result = await runRealtime(
      frames(5, 20_000),
      (frame) => {
        seenAt.push(clock.now());
        clock.time += costs[frame.frameId] ?? 0;
      },
      { clock },
    );
    // Frame 1 waits 10 ms (not 20); frame 2 is late (due 1040, now 1050); frame 3 is back on time.
    expect(clock.sleeps).toEqual([10, 10, 20]);
    expect(seenAt).toEqual([1000, 1020, 1050, 1060, 1080]);
    expect(result.lateFrames).toBe(1);
  });

  it('scales the pace with speed and does not wait at infinite speed', async () => {
    const fast = new ManualClock();
    await runRealtime(frames(3, 16_000), () => undefined, { clock: fast, speed: 4 });
    expect(fast.sleeps).toEqual([4, 4]);
    const unpaced = new ManualClock();
    const result = await runRealtime(frames(3, 16_000), () => undefined, {
      clock: unpaced,
      speed: Number.POSITIVE_INFINITY,
    });
    expect(unpaced.sleeps).toEqual([]);
    expect(result.frames).toBe(3);
    await expect(runRealtime(frames(1, 1), () => undefined, { speed: 0 })).rejects.toThrow(
      RangeError,
    );
  });

  it('awaits asynchronous callbacks in order and stops when aborted', async () => {
    const clock = new ManualClock();
    const controller = new AbortController();
    const order: number[] = [];
    const session = simulateSession({ seed: 1, durationSeconds: 1 });
    const result = await runRealtime(
      session,
      async (frame) => {
        await Promise.resolve();
        order.push(frame.frameId);
        if (frame.frameId === 9) controller.abort();
      },
      { clock, signal: controller.signal },
    );
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(result.aborted).toBe(true);
    expect(result.frames).toBe(10);
    expect(result.events).toBe(
      [...session].slice(0, 10).reduce((sum, frame) => sum + frame.events.length, 0),
    );
  });

  it('paces with the real clock by default', async () => {
    const result = await runRealtime(frames(3, 1_000), () => undefined);
    expect(result.frames).toBe(3);
    expect(result.aborted).toBe(false);
  });
});
