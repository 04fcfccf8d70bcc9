import { sessionStream } from '@wirthforge/events';
import type { Subscription } from '@wirthforge/eventstore';
import type { FastifyInstance } from 'fastify';
import type { WebSocket } from 'ws';
import { rawText } from './raw-text.js';
import { DaemonError } from './errors.js';
import type { DaemonContext } from './http-server.js';
import { errorBody } from './http-server.js';
import { malformedJson } from './json-error.js';

/** Close code sent to a subscriber that does not read fast enough (its send buffer passed the bound). */
export const WS_CLOSE_SLOW_CONSUMER = 4008;
/** Close code sent to every client when the daemon stops. */
export const WS_CLOSE_GOING_AWAY = 1001;

/** Options of the WebSocket stream. */
export interface StreamOptions {
  /** Bytes a subscriber may have waiting to be sent before it is closed with {@link WS_CLOSE_SLOW_CONSUMER}. */
  readonly maxBufferedBytes: number;
  /** The open connections, so that stop can close them. */
  readonly connections: Set<WebSocket>;
}

interface SubscribeMessage {
  readonly op: 'subscribe';
  readonly session?: string;
  readonly types?: readonly string[];
}

interface IngestMessage {
  readonly op: 'ingest';
  readonly id?: string | number;
  readonly session: string;
  readonly events: unknown;
}

function send(socket: WebSocket, message: unknown): void {
  if (socket.readyState !== socket.OPEN) return;
  let text: string;
  try {
    text = JSON.stringify(message);
  } catch (error) {
    // Nothing a client sends is echoed unchecked, but an answer that cannot be written
    // must never take the daemon down with it.
    text = JSON.stringify({
      op: 'error',
      error: {
        code: 'internal',
        message: `the answer could not be written: ${(error as Error).message}`,
        retryable: false,
      },
    });
  }
  socket.send(text);
}

/** The `id` of a message, echoed in its answer: a string or a finite number. */
function messageId(message: object): { id: string | number | undefined; bad: boolean } {
  const id = (message as { id?: unknown }).id;
  if (id === undefined) return { id: undefined, bad: false };
  if (typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)))
    return { id, bad: false };
  return { id: undefined, bad: true };
}

function sendError(socket: WebSocket, error: unknown, id?: string | number): void {
  const { body } = errorBody(error);
  send(socket, { op: 'error', ...(id === undefined ? {} : { id }), error: body.error });
}

/** An `invalid_request` about a message, with an issue at `path` (a JSON Pointer into the message). */
function invalidMessage(message: string, path: string): DaemonError {
  return new DaemonError('invalid_request', message, {
    issues: [{ path, keyword: 'message', message }],
  });
}

/**
 * `GET /v1/stream`, the WebSocket channel (JSON text messages):
 *
 * - `{ op: 'ingest', id?, session, events }` → `{ op: 'ack', id, positions, lastPosition, version }`
 *   once durable, or `{ op: 'error', id, error }` (the HTTP error body);
 * - `{ op: 'subscribe', session?, types? }` → `{ op: 'state.sync', … }` with the session's
 *   current state and the position it covers (or, without a session, the head position
 *   and the active sessions), then `{ op: 'event', position, stream, event }` for every
 *   later matching event, with no gap and no repeat; `{ op: 'unsubscribe' }` stops it.
 *
 * Events come from the log (a subscription reads what is committed), so a subscriber
 * holds no queue in the daemon: what waits is its socket's send buffer, and when that
 * passes `maxBufferedBytes` the connection is closed with 4008.
 */
