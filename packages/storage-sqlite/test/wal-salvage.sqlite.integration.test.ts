import {
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  checkSqliteFileIntegrity,
  inspectSqliteWal,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
  readHeadMarker,
  salvageSqliteWal,
  scanSqliteWal,
} from '../src/index.js';
import { openConnection } from '../src/sqlite-connection.js';
import type { WalDamage } from '../src/index.js';
import { killedWriterSource, runNode, tempDir } from './fixtures.js';

const COMMITS = 40;
const EVENTS_PER_COMMIT = 30;
const PAGE = 4096;
const FRAME = 24 + PAGE;

const CHILD = killedWriterSource(COMMITS, EVENTS_PER_COMMIT, true);

let dir: string;
let remove: () => Promise<void>;
let acked: bigint;
/** Every acknowledged event, read from an undamaged copy: position -> content. */
let expected: Map<bigint, string>;

function caseCopy(name: string): string {
  const caseDir = join(dir, name);
  rmSync(caseDir, { recursive: true, force: true });
  mkdirSync(caseDir, { recursive: true });
  for (const file of readdirSync(join(dir, 'live'))) {
    copyFileSync(join(dir, 'live', file), join(caseDir, file));
  }
  return join(caseDir, 'state.db');
}

/** Position -> content of every event a full read returns (it refuses a damaged row). */
async function readEvents(path: string): Promise<Map<bigint, string>> {
  const storage = await openSqliteReadOnlyStorage({ path });
  const out = new Map<bigint, string>();
  try {
    for await (const r of storage.readAll()) {
      expect(out.has(r.position)).toBe(false);
      out.set(
        r.position,
        [
          r.stream,
          r.version,
          r.type,
          r.timestampUs,
          r.frameId,
          r.eventId,
          Buffer.from(r.payload).toString('hex'),
        ].join('|'),
      );
    }
  } finally {
    await storage.close();
  }
  return out;
}

async function open(path: string): Promise<{ damage: readonly WalDamage[]; head: bigint }> {
  const reported: WalDamage[] = [];
  const storage = await openSqliteStorage({
    path,
    seal: false,
    onWalDamage: (d) => reported.push(d),
  });
  try {
    expect(reported).toEqual(storage.walDamage);
    return { damage: storage.walDamage, head: await storage.headPosition() };
  } finally {
    await storage.close();
  }
}

/** Frames of the WAL: page number, and whether a later frame writes that page again. */
function frames(wal: Buffer): { page: number; rewritten: boolean }[] {
  const count = Math.floor((wal.length - 32) / FRAME);
  const out = Array.from({ length: count }, (_, i) => ({
    page: wal.readUInt32BE(32 + i * FRAME),
    rewritten: false,
  }));
  const seen = new Set<number>();
  for (let i = count - 1; i >= 0; i--) {
    out[i]!.rewritten = seen.has(out[i]!.page);
    seen.add(out[i]!.page);
  }
  return out;
}

/** Flips a bit at each of `offsets` (byte offsets in frame `index`, 0-based) of the case's WAL. */
function damage(path: string, index: number, offsets: readonly number[]): Buffer {
  const wal = readFileSync(`${path}-wal`);
  for (const offset of offsets) {
    const at = 32 + index * FRAME + offset;
    wal[at] = wal[at]! ^ 0x10;
  }
  writeFileSync(`${path}-wal`, wal);
  expect(scanSqliteWal(wal).firstBadFrame).toBe(index + 1);
  expect(scanSqliteWal(wal).discardedCommits).toBeGreaterThan(0);
  return wal;
}

beforeAll(async () => {
  ({ dir, remove } = await tempDir('wal-salvage'));
  mkdirSync(join(dir, 'live'));
  const child = await runNode(CHILD, [join(dir, 'live', 'state.db')]);
  expect(child.signal).toBe('SIGKILL');
  const match = /acked (\d+)/.exec(child.stdout);
  expect(match, child.stderr).not.toBeNull();
  acked = BigInt(match![1]!);
  expect(acked).toBe(BigInt(COMMITS * EVENTS_PER_COMMIT));
  const intact = caseCopy('intact');
  expect((await open(intact)).damage).toEqual([]);
  expected = await readEvents(intact);
  expect(expected.size).toBe(COMMITS * EVENTS_PER_COMMIT);
}, 120_000);

afterAll(async () => {
  await remove();
});

async function expectEveryEventOnce(path: string): Promise<void> {
  const got = await readEvents(path);
  expect(got.size).toBe(expected.size);
  for (const [position, content] of expected) expect(got.get(position)).toBe(content);
}

