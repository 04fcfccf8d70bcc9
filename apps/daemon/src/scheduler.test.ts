import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { Scheduler, type JobRun } from './scheduler.js';

const logger = pino({ level: 'silent' });

describe('Scheduler', () => {
  it('runs jobs periodically, never two runs of one job at once, and goes on after a failure', async () => {
    const runs: JobRun[] = [];
    const scheduler = new Scheduler({ logger, onRun: (run) => runs.push(run) });
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    scheduler.add({
      name: 'slow',
      intervalMs: 1,
      async run() {
        active++;
        maxActive = Math.max(maxActive, active);
        calls++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        active--;
        if (calls === 2) throw new Error('disk hiccup');
        return { calls };
      },
    });
    scheduler.start();
    await expect.poll(() => runs.length, { timeout: 5000 }).toBeGreaterThanOrEqual(4);
    await scheduler.stop();
    expect(maxActive).toBe(1);
    expect(runs[1]).toMatchObject({ name: 'slow', ok: false });
    expect(runs[2]).toMatchObject({ ok: true, result: { calls: 3 } });
  });

  it('stop aborts the signal and waits for the run in progress; runNow runs at once', async () => {
    const scheduler = new Scheduler({ logger });
    let finished = false;
    let aborted = false;
    scheduler.add({
      name: 'long',
      intervalMs: 60_000,
      async run(signal) {
        await new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(), { once: true }),
        );
        aborted = signal.aborted;
        finished = true;
      },
    });
    scheduler.start();
    const running = scheduler.runNow('long');
    await scheduler.stop();
    await running;
    expect(finished).toBe(true);
    expect(aborted).toBe(true);
    expect(() =>
      scheduler.add({ name: 'long', intervalMs: 1, run: () => Promise.resolve() }),
    ).toThrow('already scheduled');
  });
});
