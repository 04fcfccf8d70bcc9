/**
 * Writes that `wfstate` sends through a running daemon instead of taking the writer lock
 * itself: appending an import to a stream at an exact version, creating and pruning
 * snapshots, and (see `store-admin-routes.ts`) purge, vacuum, the steps of repair,
 * restore and migrate. The daemon holds the only writer, so these go through its store
 * (and its instrumented storage) like every other commit, or through a restart of its
 * storage under it (`core-restart.ts`).
 */
import type { AppendableEvent } from '@wirthforge/eventstore';
import { createdSnapshotJson } from '@wirthforge/snapshots';
import type { CreatedSnapshotJson, SnapshotStore } from '@wirthforge/snapshots';

import * as schemas from './api-schemas.js';
import type { CoreRestarter } from './core-restart.js';
import { DaemonError } from './errors.js';
import type { DaemonPlugin } from './http-server.js';
import { MAX_BATCH_EVENTS, mapStoreError } from './session-service.js';
import { registerStoreAdminRoutes } from './store-admin-routes.js';

const StreamName = { type: 'string', minLength: 1, maxLength: 200 } as const;

const AppendBodySchema = {
  type: 'object',
  required: ['stream', 'expectedVersion', 'events'],
  additionalProperties: false,
  properties: {
    stream: StreamName,
    expectedVersion: {
      anyOf: [
        { type: 'integer', minimum: 0 },
        { type: 'string', enum: ['any'] },
      ],
    },
    events: {
      type: 'array',
      minItems: 1,
      maxItems: MAX_BATCH_EVENTS,
      items: { type: 'object' },
    },
  },
} as const;

const AppendResponseSchema = {
  type: 'object',
  properties: {
    stream: { type: 'string' },
    positions: { type: 'array', items: { type: 'integer' } },
    lastPosition: { type: 'integer' },
    nextExpectedVersion: { type: 'integer' },
  },
} as const;

const CreateSnapshotsBodySchema = {
  type: 'object',
  required: ['streams'],
  additionalProperties: false,
  properties: {
    streams: { type: 'array', minItems: 1, maxItems: 10_000, items: StreamName },
    kind: { type: 'string', enum: ['full', 'incremental'] },
  },
} as const;

const SnapshotSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    stream: { type: 'string' },
    kind: { type: 'string' },
    baseId: { type: ['integer', 'null'] },
    reason: { type: 'string' },
    streamVersion: { type: 'integer' },
    position: { type: 'integer' },
    sizeBytes: { type: 'integer' },
    rawBytes: { type: 'integer' },
    checksum: { type: 'integer' },
    eventsSinceLast: { type: 'integer' },
    markerStream: { type: 'string' },
    markerPosition: { type: 'integer' },
  },
} as const;

const PruneBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { stream: StreamName },
} as const;

const PruneResponseSchema = {
  type: 'object',
  properties: {
    deleted: { type: 'array', items: { type: 'integer' } },
    kept: { type: 'integer' },
  },
} as const;

/** Options of {@link maintenanceRoutes}. */
export interface MaintenanceRoutesOptions {
  /** The daemon's snapshot store (the one its scheduler writes with: ids stay in order). */
  readonly snapshots: SnapshotStore;
  /**
   * Restarts the daemon's storage under it: without it, restore, migrate and the purge of
   * everything answer `internal`.
   */
  readonly restarter?: CoreRestarter;
}

/**
 * `POST /v1/admin/append` (events at an exact stream version, or `any`: what
 * `wfstate import` writes), `POST /v1/admin/snapshots` (a manual snapshot of each
 * stream), `POST /v1/admin/snapshots/prune` (retention) and the routes of
 * `registerStoreAdminRoutes` (purge, vacuum, rebuild-projections, snapshots/drop-corrupt,
 * restore, migrate),
 * in the authenticated scope.
 */
export function maintenanceRoutes(options: MaintenanceRoutesOptions): DaemonPlugin {
  const { snapshots, restarter } = options;
  return (app, context) => {
    const { store } = context;
    const requireReady = (): void => {
      const state = context.lifecycle();
      if (state.stopping) throw new DaemonError('stopping', 'the daemon is stopping');
      if (!state.ready) throw new DaemonError('not_ready', 'the daemon is starting; retry shortly');
    };

    app.post(
      '/v1/admin/append',
      {
        schema: {
          summary:
            'Append validated events to any stream at an exact expected version (wfstate import)',
          tags: ['admin'],
          body: AppendBodySchema,
          response: { 200: AppendResponseSchema, ...schemas.errorResponses },
        },
      },
      async (request) => {
        requireReady();
        const body = request.body as {
          stream: string;
          expectedVersion: number | 'any';
          events: AppendableEvent[];
        };
        try {
          const result = await store.appendToStream(body.stream, body.events, {
            expectedVersion: body.expectedVersion === 'any' ? 'any' : BigInt(body.expectedVersion),
          });
          return {
            stream: body.stream,
            positions: result.positions.map(Number),
            lastPosition: Number(result.lastPosition),
            nextExpectedVersion: Number(result.nextExpectedVersion),
          };
        } catch (error) {
          throw mapStoreError(error, body.stream);
        }
      },
    );

    app.post(
      '/v1/admin/snapshots',
      {
        schema: {
          summary: 'A manual snapshot of each stream (full, or by the store’s full/delta rule)',
          tags: ['admin'],
          body: CreateSnapshotsBodySchema,
          response: {
            200: {
              type: 'object',
              properties: { snapshots: { type: 'array', items: SnapshotSchema } },
            },
            ...schemas.errorResponses,
          },
        },
      },
      async (request) => {
        requireReady();
        const body = request.body as { streams: string[]; kind?: 'full' | 'incremental' };
        const created: CreatedSnapshotJson[] = [];
        for (const stream of body.streams) {
          if ((await store.streamVersion(stream)) === 0n) {
            throw new DaemonError('not_found', `no stream ${stream} (it has no events)`);
          }
          created.push(
            createdSnapshotJson(
              await snapshots.create(stream, {
                reason: 'manual',
                ...(body.kind === undefined ? {} : { kind: body.kind }),
              }),
            ),
          );
        }
        return { snapshots: created };
      },
    );

    registerStoreAdminRoutes(app, context, {
      snapshots,
      requireReady,
      ...(restarter === undefined ? {} : { restarter }),
    });

    app.post(
      '/v1/admin/snapshots/prune',
      {
        schema: {
          summary: 'Retention of snapshots: keep the last full ones per stream and their deltas',
          tags: ['admin'],
          body: PruneBodySchema,
          response: { 200: PruneResponseSchema, ...schemas.errorResponses },
        },
      },
      async (request) => {
        requireReady();
        const body = (request.body ?? {}) as { stream?: string };
        const report = await snapshots.prune(body.stream);
        return { deleted: [...report.deleted], kept: report.kept };
      },
    );
  };
}
