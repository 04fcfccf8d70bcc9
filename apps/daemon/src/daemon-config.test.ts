import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_PORT,
  DEFAULT_SNAPSHOT_EVERY_EVENTS,
  DEFAULT_SNAPSHOT_EVERY_SECONDS,
  isLoopbackHost,
  resolveDaemonConfig,
  type DaemonConfig,
} from './daemon-config.js';
import { isDaemonError } from './errors.js';

const dir = mkdtempSync(join(tmpdir(), 'wfstated-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function config(argv: string[], env: Record<string, string> = {}): DaemonConfig {
  const resolved = resolveDaemonConfig({
    argv,
    env: { HOME: '/home/ada', ...env },
    cwd: '/home/ada/projects',
  });
  if (resolved.help) throw new Error('help');
  return resolved.config;
}

describe('resolveDaemonConfig', () => {
  it('defaults: XDG data home, loopback, the default port, FULL', () => {
    expect(config([])).toMatchObject({
      dataDir: '/home/ada/.local/share/wirthforge',
      host: '127.0.0.1',
      port: DEFAULT_PORT,
      sync: 'full',
      simulate: false,
    });
    expect(config([], { XDG_DATA_HOME: '/data' }).dataDir).toBe('/data/wirthforge');
    // A relative XDG_DATA_HOME is invalid per the spec and ignored.
    expect(config([], { XDG_DATA_HOME: 'rel' }).dataDir).toBe('/home/ada/.local/share/wirthforge');
  });

  it('flags over environment over config file over defaults', () => {
    const file = join(dir, 'wfstated.yaml');
    writeFileSync(file, 'port: 7001\nhost: 127.0.0.2\nsync: normal\nlogLevel: debug\n');
    const fromFile = config(['--config', file]);
    expect(fromFile).toMatchObject({
      port: 7001,
      host: '127.0.0.2',
      sync: 'normal',
      logLevel: 'debug',
      configFile: file,
    });
    const fromEnv = config(['--config', file], { WFSTATE_PORT: '7002', WFSTATE_SYNC: 'full' });
    expect(fromEnv).toMatchObject({ port: 7002, host: '127.0.0.2', sync: 'full' });
    const fromFlags = config(
      ['--config', file, '--port', '7003', '--data-dir=rel/dir', '--simulate'],
      { WFSTATE_PORT: '7002', WFSTATE_CONFIG: '/nope.yaml' },
    );
    expect(fromFlags).toMatchObject({
      port: 7003,
      dataDir: '/home/ada/projects/rel/dir',
      simulate: true,
      host: '127.0.0.2',
    });
    expect(config([], { WFSTATE_CONFIG: file }).port).toBe(7001);
    // The default file in XDG_CONFIG_HOME, when it exists.
    const xdg = join(dir, 'xdg');
    mkdirSync(join(xdg, 'wirthforge'), { recursive: true });
    writeFileSync(join(xdg, 'wirthforge', 'wfstated.yaml'), 'port: 7004\n');
    expect(config([], { XDG_CONFIG_HOME: xdg }).port).toBe(7004);
  });

  it('takes the snapshot cadence from the file, the environment and flags', () => {
    expect(config([])).toMatchObject({
      snapshotEveryEvents: DEFAULT_SNAPSHOT_EVERY_EVENTS,
      snapshotEverySeconds: DEFAULT_SNAPSHOT_EVERY_SECONDS,
    });
    const file = join(dir, 'cadence.yaml');
    writeFileSync(file, 'snapshotEveryEvents: 5000\nsnapshotEverySeconds: 30\n');
    expect(config(['--config', file])).toMatchObject({
      snapshotEveryEvents: 5000,
      snapshotEverySeconds: 30,
    });
    expect(
      config(['--config', file, '--snapshot-every-seconds=15'], {
        WFSTATE_SNAPSHOT_EVERY_EVENTS: '2000',
      }),
    ).toMatchObject({ snapshotEveryEvents: 2000, snapshotEverySeconds: 15 });
    expect(() => config(['--snapshot-every-events', '0'])).toThrow(
      /--snapshot-every-events: must be at least 1, got 0/,
    );
    writeFileSync(file, 'snapshotEveryEvents: many\n');
    expect(() => config(['--config', file])).toThrow(
      /cadence\.yaml: snapshotEveryEvents: must be a non-negative integer, got "many"/,
    );
  });

  it('says what and where for a bad value', () => {
    const bad = (argv: string[], env: Record<string, string> = {}): string => {
      try {
        config(argv, env);
      } catch (error) {
        expect(isDaemonError(error, 'invalid_config')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('accepted');
    };
    expect(bad(['--port', '70000'])).toBe('--port: must be at most 65535, got 70000');
    expect(bad(['--sync', 'sometimes'])).toContain('--sync: must be full or normal');
    expect(bad([], { WFSTATE_PORT: 'eighty' })).toContain(
      'WFSTATE_PORT: must be a non-negative integer',
    );
    expect(bad(['--colour'])).toContain('--colour: unknown option');
    expect(bad(['--port'])).toBe('--port: needs a value');
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'prot: 1\n');
    expect(bad(['--config', file])).toContain('key prot: unknown setting');
    // Found by the fault suite: a negative port in the file was taken.
    writeFileSync(file, 'port: -1\n');
    expect(bad(['--config', file])).toBe(
      `config file ${file}: port: must be a non-negative integer, got -1`,
    );
    // Found by the fault suite: the YAML parser took minutes on this, then ran out of heap.
    writeFileSync(file, `port: 1\nhost: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`);
    expect(bad(['--config', file])).toBe(
      `config file ${file}: line 2: nested more than 64 levels deep`,
    );
  });

  it('asks for help', () => {
    expect(resolveDaemonConfig({ argv: ['--help'], env: {}, cwd: '/' }).help).toBe(true);
  });
});

describe('isLoopbackHost', () => {
  it('accepts loopback addresses only', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', 'localhost'])
      expect(isLoopbackHost(host), host).toBe(true);
    for (const host of ['0.0.0.0', '::', '192.168.1.2', 'example.com'])
      expect(isLoopbackHost(host), host).toBe(false);
  });
});
