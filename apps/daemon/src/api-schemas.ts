/**
 * JSON Schemas of the HTTP API: fastify validates requests with them, serializes
 * responses with them and `@fastify/swagger` turns them into `openapi.json`. Events
 * themselves are described by the JSON Schema files of `@wirthforge/events`.
 */
import { EVENT_TYPES } from '@wirthforge/events';
import { EXPORT_FORMATS } from './export-session.js';
import { MAX_BATCH_EVENTS } from './session-service.js';

/** Every query may carry the access token (for clients that cannot set headers). */
const token = {
  type: 'string',
  description: 'The access token, for clients that cannot send Authorization',
} as const;

const SESSION_ID_PATTERN = '^\\d{8}T\\d{6}Z_\\d{3}$';

/** `{ error: { code, message, issues } }`. */
export const ErrorBodySchema = {
  $id: 'ErrorBody',
  type: 'object',
  description: 'What went wrong and where',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: {
          type: 'string',
          description: 'A DaemonErrorCode, e.g. invalid_event, session_ended',
        },
        message: { type: 'string' },
        retryable: { type: 'boolean' },
        issues: {
          type: 'array',
          items: {
            type: 'object',
            required: ['path', 'keyword', 'message'],
            properties: {
              index: { type: 'integer', description: 'Index of the event in the batch' },
              path: {
                type: 'string',
                description: 'JSON Pointer into the event, or /body, /query, /params',
              },
              keyword: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const;

const errorRef = { $ref: 'ErrorBody#' } as const;

/** Error responses of every route (shared by the routes that document them). */
export const errorResponses = {
  400: errorRef,
  401: errorRef,
  404: errorRef,
  409: errorRef,
  413: errorRef,
  503: errorRef,
} as const;

export const SessionIdParamsSchema = {
  type: 'object',
  required: ['id'],
  properties: {
    id: {
      type: 'string',
      pattern: SESSION_ID_PATTERN,
      description: 'Session id YYYYMMDDTHHMMSSZ_NNN',
    },
  },
} as const;

export const SessionSchema = {
  type: 'object',
  properties: {
    session: { type: 'string' },
    stream: { type: 'string' },
    userId: { type: 'string' },
    status: { type: 'string', enum: ['active', 'ended', 'recovered'] },
    startedAt: { type: 'string', format: 'date-time' },
    endedAt: { type: ['string', 'null'], format: 'date-time' },
    cleanEnd: { type: ['boolean', 'null'] },
    totalEvents: { type: 'integer' },
    totalEnergy: { type: 'number' },
    totalTokens: { type: 'integer' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const;

export const StartSessionBodySchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    userId: { type: 'string', minLength: 1, default: 'default' },
    mode: { type: 'string', enum: ['offline', 'online', 'debug', 'private'], default: 'offline' },
    version: {
      type: 'string',
      minLength: 1,
      default: '1.0.0',
      description: 'WIRTHFORGE version of the client',
    },
    modelId: { type: 'string' },
    hardwareTier: { type: 'string', enum: ['low', 'mid', 'high'] },
    featuresEnabled: { type: 'array', items: { type: 'string' } },
    private: {
      type: 'boolean',
      default: false,
      description: 'Kept in memory only; never written to disk',
    },
  },
} as const;

export const StartSessionResponseSchema = {
  type: 'object',
  properties: {
    session: { type: 'string' },
    stream: { type: 'string' },
    position: { type: 'integer', description: 'Position of its system.start' },
    startedAt: { type: 'string' },
    private: { type: 'boolean' },
  },
} as const;

export const EndSessionBodySchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    reason: {
      type: 'string',
      enum: ['user_exit', 'system_shutdown', 'error', 'crash'],
      default: 'user_exit',
    },
  },
} as const;

export const EndSessionResponseSchema = {
  type: 'object',
  properties: {
    session: { type: 'string' },
    position: { type: 'integer', description: 'Position of its system.end' },
  },
} as const;

export const IngestBodySchema = {
  type: 'object',
  required: ['events'],
  additionalProperties: false,
  properties: {
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      description:
        'WF-TECH-004 events of this session (the JSON Schemas of @wirthforge/events). All or nothing; system.start and system.end are written by the session routes.',
      items: {},
    },
  },
} as const;

export const IngestResponseSchema = {
  type: 'object',
  properties: {
    session: { type: 'string' },
    positions: {
      type: 'array',
      items: { type: 'integer' },
      description: 'Global position of each event, in order',
    },
    lastPosition: { type: 'integer' },
    version: { type: 'integer', description: 'The session stream version after the batch' },
  },
} as const;

export const ListSessionsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    status: { type: 'string', enum: ['active', 'ended', 'recovered'] },
    user: { type: 'string' },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 50 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
} as const;

export const ListEventsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    from: {
      type: 'integer',
      minimum: 1,
      description: 'First global position (inclusive); the `next` of the previous page',
    },
    limit: { type: 'integer', minimum: 1, maximum: 5000, default: 500 },
    type: {
      type: 'string',
      description: `Comma-separated event types (${EVENT_TYPES.length} known)`,
    },
    since: { type: 'string', description: 'ISO-8601 UTC time: events at or after it' },
    until: { type: 'string', description: 'ISO-8601 UTC time: events up to it' },
  },
} as const;

