/**
 * The built `wfstate` as a child process: exit codes, one JSON document on stdout, the
 * default data directory, following events another process writes, and reads and
 * backups while that process holds the writer lock, and writes through a `wfstated`
 * process.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { toIsoMicros } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, describe, expect, it } from 'vitest';

import {
  PRIVATE_SESSION,
  PUBLIC_SESSION,
  archivedSegmentSlices,
  cli,
  filesContaining,
  fixtureDataDir,
  removeFixtureCopies,
  sealEverything,
  spawnCli,
  tempDir,
} from './fixtures.js';

const cleanups: (() => void)[] = [];
afterAll(() => {
  removeFixtureCopies();
  for (const c of cleanups) c();
});

/** A private copy of the fixture data directory. */
function dataDir(): string {
  return fixtureDataDir('pdata');
}

const STREAM = 'session-20250817T235900Z_001';
let heartbeat = 0;

/** Appends a few heartbeats through the event store (its session row too), as a daemon would. */
async function appendHeartbeats(store: EventStore, count: number): Promise<void> {
  const events = Array.from({ length: count }, () => {
    heartbeat++;
    return {
      session_id: '20250817T235900Z_001',
      timestamp: toIsoMicros(Date.UTC(2025, 7, 17, 23, 59, 0) * 1000 + heartbeat * 1000),
      type: 'health.heartbeat' as const,
      data: { system_health: 'healthy' as const, fps: 60, memory_usage_mb: 100 },
    };
  });
  await store.appendToStream(STREAM, events);
}

describe('wfstate as a process', () => {
  it('prints help, and exactly one JSON document with --json', async () => {
    const help = await spawnCli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Examples:');
    const dir = dataDir();
    const status = await spawnCli(['status', '--json', '--data-dir', dir]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ sessions: { total: 2 } });
    const missing = await spawnCli([
      'sessions',
      'show',
      '20990101T000000Z_001',
      '--json',
      '--data-dir',
      dir,
    ]);
    expect(missing.code).toBe(3);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(missing.stderr).toContain('sessions list');
  });

  it('uses $XDG_DATA_HOME/wirthforge, else ~/.local/share/wirthforge', async () => {
    const home = tempDir('home');
    cleanups.push(home.remove);
    const xdg = await spawnCli(['init', '--json'], {
      env: { XDG_DATA_HOME: join(home.dir, 'xdg'), HOME: home.dir },
    });
    expect(JSON.parse(xdg.stdout)).toMatchObject({
      database: join(home.dir, 'xdg', 'wirthforge', 'state.db'),
    });
    const plain = await spawnCli(['init', '--json'], { env: { HOME: home.dir } });
    expect(JSON.parse(plain.stdout)).toMatchObject({
      database: join(home.dir, '.local', 'share', 'wirthforge', 'state.db'),
    });
  });

  it('reads, verifies, follows and backs up while another process writes; writes are refused', async () => {
    const dir = dataDir();
    const storage = await openSqliteStorage({ path: join(dir, 'state.db') });
    const store = createEventStore({ storage });
    const out = tempDir('pbackup');
    cleanups.push(out.remove);
    try {
      await appendHeartbeats(store, 3);
      const head = await storage.headPosition();

      // Follow: the events written after the start arrive, one JSON document per line.
      let writing: Promise<void> | undefined;
      let stopped = false;
      const follow = spawnCli(
        ['events', 'tail', '--follow', '--json', '-n', '1', '--interval', '50', '--data-dir', dir],
        {
          onStdout: (text, stop) => {
            const lines = text.trim().split('\n');
            if (lines.length === 1 && writing === undefined) writing = appendHeartbeats(store, 5);
            if (lines.length >= 6 && !stopped) {
              stopped = true;
              stop();
            }
          },
        },
      );
      // Writes keep going while the read-only commands run.
      const ticker = setInterval(() => void appendHeartbeats(store, 10), 100);
      let backup;
      let verify;
      let vacuum;
      try {
        [backup, verify, vacuum] = await Promise.all([
          spawnCli(['backup', join(out.dir, 'live.db.gz'), '--json', '--data-dir', dir]),
          spawnCli(['verify', '--json', '--data-dir', dir]),
          spawnCli(['vacuum', '--data-dir', dir]),
        ]);
      } finally {
        clearInterval(ticker);
      }
      const followed = await follow;
      await writing;
      expect(followed.code, followed.stderr).toBe(0);
      const lines = followed.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { position: string; event: { type: string } });
      // Nothing skipped, nothing repeated: consecutive positions from the head at start.
      const positions = lines.map((l) => Number(l.position));
      expect(positions[0]).toBeGreaterThanOrEqual(Number(head));
      expect(positions).toEqual(positions.map((_, i) => positions[0]! + i));
      expect(positions.length).toBeGreaterThanOrEqual(6);

      expect(verify.code, verify.stdout).toBe(0);
      expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true });
      expect(backup.code, backup.stderr).toBe(0);
      const report = JSON.parse(backup.stdout) as { headPosition: string; verified: boolean };
      expect(report.verified).toBe(true);
      expect(BigInt(report.headPosition)).toBeGreaterThanOrEqual(head);
      expect(vacuum.code).toBe(4);
      expect(vacuum.stderr).toContain(`process ${process.pid}`);
    } finally {
      await store.close();
    }
    // The backup taken under load restores into a store that verifies.
    const restored = tempDir('prestored');
    cleanups.push(restored.remove);
    const restore = await cli([
      'restore',
      join(out.dir, 'live.db.gz'),
      '--yes',
      '--data-dir',
      restored.dir,
    ]);
    expect(restore.code, restore.stderr).toBe(0);
    expect((await cli(['verify', '--deep', '--data-dir', restored.dir])).code).toBe(0);
    expect((await cli(['sessions', 'show', PUBLIC_SESSION, '--data-dir', restored.dir])).code).toBe(
      0,
    );
  }, 120_000);
});

