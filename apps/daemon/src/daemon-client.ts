import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { STREAM_PROTOCOL, TOKEN_FILE, TOKEN_PROTOCOL_PREFIX } from './access-token.js';
import { DaemonError, type DaemonErrorCode, type RequestIssue } from './errors.js';
import type { IngestResult } from './session-service.js';
import { DAEMON_INFO_FILE } from './start-daemon.js';
import { rawText } from './raw-text.js';

/** Where a daemon listens and its token. */
export interface DaemonAddress {
  readonly url: string;
  readonly token: string;
}

/** Reads `DIR/daemon.json` and `DIR/daemon.token` of a running daemon. */
export function readDaemonAddress(dataDir: string): DaemonAddress & { readonly pid: number } {
  const info = JSON.parse(readFileSync(join(dataDir, DAEMON_INFO_FILE), 'utf8')) as {
    url: string;
    pid: number;
  };
  return {
    url: info.url,
    pid: info.pid,
    token: readFileSync(join(dataDir, TOKEN_FILE), 'utf8').trim(),
  };
}

function toError(status: number, body: unknown): DaemonError {
  const error = (body as { error?: { code?: string; message?: string; issues?: RequestIssue[] } })
    .error;
  return new DaemonError(
    (error?.code ?? 'internal') as DaemonErrorCode,
    error?.message ?? `HTTP ${status}`,
    error?.issues === undefined ? {} : { issues: error.issues },
  );
}

/** A WebSocket connection to `/v1/stream` used for ingest (one ack per batch). */
export interface StreamConnection {
  /** Sends a batch; resolves with its positions once durable, rejects with the daemon's error. */
  ingest(session: string, events: readonly unknown[]): Promise<IngestResult>;
  /** Batches sent and not yet answered. */
  readonly pending: number;
  close(): Promise<void>;
}

/**
 * A small client of the daemon's API (HTTP with the token, and the WebSocket for
 * ingest), for tools, benchmarks and other components in Node.
 *
 * @example
 * ```ts
 * const client = new DaemonClient(readDaemonAddress(dataDir));
 * const session = await client.startSession();
 * await client.ingest(session, events);
 * ```
 */
export class DaemonClient {
  readonly address: DaemonAddress;

  constructor(address: DaemonAddress) {
    this.address = address;
  }

  /** One JSON request; rejects with a {@link DaemonError} for a 4xx/5xx answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.address.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.address.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const parsed: unknown = await response.json();
    if (!response.ok) throw toError(response.status, parsed);
    return parsed as T;
  }

  /** Starts a session; its id. */
  async startSession(options: Record<string, unknown> = {}): Promise<string> {
    return (await this.request<{ session: string }>('POST', '/v1/sessions', options)).session;
  }

  /** Ingests a batch over HTTP. */
  ingest(session: string, events: readonly unknown[]): Promise<IngestResult> {
    return this.request<IngestResult>('POST', `/v1/sessions/${session}/events`, { events });
  }

  /** Ends a session. */
  endSession(session: string, reason = 'user_exit'): Promise<{ position: number }> {
    return this.request('POST', `/v1/sessions/${session}/end`, { reason });
  }

  /** Opens the WebSocket stream for ingest. */
  openStream(): Promise<StreamConnection> {
    const socket = new WebSocket(`${this.address.url.replace(/^http/, 'ws')}/v1/stream`, [
      STREAM_PROTOCOL,
      `${TOKEN_PROTOCOL_PREFIX}${this.address.token}`,
    ]);
    const waiting = new Map<
      number,
      { resolve: (r: IngestResult) => void; reject: (e: unknown) => void }
    >();
    let next = 0;
    socket.on('message', (data) => {
      const message = JSON.parse(rawText(data)) as {
        op: string;
        id?: number;
        error?: unknown;
      } & IngestResult;
      if (typeof message.id !== 'number') return;
      const waiter = waiting.get(message.id);
      if (waiter === undefined) return;
      waiting.delete(message.id);
      if (message.op === 'ack') waiter.resolve(message);
      else waiter.reject(toError(400, message));
    });
    const closed = new Promise<void>((resolve) => {
      socket.on('close', (code, reason) => {
        for (const waiter of waiting.values())
          waiter.reject(
            new DaemonError('stopping', `stream closed (${code} ${reason.toString()})`),
          );
        waiting.clear();
        resolve();
      });
    });
    return new Promise((resolve, reject) => {
      socket.once('error', reject);
      socket.once('open', () =>
        resolve({
          ingest(session, events) {
            const id = next++;
            return new Promise<IngestResult>((ok, fail) => {
              waiting.set(id, { resolve: ok, reject: fail });
              socket.send(JSON.stringify({ op: 'ingest', id, session, events }));
            });
          },
          get pending() {
            return waiting.size;
          },
          async close() {
            socket.close();
            await closed;
          },
        }),
      );
    });
  }
}
