/**
 * End-to-end tests of every command, run in this process with captured output, against a
 * data directory recorded by the simulator through the event store's 60 Hz recorder.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { decodeEvent, encodeEvent } from '@wirthforge/events';
import { SCHEMA_VERSION, createMigrations, eventChecksum } from '@wirthforge/storage';
import {
  headMarkerPath,
  openConnection,
  openSqliteStorage,
  sqliteSchemaDialect,
} from '@wirthforge/storage-sqlite';
import { parseAllDocuments } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

import { COMMANDS } from '../src/command-table.js';
import {
  MARKER,
  PRIVATE_SESSION,
  PUBLIC_SESSION,
  archivedSegmentSlices,
  cli,
  filesContaining,
  sealEverything,
  streamHolds,
  removeFixtureCopies,
  fixtureDataDir,
  rowCount,
  tempDir,
  PURGE_JSON_KEYS,
} from './fixtures.js';

/** Every migration this release knows, in order. */
const MIGRATIONS = Object.keys(createMigrations(sqliteSchemaDialect)).sort();

const cleanups: (() => void)[] = [];
afterAll(() => {
  removeFixtureCopies();
  for (const c of cleanups) c();
});

/** A private copy of the fixture data directory. */
function dataDir(): string {
  return fixtureDataDir('data');
}

