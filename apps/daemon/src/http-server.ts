import swagger from '@fastify/swagger';
import websocket from '@fastify/websocket';
import { toIsoMicros } from '@wirthforge/events';
import { levelName, type EventStore } from '@wirthforge/eventstore';
import type { SessionRecord } from '@wirthforge/storage';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { pack, unpack } from 'msgpackr';
import type { Logger } from 'pino';
import { Readable } from 'node:stream';
import { presentedToken, STREAM_PROTOCOL, tokenMatches } from './access-token.js';
import * as schemas from './api-schemas.js';
import { DaemonError, isDaemonError, type RequestIssue } from './errors.js';
import { EXPORT_CONTENT_TYPES, renderExport, type ExportFormat } from './export-session.js';
import { parseStatePoint, type SessionService } from './session-service.js';
import { registerStreamRoute, type StreamOptions } from './stream-route.js';
import { invalidUtf8Offset } from './utf8.js';
import { malformedJson } from './json-error.js';
import { sessionStream, tryParseIsoMicros } from '@wirthforge/events';

/** The version of the HTTP API, in every path (`/v1/…`). */
export const API_VERSION = 'v1';

/** Media type of MessagePack bodies (requests, and responses when asked for with `Accept`). */
export const MSGPACK = 'application/msgpack';

/** Whether the daemon is ready, and what `/healthz` reports. */
export interface DaemonLifecycle {
  readonly ready: boolean;
  readonly stopping: boolean;
  readonly startedAt: number;
}

/** What the routes use. */
export interface DaemonContext {
  readonly service: SessionService;
  readonly store: EventStore;
  readonly logger: Logger;
  readonly token: string;
  readonly lifecycle: () => DaemonLifecycle;
  readonly stream: StreamOptions;
}

/**
 * Routes added by another package at integration (`/metrics` and `/v1/analytics/*` of
 * `@wirthforge/metrics`): registered in the authenticated scope, after the daemon's own.
 *
 * @example
 * ```ts
 * const metricsRoutes: DaemonPlugin = (app, ctx) => {
 *   app.get('/metrics', async (_request, reply) => reply.type('text/plain; version=0.0.4').send(registry.render()));
 * };
 * await startDaemon(config, { plugins: [metricsRoutes] });
 * ```
 */
export type DaemonPlugin = (app: FastifyInstance, context: DaemonContext) => void | Promise<void>;

/** Options of {@link createHttpServer}. */
export interface HttpServerOptions {
  readonly context: DaemonContext;
  readonly bodyLimitBytes: number;
  readonly plugins?: readonly DaemonPlugin[];
  /** The daemon's version, in the OpenAPI document. */
  readonly version: string;
}

function wantsMsgpack(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return accept !== undefined && accept.includes(MSGPACK);
}

