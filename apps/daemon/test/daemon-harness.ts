import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import pino from 'pino';
import WebSocket from 'ws';
import { daemonConfig, type DaemonSettings } from '../src/daemon-config.js';
import { startDaemon, type Daemon, type StartDaemonOptions } from '../src/start-daemon.js';
import { STREAM_PROTOCOL } from '../src/access-token.js';
import { rawText } from '../src/raw-text.js';

/** A fresh temporary data directory. */
export function tempDataDir(prefix = 'wfstated-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A daemon on a free port in a temporary directory, silent, `synchronous=NORMAL` unless asked. */
export async function startTestDaemon(
  settings: Partial<DaemonSettings> = {},
  options: StartDaemonOptions = {},
): Promise<Daemon & { readonly dataDir: string; cleanup(): Promise<void> }> {
  const dataDir = settings.dataDir ?? tempDataDir();
  const daemon = await startDaemon(
    daemonConfig({ sync: 'normal', ...settings, dataDir, port: 0 }),
    {
      logger: pino({ level: 'silent' }),
      ...options,
    },
  );
  return Object.assign(daemon, {
    dataDir,
    async cleanup() {
      await daemon.stop('test done');
      rmSync(dataDir, { recursive: true, force: true });
    },
  });
}

/** A JSON response. */
export interface ApiResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
  readonly headers: Headers;
}

/** A fetch with the daemon's token (unless `token: null`) and a JSON body. */
export async function api<T = Record<string, unknown>>(
  base: { url: string; token: string },
  method: string,
  path: string,
  options: {
    body?: unknown;
    raw?: string | Uint8Array;
    token?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? base.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Uint8Array | undefined = options.raw;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] ??= 'application/json';
  } else if (options.raw !== undefined) {
    headers['content-type'] ??= 'application/json';
  }
  const response = await fetch(`${base.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the text itself
  }
  return { status: response.status, body: parsed as T, headers: response.headers };
}

/** Starts a session and returns its id. */
export async function startSession(
  base: { url: string; token: string },
  body: Record<string, unknown> = {},
): Promise<string> {
  const response = await api<{ session: string }>(base, 'POST', '/v1/sessions', { body });
  if (response.status !== 201)
    throw new Error(`start session: ${response.status} ${JSON.stringify(response.body)}`);
  return response.body.session;
}

/** Simulated events of a session (without its system.start and system.end, which the daemon writes). */
export function sessionEvents(
  sessionId: string,
  seconds: number,
  seed = 7,
  eventIds = true,
  startTime = Date.now(),
): SimEvent[] {
  const events: SimEvent[] = [];
  for (const frame of simulateSession({
    seed,
    sessionId,
    durationSeconds: seconds,
    startTime,
    eventIds,
    models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
  })) {
    for (const event of frame.events)
      if (event.type !== 'system.start' && event.type !== 'system.end') events.push(event);
  }
  return events;
}

/** Splits into batches of `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A WebSocket client with a queue of parsed messages. */
export interface StreamClient {
  readonly socket: WebSocket;
  readonly messages: Record<string, unknown>[];
  send(message: unknown): void;
  /** Resolves with the next message matching `predicate` (looking at those received already too). */
  next(
    predicate: (message: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Opens `/v1/stream` with the token as a subprotocol (unless `auth` says otherwise). */
export function openStream(
  base: { url: string; token: string },
  auth: 'protocol' | 'query' | 'header' | 'none' | { wrong: string } = 'protocol',
): Promise<StreamClient> {
  const wsUrl = `${base.url.replace(/^http/, 'ws')}/v1/stream${auth === 'query' ? `?token=${base.token}` : ''}`;
  const protocols =
    auth === 'protocol'
      ? [STREAM_PROTOCOL, `bearer.${base.token}`]
      : typeof auth === 'object'
        ? [STREAM_PROTOCOL, `bearer.${auth.wrong}`]
        : [];
  const socket = new WebSocket(
    wsUrl,
    protocols,
    auth === 'header' ? { headers: { authorization: `Bearer ${base.token}` } } : {},
  );
  const messages: Record<string, unknown>[] = [];
  const waiters: {
    predicate: (m: Record<string, unknown>) => boolean;
    resolve: (m: Record<string, unknown>) => void;
    from: number;
  }[] = [];
  socket.on('message', (data) => {
    const message = JSON.parse(rawText(data)) as Record<string, unknown>;
    messages.push(message);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(message)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    }
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () =>
      resolve({
        socket,
        messages,
        closed,
        send: (message) => socket.send(JSON.stringify(message)),
        next: (predicate, timeoutMs = 15_000) => {
          const seen = messages.find(predicate);
          if (seen !== undefined) return Promise.resolve(seen);
          return new Promise((ok, fail) => {
            const timer = setTimeout(
              () => fail(new Error('no matching message in time')),
              timeoutMs,
            );
            waiters.push({
              predicate,
              from: messages.length,
              resolve: (m) => {
                clearTimeout(timer);
                ok(m);
              },
            });
          });
        },
        close: () => socket.close(),
      }),
    );
    socket.once('error', reject);
    socket.once('unexpected-response', (_request, response) =>
      reject(
        Object.assign(new Error(`unexpected response ${response.statusCode}`), {
          statusCode: response.statusCode,
        }),
      ),
    );
  });
}
