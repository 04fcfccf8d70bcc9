/**
 * The writes of `wfstate purge`, `vacuum` and `repair` through a running daemon:
 *
 * - `POST /v1/admin/purge` deletes one ended session for good: its archived segments
 *   (`purgeArchived`), its rows beside the writer (see `purge-beside-writer.ts`), the WAL
 *   emptied and the file rebuilt; then the session and user rows are rebuilt from what
 *   remains, which also drops the store's projection states held in memory;
 * - `POST /v1/admin/vacuum` empties the WAL through the writer and rebuilds the file;
 * - `POST /v1/admin/rebuild-projections` rewrites every session and user row from the
 *   events (the store's own `rebuildProjections`, serialised with its appends);
 * - `POST /v1/admin/snapshots/drop-corrupt` deletes every snapshot that fails its checks,
 *   and writes a fresh full snapshot of each running session that lost its full one (the
 *   daemon's snapshot store keeps the base of its next delta in memory).
 *
 * The file work runs on the daemon's main thread: requests wait meanwhile, and commits
 * of ingest wait on SQLite's lock for the purge's one transaction and the `VACUUM`.
 */
import { purgeArchived } from '@wirthforge/archive';
import type { EventStore } from '@wirthforge/eventstore';
import type { SnapshotStore } from '@wirthforge/snapshots';
import type { FastifyInstance } from 'fastify';

import * as schemas from './api-schemas.js';
import { DaemonError } from './errors.js';
import type { DaemonContext } from './http-server.js';
import { deleteStreamsBesideWriter, rebuildFileBesideWriter } from './purge-beside-writer.js';

const StreamName = { type: 'string', minLength: 1, maxLength: 200 } as const;
const Ranges = {
  type: 'array',
  items: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2 },
} as const;
const Strings = { type: 'array', items: { type: 'string' } } as const;

const PurgeBodySchema = {
  type: 'object',
  required: ['stream'],
  additionalProperties: false,
  properties: { stream: StreamName },
} as const;

const PurgeResponseSchema = {
  type: 'object',
  properties: {
    streams: Strings,
    sessions: Strings,
    users: Strings,
    rows: {
      type: 'object',
      properties: Object.fromEntries(
        ['events', 'sessions', 'snapshots', 'segments', 'rollups', 'users', 'streams', 'audit'].map(
          (k) => [k, { type: 'integer' }],
        ),
      ),
    },
    positions: Ranges,
    bytesBefore: { type: 'integer' },
    bytesAfter: { type: 'integer' },
    walBytesAfter: { type: 'integer' },
    archive: {
      type: 'object',
      properties: {
        streams: Strings,
        partitions: {
          type: 'array',
          items: {
            type: 'object',
            properties: {
              partition: { type: 'string' },
              segments: { type: 'integer' },
              events: { type: 'integer' },
              bytesBefore: { type: 'integer' },
              bytesAfter: { type: 'integer' },
              removed: { type: 'boolean' },
            },
          },
        },
        segments: { type: 'integer' },
        events: { type: 'integer' },
        catalogRows: { type: 'integer' },
        positions: Ranges,
      },
    },
    rebuilt: {
      type: 'object',
      properties: { sessions: { type: 'integer' }, users: { type: 'integer' } },
    },
  },
} as const;

const VacuumResponseSchema = {
  type: 'object',
  properties: {
    path: { type: 'string' },
    bytesBefore: { type: 'integer' },
    bytesAfter: { type: 'integer' },
    freePagesBefore: { type: 'integer' },
    walBytesAfter: { type: 'integer' },
  },
} as const;

const RebuildResponseSchema = {
  type: 'object',
  properties: {
    events: { type: 'integer' },
    sessions: { type: 'integer' },
    users: { type: 'integer' },
    position: { type: 'integer' },
  },
} as const;

const DropCorruptResponseSchema = {
  type: 'object',
  properties: {
    dropped: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'integer' },
          stream: { type: 'string' },
          reason: { type: 'string' },
          message: { type: 'string' },
        },
      },
    },
    replaced: Strings,
  },
} as const;

const EmptyBodySchema = { type: 'object', additionalProperties: false, properties: {} } as const;

/** The database file of the daemon's store (its SQLite storage's `path`). */
function databasePathOf(store: EventStore): string {
  const path = (store.storage as { path?: unknown }).path;
  if (typeof path !== 'string') {
    throw new DaemonError('internal', 'the daemon’s storage is not a database file');
  }
  return path;
}

