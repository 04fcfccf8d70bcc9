/**
 * The writes of `wfstate purge`, `vacuum` and `repair` through a running daemon:
 *
 * - `POST /v1/admin/purge` deletes ended sessions for good, one (`{ stream }`) or every
 *   session of the store (`{ all: true }`): their archived segments, their rows beside
 *   the writer (see `purge-beside-writer.ts`), the WAL emptied and the file rebuilt; then
 *   the session and user rows are rebuilt from what remains, which also drops the store's
 *   projection states held in memory. A running session is refused (end it first);
 * - `POST /v1/admin/vacuum` empties the WAL through the writer and rebuilds the file;
 * - `POST /v1/admin/rebuild-projections` rewrites every session and user row from the
 *   events (the store's own `rebuildProjections`, serialised with its appends);
 * - `POST /v1/admin/snapshots/drop-corrupt` deletes every snapshot that fails its checks,
 *   and writes a fresh full snapshot of each running session that lost its full one (the
 *   daemon's snapshot store keeps the base of its next delta in memory).
 *
 * The file work of purge and vacuum runs on worker threads: the daemon answers requests
 * meanwhile, and commits of ingest wait on SQLite's lock (up to the writer's busy
 * timeout) only for the purge's one transaction and the `VACUUM`. Purges and vacuums run
 * one at a time.
 */
import type { EventStore } from '@wirthforge/eventstore';
import type { SnapshotStore } from '@wirthforge/snapshots';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';
import type { FastifyInstance } from 'fastify';

import * as schemas from './api-schemas.js';
import { DaemonError } from './errors.js';
import type { DaemonContext } from './http-server.js';
import {
  deleteStreamsBesideWriter,
  purgeArchivedOffThread,
  rebuildFileBesideWriter,
} from './purge-beside-writer.js';

const StreamName = { type: 'string', minLength: 1, maxLength: 200 } as const;
const Ranges = {
  type: 'array',
  items: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 2 },
} as const;
const Strings = { type: 'array', items: { type: 'string' } } as const;

const PurgeBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { stream: StreamName, all: { type: 'boolean' } },
} as const;

const PurgeResponseSchema = {
  type: 'object',
  properties: {
    all: { type: 'boolean' },
    streams: Strings,
    sessions: Strings,
    users: Strings,
    rows: {
      type: 'object',
      properties: Object.fromEntries(
        [
          'events',
          'sessions',
          'snapshots',
          'segments',
          'rollups',
          'users',
          'streams',
          'audit',
          'metadata',
        ].map((k) => [k, { type: 'integer' }]),
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

/** The names of every session stream of the store (live or archived), in order. */
async function sessionStreams(store: EventStore): Promise<string[]> {
  const db = (store.storage as Partial<Pick<SqliteStorage, 'db'>>).db;
  if (db === undefined) {
    throw new DaemonError('internal', 'the daemon’s storage has no read connection');
  }
  const rows = await db
    .selectFrom('streams')
    .select('name')
    .where('name', 'like', 'session-%')
    .orderBy('id')
    .execute();
  return rows.map((r) => r.name);
}

/** Runs jobs one at a time, in order (a failed one does not stop the next). */
function serialQueue(): <T>(job: () => Promise<T>) => Promise<T> {
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(job: () => Promise<T>): Promise<T> => {
    const run = tail.then(job, job);
    tail = run.catch(() => undefined);
    return run;
  };
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
  const serial = serialQueue();

  app.post(
    '/v1/admin/purge',
    {
      schema: {
        summary:
          'Delete an ended session ({stream}) or every session ({all: true}) for good: events, rows, snapshots, rollups, archived segments (wfstate purge)',
        tags: ['admin'],
        body: PurgeBodySchema,
        response: { 200: PurgeResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      requireReady();
      const body = request.body as { stream?: string; all?: boolean };
      const all = body.all === true;
      if ((body.stream === undefined) === !all) {
        throw new DaemonError(
          'invalid_request',
          'name one stream ({"stream": "session-…"}) or every session ({"all": true})',
        );
      }
      return serial(() => purge(body.stream, all));
    },
  );

  const purge = async (named: string | undefined, all: boolean): Promise<unknown> => {
    const path = databasePathOf(store);
    const streams = named === undefined ? await sessionStreams(store) : [named];
    const running = (await store.openSessions()).filter((s) => streams.includes(s.stream));
    if (running.length > 0) {
      throw new DaemonError(
        'conflict',
        running.length === 1
          ? `session ${running[0]!.sessionId} is running: end it first (POST /v1/sessions/${running[0]!.sessionId}/end), then purge it`
          : `sessions ${running.map((s) => s.sessionId).join(', ')} are running: end them first (POST /v1/sessions/SESSION/end), then purge`,
      );
    }
    if (named !== undefined && (await store.streamVersion(named)) === 0n) {
      throw new DaemonError('not_found', `no stream ${named} (it has no events)`);
    }
    const actor = all ? 'wfstate purge --all (daemon)' : 'wfstate purge (daemon)';
    // The archived segments first: the live deletion removes the stream rows naming them.
    const archive =
      streams.length === 0
        ? { streams: [], partitions: [], segments: 0, events: 0, catalogRows: 0, positions: [] }
        : await purgeArchivedOffThread(path, streams);
    const rows =
      streams.length === 0
        ? {
            streams: [],
            sessions: [],
            users: [],
            rows: {
              events: 0,
              sessions: 0,
              snapshots: 0,
              segments: 0,
              rollups: 0,
              users: 0,
              streams: 0,
              audit: 0,
              metadata: 0,
            },
            positions: [],
          }
        : await deleteStreamsBesideWriter(path, streams, { actor });
    const file = await rebuildFileBesideWriter(path, writerCheckpoint(store));
    const rebuilt = await store.rebuildProjections();
    context.logger.warn(
      { all, streams: rows.streams, events: rows.rows.events, segments: rows.rows.segments },
      'purged for good',
    );
    return {
      all,
      ...rows,
      positions: rows.positions.map(([a, b]) => [a, b]),
      bytesBefore: file.bytesBefore,
      bytesAfter: file.bytesAfter,
      walBytesAfter: file.walBytesAfter,
      archive,
      rebuilt: { sessions: rebuilt.sessions, users: rebuilt.users },
    };
  };

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
      const report = await serial(() => rebuildFileBesideWriter(path, writerCheckpoint(store)));
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
