import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { openConnection, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { openArchive } from '../src/index.js';
import { fingerprint, readEverything, tempDir, writeSessions } from './fixtures.js';

/** Kill points of the default run; `WF_ARCHIVE_KILL_POINTS` asks for more. */
const KILL_POINTS = Number(process.env['WF_ARCHIVE_KILL_POINTS'] ?? 50);

const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

/**
 * The child: moves every ended session into its partition, restores a partition, and
 * again, until it is killed; it says `ready` once it has started.
 */
const CHILD = `
const { openArchive } = await import(process.env.DIST);
const archive = openArchive({ databasePath: process.argv[1] });
process.stdout.write('ready\\n');
for (let i = 0; ; i++) {
  archive.run({ minAgeMs: 0, reclaim: i % 3 === 0 });
  const names = archive.list().filter((p) => p.segments > 0 && !p.deleted).map((p) => p.name);
  if (names.length > 0) archive.restore({ partition: names[i % names.length] });
}
`;

let dir: { dir: string; remove: () => void };
let path: string;

beforeAll(async () => {
  dir = tempDir();
  path = join(dir.dir, 'state.db');
  await writeSessions(path, [
    { seed: 11, seconds: 6, start: Date.UTC(2026, 7, 3) },
    { seed: 12, seconds: 5, start: Date.UTC(2026, 7, 30) },
    { seed: 13, seconds: 6, start: Date.UTC(2026, 8, 14) },
    { seed: 14, seconds: 4, start: Date.UTC(2026, 9, 1) },
    { seed: 15, seconds: 5, start: Date.UTC(2026, 9, 2) },
  ]);
});
afterAll(() => dir.remove());

/** Starts the child and kills it with SIGKILL `delayMs` after it is ready. */
function killChildAfter(delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD, '--', path], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DIST },
    });
    let stderr = '';
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on('data', () => {
      if (timer === undefined) timer = setTimeout(() => child.kill('SIGKILL'), delayMs);
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`the mover exited on its own: ${stderr}`));
    });
  });
}

/** Positions held by live segments and by readable catalog rows, each counted. */
function positionCopies(): Map<number, number> {
  const c = openConnection(path, { readonly: true, fileMustExist: true });
  try {
    const ranges = [
      ...(c
        .prepare('select first_position, last_position from segments')
        .raw()
        .all() as number[][]),
      ...(c
        .prepare(
          'select first_position, last_position from archived_segments where deleted_us is null',
        )
        .raw()
        .all() as number[][]),
    ];
    const copies = new Map<number, number>();
    for (const [from, to] of ranges) {
      for (let p = from!; p <= to!; p++) copies.set(p, (copies.get(p) ?? 0) + 1);
    }
    return copies;
  } finally {
    c.close();
  }
}

describe('an archive mover killed at random moments', () => {
  it(`leaves each event exactly once (${KILL_POINTS} kill points)`, async () => {
    const storage = await openSqliteStorage({ path, seal: false });
    const expected = fingerprint(await readEverything(storage));
    await storage.close();
    expect(expected.length).toBeGreaterThan(1000);

    let lost = 0;
    let duplicated = 0;
    let resumed = 0;
    let seed = 20261127;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    for (let k = 0; k < KILL_POINTS; k++) {
      await killChildAfter(Math.floor(random() * 250));
      const archive = openArchive({ databasePath: path });
      resumed += archive.recover();
      const copies = positionCopies();
      for (let p = 1; p <= expected.length; p++) {
        const n = copies.get(p) ?? 0;
        if (n === 0) lost++;
        if (n > 1) duplicated += n - 1;
      }
      const reader = await openSqliteStorage({
        path,
        seal: false,
        coldSegments: archive.coldSegments,
      });
      const seen = fingerprint(await readEverything(reader));
      await reader.close();
      if (seen.length !== expected.length || seen.some((line, i) => line !== expected[i])) {
        const set = new Set(seen);
        lost += expected.filter((line) => !set.has(line)).length;
        duplicated += seen.length - set.size;
      }
      const verified = archive.verify({ quick: true });
      expect(verified.problems).toEqual([]);
      archive.close();
    }
    console.info(
      `archive move crash: kill points ${KILL_POINTS}, events ${expected.length}, ` +
        `interrupted operations finished ${resumed}, lost ${lost}, duplicated ${duplicated}`,
    );
    expect(lost).toBe(0);
    expect(duplicated).toBe(0);
    // The kills did land inside moves and restores.
    expect(resumed).toBeGreaterThan(0);
  }, 600_000);
});
