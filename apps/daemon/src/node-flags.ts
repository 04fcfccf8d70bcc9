/**
 * The V8 options `wfstated` runs with, and why (measured with `pnpm bench --cases
 * daemon-rss` and `/proc/<pid>/status`; see the README):
 *
 * - `--max-semi-space-size=1`: V8 grows each isolate's young generation to 2 × 16 MB by
 *   default (the main thread, the writer and the sealing thread each have one), and once
 *   grown those pages stay resident. The daemon's garbage is short-lived (a batch lives
 *   until its ack), so 1 MB semi-spaces collect it as well, for a few more scavenges.
 * - `--max-old-space-size=1024`: a guard against runaway growth of the main thread, not a
 *   tuning knob: a daemon whose heap reaches a gigabyte has a fault, and is better
 *   restarted than left to swap the machine. Every acknowledged event is durable before
 *   its ack, so a crash there loses nothing acknowledged. It is not lower because the
 *   event store keeps the event ids of each open session in memory (for idempotency),
 *   which grows with a long session's events.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=1',
  '--max-old-space-size=1024',
];

/**
 * The old generation of each worker thread's heap (the storage's writer, sealing and
 * maintenance threads), in MB. They keep no per-event state, and below 256 MB V8 grows a
 * heap by at most 1.3× its live size after a full collection (up to 2× as the limit nears
 * 1 GB), so their heaps stay smaller. A worker that reaches it ends with
 * `ERR_WORKER_OUT_OF_MEMORY`, which the storage reports as a failed append: nothing
 * acknowledged is lost.
 */
export const WORKER_OLD_SPACE_MB = 256;

/**
 * What `main.js` sets with `v8.setFlagsFromString` once node has started: V8 reads heap
 * sizes when an isolate is created, so these size the worker threads started after it,
 * never the main thread's heap (sized by {@link DAEMON_NODE_FLAGS}).
 */
export const WORKER_NODE_FLAGS: readonly string[] = [`--max-old-space-size=${WORKER_OLD_SPACE_MB}`];

/**
 * Environment of the daemon's process, read by the C library before any JavaScript runs
 * (so set by whatever starts `wfstated`: its bin's shebang, `./wf start`):
 * `MALLOC_ARENA_MAX=2` keeps glibc from giving each thread that allocates (the main
 * thread, the writer, the sealing thread, libuv's pool, V8's helpers) a malloc arena of
 * its own, each holding freed memory resident.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

function flagName(flag: string): string {
  return flag.split('=')[0]!.replaceAll('_', '-');
}

/**
 * The {@link DAEMON_NODE_FLAGS} not given on the command line (`process.execArgv`) nor in
 * `NODE_OPTIONS`: the bin sets them with `v8.setFlagsFromString` before it starts the
 * storage, so that they size the heaps of the worker threads started after it (the main
 * thread's heap is sized at start: only the command line or the bin's shebang sizes it).
 * A flag given explicitly wins.
 */
export function missingNodeFlags(
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  const given = new Set(
    [...execArgv, ...(nodeOptions ?? '').split(/\s+/)]
      .filter((arg) => arg.startsWith('--'))
      .map(flagName),
  );
  return DAEMON_NODE_FLAGS.filter((flag) => !given.has(flagName(flag)));
}

/** The bin's first line: node with {@link DAEMON_NODE_FLAGS}, in {@link DAEMON_ENV}. */
export function daemonShebang(): string {
  const env = Object.entries(DAEMON_ENV).map(([name, value]) => `${name}=${value}`);
  return `#!/usr/bin/env -S ${[...env, 'node', ...DAEMON_NODE_FLAGS].join(' ')}`;
}