export function registerStreamRoute(
  app: FastifyInstance,
  context: DaemonContext,
  requireReady: () => void,
): void {
  const { service, store, logger } = context;
  const { connections, maxBufferedBytes } = context.stream;
  app.get(
    '/v1/stream',
    {
      websocket: true,
      schema: {
        summary: 'WebSocket: ingest and live subscriptions (see README)',
        tags: ['stream'],
      },
    },
    (socket) => {
      connections.add(socket);
      let subscription: Subscription | undefined;
      /** Set from the subscribe message on, before the state is read, so a second one is refused. */
      let subscribed = false;
      const stopSubscription = (): void => {
        const current = subscription;
        subscription = undefined;
        subscribed = false;
        if (current !== undefined) void current.close();
      };
      socket.on('close', () => {
        connections.delete(socket);
        stopSubscription();
      });
      socket.on('error', (error) => logger.warn({ err: error }, 'websocket error'));

      const subscribe = async (message: SubscribeMessage): Promise<void> => {
        const types = message.types === undefined ? undefined : [...message.types];
        let from: bigint;
        let sync: Record<string, unknown>;
        if (message.session === undefined) {
          from = await store.headPosition();
          const active = await service.list({ status: 'active', limit: 1000, offset: 0 });
          sync = {
            op: 'state.sync',
            session: null,
            position: Number(from),
            sessions: active.map((s) => s.sessionId),
          };
        } else {
          const state = await service.state(message.session);
          from = BigInt(state.position);
          sync = { op: 'state.sync', ...state };
        }
        if (socket.readyState !== socket.OPEN || !subscribed) return;
        const current = store.subscribe({
          from,
          filter: {
            ...(message.session === undefined ? {} : { streams: [sessionStream(message.session)] }),
            ...(types === undefined ? {} : { types }),
          },
        });
        subscription = current;
        send(socket, sync);
        for await (const record of current) {
          if (socket.readyState !== socket.OPEN) break;
          socket.send(
            JSON.stringify({
              op: 'event',
              position: Number(record.position),
              stream: record.stream,
              event: record.event,
            }),
          );
          if (socket.bufferedAmount > maxBufferedBytes) {
            logger.warn(
              { bufferedBytes: socket.bufferedAmount, position: Number(record.position) },
              'closing a slow subscriber',
            );
            socket.close(
              WS_CLOSE_SLOW_CONSUMER,
              `slow consumer: more than ${maxBufferedBytes} bytes waiting`,
            );
            // A client that reads nothing never answers the close: drop it after a grace.
            setTimeout(() => socket.terminate(), 5000).unref();
            break;
          }
        }
        if (subscription === current) {
          subscription = undefined;
          subscribed = false;
        }
        await current.close();
      };

      socket.on('message', (data, isBinary) => {
        if (isBinary) {
          sendError(
            socket,
            invalidMessage('binary messages are not supported; send JSON text', ''),
          );
          return;
        }
        let message: unknown;
        const text = rawText(data);
        try {
          message = JSON.parse(text);
        } catch (error) {
          sendError(socket, malformedJson(text, error, 'message'));
          return;
        }
        if (typeof message !== 'object' || message === null) {
          sendError(
            socket,
            invalidMessage(
              'a message is an object with an op: ingest, subscribe or unsubscribe',
              '',
            ),
          );
          return;
        }
        const { id, bad } = messageId(message);
        if (bad) {
          sendError(
            socket,
            new DaemonError('invalid_request', 'id must be a string or a finite number', {
              issues: [{ path: '/id', keyword: 'type', message: 'must be a string or a number' }],
            }),
          );
          return;
        }
        const op = (message as { op?: unknown }).op;
        try {
          requireReady();
        } catch (error) {
          sendError(socket, error, id);
          return;
        }
        if (op === 'ingest') {
          const ingest = message as IngestMessage;
          if (typeof ingest.session !== 'string') {
            sendError(
              socket,
              invalidMessage('ingest: session must be the session id', '/session'),
              id,
            );
            return;
          }
          service.ingest(ingest.session, ingest.events).then(
            (result) =>
              send(socket, {
                op: 'ack',
                ...(id === undefined ? {} : { id }),
                ...result,
              }),
            (error: unknown) => {
              if (errorBody(error).status >= 500)
                logger.error({ err: error }, 'websocket ingest failed');
              sendError(socket, error, id);
            },
          );
        } else if (op === 'subscribe') {
          const sub = message as SubscribeMessage;
          if (subscribed) {
            sendError(
              socket,
              invalidMessage(
                'subscribe: this connection already has a subscription; unsubscribe first',
                '/op',
              ),
            );
            return;
          }
          if (sub.session !== undefined && typeof sub.session !== 'string') {
            sendError(
              socket,
              invalidMessage('subscribe: session must be a session id', '/session'),
            );
            return;
          }
          if (
            sub.types !== undefined &&
            (!Array.isArray(sub.types) || !sub.types.every((t) => typeof t === 'string'))
          ) {
            sendError(
              socket,
              invalidMessage('subscribe: types must be an array of event types', '/types'),
            );
            return;
          }
          subscribed = true;
          subscribe(sub).catch((error: unknown) => {
            subscribed = false;
            sendError(socket, error);
          });
        } else if (op === 'unsubscribe') {
          stopSubscription();
          send(socket, { op: 'unsubscribed' });
        } else {
          sendError(
            socket,
            invalidMessage(
              `unknown op ${typeof op === 'string' ? JSON.stringify(op.slice(0, 64)) : typeof op}: ingest, subscribe or unsubscribe`,
              '/op',
            ),
          );
        }
      });
    },
  );
}
