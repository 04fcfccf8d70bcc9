/**
 * `wfstate sync push|pull|status` against the PostgreSQL server of `WF_PG_URL` (default
 * the local one), each test in a hub schema of its own: two data directories exchange
 * their sessions and end with the same merged progress; the hub's password appears in no
 * output. With `CI` set an unreachable server fails the suite; without it, it is skipped
 * with a message.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { createSessionId } from '@wirthforge/events';
import { createEventStore, createRecorder } from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { dropHubSchema, freshHubSchema, probeHub, testHubUrl } from '@wirthforge/sync/testing';
import { afterAll, describe, expect, it } from 'vitest';

import { cli, tempDir } from './fixtures.js';

const HUB_URL = testHubUrl();
const unreachable = await probeHub(HUB_URL);
if (unreachable !== undefined) {
  const message = `PostgreSQL is not reachable at ${HUB_URL} (${unreachable}). The wfstate sync tests were NOT run; start PostgreSQL or set WF_PG_URL.`;
  const ci = process.env['CI'];
  if (ci !== undefined && ci !== '' && ci !== 'false') throw new Error(message);
  console.warn(`\n!!! ${message}\n`);
}

const SECRET = 'Cli-Hub-Secret-41d2';
const withSecret = (): string => {
  const url = new URL(HUB_URL);
  url.password = SECRET;
  return url.toString();
};

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups) await cleanup();
});

async function dataDir(name: string, start: Date, seed: number): Promise<string> {
  const { dir, remove } = tempDir(`sync-${name}`);
  cleanups.push(remove);
  const storage = await openSqliteStorage({ path: join(dir, 'state.db'), synchronous: 'normal' });
  const store = createEventStore({ storage });
  const session = simulateSession({
    seed,
    sessionId: createSessionId(start, 1),
    startTime: start,
    durationSeconds: 2,
    models: ['ollama/llama3.2:3b'],
  });
  const recorder = createRecorder(store, {
    clock: 'external',
    maxPendingFrames: session.frameCount + 1,
  });
  for (const frame of session) {
    for (const event of frame.events) recorder.record(event);
    recorder.endFrame();
  }
  await recorder.close();
  await store.close();
  return dir;
}

function hubSchema(): string {
  const schema = freshHubSchema('wf_cli_sync');
  cleanups.push(() => dropHubSchema(HUB_URL, schema));
  return schema;
}

describe.runIf(unreachable === undefined)('wfstate sync', () => {
  it('push and pull between two data directories, by flag, environment and config file; status agrees', async () => {
    const schema = hubSchema();
    const a = await dataDir('a', new Date('2025-08-21T09:00:00Z'), 1);
    const b = await dataDir('b', new Date('2025-08-21T10:00:00Z'), 2);
    const outputs: string[] = [];
    const run = async (argv: string[], env: Record<string, string> = {}) => {
      const result = await cli(argv, { env: { HOME: '/nonexistent', ...env } });
      outputs.push(result.stdout, result.stderr);
      return result;
    };

    // A by flags.
    const pushA = await run([
      'sync',
      'push',
      '--hub',
      withSecret(),
      '--hub-schema',
      schema,
      '--data-dir',
      a,
      '--json',
    ]);
    expect(pushA.code, pushA.stderr).toBe(0);
    const pushed = JSON.parse(pushA.stdout) as { events: number; streams: string[]; hub: string };
    expect(pushed.events).toBeGreaterThan(0);
    expect(pushed.streams).toEqual(['session-20250821T090000Z_001']);
    expect(pushed.hub).toContain('***');

    // B by environment.
    const envB = { WF_SYNC_URL: withSecret(), WF_SYNC_SCHEMA: schema };
    expect((await run(['sync', 'push', '--data-dir', b], envB)).code).toBe(0);
    const pullB = await run(['sync', 'pull', '--data-dir', b, '--json'], envB);
    expect(pullB.code, pullB.stderr).toBe(0);
    expect((JSON.parse(pullB.stdout) as { streams: string[] }).streams).toEqual([
      'session-20250821T090000Z_001',
    ]);

    // A by its config file (0600, password apart from the URL).
    const { dir: configDir, remove } = tempDir('sync-config');
    cleanups.push(remove);
    const configFile = join(configDir, 'sync.json');
    writeFileSync(configFile, JSON.stringify({ url: HUB_URL, schema, password: SECRET }), {
      mode: 0o600,
    });
    const envA = { WF_SYNC_CONFIG: configFile };
    const pullA = await run(['sync', 'pull', '--data-dir', a], envA);
    expect(pullA.code, pullA.stderr).toBe(0);
    expect(pullA.stdout).toMatch(/event\(s\) of 1 session\(s\) pulled from/);

    // Both hold both sessions and compute the same merged progress.
    const statusA = await run(
      ['sync', 'status', '--data-dir', a, '--user', 'default', '--json'],
      envA,
    );
    const statusB = await run(
      ['sync', 'status', '--data-dir', b, '--user', 'default', '--json'],
      envB,
    );
    expect(statusA.code, statusA.stderr).toBe(0);
    type Status = {
      deviceId: string;
      local: { pendingPush: number };
      remote: { devices: { deviceId: string; streams: number }[] };
      progress: { hash: string; sessions: number };
      conflicts: unknown[];
    };
    const [sa, sb] = [JSON.parse(statusA.stdout) as Status, JSON.parse(statusB.stdout) as Status];
    expect(sa.progress.hash).toBe(sb.progress.hash);
    expect(sa.progress.sessions).toBe(2);
    expect(sa.deviceId).not.toBe(sb.deviceId);
    expect(sa.remote.devices.map((d) => d.deviceId).sort()).toEqual(
      [sa.deviceId, sb.deviceId].sort(),
    );
    expect([sa.local.pendingPush, sb.local.pendingPush]).toEqual([0, 0]);
    expect(sa.conflicts).toEqual([]);
    const text = await run(['sync', 'status', '--data-dir', a], envA);
    expect(text.stdout).toContain('(this one)');

    // The sessions list of B shows A's session.
    const sessions = await run(['sessions', 'list', '--data-dir', b, '--json']);
    expect(sessions.stdout).toContain('20250821T090000Z_001');

    expect(outputs.join('\n')).not.toContain(SECRET);
  }, 120_000);

  it('says what to do without a hub or when it cannot be reached, and never prints the password', async () => {
    const a = await dataDir('c', new Date('2025-08-21T11:00:00Z'), 3);
    const none = await cli(['sync', 'push', '--data-dir', a], { env: { HOME: '/nonexistent' } });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no sync hub is configured');
    expect(none.stderr).toContain('WF_SYNC_URL');

    const down = `postgres://ada:${SECRET}@127.0.0.1:1/test`;
    const push = await cli(['sync', 'push', '--data-dir', a, '--hub', down], {
      env: { HOME: '/nonexistent' },
    });
    expect(push.code).toBe(1);
    expect(push.stderr).toContain('postgres://ada:***@127.0.0.1:1/test');
    expect(push.stderr).toContain('next run resumes');
    const status = await cli(['sync', 'status', '--data-dir', a, '--hub', down, '--json'], {
      env: { HOME: '/nonexistent' },
    });
    expect(status.code).toBe(1);
    const json = JSON.parse(status.stdout) as { hubError: string; local: { pendingPush: number } };
    expect(json.hubError).toContain('***');
    expect(json.local.pendingPush).toBeGreaterThan(0);
    for (const out of [none, push, status]) expect(out.stdout + out.stderr).not.toContain(SECRET);
  }, 60_000);
});

describe('wfstate sync --help', () => {
  it('documents each subcommand with examples, the hub options and where the hub comes from', async () => {
    for (const name of ['push', 'pull', 'status']) {
      const run = await cli(['sync', name, '--help']);
      expect(run.code, name).toBe(0);
      expect(run.stdout, name).toContain('Examples:');
      expect(run.stdout, name).toContain('--data-dir');
      expect(run.stdout, name).toContain('--hub <url>');
      expect(run.stdout, name).toContain('WF_SYNC_URL');
    }
  });
});
