import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openSqliteStorage, readLockFile } from '../src/index.js';
import { DIST_INDEX, frame, runNode, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;
let path: string;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('lock'));
  path = join(dir, 'state.db');
});
afterEach(() => remove());

const TRY_OPEN = `
const { openSqliteStorage } = await import(process.env.DIST);
try {
  const storage = await openSqliteStorage({ path: process.argv[1] });
  await storage.close();
  console.log(JSON.stringify({ opened: true }));
} catch (error) {
  console.log(JSON.stringify({ opened: false, code: error.code, message: error.message }));
}
`;

const HOLD_OPEN = `
const { openSqliteStorage } = await import(process.env.DIST);
const storage = await openSqliteStorage({ path: process.argv[1] });
await storage.appendBatch([{ stream: 'session-child', expectedVersion: 'no_stream', events: [
  { type: 'system.start', schemaVersion: 1, timestampUs: 1, payload: Uint8Array.of(1) },
] }]);
console.log('ready');
setInterval(() => {}, 1000);
`;

describe('one writer process per database', () => {
  it('a second process refuses to open a database in use, with a locked error naming the owner', async () => {
    const storage = await openSqliteStorage({ path });
    try {
      const child = await runNode(TRY_OPEN, [path]);
      expect(child.stderr).toBe('');
      const result = JSON.parse(child.stdout) as { opened: boolean; code: string; message: string };
      expect(result.opened).toBe(false);
      expect(result.code).toBe('locked');
      expect(result.message).toContain(`database ${path} is in use by process ${process.pid}`);
      expect(result.message).toContain('stop that process');
    } finally {
      await storage.close();
    }
    const after = await runNode(TRY_OPEN, [path]);
    expect(JSON.parse(after.stdout)).toEqual({ opened: true });
  });

  it('takes over the lock of a writer process that was killed', async () => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', HOLD_OPEN, '--', path], {
      env: { ...process.env, DIST: DIST_INDEX },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) =>
      child.on('exit', (_c, s) => resolve(s)),
    );
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('ready')) resolve();
      });
      child.on('exit', () => reject(new Error(`child exited early: ${out}`)));
    });
    expect(readLockFile(`${path}.lock`)?.pid).toBe(child.pid);
    const refused = await runNode(TRY_OPEN, [path]);
    expect(JSON.parse(refused.stdout)).toMatchObject({ opened: false, code: 'locked' });

    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const storage = await openSqliteStorage({ path });
    try {
      expect(readLockFile(`${path}.lock`)?.pid).toBe(process.pid);
      expect(await storage.streamVersion('session-child')).toBe(1n);
      const next = await storage.appendBatch([
        { stream: 'session-child', expectedVersion: 1n, events: frame(2, 2) },
      ]);
      expect(next.streams[0]!.positions).toEqual([2n, 3n]);
    } finally {
      await storage.close();
    }
  });
});
