import { toIsoMicros, tryParseIsoMicros } from '@wirthforge/events';
import type { EventStore } from '@wirthforge/eventstore';
import {
  type AnalyticsQueries,
  PROMETHEUS_CONTENT_TYPE,
  trendsOf,
  type RollupGranularity,
  type RollupPoint,
  type StoreMetrics,
} from '@wirthforge/metrics';
import * as schemas from './api-schemas.js';
import { DaemonError, type RequestIssue } from './errors.js';
import type { DaemonPlugin } from './http-server.js';

/** The `resolution` query parameter and the rollup granularity it reads. */
export const RESOLUTIONS: Readonly<Record<string, RollupGranularity>> = Object.freeze({
  second: '1s',
  minute: '1m',
  hour: '1h',
});

/** The default time range of the analytics routes: the last 24 hours. */
export const DEFAULT_ANALYTICS_RANGE_US = 86_400_000_000;

interface RangeQuery {
  readonly session?: string;
  readonly user?: string;
  readonly model?: string;
  readonly resolution: keyof typeof RESOLUTIONS;
  readonly from?: string;
  readonly to?: string;
}

function invalid(name: string, keyword: string, message: string): DaemonError {
  const issue: RequestIssue = { path: `/query/${name}`, keyword, message };
  return new DaemonError('invalid_request', `query parameter ${name}: ${message}`, {
    issues: [issue],
  });
}

/** `[fromUs, toUs)` of a query: ISO-8601 times, default the 24 hours before now. */
export function timeRange(
  query: { readonly from?: string; readonly to?: string },
  nowUs = Date.now() * 1000,
): { fromUs: number; toUs: number } {
  const parse = (name: 'from' | 'to', value: string | undefined): number | undefined => {
    if (value === undefined) return undefined;
    const us = tryParseIsoMicros(value);
    if (us === undefined) {
      throw invalid(
        name,
        'format',
        `${JSON.stringify(value)} is not an ISO-8601 UTC time, e.g. 2026-11-27T16:00:00Z`,
      );
    }
    return us;
  };
  const toUs = parse('to', query.to) ?? nowUs;
  const fromUs = parse('from', query.from) ?? toUs - DEFAULT_ANALYTICS_RANGE_US;
  if (fromUs > toUs) {
    throw invalid('from', 'range', `from (${query.from}) is after to (${toIsoMicros(toUs)})`);
  }
  return { fromUs, toUs };
}

function subject(query: RangeQuery): { sessionId: string } | { userId: string } {
  if (query.session !== undefined && query.user !== undefined) {
    throw invalid('session', 'oneOf', 'give session or user, not both');
  }
  if (query.session !== undefined) return { sessionId: query.session };
  if (query.user !== undefined) return { userId: query.user };
  throw invalid('session', 'required', 'give session (one session) or user (all their sessions)');
}

function withIso(point: RollupPoint): RollupPoint & { bucketStart: string } {
  return { ...point, bucketStart: toIsoMicros(point.bucketStartUs) };
}

/** Options of {@link metricsRoutes}. */
export interface MetricsRoutesOptions {
  /** What `GET /metrics` exposes. */
  readonly metrics: Pick<StoreMetrics, 'prometheus'>;
  /** The analytics' read side (over the storage's read connection). */
  readonly queries: AnalyticsQueries;
  /** The store, for level progression (the user's stream). */
  readonly store: Pick<EventStore, 'readStream'>;
}

/**
 * `GET /metrics` (Prometheus text format 0.0.4) and the `GET /v1/analytics/…` routes
 * (rollups, trends, usage per day, level progression) over `@wirthforge/metrics`. Both
 * sit behind the access token like every route.
 */
export function metricsRoutes(options: MetricsRoutesOptions): DaemonPlugin {
  const { metrics, queries, store } = options;
  return (app) => {
    app.get(
      '/metrics',
      {
        schema: {
          summary: 'Every metric, in the Prometheus text format (0.0.4)',
          tags: ['metrics'],
          querystring: schemas.MetricsQuerySchema,
          response: {
            200: {
              description: 'Prometheus text exposition format 0.0.4',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
            401: schemas.errorResponses[401],
          },
        },
      },
      async (_request, reply) => reply.type(PROMETHEUS_CONTENT_TYPE).send(metrics.prometheus()),
    );

    app.get(
      '/v1/analytics/rollups',
      {
        schema: {
          summary: 'Energy rollups of a session or a user, per second, minute or hour',
          tags: ['analytics'],
          querystring: schemas.RollupsQuerySchema,
          response: { 200: schemas.RollupsResponseSchema, ...schemas.errorResponses },
        },
      },
      async (request) => {
        const query = request.query as RangeQuery;
        const { fromUs, toUs } = timeRange(query);
        const points = await queries.rollups({
          ...subject(query),
          granularity: RESOLUTIONS[query.resolution]!,
          ...(query.model === undefined ? {} : { modelId: query.model }),
          fromUs,
          toUs,
        });
        return {
          resolution: query.resolution,
          from: toIsoMicros(fromUs),
          to: toIsoMicros(toUs),
          points: points.map(withIso),
        };
      },
    );

    app.get(
      '/v1/analytics/trends',
      {
        schema: {
          summary: 'Moving averages and slopes of energy and token rate over the last buckets',
          tags: ['analytics'],
          querystring: schemas.TrendsQuerySchema,
          response: { 200: schemas.TrendsResponseSchema, ...schemas.errorResponses },
        },
      },
      async (request) => {
        const query = request.query as RangeQuery & { window: number };
        const { fromUs, toUs } = timeRange(query);
        const points = await queries.rollups({
          ...subject(query),
          granularity: RESOLUTIONS[query.resolution]!,
          ...(query.model === undefined ? {} : { modelId: query.model }),
          fromUs,
          toUs,
        });
        return {
          resolution: query.resolution,
          window: query.window,
          buckets: Math.min(points.length, query.window),
          ...trendsOf(points, query.window),
        };
      },
    );

    app.get(
      '/v1/analytics/usage',
      {
        schema: {
          summary: "A user's sessions, energy, tokens and active time per day",
          tags: ['analytics'],
          querystring: schemas.UsageQuerySchema,
          response: { 200: schemas.UsageResponseSchema, ...schemas.errorResponses },
        },
      },
      async (request) => {
        const query = request.query as {
          user: string;
          from?: string;
          to?: string;
          offsetMinutes: number;
        };
        const { fromUs, toUs } = timeRange(query);
        const days = await queries.usageByDay(query.user, fromUs, toUs, query.offsetMinutes);
        return { userId: query.user, days };
      },
    );

    app.get(
      '/v1/analytics/levels',
      {
        schema: {
          summary: 'The levels a user reached, in order',
          tags: ['analytics'],
          querystring: schemas.LevelsQuerySchema,
          response: { 200: schemas.LevelsResponseSchema, ...schemas.errorResponses },
        },
      },
      async (request) => {
        const { user } = request.query as { user: string };
        const levels = await queries.levelProgression(store, user);
        return {
          userId: user,
          levels: levels.map((step) => ({ ...step, reachedAt: toIsoMicros(step.timestampUs) })),
        };
      },
    );
  };
}
