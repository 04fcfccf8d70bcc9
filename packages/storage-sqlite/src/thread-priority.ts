/**
 * Lowers the scheduling priority of the calling thread only (not its process), where
 * the platform allows it: on Linux a thread has its own nice value, set through its
 * thread id (`/proc/thread-self`). The sealing thread runs at a lower priority so that,
 * when the CPU is contended, the writer and the application's main thread (the 60 Hz
 * frame loop) run first; its work is never urgent.
 */
import { readlinkSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

/** The calling thread's id on Linux, or undefined elsewhere. */
export function currentThreadId(): number | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    // "<pid>/task/<tid>"
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isSafeInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Raises the calling thread's nice value to `nice` (a lower priority; never a higher one).
 * Returns whether the thread now runs at that nice value or lower priority; false where
 * threads cannot be told apart or the system refuses (the thread then runs as before).
 */
export function lowerCurrentThreadPriority(nice: number): boolean {
  const tid = currentThreadId();
  if (tid === undefined) return false;
  try {
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return getPriority(tid) >= nice;
  } catch {
    return false;
  }
}
