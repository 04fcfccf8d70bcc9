/**
 * A running daemon (`wfstated`) of the data directory, and requests to its HTTP API: the
 * way a write command goes while the daemon holds the writer lock. The address is in
 * `DIR/daemon.json`, the access token in `DIR/daemon.token` (both written by the daemon
 * once it listens, removed at its clean stop). Plain `fetch`: the CLI does not load the
 * daemon's server code to talk to it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

import type { CommandEnv } from './cli-runtime.js';
import { CliError } from './errors.js';
import type { ImportTarget } from './import-events.js';
import { writerLockState } from './writer-lock.js';

/** The daemon's address file in the data directory (`DAEMON_INFO_FILE` of the daemon). */
export const DAEMON_INFO_FILE = 'daemon.json';
/** The daemon's access token file in the data directory (`TOKEN_FILE` of the daemon). */
export const DAEMON_TOKEN_FILE = 'daemon.token';

/** Events the daemon takes in one request (`MAX_BATCH_EVENTS` of the daemon). */
export const DAEMON_MAX_BATCH_EVENTS = 10_000;

/** A daemon that runs and answers on `url`. */
export interface DaemonApi {
  readonly url: string;
  readonly pid: number;
  /** A JSON request; rejects with a {@link CliError} carrying the daemon's error. */
  request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
  /** A text request (`GET /metrics`). */
  text(path: string): Promise<string>;
}

function daemonError(status: number, body: unknown, url: string): CliError {
  const error = (body as { error?: { code?: string; message?: string; issues?: unknown } } | null)
    ?.error;
  const message = `the daemon answered ${status}${error?.code === undefined ? '' : ` ${error.code}`}: ${error?.message ?? 'no message'}`;
  const details = error?.issues;
  const options = details === undefined ? {} : { details };
  if (status === 404) return new CliError('not_found', message, options);
  if (status === 400 || status === 409 || status === 413 || status === 415) {
    return new CliError('invalid_input', message, {
      hint: 'the daemon refused this request and wrote nothing of it',
      ...options,
    });
  }
  if (status === 503) {
    return new CliError('locked', message, {
      hint: 'the daemon is starting, stopping or restarting its storage (restore, migrate up, purge --all); try again in a moment',
    });
  }
  if (status === 401) {
    return new CliError('failed', message, {
      hint: `the token in ${DAEMON_TOKEN_FILE} did not match: the daemon may have restarted; try again`,
    });
  }
  return new CliError('failed', message, { hint: `see the daemon's log (${url})` });
}

/**
 * The daemon of `env`'s data directory when it runs (its process holds the writer lock
 * and its address file names that process), else `undefined`.
 */
export function runningDaemon(env: CommandEnv): DaemonApi | undefined {
  const { dir, database } = env.dataDir;
  const lock = writerLockState(database);
  if (!lock.present || lock.alive !== true) return undefined;
  const infoPath = join(dir, DAEMON_INFO_FILE);
  const tokenPath = join(dir, DAEMON_TOKEN_FILE);
  if (!existsSync(infoPath) || !existsSync(tokenPath)) return undefined;
  let info: { url?: unknown; pid?: unknown };
  let token: string;
  try {
    info = JSON.parse(readFileSync(infoPath, 'utf8')) as { url?: unknown; pid?: unknown };
    token = readFileSync(tokenPath, 'utf8').trim();
  } catch {
    return undefined;
  }
  if (typeof info.url !== 'string' || lock.pid === null || info.pid !== lock.pid) return undefined;
  const url = info.url;
  const pid = lock.pid;
  const send = async (method: string, path: string, body?: unknown): Promise<Response> => {
    try {
      return await fetch(`${url}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        ...(env.io.signal === undefined ? {} : { signal: env.io.signal }),
      });
    } catch (error) {
      throw new CliError('locked', `the daemon (pid ${pid}) does not answer at ${url}`, {
        hint: 'it holds the writer lock: wait until it is ready, or stop it and run the command again',
        cause: error,
      });
    }
  };
  return {
    url,
    pid,
    async request<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
      const response = await send(method, path, body);
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = text === '' ? null : JSON.parse(text);
      } catch {
        parsed = null;
      }
      if (!response.ok) throw daemonError(response.status, parsed, url);
      return parsed as T;
    },
    async text(path: string): Promise<string> {
      const response = await send('GET', path);
      const text = await response.text();
      if (!response.ok) {
        let parsed: unknown = null;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = null;
        }
        throw daemonError(response.status, parsed, url);
      }
      return text;
    },
  };
}

/**
 * The pid of the daemon holding `database`'s writer lock, when the lock's owner runs and
 * is the daemon whose address file is in the same directory; else `undefined`.
 */
export function daemonHoldingLock(database: string): number | undefined {
  const lock = writerLockState(database);
  if (!lock.present || lock.alive !== true || lock.pid === null) return undefined;
  try {
    const info = JSON.parse(readFileSync(join(dirname(database), DAEMON_INFO_FILE), 'utf8')) as {
      pid?: unknown;
    };
    return info.pid === lock.pid ? lock.pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The exit-4 error of a write that cannot go through the daemon's API: which daemon
 * holds the lock, why the write cannot go through it (when said), and what to do.
 */
export function daemonHoldsLock(pid: number, cause?: unknown, reason?: string): CliError {
  return new CliError(
    'locked',
    `the daemon (wfstated, pid ${pid}) holds the writer lock, and this command cannot go through its API${reason === undefined ? '' : `: ${reason}`}`,
    {
      hint: `stop the daemon (kill -TERM ${pid}: it ends its sessions cleanly), run the command, then start the daemon again`,
      cause,
    },
  );
}

/**
 * An import through the daemon: planned with reads of a read-only storage (safe while
 * the daemon writes), each stream appended in one `POST /v1/admin/append` at its exact
 * version, so a concurrent write to the same stream is a conflict, never a duplicate, and
 * the daemon's analytics cannot slip derived events between two parts of a stream.
 */
export function daemonImportTarget(
  api: DaemonApi,
  storage: ImportTarget['storage'] & { headPosition(): Promise<bigint> },
): ImportTarget {
  return {
    atomicLimit: DAEMON_MAX_BATCH_EVENTS,
    storage,
    headPosition: () => storage.headPosition(),
    async appendToStream(stream, events, options) {
      const result = await api.request<{ positions: number[]; nextExpectedVersion: number }>(
        'POST',
        '/v1/admin/append',
        {
          stream,
          expectedVersion:
            options.expectedVersion === 'any' ? 'any' : Number(options.expectedVersion),
          events,
        },
      );
      return {
        positions: result.positions.map((p) => BigInt(p)),
        nextExpectedVersion: BigInt(result.nextExpectedVersion),
      };
    },
  };
}