/** The daemon's program, built beside this app. */
const DAEMON_MAIN = fileURLToPath(new URL('../../daemon/dist/main.js', import.meta.url));

describe('wfstate beside a wfstated process', () => {
  it('purges an archived session and vacuums through the daemon process, then stops it cleanly', async () => {
    const dir = dataDir();
    await sealEverything(dir);
    expect((await cli(['archive', 'run', '--min-age-days', '0', '--data-dir', dir])).code).toBe(0);
    const stream = `session-${PRIVATE_SESSION}`;
    const slices = archivedSegmentSlices(dir, stream);
    expect(slices.length).toBeGreaterThan(0);

    const daemon = spawn(
      process.execPath,
      [DAEMON_MAIN, '--data-dir', dir, '--port', '0', '--log-level', 'warn'],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, XDG_CONFIG_HOME: dir } },
    );
    let stderr = '';
    daemon.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) =>
      daemon.on('exit', (code) => resolve(code)),
    );
    cleanups.push(() => {
      if (daemon.exitCode === null && daemon.signalCode === null) daemon.kill('SIGKILL');
    });
    for (let i = 0; ; i++) {
      const info = join(dir, 'daemon.json');
      if (
        existsSync(info) &&
        (JSON.parse(readFileSync(info, 'utf8')) as { pid: number }).pid === daemon.pid
      )
        break;
      if (i > 300 || daemon.exitCode !== null)
        throw new Error(`the daemon did not start: ${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    const purge = await spawnCli(['purge', PRIVATE_SESSION, '--yes', '--json', '--data-dir', dir]);
    expect(purge.code, purge.stderr).toBe(0);
    expect(JSON.parse(purge.stdout)).toMatchObject({
      via: 'daemon',
      streams: [stream],
      archive: { segments: slices.length },
    });
    for (const slice of slices) {
      expect(filesContaining(dir, slice.toString('latin1'), 'latin1')).toEqual([]);
    }
    const vacuum = await spawnCli(['vacuum', '--json', '--data-dir', dir]);
    expect(vacuum.code, vacuum.stderr).toBe(0);
    expect(JSON.parse(vacuum.stdout)).toMatchObject({ via: 'daemon' });
    const verify = await spawnCli(['verify', '--deep', '--json', '--data-dir', dir]);
    expect(verify.code, verify.stdout).toBe(0);

    daemon.kill('SIGTERM');
    expect(await exited).toBe(0);
    const after = await spawnCli(['sessions', 'list', '--json', '--data-dir', dir]);
    expect(
      (JSON.parse(after.stdout) as { sessions: { sessionId: string }[] }).sessions.map(
        (s) => s.sessionId,
      ),
    ).toEqual([PUBLIC_SESSION]);
  }, 180_000);
});
