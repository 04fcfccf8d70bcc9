import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { openSqliteStorage } from '../src/index.js';
import { runNode, tempDir } from './fixtures.js';

let dir: string;
let remove: () => Promise<void>;

beforeEach(async () => {
  ({ dir, remove } = await tempDir('durability'));
});
afterEach(() => remove());

const FEW = 10;
const MANY = 50;

/**
 * Appends N single-event batches with the checkpoint timer off and automatic
 * checkpoints out of reach, so the only syncs left are the commits' own: awaited one by
 * one, or all sent at once (then group commit may put several under one COMMIT). Prints
 * how many events are stored once every append has resolved.
 */
const APPEND = `
const { openSqliteStorage } = await import(process.env.DIST);
const [path, synchronous, commits, mode] = process.argv.slice(1);
const storage = await openSqliteStorage({ path, synchronous, checkpointIntervalMs: 0, walAutocheckpointPages: 1000000 });
const event = (i) => ({ type: 'energy.update', schemaVersion: 1, timestampUs: i, payload: Uint8Array.of(i & 255) });
if (mode === 'concurrent') {
  await Promise.all(Array.from({ length: Number(commits) }, (_, i) =>
    storage.appendBatch([{ stream: 'session-d', expectedVersion: 'any', events: [event(i)] }])));
} else {
  for (let i = 0; i < Number(commits); i++) {
    await storage.appendBatch([{ stream: 'session-d', expectedVersion: BigInt(i), events: [event(i)] }]);
  }
}
const head = await storage.headPosition();
await storage.close();
console.log('done ' + head);
`;

function strace(): string {
  try {
    return execFileSync('sh', ['-c', 'command -v strace'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error(
      'strace is needed to count the fsync calls that prove synchronous=FULL; install it (e.g. apt-get install strace)',
    );
  }
}

/** fsync + fdatasync calls of a whole process (all threads), counted by strace. */
async function syncCalls(
  synchronous: 'full' | 'normal',
  commits: number,
  mode: 'awaited' | 'concurrent' = 'awaited',
): Promise<number> {
  const path = join(dir, `${synchronous}-${commits}-${mode}.db`);
  const result = await runNode(APPEND, [path, synchronous, String(commits), mode], strace(), [
    '-f',
    '-c',
    '-e',
    'trace=fsync,fdatasync',
  ]);
  expect(result.stdout.trim()).toBe(`done ${commits}`);
  let calls = 0;
  for (const line of result.stderr.split('\n')) {
    const match = /^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(fsync|fdatasync)\s*$/.exec(line);
    if (match) calls += Number(match[1]);
  }
  return calls;
}

describe('durability settings', () => {
  it('reports synchronous=FULL by default and NORMAL on request, set after WAL', async () => {
    const full = await openSqliteStorage({ path: join(dir, 'a.db') });
    const normal = await openSqliteStorage({ path: join(dir, 'b.db'), synchronous: 'normal' });
    try {
      expect(full.pragmas).toMatchObject({
        journalMode: 'wal',
        synchronous: 'full',
        foreignKeys: true,
      });
      expect(normal.pragmas).toMatchObject({ journalMode: 'wal', synchronous: 'normal' });
    } finally {
      await full.close();
      await normal.close();
    }
  });

  it('syncs the WAL at every commit with FULL and not with NORMAL (fsync calls counted by strace)', async () => {
    // Opening, migrating and the final checkpoint sync a fixed number of times; the
    // difference between two runs is what the extra commits cost.
    const fullExtra = (await syncCalls('full', MANY)) - (await syncCalls('full', FEW));
    const normalExtra = (await syncCalls('normal', MANY)) - (await syncCalls('normal', FEW));
    // FULL: at least one sync per commit.
    expect(fullExtra).toBeGreaterThanOrEqual(MANY - FEW);
    // NORMAL: commits do not sync at all.
    expect(normalExtra).toBe(0);
  }, 60_000);

  it('group-commits batches that wait for the writer: fewer syncs than batches, every batch stored', async () => {
    const batches = 200;
    const base = await syncCalls('full', 0);
    const grouped = (await syncCalls('full', batches, 'concurrent')) - base;
    // At least one durable COMMIT, and far fewer than one per batch: the batches queued
    // behind a syncing COMMIT share the next one. (The child checks all 200 are stored.)
    expect(grouped).toBeGreaterThanOrEqual(1);
    expect(grouped).toBeLessThan(batches / 4);
  }, 60_000);
});
