import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createEventStore,
  energyProjection,
  sessionSummaryProjection,
  stateHash,
  type EventStore,
  type Projection,
} from '@wirthforge/eventstore';
import { createSnapshotStore, snapshotMarkerStream } from '@wirthforge/snapshots';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../src/run-daemon-cli.js';
import {
  api,
  chunk,
  sessionEvents,
  startSession,
  startTestDaemon,
  tempDataDir,
} from './daemon-harness.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const PROJECTIONS = [energyProjection, sessionSummaryProjection] as Projection<unknown>[];

interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

const children: Child[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null && child.process.signalCode === null) {
      child.process.kill('SIGKILL');
      await child.exited;
    }
  }
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function start(dataDir: string): Child {
  const child = spawn(
    process.execPath,
    [MAIN, '--data-dir', dataDir, '--port', '0', '--log-level', 'warn'],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, XDG_CONFIG_HOME: dataDir } },
  );
  let stderr = '';
  child.stderr?.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const started = { process: child, exited, stderr: () => stderr };
  children.push(started);
  return started;
}

async function waitReady(dataDir: string, child: Child): Promise<{ url: string; token: string }> {
  const info = join(dataDir, 'daemon.json');
  for (let i = 0; i < 300; i++) {
    if (child.process.exitCode !== null) throw new Error(`daemon exited: ${child.stderr()}`);
    if (existsSync(info)) {
      const { url, pid } = JSON.parse(readFileSync(info, 'utf8')) as { url: string; pid: number };
      if (pid === child.process.pid) {
        const base = { url, token: readFileSync(join(dataDir, 'daemon.token'), 'utf8').trim() };
        if ((await api(base, 'GET', '/readyz')).status === 200) return base;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`daemon not ready: ${child.stderr()}`);
}

/** Opens the stopped daemon's database through the storage and the snapshot store. */
async function openStopped(dataDir: string): Promise<EventStore> {
  return createEventStore({
    storage: await openSqliteStorage({ path: join(dataDir, 'state.db'), synchronous: 'normal' }),
  });
}

async function replayHash(store: EventStore, stream: string, to: bigint): Promise<string> {
  const states = PROJECTIONS.map((p) => p.initialState());
  for await (const record of store.readStream(stream, { to })) {
    PROJECTIONS.forEach((p, i) => (states[i] = p.evolveInPlace(states[i], record.event, record)));
  }
  return stateHash(Object.fromEntries(PROJECTIONS.map((p, i) => [p.name, states[i]])));
}

async function ingest(base: { url: string; token: string }, id: string, events: unknown[]) {
  for (const batch of chunk(events, 600)) {
    const response = await api(base, 'POST', `/v1/sessions/${id}/events`, {
      body: { events: batch },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);
  }
}

describe('wfstated snapshots', () => {
  it('takes a final session_end snapshot of each session it ends at SIGTERM', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const daemon = start(dir);
    const base = await waitReady(dir, daemon);
    const id = await startSession(base);
    await ingest(base, id, sessionEvents(id, 3, 5));
    daemon.process.kill('SIGTERM');
    expect((await daemon.exited).code).toBe(EXIT_CODES.ok);

    const store = await openStopped(dir);
    try {
      const stream = `session-${id}`;
      const version = await store.streamVersion(stream);
      const snapshots = createSnapshotStore(store);
      const [newest] = await snapshots.repository.list(stream);
      expect(newest).toMatchObject({ kind: 'full', streamVersion: version });
      const markers = await store
        .readStream(snapshotMarkerStream(stream))
        .toArray()
        .then((records) =>
          records
            .map((r) => r.event as { type: string; session_id?: string; data: unknown })
            .filter((e) => e.type === 'state.snapshot_created' && e.session_id === id),
        );
      expect(markers.at(-1)?.data).toMatchObject({
        snapshot_id: newest!.id,
        snapshot_type: 'session_end',
      });
      const loaded = await snapshots.load(stream);
      expect(loaded).toMatchObject({ snapshotId: newest!.id, eventsReplayed: 0, rejected: [] });
      expect(stateHash(loaded.states)).toBe(await replayHash(store, stream, version));
    } finally {
      await store.close();
    }
  });

  it('after SIGKILL, recovers the session at restart from its newest snapshot and the events after it', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = start(dir);
    const base = await waitReady(dir, first);
    const id = await startSession(base);
    // Past the default trigger of 10 000 events, then a tail the snapshot does not hold.
    const events = sessionEvents(id, 95, 9);
    expect(events.length).toBeGreaterThan(10_600);
    await ingest(base, id, events.slice(0, 10_200));
    for (let i = 0; ; i++) {
      const metrics = await api<string>(base, 'GET', '/metrics');
      if (/job="snapshot",outcome="ok"/.test(metrics.body)) break;
      if (i > 300) throw new Error('no snapshot was written');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await ingest(base, id, events.slice(10_200, 10_500));
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');

    const second = start(dir);
    const again = await waitReady(dir, second);
    const session = await api<{ status: string }>(again, 'GET', `/v1/sessions/${id}`);
    expect(session.body.status).toBe('recovered');
    const recoveredEvents = await api<{
      events: {
        version: number;
        event: {
          data: {
            recovered_from: { snapshot_id?: number; version: number };
            events_replayed: number;
            reason: string;
          };
        };
      }[];
    }>(again, 'GET', `/v1/sessions/${id}/events?type=session.recovered`);
    const [recovered] = recoveredEvents.body.events;
    const data = recovered!.event.data;
    expect(data.reason).toBe('unclean_shutdown');
    expect(data.recovered_from.snapshot_id).toEqual(expect.any(Number));
    expect(data.recovered_from.version).toBeGreaterThanOrEqual(10_000);
    // system.start, the 10 500 events ingested (and the peaks the daemon detected in
    // them), then the recovery event: the tail after the snapshot was replayed.
    const before = recovered!.version - 1;
    expect(before).toBeGreaterThanOrEqual(10_501);
    expect(data.events_replayed).toBe(before - data.recovered_from.version);
    expect(data.events_replayed).toBeGreaterThan(0);
    second.process.kill('SIGTERM');
    expect((await second.exited).code).toBe(EXIT_CODES.ok);

    // The recovered state (of the events before the recovery event) is the replay's.
    const store = await openStopped(dir);
    try {
      const stream = `session-${id}`;
      const at = await createSnapshotStore(store).stateAt(stream, { version: BigInt(before) });
      expect(stateHash(at.states)).toBe(await replayHash(store, stream, BigInt(before)));
    } finally {
      await store.close();
    }
  });
});

describe('wfstated snapshot triggers and retention (in process)', () => {
  it('snapshots every N events of a session as configured, prunes by the policy as a job, and counts both', async () => {
    const runs: string[] = [];
    // The cadence as a user sets it: the daemon's config (file, environment or flag).
    const daemon = await startTestDaemon(
      { snapshotEveryEvents: 300 },
      {
        snapshots: { retentionMs: 3_600_000 },
        onJobRun: (run) => runs.push(`${run.name}:${run.ok ? 'ok' : 'failed'}`),
      },
    );
    try {
      const id = await startSession(daemon);
      const stream = `session-${id}`;
      for (const batch of chunk(sessionEvents(id, 30, 13), 100)) {
        const response = await api(daemon, 'POST', `/v1/sessions/${id}/events`, {
          body: { events: batch },
        });
        expect(response.status).toBe(200);
        // The triggers write in a task of their own, between requests.
        await new Promise((resolve) => setImmediate(resolve));
      }
      for (let i = 0; daemon.snapshots.counts().written < 10; i++) {
        if (i > 300) throw new Error(`only ${daemon.snapshots.counts().written} snapshots`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(runs).toContain('snapshot:ok');
      await daemon.scheduler.runNow('snapshot-retention');
      expect(runs).toContain('snapshot-retention:ok');
      const kept = await daemon.snapshots.snapshots.repository.list(stream);
      const full = kept.filter((info) => info.kind === 'full');
      // The last 3 full snapshots and the deltas based on them, nothing older.
      expect(full.length).toBeLessThanOrEqual(3);
      const fullIds = new Set(full.map((info) => info.id));
      for (const info of kept) {
        if (info.kind === 'incremental') expect(fullIds).toContain(info.baseSnapshotId);
      }
      expect(daemon.snapshots.counts().pruned).toBeGreaterThan(0);
      const loaded = await daemon.snapshots.snapshots.load(stream);
      expect(loaded.rejected).toEqual([]);
      expect(loaded.snapshotId).toBe(kept[0]!.id);
    } finally {
      await daemon.cleanup();
    }
  });
});
