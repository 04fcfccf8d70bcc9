/**
 * The pieces of a "core restart": the daemon closes its storage and everything built on it
 * (event store, sessions, snapshots, metrics, scheduler), works on the database file
 * (`wfstate restore`, `migrate up`, `purge --all`), then opens it again, while its HTTP
 * server, address and token stay. Requests that arrive meanwhile are answered
 * `503 not_ready` with `Retry-After`; those in flight finish first.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

import { DaemonError } from './errors.js';
import { sendError } from './http-server.js';

/** Seconds a client is told to wait (`Retry-After`) while the storage restarts. */
export const RESTART_RETRY_AFTER_S = 1;

/** What a route asks of {@link CoreRestarter.restart}. */
export interface CoreRestartWork<R> {
  /** Names the work in logs and in the 503 answers (`restore`, `migrate`, `purge --all`). */
  readonly label: string;
  /**
   * Runs once requests are held and those in flight are done, before anything closes:
   * throwing refuses the work (the daemon goes on as it was), e.g. `conflict` while a
   * session runs.
   */
  readonly check?: () => Promise<void>;
  /** Runs with the storage closed and the writer lock released: the file work. */
  readonly closed: (databasePath: string) => Promise<R>;
  /**
   * When the storage does not open again after `closed`: puts the previous files back
   * (the daemon then opens those). Its absence means there is nothing to put back.
   */
  readonly undo?: (databasePath: string, error: unknown) => Promise<void>;
}

/** What a core restart did. */
export interface CoreRestartReport<R> {
  readonly result: R;
  /** Sessions ended (`system_shutdown`, with their final snapshots) before the storage closed. */
  readonly endedSessions: readonly string[];
  /** What opening the storage again did to the schema. */
  readonly migration: {
    readonly previousVersion: number;
    readonly schemaVersion: number;
    readonly applied: readonly string[];
  };
  /** Position of the last event once reopened. */
  readonly headPosition: bigint;
  readonly durationMs: number;
}

/** Restarts the daemon's storage under it (see `startDaemon`). */
export interface CoreRestarter {
  restart<R>(work: CoreRestartWork<R>, request?: FastifyRequest): Promise<CoreRestartReport<R>>;
}

/**
 * An object whose every property is read from `current()` at each access (methods bound to
 * it): the routes keep one reference to the store or the session service while the daemon
 * swaps what is behind it.
 */
export function lateBound<T extends object>(current: () => T): T {
  return new Proxy({} as T, {
    get(_target, property) {
      const target = current();
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function'
        ? (value as (...args: unknown[]) => unknown).bind(target)
        : value;
    },
    has: (_target, property) => Reflect.has(current(), property),
  });
}

/**
 * Holds the HTTP requests while the storage restarts and counts those in flight. `/healthz`
 * always answers (the process is alive); requests of a restart itself are not waited for.
 */
export class RequestGate {
  #held: string | undefined;
  readonly #inFlight = new Set<object>();
  readonly #exempt = new WeakSet<object>();
  #idle: (() => void) | undefined;

  /** Adds the hook to the server (all its routes, those declared before included). */
  install(app: FastifyInstance): void {
    app.addHook('onRequest', (request, reply, done) => {
      if (this.#held !== undefined && !request.url.startsWith('/healthz')) {
        void sendError(
          reply.header('retry-after', String(RESTART_RETRY_AFTER_S)),
          new DaemonError(
            'not_ready',
            `the daemon is restarting its storage (${this.#held}); retry in a moment`,
          ),
        );
        return;
      }
      // A WebSocket stays open: its ingest is drained through the session service.
      if (request.headers.upgrade === undefined) {
        const raw = request.raw;
        this.#inFlight.add(raw);
        reply.raw.once('close', () => this.#settle(raw));
      }
      done();
    });
  }

  /** The request does not hold a restart back (it is one, or waits for one). */
  exempt(request: FastifyRequest): void {
    this.#exempt.add(request.raw);
    this.#settle(request.raw);
  }

  /** Whether requests are held. */
  get held(): boolean {
    return this.#held !== undefined;
  }

  /** From now on requests are answered 503 until {@link resume}. */
  hold(label: string): void {
    this.#held = label;
  }

  resume(): void {
    this.#held = undefined;
  }

  /** Resolves once no request (other than the exempt ones) is in flight. */
  async idle(): Promise<void> {
    while (this.#pending() > 0) {
      await new Promise<void>((resolve) => (this.#idle = resolve));
    }
  }

  #pending(): number {
    let n = 0;
    for (const raw of this.#inFlight) if (!this.#exempt.has(raw)) n++;
    return n;
  }

  #settle(raw: object): void {
    if (!this.#inFlight.delete(raw)) return;
    if (this.#pending() === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle?.();
    }
  }
}
