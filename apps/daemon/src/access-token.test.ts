import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { presentedToken, tokenMatches, writeAccessToken } from './access-token.js';

const root = mkdtempSync(join(tmpdir(), 'wfstated-token-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('writeAccessToken', () => {
  it('writes a fresh 256-bit token, mode 0600, in a 0700 directory', () => {
    const dir = join(root, 'data');
    const first = writeAccessToken(dir);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(readFileSync(join(dir, 'daemon.token'), 'utf8')).toBe(`${first}\n`);
    expect(statSync(join(dir, 'daemon.token')).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(writeAccessToken(dir)).not.toBe(first);
  });
});

describe('presentedToken and tokenMatches', () => {
  it('reads the header first, then the subprotocol, then the query', () => {
    expect(
      presentedToken({ authorization: 'Bearer abc', protocols: 'bearer.def', queryToken: 'ghi' }),
    ).toBe('abc');
    expect(presentedToken({ authorization: 'Basic abc' })).toBeUndefined();
    expect(presentedToken({ protocols: 'wfstate.v1, bearer.def' })).toBe('def');
    expect(presentedToken({ queryToken: 'ghi' })).toBe('ghi');
    expect(presentedToken({})).toBeUndefined();
  });
  it('matches only the exact token', () => {
    expect(tokenMatches('abc', 'abc')).toBe(true);
    expect(tokenMatches('abd', 'abc')).toBe(false);
    expect(tokenMatches('ab', 'abc')).toBe(false);
    expect(tokenMatches(undefined, 'abc')).toBe(false);
  });
});