function sha(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Runs and parses `--json`; asserts stdout is exactly one JSON document. */
async function json<T = Record<string, unknown>>(argv: readonly string[], code = 0): Promise<T> {
  const run = await cli([...argv, '--json']);
  expect(run.code, run.stderr).toBe(code);
  return JSON.parse(run.stdout) as T;
}

describe('help and usage', () => {
  it('prints help with examples for the program and every command', async () => {
    const top = await cli(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Examples:');
    for (const { name } of COMMANDS) expect(top.stdout).toContain(name);
    const names = [
      'init',
      'status',
      'doctor',
      'sessions list',
      'sessions show',
      'events query',
      'events tail',
      'state',
      'user',
      'replay',
      'verify',
      'repair',
      'backup',
      'restore',
      'export',
      'import',
      'purge',
      'plot',
      'migrate status',
      'migrate up',
      'vacuum',
      'snapshot create',
      'snapshot list',
      'snapshot verify',
      'snapshot prune',
      'recover',
      'metrics',
    ];
    for (const name of names) {
      const run = await cli([...name.split(' '), '--help']);
      expect(run.code, name).toBe(0);
      expect(run.stdout, name).toContain('Examples:');
      expect(run.stdout, name).toContain('--data-dir');
    }
  }, 120_000);

  it('exits 2 on a usage error and says what to do', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
    const bad = await cli(['state', 'not-a-session', '--data-dir', dataDir()]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('sessions list');
  }, 120_000);

  it('exits 3 with a hint when there is no database, as one JSON document with --json', async () => {
    const empty = tempDir('empty');
    cleanups.push(empty.remove);
    const run = await cli(['status', '--data-dir', empty.dir]);
    expect(run.code).toBe(3);
    expect(run.stderr).toContain('wfstate init');
    const doc = await json<{ ok: boolean; error: { code: string; hint: string } }>(
      ['status', '--data-dir', empty.dir],
      3,
    );
    expect(doc).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(doc.error.hint).toContain('wfstate init');
  }, 120_000);
});

describe('init, status, doctor, migrate, vacuum', () => {
  it('init creates the directory and database once, under XDG_DATA_HOME by default', async () => {
    const home = tempDir('xdg');
    cleanups.push(home.remove);
    const env = { XDG_DATA_HOME: home.dir, HOME: '/nonexistent' };
    const first = await cli(['init', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      dataDir: join(home.dir, 'wirthforge'),
      database: join(home.dir, 'wirthforge', 'state.db'),
      created: true,
      schemaVersion: SCHEMA_VERSION,
      migrationsApplied: MIGRATIONS,
      via: 'writer',
    });
    const again = JSON.parse((await cli(['init', '--json'], { env })).stdout) as {
      created: boolean;
      migrationsApplied: string[];
    };
    expect(again).toMatchObject({ created: false, migrationsApplied: [] });
  }, 120_000);

  it('status reports sizes, sessions, events, health and the daemon', async () => {
    const dir = dataDir();
    const status = await json<{
      files: { database: number; wal: number };
      sessions: Record<string, number>;
      events: { headPosition: string; stored: number };
      health: { ok: boolean };
      daemon: { running: boolean };
      snapshots: { count: number };
      archive: { files: number };
    }>(['status', '--data-dir', dir]);
    expect(Object.keys(status).sort()).toEqual(
      [
        'archive',
        'daemon',
        'dataDir',
        'database',
        'events',
        'files',
        'health',
        'schemaVersion',
        'segments',
        'sessions',
        'snapshots',
      ].sort(),
    );
    expect(status.sessions).toEqual({ total: 2, active: 0, ended: 2, recovered: 0 });
    expect(status.events.stored).toBe(Number(status.events.headPosition));
    expect(status.files.database).toBeGreaterThan(0);
    expect(status.health.ok).toBe(true);
    expect(status.daemon.running).toBe(false);
    const text = await cli(['status', '--data-dir', dir]);
    expect(text.stdout).toMatch(/sessions\s+2 \(0 active, 2 ended, 0 recovered\)/);
  }, 120_000);

  it('doctor checks versions, permissions, lock and disk', async () => {
    const doc = await json<{ ok: boolean; checks: { check: string; status: string }[] }>([
      'doctor',
      '--data-dir',
      dataDir(),
    ]);
    expect(doc.ok).toBe(true);
    const names = doc.checks.map((c) => c.check);
    for (const n of [
      'node',
      'sqlite',
      'better-sqlite3',
      '@wirthforge/storage-sqlite',
      'disk space',
      'writer lock',
      'database file',
    ]) {
      expect(names).toContain(n);
    }
    expect(doc.checks.find((c) => c.check === 'sqlite')?.status).toBe('ok');
  }, 120_000);

  it('migrate status and up, and vacuum', async () => {
    const dir = dataDir();
    expect(await json(['migrate', 'status', '--data-dir', dir])).toEqual({
      schemaVersion: SCHEMA_VERSION,
      latest: SCHEMA_VERSION,
      applied: MIGRATIONS,
      pending: [],
      upToDate: true,
    });
    expect(await json(['migrate', 'up', '--data-dir', dir])).toEqual({
      schemaVersion: SCHEMA_VERSION,
      previousVersion: SCHEMA_VERSION,
      applied: [],
      endedSessions: [],
      via: 'writer',
    });
    const vacuum = await json<{ bytesAfter: number; bytesBefore: number }>([
      'vacuum',
      '--data-dir',
      dir,
    ]);
    expect(vacuum.bytesAfter).toBeGreaterThan(0);
    expect(vacuum.bytesAfter).toBeLessThanOrEqual(vacuum.bytesBefore);
  }, 120_000);
});

describe('looking at sessions, events, state and users', () => {
  it('sessions list and show agree with the events', async () => {
    const dir = dataDir();
    const list = await json<{
      sessions: { sessionId: string; totalEvents: number; status: string }[];
    }>(['sessions', 'list', '--data-dir', dir]);
    expect(list.sessions.map((s) => s.sessionId)).toEqual([PRIVATE_SESSION, PUBLIC_SESSION]);
    const show = await json<{
      row: { totalEvents: number };
      summary: { total_events: number; status: string };
      stateHash: string;
      models: unknown[];
    }>(['sessions', 'show', PUBLIC_SESSION, '--data-dir', dir]);
    expect(show.summary.total_events).toBe(show.row.totalEvents);
    expect(show.summary.status).toBe('ended');
    expect(show.stateHash).toMatch(/^[0-9a-f]{64}$/);
    expect(show.models).toHaveLength(2);
    expect((await cli(['sessions', 'show', '20990101T000000Z_001', '--data-dir', dir])).code).toBe(
      3,
    );
  }, 120_000);

  it('events query filters by session, type, position and time; tokens stay hidden unless asked', async () => {
    const dir = dataDir();
    type Q = {
      count: number;
      events: {
        position: string;
        stream: string;
        event: { type: string; timestamp: string; data: Record<string, unknown> };
      }[];
    };
    const tokens = await json<Q>([
      'events',
      'query',
      '--session',
      PRIVATE_SESSION,
      '--type',
      'ai.output',
      '-n',
      '5',
      '--data-dir',
      dir,
    ]);
    expect(tokens.count).toBe(5);
    for (const e of tokens.events) {
      expect(e.stream).toBe(`session-${PRIVATE_SESSION}`);
      expect(e.event.type).toBe('ai.output');
      expect(e.event.data.token).toBeUndefined();
    }
    const shown = await json<Q>([
      'events',
      'query',
      '--session',
      PRIVATE_SESSION,
      '--type',
      'ai.output',
      '-n',
      '1',
      '--include-content',
      '--data-dir',
      dir,
    ]);
    expect(String(shown.events[0]!.event.data.token)).toContain(MARKER);

    const range = await json<Q>([
      'events',
      'query',
      '--from-position',
      '10',
      '--to-position',
      '19',
      '--data-dir',
      dir,
    ]);
    expect(range.events.map((e) => Number(e.position))).toEqual([
      10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
    ]);

    const since = '2025-08-17T19:48:02Z';
    const until = '2025-08-17T19:48:03Z';
    const window = await json<Q>([
      'events',
      'query',
      '--since',
      since,
      '--until',
      until,
      '-n',
      '10000',
      '--data-dir',
      dir,
    ]);
    expect(window.count).toBeGreaterThan(100);
    for (const e of window.events) {
      expect(Date.parse(e.event.timestamp)).toBeGreaterThanOrEqual(Date.parse(since));
      expect(Date.parse(e.event.timestamp)).toBeLessThanOrEqual(Date.parse(until));
    }
    const multi = await json<Q>([
      'events',
      'query',
      '--type',
      'system.start,system.end',
      '--data-dir',
      dir,
    ]);
    expect(multi.events.map((e) => e.event.type)).toEqual([
      'system.start',
      'system.end',
      'system.start',
      'system.end',
    ]);
  }, 120_000);

  it('events tail prints the latest events', async () => {
    const dir = dataDir();
    const status = await json<{ events: { headPosition: string } }>(['status', '--data-dir', dir]);
    const tail = await json<{ events: { position: string }[] }>([
      'events',
      'tail',
      '-n',
      '5',
      '--data-dir',
      dir,
    ]);
    const head = Number(status.events.headPosition);
    expect(tail.events.map((e) => Number(e.position))).toEqual([
      head - 4,
      head - 3,
      head - 2,
      head - 1,
      head,
    ]);
  }, 120_000);

  it('state replays up to a position, a frame or a time', async () => {
    const dir = dataDir();
    type S = {
      events: number;
      position: string;
      stateHash: string;
      state: { frameState: { frame_id: number } } | null;
    };
    const full = await json<S>(['state', PUBLIC_SESSION, '--data-dir', dir]);
    const atFrame = await json<S & { state: Record<string, unknown> }>([
      'state',
      PUBLIC_SESSION,
      '--at',
      'frame:120',
      '--data-dir',
      dir,
    ]);
    expect(atFrame.events).toBeGreaterThan(0);
    expect(atFrame.events).toBeLessThan(full.events);
    expect(JSON.stringify(atFrame.state)).toContain('"frame_id":120');
    const atPosition = await json<S>(['state', PUBLIC_SESSION, '--at', '50', '--data-dir', dir]);
    expect(atPosition.position).toBe('50');
    expect(atPosition.events).toBe(50);
    const atTime = await json<S>([
      'state',
      PUBLIC_SESSION,
      '--at',
      '2025-08-17T19:48:04Z',
      '--data-dir',
      dir,
    ]);
    expect(atTime.events).toBeGreaterThan(atFrame.events);
    expect(atTime.events).toBeLessThan(full.events);
    expect(full.stateHash).not.toBe(atTime.stateHash);
    expect(
      (await cli(['state', PUBLIC_SESSION, '--at', 'yesterday-ish', '--data-dir', dir])).code,
    ).toBe(2);
  }, 120_000);

  it('user shows progress', async () => {
    const doc = await json<{
      users: { userId: string; sessionsCount: number; level: number; levelName: string }[];
    }>(['user', '--data-dir', dataDir()]);
    expect(doc.users).toHaveLength(1);
    expect(doc.users[0]).toMatchObject({
      userId: 'default',
      sessionsCount: 2,
      level: 1,
      levelName: 'Lightning',
    });
  }, 120_000);
});

/** Rewrites one event row behind the store's back, keeping its checksum valid. */
function rewriteEvent(
  dir: string,
  position: number,
  change: (data: Record<string, unknown>) => void,
): void {
  const c = openConnection(join(dir, 'state.db'));
  try {
    const row = c
      .prepare(
        'select e.*, s.name as stream, t.name as type from events e join streams s on s.id = e.stream_id join event_types t on t.id = e.type_id where position = ?',
      )
      .get(position) as {
      stream: string;
      type: string;
      version: number;
      schema_version: number;
      timestamp_us: number;
      frame_id: number | null;
      event_id: string | null;
      payload: Uint8Array;
    };
    const sessionId = row.stream.slice('session-'.length);
    const event = decodeEvent(
      {
        type: row.type,
        schemaVersion: row.schema_version,
        timestampUs: row.timestamp_us,
        frameId: row.frame_id,
        eventId: row.event_id,
        payload: row.payload,
      },
      { sessionId },
    ) as unknown as { data: Record<string, unknown> };
    change(event.data);
    const encoded = encodeEvent(event as never);
    const checksum = eventChecksum({
      position,
      stream: row.stream,
      version: row.version,
      type: row.type,
      schemaVersion: row.schema_version,
      timestampUs: row.timestamp_us,
      frameId: row.frame_id,
      eventId: row.event_id,
      payload: encoded.payload,
    });
    c.prepare('update events set payload = ?, checksum = ? where position = ?').run(
      encoded.payload,
      checksum,
      position,
    );
  } finally {
    c.close();
  }
}

describe('replay, verify and repair', () => {
  it('replay --verify passes on recorded data and fails on a session row changed behind the store', async () => {
    const dir = dataDir();
    const ok = await json<{ verified: boolean; stateHash: string; differences: unknown[] }>([
      'replay',
      PUBLIC_SESSION,
      '--verify',
      '--data-dir',
      dir,
    ]);
    expect(ok).toMatchObject({ verified: true, differences: [] });
    const c = openConnection(join(dir, 'state.db'));
    c.prepare('update sessions set total_energy = total_energy + 0.5 where session_id = ?').run(
      PUBLIC_SESSION,
    );
    c.close();
    const bad = await json<{ verified: boolean; differences: { field: string }[] }>(
      ['replay', PUBLIC_SESSION, '--verify', '--data-dir', dir],
      5,
    );
    expect(bad.verified).toBe(false);
    expect(bad.differences.map((d) => d.field)).toEqual(['totalEnergy']);
    // Without --verify it only replays: the same hash either way.
    const plain = await json<{ stateHash: string }>(['replay', PUBLIC_SESSION, '--data-dir', dir]);
    expect(plain.stateHash).toBe(ok.stateHash);
  }, 120_000);

  it('verify names a changed payload, an energy leak and a bad session row; repair refuses damaged events', async () => {
    const dir = dataDir();
    expect(await json(['verify', '--deep', '--data-dir', dir])).toMatchObject({
      ok: true,
      problems: [],
    });

    // A payload changed in place (SQLite's own check does not see it).
    const c = openConnection(join(dir, 'state.db'));
    const updates = c
      .prepare(
        "select position from events where type_id = (select id from event_types where name = 'energy.update') order by position",
      )
      .pluck()
      .all() as number[];
    c.prepare("update events set payload = x'00' where position = ?").run(updates[3]);
    c.prepare('update sessions set total_events = total_events - 1 where session_id = ?').run(
      PRIVATE_SESSION,
    );
    c.close();
    // An accumulator that no longer matches the energy (checksum kept valid), in the other session.
    const leak = updates[updates.length - 100]!;
    rewriteEvent(dir, leak, (data) => {
      data.accumulator = Number(data.accumulator) + 5;
    });

    type V = { ok: boolean; problems: { kind: string; where: string; message: string }[] };
    const report = await json<V>(['verify', '--data-dir', dir], 5);
    expect(report.ok).toBe(false);
    const kinds = report.problems.map((p) => `${p.kind} @ ${p.where}`);
    expect(kinds).toContain(`checksum @ position ${updates[3]}`);
    expect(kinds).toContain(`undecodable @ position ${updates[3]}`);
    expect(kinds).toContain(`energy_conservation @ session ${PRIVATE_SESSION} position ${leak}`);
    const leakProblem = report.problems.find(
      (p) => p.kind === 'energy_conservation' && p.where.includes(PRIVATE_SESSION),
    );
    expect(leakProblem?.message).toMatch(/off by 5\.0+ EU\)$/);
    expect(kinds).toContain(`session_totals @ session ${PRIVATE_SESSION}`);
    const text = await cli(['verify', '--data-dir', dir]);
    expect(text.code).toBe(5);
    expect(text.stdout).toContain(`position ${updates[3]}`);

    // Damaged events: repair refuses rather than rebuild rows from them.
    const refused = await json<{ error: { code: string; message: string } }>(
      ['repair', '--yes', '--data-dir', dir],
      5,
    );
    expect(refused.error.message).toContain('damaged events would be wrong, nothing was changed');
    expect(existsSync(join(dir, 'backups'))).toBe(false);
  }, 120_000);

  it('repair rebuilds the rows after a verified backup, and says what it fixed and what it could not', async () => {
    const dir = dataDir();
    const c = openConnection(join(dir, 'state.db'));
    const updates = c
      .prepare(
        "select position from events where type_id = (select id from event_types where name = 'energy.update') order by position",
      )
      .pluck()
      .all() as number[];
    c.prepare('update sessions set total_events = total_events - 1 where session_id = ?').run(
      PRIVATE_SESSION,
    );
    c.prepare("update users set total_energy = 1 where user_id = 'default'").run();
    c.close();
    rewriteEvent(dir, updates[200]!, (data) => {
      data.accumulator = Number(data.accumulator) + 5;
    });
    expect((await cli(['repair', '--data-dir', dir])).code).toBe(6);
    const repair = await json<{
      fixed: { kind: string; where: string }[];
      remaining: { kind: string }[];
      backup: { path: string };
    }>(['repair', '--yes', '--data-dir', dir], 5);
    expect(repair.fixed).toContainEqual({
      kind: 'session_totals',
      where: `session ${PRIVATE_SESSION}`,
      message: expect.any(String),
    });
    expect(repair.fixed.map((p) => p.kind)).toContain('user_totals');
    expect(repair.remaining.map((p) => p.kind)).toEqual(['energy_conservation']);
    expect(existsSync(repair.backup.path)).toBe(true);
    expect(repair.backup.path.startsWith(join(dir, 'backups'))).toBe(true);
  }, 120_000);
});

describe('backup and restore', () => {
  it('backs up (compressed, verified) and restores; refuses a damaged backup and leaves the data untouched', async () => {
    const dir = dataDir();
    const out = tempDir('backup');
    cleanups.push(out.remove);
    const file = join(out.dir, 'b.db.gz');
    const previousUmask = process.umask(0o022);
    const backup = await json<{
      path: string;
      bytes: number;
      databaseBytes: number;
      sha256: string;
      verified: boolean;
      headPosition: string;
    }>(['backup', file, '--data-dir', dir]).finally(() => process.umask(previousUmask));
    // The backup holds the user's data: owner-only, whatever the umask allows.
    expect((statSync(file).mode & 0o777).toString(8)).toBe('600');
    expect(Object.keys(backup).sort()).toEqual([
      'bytes',
      'databaseBytes',
      'deep',
      'headPosition',
      'path',
      'sha256',
      'verified',
    ]);
    expect(backup.verified).toBe(true);
    expect(backup.bytes).toBeLessThan(backup.databaseBytes);
    expect(readFileSync(file).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    expect((await cli(['backup', file, '--data-dir', dir])).code).toBe(6);

    const database = join(dir, 'state.db');
    const before = sha(database);
    const damaged = join(out.dir, 'damaged.db.gz');
    const bytes = readFileSync(file);
    writeFileSync(damaged, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const refused = await cli(['restore', damaged, '--yes', '--data-dir', dir]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('not touched');
    const garbage = join(out.dir, 'garbage.db');
    writeFileSync(garbage, Buffer.alloc(8192, 7));
    expect((await cli(['restore', garbage, '--yes', '--data-dir', dir])).code).toBe(5);
    expect(sha(database)).toBe(before);
    expect((await cli(['restore', file, '--data-dir', dir])).code).toBe(6);

    // Restore brings a purged session back.
    expect((await cli(['purge', PUBLIC_SESSION, '--yes', '--data-dir', dir])).code).toBe(0);
    const restored = await json<{ headPosition: string; previousRemoved: boolean }>([
      'restore',
      file,
      '--yes',
      '--data-dir',
      dir,
    ]);
    // The same shape as through the daemon (cli.daemon-restart.integration.test.ts).
    expect(Object.keys(restored).sort()).toEqual(
      [
        'endedSessions',
        'from',
        'headPosition',
        'migration',
        'previousRemoved',
        'restored',
        'via',
      ].sort(),
    );
    expect(restored).toMatchObject({
      headPosition: backup.headPosition,
      previousRemoved: true,
      endedSessions: [],
      migration: { applied: [] },
      via: 'writer',
    });
    const list = await json<{ sessions: unknown[] }>(['sessions', 'list', '--data-dir', dir]);
    expect(list.sessions).toHaveLength(2);
    expect(await json(['verify', '--deep', '--data-dir', dir])).toMatchObject({ ok: true });
  }, 120_000);
});

describe('restore after a crash', () => {
  it("restores an older backup: the replaced file's head marker goes aside with it", async () => {
    const dir = dataDir();
    const out = tempDir('backup-crash');
    cleanups.push(out.remove);
    const file = join(out.dir, 'older.db.gz');
    expect((await cli(['backup', file, '--data-dir', dir])).code).toBe(0);
    // A writer that committed 50 more events, then crashed: its head marker stays.
    const database = join(dir, 'state.db');
    const storage = await openSqliteStorage({ path: database });
    const marker = JSON.parse(readFileSync(headMarkerPath(database), 'utf8')) as { head: number };
    await storage.close();
    expect(existsSync(headMarkerPath(database))).toBe(false);
    writeFileSync(headMarkerPath(database), JSON.stringify({ ...marker, head: marker.head + 50 }));

    const restored = await cli(['restore', file, '--yes', '--data-dir', dir]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).not.toMatch(/commits|missing/i);
    expect(await json(['verify', '--deep', '--data-dir', dir])).toMatchObject({ ok: true });
  }, 120_000);
});

describe('export and import', () => {
  it('exports without private content unless asked; the YAML reads like the audit-trail example', async () => {
    const dir = dataDir();
    for (const format of ['json', 'ndjson', 'yaml']) {
      const redacted = await cli([
        'export',
        PRIVATE_SESSION,
        '--format',
        format,
        '--data-dir',
        dir,
      ]);
      expect(redacted.code, redacted.stderr).toBe(0);
      expect(redacted.stdout, format).not.toContain(MARKER);
      expect(redacted.stdout).toContain('data.token');
      const full = await cli([
        'export',
        PRIVATE_SESSION,
        '--format',
        format,
        '--include-content',
        '--data-dir',
        dir,
      ]);
      expect(full.stdout, format).toContain(MARKER);
    }
    const yaml = (await cli(['export', PRIVATE_SESSION, '--format', 'yaml', '--data-dir', dir]))
      .stdout;
    const [doc] = parseAllDocuments(yaml) as unknown as {
      toJS(): Record<string, Record<string, unknown>>;
    }[];
    const body = doc!.toJS();
    expect(Object.keys(body)).toEqual(['session_metadata', 'events', 'snapshots', 'audit_summary']);
    expect(Object.keys(body.session_metadata!)).toEqual([
      'session_id',
      'user_id',
      'start_time',
      'end_time',
      'duration_seconds',
      'hardware_tier',
      'session_mode',
      'total_energy',
      'total_events',
      'clean_shutdown',
      'schema_version',
    ]);
    expect(body.session_metadata).toMatchObject({
      session_id: PRIVATE_SESSION,
      user_id: 'default',
      clean_shutdown: true,
    });
    const events = body.events as unknown as Record<string, unknown>[];
    expect(events[0]).toMatchObject({
      event_id: `${PRIVATE_SESSION}:0`,
      position: expect.any(Number),
      session_id: PRIVATE_SESSION,
      type: 'system.start',
    });
    expect(body.audit_summary).toMatchObject({
      privacy_compliance: { content_included: false, raw_text_stored: false },
    });

    const out = tempDir('export');
    cleanups.push(out.remove);
    const report = await json<{
      path: string;
      events: number;
      redactedEvents: number;
      sessions: string[];
    }>([
      'export',
      '--all',
      '--format',
      'ndjson',
      '-o',
      join(out.dir, 'all.ndjson'),
      '--data-dir',
      dir,
    ]);
    expect(report.sessions.sort()).toEqual([PRIVATE_SESSION, PUBLIC_SESSION].sort());
    expect(report.redactedEvents).toBeGreaterThan(0);
    expect(readFileSync(report.path, 'utf8').trim().split('\n')).toHaveLength(report.events);
    expect(filesContaining(out.dir, MARKER)).toEqual([]);
  }, 120_000);

  it('import validates every event and is idempotent: twice changes nothing', async () => {
    const dir = dataDir();
    const out = tempDir('import');
    cleanups.push(out.remove);
    const file = join(out.dir, 'all.yaml');
    expect(
      (
        await cli([
          'export',
          '--all',
          '--format',
          'yaml',
          '--include-content',
          '-o',
          file,
          '--data-dir',
          dir,
        ])
      ).code,
    ).toBe(0);
    const target = join(out.dir, 'target');
    expect((await cli(['init', '--data-dir', target])).code).toBe(0);
    type I = { appended: number; skipped: number; events: number };
    const first = await json<I>(['import', file, '--data-dir', target]);
    expect(first.appended).toBe(first.events);
    const database = join(target, 'state.db');
    type St = { events: { stored: number; headPosition: string }; sessions: unknown };
    const status1 = await json<St>(['status', '--data-dir', target]);
    const second = await json<I>(['import', file, '--data-dir', target]);
    expect(second).toMatchObject({ appended: 0, skipped: first.events });
    const status2 = await json<St>(['status', '--data-dir', target]);
    expect(status2.events.stored).toBe(status1.events.stored);
    expect(status2.events.headPosition).toBe(status1.events.headPosition);
    expect(status2.sessions).toEqual(status1.sessions);
    // Into the store it came from: nothing new either.
    expect(await json<I>(['import', file, '--data-dir', dir])).toMatchObject({ appended: 0 });
    // The same states, replayed.
    const a = await json<{ stateHash: string }>(['replay', PRIVATE_SESSION, '--data-dir', dir]);
    const b = await json<{ stateHash: string }>([
      'replay',
      PRIVATE_SESSION,
      '--verify',
      '--data-dir',
      target,
    ]);
    expect(b.stateHash).toBe(a.stateHash);
    expect(await json(['verify', '--deep', '--data-dir', target])).toMatchObject({ ok: true });
    expect(existsSync(database)).toBe(true);

    // One invalid event: nothing is imported, and the error says where.
    const lines = readFileSync(join(out.dir, 'all.yaml'), 'utf8');
    const broken = join(out.dir, 'broken.yaml');
    writeFileSync(broken, lines.replace('type: system.end', 'type: system.end\n    frame_id: -3'));
    const fresh = join(out.dir, 'fresh');
    await cli(['init', '--data-dir', fresh]);
    const rejected = await json<{ error: { code: string; message: string } }>(
      ['import', broken, '--data-dir', fresh],
      7,
    );
    expect(rejected.error.message).toMatch(
      /invalid event\(s\); first at document \d+ events\[\d+\]/,
    );
    expect(
      await json<{ events: { stored: number } }>(['status', '--data-dir', fresh]),
    ).toMatchObject({
      events: { stored: 0 },
    });
  }, 120_000);
});

describe('purge', () => {
  it('refuses without confirmation, then removes the session from every file of the data directory, archive included', async () => {
    const dir = dataDir();
    expect(filesContaining(dir, MARKER)).not.toEqual([]);
    // The session is archived first: its events leave the live file for a partition.
    await sealEverything(dir);
    const moved = await json<{ moved: { stream: string }[] }>([
      'archive',
      'run',
      '--min-age-days',
      '0',
      '--data-dir',
      dir,
    ]);
    expect(moved.moved.map((m) => m.stream)).toContain(`session-${PRIVATE_SESSION}`);
    // Compressed in the partition: not in any file as text, read back through the
    // storage, and seen by its segments' own bytes.
    expect(filesContaining(dir, MARKER)).toEqual([]);
    expect(await streamHolds(dir, `session-${PRIVATE_SESSION}`, MARKER)).toBe(true);
    const slices = archivedSegmentSlices(dir, `session-${PRIVATE_SESSION}`);
    expect(slices.length).toBeGreaterThan(0);
    for (const slice of slices) {
      expect(filesContaining(dir, slice.toString('latin1'), 'latin1')).toEqual([
        join(dir, 'archive', '2025-08.db'),
      ]);
    }
    const refused = await cli(['purge', PRIVATE_SESSION, '--data-dir', dir]);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toContain('--yes');
    expect((await cli(['purge', '--all', '--data-dir', dir])).code).toBe(6);
    expect(await streamHolds(dir, `session-${PRIVATE_SESSION}`, MARKER)).toBe(true);

    const report = await json<{
      streams: string[];
      rows: { events: number; segments: number; sessions: number };
      walBytesAfter: number;
      archive: unknown;
    }>(['purge', PRIVATE_SESSION, '--yes', '--data-dir', dir]);
    expect(report.streams).toEqual([`session-${PRIVATE_SESSION}`]);
    expect(report.rows.sessions).toBe(1);
    expect(report.archive).toMatchObject({
      streams: [`session-${PRIVATE_SESSION}`],
      segments: slices.length,
      partitions: [{ partition: '2025-08', removed: false }],
    });
    expect(filesContaining(dir, MARKER)).toEqual([]);
    for (const slice of slices)
      expect(filesContaining(dir, slice.toString('latin1'), 'latin1')).toEqual([]);
    expect(await json(['archive', 'verify', '--data-dir', dir])).toMatchObject({ ok: true });
    const list = await json<{ sessions: { sessionId: string }[] }>([
      'sessions',
      'list',
      '--data-dir',
      dir,
    ]);
    expect(list.sessions.map((s) => s.sessionId)).toEqual([PUBLIC_SESSION]);
    expect(await json(['verify', '--deep', '--data-dir', dir])).toMatchObject({ ok: true });
    expect((await cli(['replay', PRIVATE_SESSION, '--data-dir', dir])).code).toBe(3);

    const all = await json<{ archive: { segments: number; partitions: { removed: boolean }[] } }>([
      'purge',
      '--all',
      '--yes',
      '--data-dir',
      dir,
    ]);
    expect(Object.keys(all).sort()).toEqual(PURGE_JSON_KEYS);
    expect(all).toMatchObject({ all: true, via: 'writer' });
    expect(all.archive.segments).toBeGreaterThan(0);
    expect(all.archive.partitions).toMatchObject([{ removed: true }]);
    expect(existsSync(join(dir, 'archive', '2025-08.db'))).toBe(false);
    // Everything: users' progress and every stream included.
    for (const table of ['streams', 'users', 'events', 'sessions'] as const) {
      expect(rowCount(dir, table), table).toBe(0);
    }
    expect(await json(['status', '--data-dir', dir])).toMatchObject({
      sessions: { total: 0 },
      events: { stored: 0 },
    });
  }, 120_000);
});

describe('plot', () => {
  it('draws the energy in the terminal and as an SVG with axes, labels and peaks', async () => {
    const dir = dataDir();
    const run = await cli(['plot', PUBLIC_SESSION, '--width', '60', '--data-dir', dir]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('┤');
    expect(run.stdout).toContain('0:00');
    expect(run.stdout).toMatch(/\^ 2 peak\(s\)/);
    const svg = join(dir, 'energy.svg');
    const doc = await json<{ values: (number | null)[]; marks: { kind: string }[]; svg: string }>([
      'plot',
      PUBLIC_SESSION,
      '--svg',
      svg,
      '--width',
      '60',
      '--data-dir',
      dir,
    ]);
    expect(doc.values).toHaveLength(60);
    expect(doc.marks.filter((m) => m.kind === 'peak')).toHaveLength(2);
    const text = readFileSync(svg, 'utf8');
    expect(text.startsWith('<svg')).toBe(true);
    expect(text).toContain('energy (EU/s)');
    expect(text).toContain('time since session start');
    expect(text.match(/class="peak"/g)).toHaveLength(2);
    for (const metric of ['tokens', 'fps', 'budget']) {
      const m = await cli([
        'plot',
        PUBLIC_SESSION,
        '--metric',
        metric,
        '--width',
        '40',
        '--data-dir',
        dir,
      ]);
      expect(m.code, metric).toBe(0);
    }
    expect((await cli(['plot', PUBLIC_SESSION, '--metric', 'mood', '--data-dir', dir])).code).toBe(
      2,
    );
  }, 120_000);
});

describe('with a writer holding the lock', () => {
  it('reads work, writes are refused with a hint about the daemon', async () => {
    const dir = dataDir();
    const writer = await openSqliteStorage({ path: join(dir, 'state.db') });
    try {
      const status = await json<{ daemon: { running: boolean; lock: { pid: number } } }>([
        'status',
        '--data-dir',
        dir,
      ]);
      expect(status.daemon).toMatchObject({ running: true, lock: { pid: process.pid } });
      expect(await json(['verify', '--data-dir', dir])).toMatchObject({ ok: true });
      for (const argv of [
        ['purge', PUBLIC_SESSION, '--yes'],
        ['vacuum'],
        ['migrate', 'up'],
        ['repair', '--yes'],
      ]) {
        const run = await cli([...argv, '--data-dir', dir]);
        expect(run.code, argv.join(' ')).toBe(4);
        expect(run.stderr, argv.join(' ')).toMatch(/daemon|writer lock|in use/);
      }
    } finally {
      await writer.close();
    }
  }, 120_000);
});