/** The error body of any failure, and its status. */
export function errorBody(error: unknown): {
  status: number;
  body: {
    error: { code: string; message: string; retryable: boolean; issues?: readonly RequestIssue[] };
  };
} {
  if (isDaemonError(error)) {
    return {
      status: error.status,
      body: {
        error: {
          code: error.code,
          message: error.message,
          retryable: error.retryable,
          ...(error.issues.length > 0 ? { issues: error.issues } : {}),
        },
      },
    };
  }
  const fastifyError = error as Partial<FastifyError> & { validationContext?: string };
  if (fastifyError.validation !== undefined) {
    // fastify names the query part `querystring`; issues point at `/query/…` as documented.
    const context = fastifyError.validationContext ?? 'body';
    const part = context === 'querystring' ? 'query' : context;
    const issues: RequestIssue[] = fastifyError.validation.map((v) => {
      const extra: unknown = v.params.missingProperty ?? v.params.additionalProperty;
      return {
        path: `/${part}${v.instancePath}${typeof extra === 'string' ? `/${extra}` : ''}`,
        keyword: v.keyword,
        message: v.message ?? 'is not accepted',
      };
    });
    return errorBody(
      new DaemonError(
        'invalid_request',
        `${part}: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
        { issues },
      ),
    );
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return errorBody(
        new DaemonError(
          'body_too_large',
          `request body is larger than the limit of the daemon (${fastifyError.message}); split the batch or raise --body-limit`,
        ),
      );
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return errorBody(
        new DaemonError(
          'unsupported_media_type',
          `${fastifyError.message}; send application/json or ${MSGPACK}`,
        ),
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return errorBody(
        new DaemonError(
          'malformed_body',
          `request body is not valid JSON: ${fastifyError.message}`,
        ),
      );
    default:
      break;
  }
  if (
    typeof fastifyError.statusCode === 'number' &&
    fastifyError.statusCode >= 400 &&
    fastifyError.statusCode < 500
  ) {
    return {
      status: fastifyError.statusCode,
      body: {
        error: {
          code: 'invalid_request',
          message: fastifyError.message ?? 'bad request',
          retryable: false,
        },
      },
    };
  }
  return errorBody(
    new DaemonError('internal', 'the daemon failed to handle the request; its log has the details'),
  );
}

function sessionJson(row: SessionRecord): Record<string, unknown> {
  return {
    session: row.sessionId,
    stream: row.stream,
    userId: row.userId,
    status: row.status,
    startedAt: toIsoMicros(row.startedUs),
    endedAt: row.endedUs === null ? null : toIsoMicros(row.endedUs),
    cleanEnd: row.cleanEnd,
    totalEvents: row.totalEvents,
    totalEnergy: row.totalEnergy,
    totalTokens: row.totalTokens,
    updatedAt: toIsoMicros(row.updatedUs),
  };
}

function parseTime(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const us = tryParseIsoMicros(value);
  if (us === undefined) {
    throw new DaemonError(
      'invalid_request',
      `query parameter ${name}: ${JSON.stringify(value)} is not an ISO-8601 UTC time`,
      {
        issues: [
          {
            path: `/query/${name}`,
            keyword: 'format',
            message: 'ISO-8601 UTC time, e.g. 2025-08-17T19:48:00.000000Z',
          },
        ],
      },
    );
  }
  return us;
}

/**
 * The daemon's fastify instance: auth on every request, JSON and MessagePack bodies,
 * errors as `{ error: { code, message, issues } }`, the v1 routes, the WebSocket
 * stream, the OpenAPI document, and the plugins' routes. Not listening yet.
 */
export async function createHttpServer(options: HttpServerOptions): Promise<FastifyInstance> {
  const { context } = options;
  const app = Fastify({
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion -- the instance's type takes its logger's: FastifyInstance<…, Logger> is not a FastifyInstance
    loggerInstance: context.logger as FastifyBaseLogger,
    // One line per request would cost more than the ingest at 60 Hz; failures are logged.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: options.bodyLimitBytes,
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
  });
  await app.register(swagger, {
    // Shared schemas keep their $id as their name in components.schemas.
    refResolver: {
      buildLocalReference: (json, _baseUri, _fragment, i) =>
        typeof json.$id === 'string' ? json.$id : `def-${i}`,
    },
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'wfstated',
        description:
          'The local WIRTHFORGE State daemon: sessions, events, state, export, live stream.',
        version: options.version,
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'The token of DIR/daemon.token' },
        },
      },
      security: [{ bearer: [] }],
    },
  });
  await app.register(websocket, {
    options: {
      maxPayload: options.bodyLimitBytes,
      handleProtocols: (protocols: Set<string>) =>
        protocols.has(STREAM_PROTOCOL) ? STREAM_PROTOCOL : ([...protocols][0] ?? false),
    },
  });
  app.addSchema(schemas.ErrorBodySchema);

  app.removeContentTypeParser('application/json');
  // As bytes, not as a string: a string decoder would turn bytes that are not UTF-8 into
  // U+FFFD and the event would be stored changed.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer;
    const bad = invalidUtf8Offset(bytes);
    if (bad >= 0) {
      done(
        new DaemonError(
          'malformed_body',
          `request body is not valid UTF-8: byte 0x${bytes[bad]?.toString(16).padStart(2, '0') ?? ''} at offset ${bad} does not start or continue a UTF-8 sequence`,
          {
            issues: [
              { path: '/body', keyword: 'utf8', message: `invalid UTF-8 at byte offset ${bad}` },
            ],
          },
        ),
        undefined,
      );
      return;
    }
    const text = bytes.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(malformedJson(text, error, 'request body'), undefined);
    }
  });
  app.addContentTypeParser(MSGPACK, { parseAs: 'buffer' }, (_request, body, done) => {
    try {
      done(null, (body as Buffer).length === 0 ? undefined : unpack(body as Buffer));
    } catch (error) {
      done(
        new DaemonError(
          'malformed_body',
          `request body is not valid MessagePack: ${(error as Error).message}`,
          {
            issues: [
              {
                path: '/body',
                keyword: 'msgpack',
                message: `${(body as Buffer).length} bytes that do not decode as one MessagePack value`,
              },
            ],
          },
        ),
        undefined,
      );
    }
  });

  app.addHook('onRequest', (request, _reply, done) => {
    const query = request.query as Record<string, unknown> | undefined;
    const presented = presentedToken({
      authorization: request.headers.authorization,
      protocols: request.headers['sec-websocket-protocol'],
      queryToken: typeof query?.token === 'string' ? query.token : undefined,
    });
    if (tokenMatches(presented, context.token)) {
      done();
      return;
    }
    done(
      new DaemonError(
        'unauthorized',
        presented === undefined
          ? 'no access token: send Authorization: Bearer <the token in DIR/daemon.token> (WebSocket: subprotocol bearer.<token> or ?token=)'
          : 'wrong access token: it changes at each start; read DIR/daemon.token again',
      ),
    );
  });
  app.addHook('preSerialization', async (request, reply, payload) => {
    if (wantsMsgpack(request)) {
      reply.type(MSGPACK);
      // fastify sends a Buffer as it is; its type says string.
      reply.serializer(((value: unknown) => pack(value)) as unknown as (
        payload: unknown,
      ) => string);
    }
    return payload;
  });
  app.setErrorHandler((error, request, reply) => {
    const { status, body } = errorBody(error);
    if (status >= 500) request.log.error({ err: error, url: request.url }, 'request failed');
    else
      request.log.info(
        { url: request.url, method: request.method, status, code: body.error.code },
        body.error.message,
      );
    void reply.status(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send(
        errorBody(
          new DaemonError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
        ).body,
      );
  });

  const { service } = context;
  const requireReady = (): void => {
    const state = context.lifecycle();
    if (state.stopping) throw new DaemonError('stopping', 'the daemon is stopping');
    if (!state.ready)
      throw new DaemonError(
        'not_ready',
        'the daemon is starting (migrations, integrity check, recovery); retry shortly',
      );
  };

  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Liveness',
        tags: ['health'],
        response: { 200: schemas.HealthResponseSchema },
      },
    },
    () => {
      const state = context.lifecycle();
      return Promise.resolve({
        status: state.stopping ? 'stopping' : 'ok',
        pid: process.pid,
        uptimeS: (Date.now() - state.startedAt) / 1000,
      });
    },
  );
  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Ready: migrated, checked, recovered, accepting',
        tags: ['health'],
        response: { 200: schemas.HealthResponseSchema, 503: schemas.ErrorBodySchema },
      },
    },
    async () => {
      requireReady();
      const open = await context.store.openSessions();
      return {
        status: 'ready',
        pid: process.pid,
        uptimeS: (Date.now() - context.lifecycle().startedAt) / 1000,
        headPosition: Number(await context.store.headPosition()),
        openSessions: open.length,
      };
    },
  );

  app.post(
    '/v1/sessions',
    {
      schema: {
        summary: 'Start a session',
        tags: ['sessions'],
        body: schemas.StartSessionBodySchema,
        response: { 201: schemas.StartSessionResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request, reply) => {
      requireReady();
      const body = (request.body ?? {}) as {
        userId?: string;
        mode?: 'offline' | 'online' | 'debug' | 'private';
        version?: string;
        modelId?: string;
        hardwareTier?: 'low' | 'mid' | 'high';
        featuresEnabled?: string[];
        private?: boolean;
      };
      const started = await service.start({
        userId: body.userId ?? 'default',
        mode: body.mode ?? 'offline',
        version: body.version ?? '1.0.0',
        ...(body.modelId === undefined ? {} : { modelId: body.modelId }),
        ...(body.hardwareTier === undefined ? {} : { hardwareTier: body.hardwareTier }),
        ...(body.featuresEnabled === undefined ? {} : { featuresEnabled: body.featuresEnabled }),
        ...(body.private === undefined ? {} : { private: body.private }),
      });
      return reply.status(201).send(started);
    },
  );
  app.post(
    '/v1/sessions/:id/end',
    {
      schema: {
        summary: 'End a session cleanly (system.end with its totals)',
        tags: ['sessions'],
        params: schemas.SessionIdParamsSchema,
        body: schemas.EndSessionBodySchema,
        response: { 200: schemas.EndSessionResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      requireReady();
      const { id } = request.params as { id: string };
      const body = (request.body ?? {}) as {
        reason?: 'user_exit' | 'system_shutdown' | 'error' | 'crash';
      };
      return service.end(id, body.reason ?? 'user_exit');
    },
  );
  app.post(
    '/v1/sessions/:id/events',
    {
      schema: {
        summary:
          "Ingest a batch; answers once it is durable, with each event's position, or with every problem of every event",
        tags: ['events'],
        params: schemas.SessionIdParamsSchema,
        body: schemas.IngestBodySchema,
        response: { 200: schemas.IngestResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      requireReady();
      const { id } = request.params as { id: string };
      return service.ingest(id, (request.body as { events: unknown }).events);
    },
  );
  app.get(
    '/v1/sessions',
    {
      schema: {
        summary: 'Sessions, newest first',
        tags: ['sessions'],
        querystring: schemas.ListSessionsQuerySchema,
        response: {
          200: {
            type: 'object',
            properties: { sessions: { type: 'array', items: schemas.SessionSchema } },
          },
        },
      },
    },
    async (request) => {
      const query = request.query as {
        status?: 'active' | 'ended' | 'recovered';
        user?: string;
        limit: number;
        offset: number;
      };
      const rows = await service.list({
        limit: query.limit,
        offset: query.offset,
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.user === undefined ? {} : { userId: query.user }),
      });
      return { sessions: rows.map(sessionJson) };
    },
  );
  app.get(
    '/v1/sessions/:id',
    {
      schema: {
        summary: 'One session',
        tags: ['sessions'],
        params: schemas.SessionIdParamsSchema,
        response: { 200: schemas.SessionSchema, ...schemas.errorResponses },
      },
    },
    async (request) => sessionJson(await service.get((request.params as { id: string }).id)),
  );
  app.get(
    '/v1/sessions/:id/events',
    {
      schema: {
        summary: "A page of a session's events, by position",
        tags: ['events'],
        params: schemas.SessionIdParamsSchema,
        querystring: schemas.ListEventsQuerySchema,
        response: { 200: schemas.ListEventsResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const query = request.query as {
        from?: number;
        limit: number;
        type?: string;
        since?: string;
        until?: string;
      };
      const sinceUs = parseTime(query.since, 'since');
      const untilUs = parseTime(query.until, 'until');
      const types = query.type
        ?.split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '');
      const page = await service.listEvents(id, {
        limit: query.limit,
        ...(query.from === undefined ? {} : { from: BigInt(query.from) }),
        ...(types === undefined ? {} : { types }),
        ...(sinceUs === undefined ? {} : { sinceUs }),
        ...(untilUs === undefined ? {} : { untilUs }),
      });
      return {
        session: id,
        events: page.events.map((r) => ({
          position: Number(r.position),
          version: Number(r.version),
          event: r.event,
        })),
        next: page.next,
      };
    },
  );
  app.get(
    '/v1/sessions/:id/state',
    {
      schema: {
        summary: "The session's energy state and summary, now or ?at= a position, frame:N or time",
        tags: ['state'],
        params: schemas.SessionIdParamsSchema,
        querystring: schemas.StateQuerySchema,
        response: { 200: schemas.StateResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      const { id } = request.params as { id: string };
      const { at } = request.query as { at?: string };
      return at === undefined ? service.state(id) : service.stateAt(id, parseStatePoint(at));
    },
  );
  app.get(
    '/v1/sessions/:id/export',
    {
      schema: {
        summary:
          "The session's events, streamed as json, ndjson or yaml; content redacted unless content=include",
        tags: ['events'],
        params: schemas.SessionIdParamsSchema,
        querystring: schemas.ExportQuerySchema,
      },
    },
    async (request, reply) => {
      const { id } = request.params as { id: string };
      const { format, content } = request.query as {
        format: ExportFormat;
        content: 'redact' | 'include';
      };
      await service.get(id);
      const records = context.store.readStream(sessionStream(id));
      void reply
        .type(EXPORT_CONTENT_TYPES[format])
        .header('content-disposition', `attachment; filename="${id}.${format}"`)
        .send(Readable.from(renderExport(id, records, format, content === 'include')));
      return reply;
    },
  );
  app.get(
    '/v1/user',
    {
      schema: {
        summary: "A user's progress",
        tags: ['user'],
        querystring: schemas.UserQuerySchema,
        response: { 200: schemas.UserResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      const { id } = request.query as { id: string };
      const user = await service.user(id);
      return {
        userId: user.userId,
        level: user.level,
        levelName: levelName(user.level as Parameters<typeof levelName>[0]),
        xp: user.xp,
        totalEnergy: user.totalEnergy,
        sessionsCount: user.sessionsCount,
        updatedAt: toIsoMicros(user.updatedUs),
      };
    },
  );

  registerStreamRoute(app, context, requireReady);
  for (const plugin of options.plugins ?? []) await plugin(app, context);
  return app;
}

/** Sends an error reply the way the error handler does (for hooks that answer early). */
export function sendError(reply: FastifyReply, error: unknown): FastifyReply {
  const { status, body } = errorBody(error);
  return reply.status(status).send(body);
}
