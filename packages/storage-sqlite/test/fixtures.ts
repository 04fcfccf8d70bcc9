import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { isStorageError } from '@wirthforge/storage';
import type { NewEventRecord } from '@wirthforge/storage';
import { expect } from 'vitest';

/** The built package entry, for child processes (they run the real dist). */
export const DIST_INDEX = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/** A temporary directory and its removal. */
export async function tempDir(
  prefix: string,
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `wf-${prefix}-`));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

let clock = 1_755_460_080_000_000;

/** A 60 Hz frame of energy events. */
export function frame(frameId: number, count = 60): NewEventRecord[] {
  return Array.from({ length: count }, (_, i) => {
    clock += 278;
    return {
      type: i % 10 === 0 ? 'model.output' : 'energy.update',
      schemaVersion: 1,
      timestampUs: clock,
      frameId,
      payload: Uint8Array.of(0x82, 0xa1, 0x65, i, 0xa1, 0x66, frameId % 256),
    };
  });
}

/** Result of a child process. */
export interface ChildResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node` on an ES module source string; `DIST` in it names the built entry. */
export function runNode(
  source: string,
  args: readonly string[] = [],
  command = process.execPath,
  prefix: readonly string[] = [],
): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      command,
      [
        ...prefix,
        ...(command === process.execPath ? [] : [process.execPath]),
        '--input-type=module',
        '-e',
        source,
        '--',
        ...args,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DIST: DIST_INDEX } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Source of a writer that commits `commits` batches of `eventsPerCommit` events (one
 * commit each, no checkpoint: the WAL holds them all, as after a crash), prints
 * `acked <last position>`, then is killed with SIGKILL. With `ids`, every event carries an
 * id, so a duplicate would be seen. For {@link runNode}, the database path its argument.
 */
export function killedWriterSource(commits: number, eventsPerCommit: number, ids: boolean): string {
  return `
const { openSqliteStorage } = await import(process.env.DIST);
const [path] = process.argv.slice(1);
const storage = await openSqliteStorage({
  path, checkpointIntervalMs: 0, walAutocheckpointPages: 100000, seal: false,
});
let clock = 1_755_460_080_000_000;
let last = 0n;
for (let c = 0; c < ${commits}; c++) {
  const events = Array.from({ length: ${eventsPerCommit} }, (_, i) => ({
    type: 'energy.update', schemaVersion: 1, timestampUs: (clock += 278), frameId: c,
    ${ids ? "eventId: 'e-' + c + '-' + i, payload: new Uint8Array(120).fill(c * 7 + i)," : 'payload: new Uint8Array(120).fill(c + i),'}
  }));
  const result = await storage.appendBatch([{ stream: 'session-' + (c % 3), expectedVersion: 'any', events }]);
  last = result.lastPosition;
}
console.log('acked ' + last);
process.kill(process.pid, 'SIGKILL');
`;
}

/** The `StorageError` a promise rejects with; fails the test when it resolves or throws anything else. */
export async function rejection(promise: Promise<unknown>): Promise<Error & { code: string }> {
  try {
    await promise;
  } catch (error) {
    expect(isStorageError(error)).toBe(true);
    return error as Error & { code: string };
  }
  throw new Error('expected a StorageError');
}
