/**
 * The writes of `wfstate purge`, `vacuum`, `repair`, `restore` and `migrate up` through a
 * running daemon:
 *
 * - `POST /v1/admin/purge` deletes an ended session for good (`{ stream }`): its archived
 *   segments, its rows beside the writer (see `purge-beside-writer.ts`), the WAL emptied
 *   and the file rebuilt; then the session and user rows are rebuilt from what remains,
 *   which also drops the store's projection states held in memory. `{ all: true }`
 *   empties the store as `wfstate purge --all` does without a daemon (every session,
 *   user, event, snapshot, rollup, audit row and archive partition), in a core restart
 *   (see `core-restart.ts`): the writer keeps the streams it appends to in memory, so
 *   they go with the storage closed. A running session is refused (end it first);
 * - `POST /v1/admin/restore` puts a verified database file of the data directory (the
 *   backup `wfstate restore` unpacked and checked) in place of the database, in a core
 *   restart: the current files are kept aside until the restored one has opened (and been
 *   migrated) cleanly, else they are put back;
 * - `POST /v1/admin/migrate` applies the migrations of the daemon's release that the file
 *   lacks, in a core restart (nothing when none is pending); a schema version the daemon's
 *   release does not migrate to is a `conflict`;
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
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

import type { PurgeArchivedReport } from '@wirthforge/archive';
import type { EventStore } from '@wirthforge/eventstore';
import type { SnapshotStore } from '@wirthforge/snapshots';
import { SCHEMA_VERSION, createMigrations } from '@wirthforge/storage';
import {
  checkSqliteFileIntegrity,
  headMarkerPath,
  openConnection,
  openSqliteReadOnlyStorage,
  sqliteSchemaDialect,
} from '@wirthforge/storage-sqlite';
import type { PurgeReport } from '@wirthforge/storage-sqlite';
import type { FastifyInstance } from 'fastify';

import * as schemas from './api-schemas.js';
import type { CoreRestarter } from './core-restart.js';
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
          'redactedMarkers',
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

const MigrationSchema = {
  type: 'object',
  properties: {
    previousVersion: { type: 'integer' },
    schemaVersion: { type: 'integer' },
    applied: Strings,
  },
} as const;

const RestoreBodySchema = {
  type: 'object',
  required: ['file'],
  additionalProperties: false,
  properties: { file: { type: 'string', minLength: 1, maxLength: 4096 } },
} as const;

const RestoreResponseSchema = {
  type: 'object',
  properties: {
    restored: { type: 'string' },
    headPosition: { type: 'integer' },
    previousRemoved: { type: 'boolean' },
    endedSessions: Strings,
    migration: MigrationSchema,
  },
} as const;

const MigrateBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { schemaVersion: { type: 'integer', minimum: 1 } },
} as const;

const MigrateResponseSchema = {
  type: 'object',
  properties: {
    previousVersion: { type: 'integer' },
    schemaVersion: { type: 'integer' },
    applied: Strings,
    restarted: { type: 'boolean' },
    endedSessions: Strings,
  },
} as const;

/** The files of a database: itself, its WAL, shared memory and head marker. */
function databaseFiles(database: string): string[] {
  return [database, `${database}-wal`, `${database}-shm`, headMarkerPath(database)].filter((f) =>
    existsSync(f),
  );
}

/** Moves the files of database `from` to database `to` (same directory: renames). */
function moveDatabase(from: string, to: string): void {
  for (const f of databaseFiles(from)) renameSync(f, `${to}${f.slice(from.length)}`);
}

/** The schema version recorded in the file and the migrations of this release it lacks. */
function pendingMigrations(path: string): { version: number; pending: string[] } {
  const c = openConnection(path, { readonly: true });
  try {
    const version = Number(
      c.prepare("select value from metadata where key = 'schema_version'").pluck().get() ?? 0,
    );
    const applied = new Set(
      c.prepare('select name from kysely_migration').pluck().all() as string[],
    );
    const pending = Object.keys(createMigrations(sqliteSchemaDialect))
      .sort()
      .filter((name) => !applied.has(name));
    return { version, pending };
  } finally {
    c.close();
  }
}

