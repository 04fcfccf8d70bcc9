import { DAEMON_USAGE, resolveDaemonConfig } from './daemon-config.js';
import { isDaemonError } from './errors.js';
import {
  createDaemonLogger,
  startDaemon,
  type Daemon,
  type StartDaemonOptions,
} from './start-daemon.js';

/** Exit codes of `wfstated`. */
export const EXIT_CODES = {
  ok: 0,
  failed: 1,
  config: 2,
  locked: 3,
  corrupt: 4,
  forced: 130,
} as const;

/** What the command line needs from the process. */
export interface DaemonCliIo {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  readonly stderr: { write(text: string): unknown };
  /** Registers a signal handler (process.on). */
  readonly onSignal: (signal: 'SIGINT' | 'SIGTERM', handler: () => void) => void;
  /** Ends the process at once (the second signal). */
  readonly exit: (code: number) => void;
}

/**
 * `wfstated`: resolves the config, starts the daemon, and stops it on SIGINT/SIGTERM (a
 * second signal exits at once: every acknowledged event is committed already, and
 * SQLite's WAL keeps the file whole). Resolves to the exit code once stopped.
 */
export async function runDaemonCli(
  io: DaemonCliIo,
  options: StartDaemonOptions = {},
): Promise<number> {
  let resolved;
  try {
    resolved = resolveDaemonConfig({ argv: io.argv, env: io.env, cwd: io.cwd });
  } catch (error) {
    io.stderr.write(`wfstated: ${(error as Error).message}\n\n${DAEMON_USAGE}\n`);
    return EXIT_CODES.config;
  }
  if (resolved.help) {
    io.stderr.write(`${DAEMON_USAGE}\n`);
    return EXIT_CODES.ok;
  }
  const { config } = resolved;
  const logger = options.logger ?? createDaemonLogger(config.logLevel);
  let daemon: Daemon;
  try {
    daemon = await startDaemon(config, { ...options, logger });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.fatal({ err: error }, 'failed to start');
    io.stderr.write(`wfstated: ${message}\n`);
    if (isDaemonError(error, 'locked')) return EXIT_CODES.locked;
    if (isDaemonError(error, 'corrupt')) return EXIT_CODES.corrupt;
    if (isDaemonError(error, 'invalid_config')) return EXIT_CODES.config;
    return EXIT_CODES.failed;
  }
  return new Promise<number>((resolve) => {
    let signalled = false;
    const onSignal = (signal: string) => () => {
      if (signalled) {
        logger.warn({ signal }, 'second signal: exiting now');
        io.exit(EXIT_CODES.forced);
        return;
      }
      signalled = true;
      daemon.stop(signal).then(
        () => resolve(EXIT_CODES.ok),
        (error: unknown) => {
          logger.error({ err: error }, 'stop failed');
          resolve(EXIT_CODES.failed);
        },
      );
    };
    io.onSignal('SIGINT', onSignal('SIGINT'));
    io.onSignal('SIGTERM', onSignal('SIGTERM'));
  });
}
