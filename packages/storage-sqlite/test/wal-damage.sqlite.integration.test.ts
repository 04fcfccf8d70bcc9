import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  checkSqliteFileIntegrity,
  headMarkerPath,
  openSqliteStorage,
  scanSqliteWal,
} from '../src/index.js';
import type { WalDamage } from '../src/index.js';
import { killedWriterSource, runNode, tempDir } from './fixtures.js';

const COMMITS = 40;
const EVENTS_PER_COMMIT = 30;

const CHILD = killedWriterSource(COMMITS, EVENTS_PER_COMMIT, false);

let dir: string;
let remove: () => Promise<void>;
let live: string;
let acked: bigint;

/** A fresh copy of the killed writer's files (database, WAL, shm, head marker). */
function caseCopy(name: string): string {
  const caseDir = join(dir, name);
  rmSync(caseDir, { recursive: true, force: true });
  mkdirSync(caseDir, { recursive: true });
  for (const file of readdirSync(join(dir, 'live'))) {
    copyFileSync(join(dir, 'live', file), join(caseDir, file));
  }
  return join(caseDir, 'state.db');
}

async function openAndCount(
  path: string,
): Promise<{ damage: readonly WalDamage[]; head: bigint; reported: WalDamage[] }> {
  const reported: WalDamage[] = [];
  const storage = await openSqliteStorage({
    path,
    seal: false,
    onWalDamage: (d) => reported.push(d),
  });
  try {
    return { damage: storage.walDamage, head: await storage.headPosition(), reported };
  } finally {
    await storage.close();
  }
}

beforeAll(async () => {
  ({ dir, remove } = await tempDir('wal-damage'));
  mkdirSync(join(dir, 'live'));
  live = join(dir, 'live', 'state.db');
  const child = await runNode(CHILD, [live]);
  expect(child.signal).toBe('SIGKILL');
  const match = /acked (\d+)/.exec(child.stdout);
  expect(match, child.stderr).not.toBeNull();
  acked = BigInt(match![1]!);
  expect(acked).toBe(BigInt(COMMITS * EVENTS_PER_COMMIT));
  expect(statSync(`${live}-wal`).size).toBeGreaterThan(COMMITS * 4096);
  expect(existsSync(headMarkerPath(live))).toBe(true);
}, 120_000);

afterAll(async () => {
  await remove();
});