/** The worker's program: `purgeArchived` then `purgeSqliteFile` of everything. */
const PURGE_ALL_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { purgeArchived } = await import(workerData.archiveUrl);
  const { purgeSqliteFile } = await import(workerData.sqliteUrl);
  const archive = purgeArchived({ databasePath: workerData.databasePath }, { all: true });
  const report = purgeSqliteFile(workerData.databasePath, { all: true }, { actor: workerData.actor });
  parentPort.postMessage({ ok: true, archive, report });
})().catch((error) =>
  parentPort.postMessage({ ok: false, message: String((error && error.message) || error) }),
);
`;

/**
 * Empties the closed database at `databasePath` and its archive partitions as
 * `wfstate purge --all` does with the writer lock, on a worker thread (the daemon answers
 * `/healthz` meanwhile).
 */
function purgeEverythingOffThread(
  databasePath: string,
  actor: string,
): Promise<{ archive: PurgeArchivedReport; report: PurgeReport }> {
  return new Promise((resolvePurge, reject) => {
    const worker = new Worker(PURGE_ALL_SOURCE, {
      eval: true,
      workerData: {
        archiveUrl: import.meta.resolve('@wirthforge/archive'),
        sqliteUrl: import.meta.resolve('@wirthforge/storage-sqlite'),
        databasePath,
        actor,
      },
    });
    type Reply =
      | { ok: true; archive: PurgeArchivedReport; report: PurgeReport }
      | { ok: false; message: string };
    let reply: Reply | undefined;
    worker.once('message', (message: Reply) => (reply = message));
    worker.once('error', (error) => (reply ??= { ok: false, message: error.message }));
    worker.once('exit', (code) => {
      if (reply?.ok === true) resolvePurge({ archive: reply.archive, report: reply.report });
      else
        reject(
          new Error(
            `the purge of everything failed: ${reply?.message ?? `its thread exited with code ${code}`}`,
          ),
        );
    });
  });
}

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
  options: {
    readonly snapshots: SnapshotStore;
    readonly requireReady: () => void;
    /** Restarts the daemon's storage under it (restore, migrate, purge of everything). */
    readonly restarter?: CoreRestarter;
  },
): void {
  const { store } = context;
  const { snapshots, requireReady } = options;
  const restarter = (): CoreRestarter => {
    if (options.restarter === undefined) {
      throw new DaemonError('internal', 'this server cannot restart its storage');
    }
    return options.restarter;
  };
  /** Sessions that run (and write to disk): a purge of everything waits for them to end. */
  const refuseRunning = async (streams?: readonly string[]): Promise<void> => {
    const running = (await store.openSessions()).filter(
      (s) => !s.private && (streams === undefined || streams.includes(s.stream)),
    );
    if (running.length > 0) {
      throw new DaemonError(
        'conflict',
        running.length === 1
          ? `session ${running[0]!.sessionId} is running: end it first (POST /v1/sessions/${running[0]!.sessionId}/end), then purge it`
          : `sessions ${running.map((s) => s.sessionId).join(', ')} are running: end them first (POST /v1/sessions/SESSION/end), then purge`,
      );
    }
  };
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
          'name one stream ({"stream": "session-…"}) or everything ({"all": true})',
        );
      }
      if (all) {
        await refuseRunning();
        const restart = restarter();
        const done = await restart.restart(
          {
            label: 'purge --all',
            check: () => refuseRunning(),
            closed: (path) => purgeEverythingOffThread(path, 'wfstate purge --all (daemon)'),
          },
          request,
        );
        const { archive, report } = done.result;
        context.logger.warn(
          { all, streams: report.streams.length, events: report.rows.events },
          'purged everything for good',
        );
        return {
          all,
          ...report,
          positions: report.positions.map(([a, b]) => [a, b]),
          archive,
          rebuilt: { sessions: 0, users: 0 },
        };
      }
      return serial(() => purge(body.stream!));
    },
  );

  const purge = async (named: string): Promise<unknown> => {
    const all = false;
    const path = databasePathOf(store);
    const streams = [named];
    await refuseRunning(streams);
    if ((await store.streamVersion(named)) === 0n) {
      throw new DaemonError('not_found', `no stream ${named} (it has no events)`);
    }
    const actor = 'wfstate purge (daemon)';
    // The archived segments first: the live deletion removes the stream rows naming them.
    const archive = await purgeArchivedOffThread(path, streams);
    const rows = await deleteStreamsBesideWriter(path, streams, { actor });
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
  app.post(
    '/v1/admin/restore',
    {
      schema: {
        summary:
          'Replace the database with a verified database file of the data directory, under the running daemon (wfstate restore)',
        tags: ['admin'],
        body: RestoreBodySchema,
        response: { 200: RestoreResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      requireReady();
      const database = databasePathOf(store);
      const file = resolve(dirname(database), (request.body as { file: string }).file);
      if (dirname(file) !== dirname(database) || databaseFiles(database).includes(file)) {
        throw new DaemonError(
          'invalid_request',
          `body.file: expected a database file in ${dirname(database)} other than the database, got ${file}`,
        );
      }
      if (!existsSync(file) || !statSync(file).isFile()) {
        throw new DaemonError('not_found', `body.file: no file ${file}`);
      }
      // Checked before anything stops: a damaged file is refused with the daemon as it was.
      let problem: string | undefined;
      try {
        const integrity = await checkSqliteFileIntegrity(file);
        if (integrity.ok) {
          const probe = await openSqliteReadOnlyStorage({ path: file });
          await probe.close();
        } else {
          problem = integrity.problems[0]?.message ?? 'its integrity check failed';
        }
      } catch (error) {
        problem = (error as Error).message;
      }
      if (problem !== undefined) {
        throw new DaemonError(
          'invalid_request',
          `${file} is not a usable WIRTHFORGE State database: ${problem}; the current database was not touched`,
        );
      }
      const aside = `${database}.before-restore-${Date.now()}`;
      let undone = false;
      try {
        const done = await restarter().restart(
          {
            label: 'restore',
            closed: (path) => {
              moveDatabase(path, aside);
              renameSync(file, path);
              return Promise.resolve();
            },
            undo: (path) => {
              // Only over files of the restore: the previous database must be aside.
              if (!existsSync(aside)) return Promise.resolve();
              for (const f of databaseFiles(path)) rmSync(f, { force: true });
              moveDatabase(aside, path);
              undone = true;
              return Promise.resolve();
            },
          },
          request,
        );
        const previous = databaseFiles(aside);
        for (const f of previous) rmSync(f, { force: true });
        context.logger.warn(
          { from: file, headPosition: Number(done.headPosition) },
          'database restored',
        );
        return {
          restored: database,
          headPosition: Number(done.headPosition),
          previousRemoved: previous.length > 0,
          endedSessions: done.endedSessions,
          migration: done.migration,
        };
      } catch (error) {
        if (!undone) throw error;
        throw new DaemonError(
          'invalid_request',
          `the restored database did not open cleanly (${(error as Error).message}); the previous database is back in place`,
          { cause: error },
        );
      }
    },
  );

  app.post(
    '/v1/admin/migrate',
    {
      schema: {
        summary:
          "Apply the pending migrations of the daemon's release, under the running daemon (wfstate migrate up)",
        tags: ['admin'],
        body: MigrateBodySchema,
        response: { 200: MigrateResponseSchema, ...schemas.errorResponses },
      },
    },
    async (request) => {
      requireReady();
      const wanted = (request.body as { schemaVersion?: number } | undefined)?.schemaVersion;
      if (wanted !== undefined && wanted !== SCHEMA_VERSION) {
        throw new DaemonError(
          'conflict',
          `this daemon's release migrates to schema version ${SCHEMA_VERSION}, not ${wanted}: stop it and start the release that knows schema version ${wanted} (a daemon migrates the database when it starts)`,
        );
      }
      const database = databasePathOf(store);
      const before = pendingMigrations(database);
      if (before.pending.length === 0 && before.version === SCHEMA_VERSION) {
        return {
          previousVersion: before.version,
          schemaVersion: before.version,
          applied: [],
          restarted: false,
          endedSessions: [],
        };
      }
      const done = await restarter().restart(
        { label: 'migrate', closed: () => Promise.resolve() },
        request,
      );
      return {
        previousVersion: before.version,
        schemaVersion: done.migration.schemaVersion,
        applied: done.migration.applied,
        restarted: true,
        endedSessions: done.endedSessions,
      };
    },
  );
}
