import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { isSyncError } from './errors.js';
import {
  DEFAULT_HUB_SCHEMA,
  hubIdOf,
  redactHubUrl,
  resolveSyncConfig,
  scrubSecrets,
} from './sync-config.js';

const SECRET = 'pa55-Wörd/with@odd:chars';
const URL_WITH_SECRET = `postgres://ada:${encodeURIComponent(SECRET)}@hub.example:6543/wirthforge`;

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

describe('redactHubUrl and scrubSecrets', () => {
  it('replaces the password of a URL and of a password parameter', () => {
    expect(redactHubUrl(URL_WITH_SECRET)).toBe('postgres://ada:***@hub.example:6543/wirthforge');
    expect(redactHubUrl('postgres://h/db?password=hunter2&sslmode=require')).toBe(
      'postgres://h/db?password=***&sslmode=require',
    );
    expect(redactHubUrl('postgres://ada@h/db')).toBe('postgres://ada@h/db');
    expect(redactHubUrl(`not a url ${SECRET}`)).not.toContain(SECRET);
  });

  it('removes a secret, as written or URL-encoded, from any text', () => {
    const text = `failed for ${SECRET} at ${URL_WITH_SECRET}`;
    const scrubbed = scrubSecrets(text, [SECRET]);
    expect(scrubbed).not.toContain(SECRET);
    expect(scrubbed).not.toContain(encodeURIComponent(SECRET));
    expect(scrubbed).toContain('***');
  });
});

describe('resolveSyncConfig', () => {
  it('is off when nothing is configured', () => {
    expect(resolveSyncConfig({ env: { HOME: '/nonexistent' } })).toBeUndefined();
  });

  it('takes --hub over WF_SYNC_URL over the config file, and never shows the password', () => {
    const home = mkdtempSync(join(tmpdir(), 'wfsync-config-'));
    dirs.push(home);
    const env = { XDG_CONFIG_HOME: home, WF_SYNC_URL: URL_WITH_SECRET };
    const fromEnv = resolveSyncConfig({ env })!;
    expect(fromEnv.source).toBe('env');
    expect(fromEnv.schema).toBe(DEFAULT_HUB_SCHEMA);
    expect(fromEnv.displayUrl).not.toContain(encodeURIComponent(SECRET));
    expect(fromEnv.displayUrl).toContain('***');
    expect(fromEnv.intervalMs).toBeUndefined();
    const fromOption = resolveSyncConfig({ env, url: 'postgres://other/db', schema: 'team_hub' })!;
    expect([fromOption.source, fromOption.url, fromOption.schema]).toEqual([
      'option',
      'postgres://other/db',
      'team_hub',
    ]);
  });

  it('reads the config file, and warns when it holds a password others may read', () => {
    const home = mkdtempSync(join(tmpdir(), 'wfsync-config-'));
    dirs.push(home);
    const write = (settings: unknown, mode: number): void => {
      writeFileSync(join(home, 'sync.json'), JSON.stringify(settings));
      chmodSync(join(home, 'sync.json'), mode);
    };
    write({ url: URL_WITH_SECRET, schema: 'hub_a', intervalMs: 60000 }, 0o644);
    const env = { WF_SYNC_CONFIG: join(home, 'sync.json') };
    const loose = resolveSyncConfig({ env })!;
    expect([loose.source, loose.schema, loose.intervalMs]).toEqual(['file', 'hub_a', 60000]);
    expect(loose.warning).toContain('chmod 600');
    expect(loose.warning).not.toContain(encodeURIComponent(SECRET));
    write({ url: URL_WITH_SECRET }, 0o600);
    expect(resolveSyncConfig({ env })!.warning).toBeUndefined();
  });

  it('rejects bad values with invalid_config, saying where, without the password', () => {
    const cases: [Record<string, string>, string][] = [
      [{ WF_SYNC_URL: `mysql://ada:${SECRET}@h/db` }, 'WF_SYNC_URL'],
      [{ WF_SYNC_URL: 'postgres://h/db', WF_SYNC_SCHEMA: 'bad-name' }, 'WF_SYNC_SCHEMA'],
      [{ WF_SYNC_URL: 'postgres://h/db', WF_SYNC_INTERVAL_MS: '10' }, 'WF_SYNC_INTERVAL_MS'],
      [{ WF_SYNC_CONFIG: '/nonexistent/sync.json' }, 'WF_SYNC_CONFIG'],
    ];
    for (const [env, where] of cases) {
      let caught: unknown;
      try {
        resolveSyncConfig({ env: { HOME: '/nonexistent', ...env } });
      } catch (error) {
        caught = error;
      }
      expect(isSyncError(caught, 'invalid_config'), where).toBe(true);
      expect((caught as Error).message).toContain(where);
      expect((caught as Error).message).not.toContain(SECRET);
    }
  });

  it('refuses an intervalMs nested deep, or long, naming its kind rather than quoting it', () => {
    const home = mkdtempSync(join(tmpdir(), 'wfsync-config-'));
    dirs.push(home);
    const file = join(home, 'sync.json');
    // Found by the fault suite's input.sync row: quoting it overflowed the stack.
    const deep = `${'['.repeat(200_000)}${']'.repeat(200_000)}`;
    for (const [intervalMs, kind] of [
      [deep, 'a list'],
      [JSON.stringify('9'.repeat(100)), 'a string of 100 characters'],
      ['{"ms": 6000}', 'a value of type object'],
    ] as const) {
      writeFileSync(file, `{"url": "postgres://h/db", "intervalMs": ${intervalMs}}`);
      let caught: unknown;
      try {
        resolveSyncConfig({ env: { WF_SYNC_CONFIG: file } });
      } catch (error) {
        caught = error;
      }
      expect(isSyncError(caught, 'invalid_config')).toBe(true);
      expect((caught as Error).message).toBe(
        `config file ${file}: intervalMs: expected a whole number of milliseconds, at least 5000, got ${kind}`,
      );
    }
  });

  it('does not quote a config file it cannot parse (it may hold a password)', () => {
    const home = mkdtempSync(join(tmpdir(), 'wfsync-config-'));
    dirs.push(home);
    writeFileSync(join(home, 'sync.json'), `{"url": "postgres://a:${SECRET}@h/db",,}`);
    expect(() => resolveSyncConfig({ env: { WF_SYNC_CONFIG: join(home, 'sync.json') } })).toThrow(
      /syntax error/,
    );
    try {
      resolveSyncConfig({ env: { WF_SYNC_CONFIG: join(home, 'sync.json') } });
    } catch (error) {
      expect((error as Error).message).not.toContain(SECRET);
    }
  });

  it('names a hub by host, port, database and schema, not by user or password', () => {
    expect(hubIdOf('postgres://ada:x@Hub.example/db', 's')).toBe(
      hubIdOf('postgres://bob:y@hub.example:5432/db', 's'),
    );
    expect(hubIdOf('postgres://h/db', 's')).not.toBe(hubIdOf('postgres://h/db', 't'));
    expect(hubIdOf('postgres://h/db', 's')).not.toBe(hubIdOf('postgres://h/db2', 's'));
  });
});