export const RecordSchema = {
  type: 'object',
  properties: {
    position: { type: 'integer' },
    version: { type: 'integer' },
    event: { type: 'object', additionalProperties: true, description: 'The event as stored' },
  },
} as const;

export const ListEventsResponseSchema = {
  type: 'object',
  properties: {
    session: { type: 'string' },
    events: { type: 'array', items: RecordSchema },
    next: {
      type: ['integer', 'null'],
      description: 'Pass as `from` for the next page; null at the end',
    },
  },
} as const;

export const StateQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    at: {
      type: 'string',
      description:
        'A global position (digits), frame:N, or an ISO-8601 UTC time; by replay up to it, inclusive',
    },
  },
} as const;

export const StateResponseSchema = {
  type: 'object',
  properties: {
    session: { type: 'string' },
    position: { type: 'integer', description: 'Global position of the last event folded' },
    version: { type: 'integer' },
    energy: {
      type: ['object', 'null'],
      additionalProperties: true,
      description: 'The WF-TECH-004 energy state (energy-state.json of @wirthforge/events)',
    },
    summary: { type: 'object', additionalProperties: true, description: 'The session summary' },
  },
} as const;

export const UserQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    id: { type: 'string', minLength: 1, default: 'default' },
  },
} as const;

export const UserResponseSchema = {
  type: 'object',
  properties: {
    userId: { type: 'string' },
    level: { type: 'integer' },
    levelName: { type: 'string' },
    xp: { type: 'number' },
    totalEnergy: { type: 'number' },
    sessionsCount: { type: 'integer' },
    updatedAt: { type: 'string' },
  },
} as const;

export const ExportQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    format: { type: 'string', enum: [...EXPORT_FORMATS], default: 'json' },
    content: {
      type: 'string',
      enum: ['redact', 'include'],
      default: 'redact',
      description: 'Prompt hashes and token content are redacted unless include',
    },
  },
} as const;

export const HealthResponseSchema = {
  type: 'object',
  properties: {
    status: { type: 'string' },
    pid: { type: 'integer' },
    uptimeS: { type: 'number' },
    headPosition: { type: 'integer' },
    openSessions: { type: 'integer' },
  },
} as const;

export const MetricsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { token },
} as const;

const timeParam = (what: string) =>
  ({
    type: 'string',
    description: `${what}: an ISO-8601 UTC time, e.g. 2026-11-27T16:00:00Z`,
  }) as const;