describe('salvage of the commits after damage in the WAL', () => {
  it('restores a bit flip in a page exactly: every acknowledged event once, the salvage reported', async () => {
    const path = caseCopy('one-bit');
    const wal = readFileSync(`${path}-wal`);
    const index = Math.floor(frames(wal).length / 2);
    const damaged = damage(path, index, [24 + 2000]);

    const opened = await open(path);
    expect(opened.head).toBe(acked);
    expect(opened.damage.map((d) => d.kind)).toEqual(['wal_damaged']);
    const [found] = opened.damage;
    const salvage = found!.salvage!;
    expect(salvage.installed).toBe(true);
    expect(salvage.headAfter).toBe(Number(acked));
    expect(salvage.headBefore).toBeLessThan(Number(acked));
    expect(salvage.damagedPositions).toEqual([]);
    expect(found!.message).toMatch(/salvaged: positions \d+ to 1200 .*flipped back.*nothing lost/);
    // The damaged WAL is kept, owner-only; nothing of the salvage's work is left.
    expect(readFileSync(found!.quarantine!).equals(damaged)).toBe(true);
    expect(statSync(found!.quarantine!).mode & 0o777).toBe(0o600);
    expect(readdirSync(dirname(path)).filter((n) => n.includes('salvage'))).toEqual([]);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    await expectEveryEventOnce(path);

    // The finding stays for verify, and nothing but it.
    const report = await checkSqliteFileIntegrity(path);
    expect(report.problems.map((p) => p.kind)).toEqual(['wal']);
    expect(report.eventsChecked).toBe(Number(acked));
    // Exactly once: a second open salvages nothing more, appends go on after the head.
    const again = await open(path);
    expect(again.damage).toEqual([]);
    expect(again.head).toBe(acked);
    const storage = await openSqliteStorage({ path, seal: false });
    const next = await storage.appendBatch([
      {
        stream: 'session-0',
        expectedVersion: 'any',
        events: [
          {
            type: 'x',
            schemaVersion: 1,
            timestampUs: 1,
            frameId: 0,
            payload: new Uint8Array(1),
          },
        ],
      },
    ]);
    await storage.close();
    expect(next.lastPosition).toBe(acked + 1n);
    expect(readdirSync(dirname(path)).filter((n) => n.includes('.salvage-'))).toEqual([]);
  });

  it('installs the checked state as a WAL that SQLite alone replays (a crash right after)', async () => {
    const path = caseCopy('installed');
    const wal = readFileSync(`${path}-wal`);
    const damaged = damage(path, Math.floor(frames(wal).length / 3), [24 + 700]);
    const kept = `${path}-wal.kept`;
    writeFileSync(kept, damaged);
    const database = readFileSync(path);
    const salvage = await salvageSqliteWal(path, kept);
    expect(salvage.installed).toBe(true);
    // The database file is not written; the WAL beside it now chains from end to end.
    expect(readFileSync(path).equals(database)).toBe(true);
    const scan = scanSqliteWal(readFileSync(`${path}-wal`));
    expect(scan.firstBadFrame).toBeUndefined();
    expect(scan.replayedFrames).toBe(scan.frames);
    // A reader alone (no store open, no salvage) sees every acknowledged event.
    await expectEveryEventOnce(path);
  });

  it('leaves out a frame damaged beyond one bit whose page a later frame rewrites', async () => {
    const path = caseCopy('rewritten');
    const list = frames(readFileSync(`${path}-wal`));
    const index = list.findIndex((f, i) => i > list.length / 3 && f.rewritten);
    damage(path, index, [24 + 100, 24 + 3000]);
    const opened = await open(path);
    expect(opened.head).toBe(acked);
    const salvage = opened.damage[0]!.salvage!;
    expect(salvage.installed).toBe(true);
    expect(salvage.dropped).toEqual([expect.objectContaining({ frame: index + 1 })]);
    expect(opened.damage.map((d) => d.kind)).toEqual(['wal_damaged']);
    await expectEveryEventOnce(path);
  });

  it('names what it cannot salvage and changes nothing: two damaged frames in a row', async () => {
    const path = caseCopy('two-frames');
    const list = frames(readFileSync(`${path}-wal`));
    const index = Math.floor(list.length / 2);
    const wal = readFileSync(`${path}-wal`);
    for (const i of [index, index + 1]) {
      wal[32 + i * FRAME + 24 + 10]! ^= 0x01;
      wal[32 + i * FRAME + 24 + 20]! ^= 0x01;
    }
    writeFileSync(`${path}-wal`, wal);
    const opened = await open(path);
    expect(opened.head).toBeLessThan(acked);
    expect(opened.damage.map((d) => d.kind)).toEqual(['wal_damaged', 'commits_missing']);
    expect(opened.damage[0]!.salvage!.installed).toBe(false);
    expect(opened.damage[0]!.message).toContain('not salvaged');
    expect(readdirSync(dirname(path)).filter((n) => n.includes('salvage'))).toEqual([]);
    // What is there is the clean prefix SQLite replayed.
    const got = await readEvents(path);
    expect(BigInt(got.size)).toBe(opened.head);
    for (const [position, content] of got) expect(content).toBe(expected.get(position));
  });
});

