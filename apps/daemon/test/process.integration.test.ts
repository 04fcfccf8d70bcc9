import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { EXIT_CODES } from '../src/run-daemon-cli.js';
import { api, chunk, sessionEvents, startSession, tempDataDir } from './daemon-harness.js';

const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

interface Child {
  readonly process: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

function spawnDaemon(dataDir: string, ...extra: string[]): Child {
  const child = spawn(
    process.execPath,
    [MAIN, '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', ...extra],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, XDG_CONFIG_HOME: dataDir },
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  return { process: child, exited, stderr: () => stderr };
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

function start(dataDir: string, ...extra: string[]): Child {
  const child = spawnDaemon(dataDir, ...extra);
  children.push(child);
  return child;
}

describe('wfstated as a process', () => {
  it('keeps every acknowledged event through SIGKILL, and recovers the session at restart', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = start(dir);
    const base = await waitReady(dir, first);
    const id = await startSession(base);
    const acked = new Map<string, number>();
    const batches = chunk(sessionEvents(id, 20, 21), 60);
    // Requests in flight when the kill comes: their events may or may not be stored.
    const inFlight: Promise<unknown>[] = [];
    for (const [i, batch] of batches.entries()) {
      const request = api<{ positions: number[] }>(base, 'POST', `/v1/sessions/${id}/events`, {
        body: { events: batch },
      }).then(
        (response) => {
          if (response.status === 200)
            batch.forEach((event, j) => acked.set(event.event_id!, response.body.positions[j]!));
        },
        () => undefined,
      );
      if (i < 15) await request;
      else inFlight.push(request);
      if (i === 25) break;
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    await Promise.all(inFlight);
    expect(acked.size).toBeGreaterThanOrEqual(15 * 60);

    const second = start(dir);
    const again = await waitReady(dir, second);
    const stored = await api<{ events: { position: number; event: { event_id?: string } }[] }>(
      again,
      'GET',
      `/v1/sessions/${id}/events?limit=5000`,
    );
    const byId = new Map(stored.body.events.map((r) => [r.event.event_id, r.position]));
    for (const [eventId, position] of acked) expect(byId.get(eventId), eventId).toBe(position);
    // Positions stay gap-free, each event once.
    expect(stored.body.events.map((r) => r.position)).toEqual(
      stored.body.events.map((_, i) => i + 1).slice(0, stored.body.events.length),
    );
    const session = await api<{ status: string }>(again, 'GET', `/v1/sessions/${id}`);
    expect(session.body.status).toBe('recovered');
    const ingestAfter = await api<{ error: { code: string } }>(
      again,
      'POST',
      `/v1/sessions/${id}/events`,
      { body: { events: batches[30] } },
    );
    expect(ingestAfter.body.error.code).toBe('session_ended');
    second.process.kill('SIGTERM');
    expect((await second.exited).code).toBe(EXIT_CODES.ok);
  });

  it('on SIGTERM ends open sessions cleanly, releases the lock and exits 0 within seconds', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = start(dir);
    const base = await waitReady(dir, first);
    const id = await startSession(base);
    const events = sessionEvents(id, 2, 4);
    const response = await api(base, 'POST', `/v1/sessions/${id}/events`, { body: { events } });
    expect(response.status).toBe(200);
    const signalled = Date.now();
    first.process.kill('SIGTERM');
    const exit = await first.exited;
    expect(exit.code).toBe(EXIT_CODES.ok);
    expect(Date.now() - signalled).toBeLessThan(10_000);
    expect(existsSync(join(dir, 'state.db.lock'))).toBe(false);
    expect(existsSync(join(dir, 'daemon.token'))).toBe(false);

    const second = start(dir);
    const again = await waitReady(dir, second);
    const session = await api<{ status: string; cleanEnd: boolean; totalEvents: number }>(
      again,
      'GET',
      `/v1/sessions/${id}`,
    );
    expect(session.body).toMatchObject({ status: 'ended', cleanEnd: true });
    const last = await api<{
      events: { event: { type: string; data: { reason: string; total_events: number } } }[];
    }>(again, 'GET', `/v1/sessions/${id}/events?type=system.end`);
    expect(last.body.events[0]?.event.data).toMatchObject({
      reason: 'system_shutdown',
      total_events: events.length + 1,
    });
  });

  it('refuses a second daemon on the same data directory with a clear message; the first goes on', async () => {
    const dir = tempDataDir();
    dirs.push(dir);
    const first = start(dir);
    const base = await waitReady(dir, first);
    const second = start(dir);
    const exit = await second.exited;
    expect(exit.code).toBe(EXIT_CODES.locked);
    expect(second.stderr()).toContain(`another daemon is using ${dir}`);
    expect(second.stderr()).toContain(`in use by process ${first.process.pid}`);
    expect((await api(base, 'GET', '/readyz')).status).toBe(200);
  });
});
