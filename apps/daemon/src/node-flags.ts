/**
 * The V8 options `wfstated` runs with, and why (measured with `pnpm bench --cases
 * daemon-rss`; see the README):
 *
 * - `--max-semi-space-size=2`: V8's young generation grows to 2 × 16 MB per isolate by
 *   default (the main thread, the writer and the sealing thread each have one), and once
 *   grown those pages stay resident. The daemon's garbage is short-lived (a batch lives
 *   until its ack), so 2 MB semi-spaces collect it as well, for a few more scavenges.
 * - `--max-old-space-size=1024`: a guard against runaway growth, not a tuning knob (the
 *   measured resident memory is the same with 256): a daemon whose heap reaches a
 *   gigabyte has a fault, and is better restarted than left to swap the machine. Every
 *   acknowledged event is durable before its ack, so a crash there loses nothing
 *   acknowledged. It is not lower because the event store keeps the event ids of each
 *   open session in memory (for idempotency), which grows with a long session's events.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = [
  '--max-semi-space-size=2',
  '--max-old-space-size=1024',
];

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