describe('frames after a failing one that were never acknowledged', () => {
  /**
   * What a failed sync leaves (seen under injected I/O errors): transaction A's frames,
   * commit frame included, reached the WAL but its fsync failed, so A was answered with an
   * error; the next commit B wrote over A's first frame. A's later frames then chain from
   * a frame that is no longer there: the first fails its checksum and a commit frame
   * follows. `state` is the case's head marker: `acknowledged` (the head B left) or
   * `ahead` (a marker claiming A, as after real damage).
   */
  function failedSyncRemains(name: string, marker: 'acknowledged' | 'ahead'): string {
    const path = caseCopy(name);
    const wal = readFileSync(`${path}-wal`);
    const commits = frames(wal).flatMap((_, i) =>
      wal.readUInt32BE(32 + i * FRAME + 4) !== 0 ? [i] : [],
    );
    const [beforeA, lastA] = [commits.at(-2)!, commits.at(-1)!];
    // A (the last commit, EVENTS_PER_COMMIT events) needs a frame of B, then one failing
    // frame, then its commit frame.
    expect(lastA - beforeA).toBeGreaterThanOrEqual(3);
    const database = readFileSync(path);
    writeFileSync(`${path}-wal`, wal.subarray(0, 32 + (beforeA + 1) * FRAME));
    rmSync(`${path}-shm`, { force: true });
    const connection = openConnection(path, { fileMustExist: true });
    let walWithB: Buffer;
    try {
      connection.pragma('wal_autocheckpoint = 0');
      connection.pragma('user_version = 7'); // B: one frame (page 1), its own commit
      walWithB = readFileSync(`${path}-wal`);
    } finally {
      connection.close(); // checkpoints: the database file is put back below
    }
    expect(walWithB.length).toBe(32 + (beforeA + 2) * FRAME);
    writeFileSync(path, database);
    writeFileSync(`${path}-wal`, Buffer.concat([walWithB, wal.subarray(walWithB.length)]));
    rmSync(`${path}-shm`, { force: true });
    const live = readHeadMarker(join(dir, 'live', 'state.db'))!;
    const head = marker === 'acknowledged' ? Number(acked) - EVENTS_PER_COMMIT : Number(acked);
    writeFileSync(`${path}-head`, JSON.stringify({ v: 1, identity: live.identity, head }));
    const found = inspectSqliteWal(path);
    expect(found?.kind).toBe('wal_damaged');
    expect(found?.message).toContain(`frame ${beforeA + 3} `);
    return path;
  }

  it('are not damage when the head marker does not claim them: not salvaged, not reported, appends go on', async () => {
    const path = failedSyncRemains('failed-sync', 'acknowledged');
    const head = acked - BigInt(EVENTS_PER_COMMIT);
    // verify before any open: nothing to name.
    const before = await checkSqliteFileIntegrity(path);
    expect(before.problems).toEqual([]);
    const opened = await open(path);
    expect(opened.damage).toEqual([]);
    expect(opened.head).toBe(head);
    // Every acknowledged event once; the unacknowledged transaction is not brought back.
    const got = await readEvents(path);
    expect(BigInt(got.size)).toBe(head);
    for (const [position, content] of got) expect(content).toBe(expected.get(position));
    expect(
      readdirSync(dirname(path)).filter((n) => /damage|salvage|\.quarantine|-wal\./.test(n)),
    ).toEqual([]);
    expect((await checkSqliteFileIntegrity(path)).ok).toBe(true);
    const storage = await openSqliteStorage({ path, seal: false });
    try {
      const next = await storage.appendBatch([
        {
          stream: 'session-0',
          expectedVersion: 'any',
          events: [
            { type: 'x', schemaVersion: 1, timestampUs: 1, frameId: 0, payload: new Uint8Array(1) },
          ],
        },
      ]);
      expect(next.lastPosition).toBe(head + 1n);
    } finally {
      await storage.close();
    }
  });

  it('are named as damage when the head marker claims them', async () => {
    const path = failedSyncRemains('claimed', 'ahead');
    const opened = await open(path);
    expect(opened.head).toBe(acked - BigInt(EVENTS_PER_COMMIT));
    expect(opened.damage.map((d) => d.kind)).toEqual(['wal_damaged', 'commits_missing']);
    expect(opened.damage[0]!.salvage!.unacknowledged).toBeUndefined();
  });
});
