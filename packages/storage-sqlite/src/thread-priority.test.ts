import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';

import { describe, expect, it } from 'vitest';

import { currentThreadId } from './thread-priority.js';

/** The nice value of thread `tid` of this process, from `/proc`. */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
  // Fields after the command name (which is in parentheses): nice is the 19th field.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[16]);
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.module).then(({ currentThreadId, lowerCurrentThreadPriority }) => {
  const applied = lowerCurrentThreadPriority(10);
  parentPort.postMessage({ tid: currentThreadId(), applied });
  // Stays alive (its thread readable in /proc) until terminated.
  parentPort.on('message', () => undefined);
});
`;

describe('lowerCurrentThreadPriority', () => {
  it('lowers the calling thread only, on Linux; reports false elsewhere', async () => {
    const module = new URL('../dist/thread-priority.js', import.meta.url).href;
    const worker = new Worker(WORKER, { eval: true, workerData: { module } });
    const { tid, applied } = await new Promise<{ tid: number | undefined; applied: boolean }>(
      (resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
      },
    );
    if (process.platform !== 'linux') {
      expect({ tid, applied }).toEqual({ tid: undefined, applied: false });
      await worker.terminate();
      return;
    }
    expect(applied).toBe(true);
    expect(tid).not.toBe(currentThreadId());
    expect(niceOf(tid!)).toBe(10);
    // The process and this thread keep their priority.
    expect(niceOf(currentThreadId()!)).toBe(0);
    await worker.terminate();
  });
});
