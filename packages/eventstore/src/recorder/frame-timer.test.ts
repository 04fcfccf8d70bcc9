import { afterEach, describe, expect, it, vi } from 'vitest';
import { FrameTimer } from './frame-timer.js';

describe('FrameTimer', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ticks at the frame rate without drifting', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const ticks: number[] = [];
    const start = performance.now();
    const timer = new FrameTimer(1000 / 60, () => ticks.push(performance.now() - start));
    timer.start();
    vi.advanceTimersByTime(10_000);
    timer.stop();
    // Timers round delays to whole milliseconds; due times are counted from the start.
    expect(ticks.length).toBeGreaterThanOrEqual(599);
    expect(ticks.length).toBeLessThanOrEqual(601);
    const last = ticks.at(-1)!;
    expect(Math.abs(last - ticks.length * (1000 / 60))).toBeLessThan(2);
    expect(timer.skipped).toBe(0);
    vi.advanceTimersByTime(1000);
    expect(ticks.length).toBeLessThanOrEqual(601);
  });

  it('skips boundaries it missed instead of firing them in a burst', async () => {
    let ticks = 0;
    let timer: FrameTimer | undefined;
    await new Promise<void>((resolve) => {
      timer = new FrameTimer(10, () => {
        ticks++;
        if (ticks === 1) {
          // A frame that blocks the thread for 35 ms: three boundaries pass meanwhile.
          const until = performance.now() + 35;
          while (performance.now() < until);
        } else {
          timer!.stop();
          resolve();
        }
      });
      timer.start();
    });
    expect(ticks).toBe(2);
    expect(timer!.skipped).toBeGreaterThanOrEqual(3);
  });

  it('can be stopped from its own tick', () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    let ticks = 0;
    const timer = new FrameTimer(10, () => {
      ticks++;
      timer.stop();
    });
    timer.start();
    expect(timer.running).toBe(true);
    vi.advanceTimersByTime(100);
    expect(ticks).toBe(1);
    expect(timer.running).toBe(false);
  });
});