const rangeProperties = {
  token,
  session: {
    type: 'string',
    pattern: SESSION_ID_PATTERN,
    description: 'One session (give session or user)',
  },
  user: { type: 'string', minLength: 1, description: "All of a user's sessions" },
  model: {
    type: 'string',
    minLength: 1,
    description: 'One model; default * (all models together)',
  },
  resolution: {
    type: 'string',
    enum: ['second', 'minute', 'hour'],
    default: 'minute',
    description: 'Bucket size of the rollups',
  },
  from: timeParam('Inclusive start (default: 24 hours before to)'),
  to: timeParam('Exclusive end (default: now)'),
} as const;

export const RollupsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: rangeProperties,
} as const;

export const RollupPointSchema = {
  type: 'object',
  required: ['bucketStart', 'bucketStartUs', 'energySum', 'updates', 'tokens', 'sessions'],
  properties: {
    bucketStart: { type: 'string', description: 'Start of the bucket (ISO-8601)' },
    bucketStartUs: { type: 'integer', description: 'Start of the bucket, µs since the epoch' },
    energySum: { type: 'number' },
    energyMin: { type: 'number' },
    energyMax: { type: 'number' },
    energyMean: { type: 'number' },
    updates: { type: 'integer', description: 'energy.update events' },
    tokens: { type: 'integer', description: 'ai.output events' },
    meanFps: { type: 'number' },
    budgetUse: { type: 'number', description: 'Mean frame_budget_used over 16.67 ms' },
    drops: { type: 'integer' },
    sessions: { type: 'integer' },
  },
} as const;

export const RollupsResponseSchema = {
  type: 'object',
  properties: {
    resolution: { type: 'string' },
    from: { type: 'string' },
    to: { type: 'string' },
    points: { type: 'array', items: RollupPointSchema },
  },
} as const;

export const TrendsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    ...rangeProperties,
    window: {
      type: 'integer',
      minimum: 1,
      maximum: 10_000,
      default: 15,
      description: 'Buckets the moving averages and slopes span (the last ones of the range)',
    },
  },
} as const;

const seriesTrend = {
  type: 'object',
  properties: {
    mean: { type: 'number', description: 'Moving average per bucket' },
    ema: { type: 'number', description: 'Exponential moving average' },
    slopePerStep: { type: 'number', description: 'Least-squares slope per bucket' },
  },
} as const;

export const TrendsResponseSchema = {
  type: 'object',
  properties: {
    resolution: { type: 'string' },
    window: { type: 'integer' },
    buckets: { type: 'integer', description: 'Buckets with activity in the window' },
    energy: seriesTrend,
    tokenRate: seriesTrend,
  },
} as const;

export const UsageQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    user: { type: 'string', minLength: 1, default: 'default' },
    from: timeParam('Inclusive start (default: 24 hours before to)'),
    to: timeParam('Exclusive end (default: now)'),
    offsetMinutes: {
      type: 'integer',
      minimum: -840,
      maximum: 840,
      default: 0,
      description: "The user's offset from UTC, for day boundaries",
    },
  },
} as const;

export const UsageResponseSchema = {
  type: 'object',
  properties: {
    userId: { type: 'string' },
    days: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          day: { type: 'string', description: 'YYYY-MM-DD' },
          sessionsStarted: { type: 'integer' },
          energy: { type: 'number' },
          tokens: { type: 'integer' },
          activeSeconds: { type: 'integer' },
        },
      },
    },
  },
} as const;

export const LevelsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    token,
    user: { type: 'string', minLength: 1, default: 'default' },
  },
} as const;

export const LevelsResponseSchema = {
  type: 'object',
  properties: {
    userId: { type: 'string' },
    levels: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          level: { type: 'integer' },
          levelName: { type: 'string' },
          reachedAt: { type: 'string' },
          timestampUs: { type: 'integer' },
          sessionId: { type: 'string' },
        },
      },
    },
  },
} as const;