describe('the WAL of a killed writer', () => {
  it('scans as SQLite replays it: every commit, nothing discarded', () => {
    const scan = scanSqliteWal(readFileSync(`${live}-wal`));
    expect(scan.headerValid).toBe(true);
    expect(scan.pageSize).toBe(4096);
    expect(scan.firstBadFrame).toBeUndefined();
    expect(scan.commits).toBeGreaterThanOrEqual(COMMITS);
    expect(scan.replayedFrames).toBe(scan.frames);
    expect(scan.tailBytes).toBe(0);
  });

  it('opens with every acknowledged event and no damage, a torn frame at the end included', async () => {
    const path = caseCopy('intact');
    // What a crash mid-write leaves: part of one more frame with the current salts.
    const wal = readFileSync(`${path}-wal`);
    const torn = Buffer.concat([wal, wal.subarray(32, 32 + 24 + 1000)]);
    writeFileSync(`${path}-wal`, torn);
    expect(scanSqliteWal(torn).tailBytes).toBe(1024);
    const opened = await openAndCount(path);
    expect(opened.head).toBe(acked);
    expect(opened.damage).toEqual([]);
    expect(opened.reported).toEqual([]);
    const report = await checkSqliteFileIntegrity(path);
    expect(report.problems).toEqual([]);
    // The copy taken before SQLite read the WAL is gone: nothing was lost.
    expect(readdirSync(dirname(path)).filter((name) => name.includes('damage'))).toEqual([]);
    // A clean close leaves no marker: nothing left in a WAL to lose.
    expect(existsSync(headMarkerPath(path))).toBe(false);
  });

  it('names a bit flip, keeps a copy of the damaged WAL (0600) and a report for verify', async () => {
    const path = caseCopy('flip');
    const wal = readFileSync(`${path}-wal`);
    const frameBytes = 24 + 4096;
    // Two bits inside the pages of frames 11 and 12: past what the open can salvage
    // (see wal-salvage.sqlite.integration.test.ts), so the commits after them are lost.
    for (const frame of [10, 11]) {
      for (const offset of [100, 200]) {
        const at = 32 + frame * frameBytes + 24 + offset;
        wal[at] = wal[at]! ^ 0x01;
      }
    }
    writeFileSync(`${path}-wal`, wal);
    const scan = scanSqliteWal(wal);
    expect(scan.firstBadFrame).toBe(11);
    expect(scan.discardedCommits).toBeGreaterThan(0);

    // verify before any writer opens it: named from the WAL itself and from the marker.
    const before = await checkSqliteFileIntegrity(path);
    expect(before.ok).toBe(false);
    expect(before.problems.map((p) => p.kind === 'wal' && p.finding)).toContain('wal_damaged');

    const opened = await openAndCount(path);
    expect(opened.head).toBeLessThan(acked);
    const kinds = opened.damage.map((d) => d.kind);
    expect(kinds).toEqual(['wal_damaged', 'commits_missing']);
    expect(opened.reported.map((d) => d.kind)).toEqual(kinds);
    const damaged = opened.damage[0]!;
    expect(damaged.message).toMatch(/frame 11 \(byte \d+\) fails its checksum; \d+ committed/);
    expect(damaged.message).toContain('not salvaged');
    expect(damaged.salvage?.installed).toBe(false);
    expect(damaged.quarantine).toBeDefined();
    expect(readFileSync(damaged.quarantine!).equals(wal)).toBe(true);
    expect(statSync(damaged.quarantine!).mode & 0o777).toBe(0o600);
    expect(opened.damage[1]!.message).toContain(`positions ${opened.head + 1n} to ${acked}`);
    for (const d of opened.damage) expect(statSync(d.report!).mode & 0o777).toBe(0o600);

    // After the open the WAL is gone; the reports keep the finding for verify.
    const after = await checkSqliteFileIntegrity(path);
    expect(after.ok).toBe(false);
    const named = after.problems.filter((p) => p.kind === 'wal');
    expect(named.map((p) => p.kind === 'wal' && p.finding)).toEqual([
      'wal_damaged',
      'commits_missing',
    ]);
    expect(named[0]!.message).toContain(damaged.quarantine!);
  });

  it('names a WAL cut in half by the commits missing, and keeps the cut WAL', async () => {
    const path = caseCopy('cut');
    const size = statSync(`${path}-wal`).size;
    truncateSync(`${path}-wal`, Math.floor(size / 2));
    const cut = readFileSync(`${path}-wal`);
    const before = await checkSqliteFileIntegrity(path);
    expect(before.problems.map((p) => p.kind === 'wal' && p.finding)).toEqual(['commits_missing']);
    const opened = await openAndCount(path);
    expect(opened.head).toBeLessThan(acked);
    expect(opened.damage.map((d) => d.kind)).toEqual(['commits_missing']);
    // The WAL as it was before SQLite read it is kept.
    expect(readFileSync(opened.damage[0]!.quarantine!).equals(cut)).toBe(true);
  });

  it('names a deleted WAL by the commits missing', async () => {
    const path = caseCopy('deleted');
    rmSync(`${path}-wal`);
    rmSync(`${path}-shm`, { force: true });
    const before = await checkSqliteFileIntegrity(path);
    expect(before.problems.map((p) => p.kind === 'wal' && p.finding)).toEqual(['commits_missing']);
    const opened = await openAndCount(path);
    expect(opened.head).toBeLessThan(acked);
    expect(opened.damage.map((d) => d.kind)).toEqual(['commits_missing']);
    expect(opened.damage[0]!.message).toMatch(/the WAL was deleted, cut or damaged/);
  });

  it('ignores a marker left beside a new database at the same path', async () => {
    const path = caseCopy('replaced');
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
    expect(existsSync(headMarkerPath(path))).toBe(true);
    const opened = await openAndCount(path);
    expect(opened.head).toBe(0n);
    expect(opened.damage).toEqual([]);
  });
});