/** The daemon's writer checkpoint (`checkpoint('truncate')` on its writer thread). */
function writerCheckpoint(store: EventStore): () => Promise<{ busy: boolean }> {
  const storage = store.storage as {
    checkpoint?: (mode: 'truncate') => Promise<{ busy: boolean }>;
  };
  const checkpoint = storage.checkpoint;
  if (typeof checkpoint !== 'function') {
    throw new DaemonError('internal', 'the daemon’s storage has no checkpoint');
  }
  return () => checkpoint.call(storage, 'truncate');
}

/**
 * Registers the routes above (in the authenticated scope, see `maintenanceRoutes`).
 * `requireReady` refuses while the daemon starts or stops.
 */
export function registerStoreAdminRoutes(
  app: FastifyInstance,
  context: DaemonContext,
  options: { readonly snapshots: SnapshotStore; readonly requireReady: () => void },
): void {
  const { store } = context;
  const { snapshots, requireReady } = options;

  app.post(
    '/v1/admin/purge',
    {
      schema: {
        summary:
          'Delete an ended session for good: events, rows, snapshots, rollups, archived segments (wfstate purge)',
        tags: ['admin'],
        body: PurgeBodySchema,
        response: { 200: PurgeResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      requireReady();
      const { stream } = request.body as { stream: string };
      const running = (await store.openSessions()).find((s) => s.stream === stream);
      if (running !== undefined) {
        throw new DaemonError(
          'conflict',
          `session ${running.sessionId} is running: end it first (POST /v1/sessions/${running.sessionId}/end), then purge it`,
        );
      }
      const path = databasePathOf(store);
      if ((await store.streamVersion(stream)) === 0n) {
        throw new DaemonError('not_found', `no stream ${stream} (it has no events)`);
      }
      // The archived segments first: the live deletion removes the stream row naming them.
      const archive = purgeArchived({ databasePath: path }, { streams: [stream] });
      const rows = deleteStreamsBesideWriter(path, [stream], { actor: 'wfstate purge (daemon)' });
      const file = await rebuildFileBesideWriter(path, writerCheckpoint(store));
      const rebuilt = await store.rebuildProjections();
      context.logger.warn(
        { streams: rows.streams, events: rows.rows.events, segments: rows.rows.segments },
        'purged for good',
      );
      return {
        ...rows,
        positions: rows.positions.map(([a, b]) => [a, b]),
        bytesBefore: file.bytesBefore,
        bytesAfter: file.bytesAfter,
        walBytesAfter: file.walBytesAfter,
        archive,
        rebuilt: { sessions: rebuilt.sessions, users: rebuilt.users },
      };
    },
  );

  app.post(
    '/v1/admin/vacuum',
    {
      schema: {
        summary: 'Empty the WAL and rebuild the database file without free pages (wfstate vacuum)',
        tags: ['admin'],
        body: EmptyBodySchema,
        response: { 200: VacuumResponseSchema, ...schemas.errorResponses },
      },
    },
    async () => {
      requireReady();
      const path = databasePathOf(store);
      const report = await rebuildFileBesideWriter(path, writerCheckpoint(store));
      return { path, ...report };
    },
  );

  app.post(
    '/v1/admin/rebuild-projections',
    {
      schema: {
        summary: 'Rewrite every session and user row from the events (wfstate repair)',
        tags: ['admin'],
        body: EmptyBodySchema,
        response: { 200: RebuildResponseSchema, ...schemas.errorResponses },
      },
    },
    async () => {
      requireReady();
      const report = await store.rebuildProjections();
      return { ...report, position: Number(report.position) };
    },
  );

  app.post(
    '/v1/admin/snapshots/drop-corrupt',
    {
      schema: {
        summary: 'Delete every snapshot that fails its checks (wfstate repair)',
        tags: ['admin'],
        body: EmptyBodySchema,
        response: { 200: DropCorruptResponseSchema, ...schemas.errorResponses },
      },
    },
    async () => {
      requireReady();
      const report = await snapshots.verify();
      const dropped = [...report.bad];
      const replaced: string[] = [];
      if (dropped.length > 0) {
        await store.commitBatch([], {
          writes: [{ kind: 'snapshot.delete', ids: dropped.map((d) => d.id) }],
        });
        const lostFull = new Set(dropped.map((d) => d.stream));
        for (const open of await store.openSessions()) {
          if (open.private || !lostFull.has(open.stream)) continue;
          await snapshots.create(open.stream, { reason: 'manual', kind: 'full' });
          replaced.push(open.stream);
        }
      }
      return { dropped, replaced };
    },
  );
}
