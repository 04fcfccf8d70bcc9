/**
 * Entry point of the sealing thread, started by the writer thread (see
 * `sqlite-seal-thread.ts` for its work). It lowers its own priority first, before it
 * loads the codec, SQLite and the rest: under CPU contention, starting the thread and
 * encoding segments never take time from the writer or the application's frame loop.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type { SealWorkerData } from './sqlite-seal-protocol.js';
import { lowerCurrentThreadPriority } from './thread-priority.js';

/** Nice value of the sealing thread: under CPU contention, the writer and the app go first. */
const SEAL_THREAD_NICE = 10;

lowerCurrentThreadPriority(SEAL_THREAD_NICE);
if (parentPort !== null) {
  const port = parentPort;
  const { runSealThread } = await import('./sqlite-seal-thread.js');
  runSealThread(port, workerData as SealWorkerData);
}
