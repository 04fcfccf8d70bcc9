import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openSqliteReadOnlyStorage } from '@wirthforge/storage-sqlite';
import { describe, expect, it } from 'vitest';
import { createSnapshotStore, recoverSessions, snapshotMarkerStream } from '../src/index.js';
import { CRASH_CHILD } from './crash-child.js';
import { openStore, replayHash, tempDir } from './fixtures.js';

const require = createRequire(import.meta.url);
const ENV = {
  WF_EVENTS: require.resolve('@wirthforge/events'),
  WF_EVENTSTORE: require.resolve('@wirthforge/eventstore'),
  WF_SQLITE: require.resolve('@wirthforge/storage-sqlite'),
  WF_SNAPSHOTS: fileURLToPath(new URL('../dist/index.js', import.meta.url)),
};

/** Kill points of the default run; `WF_CRASH_KILLS=1000` runs more. */
const KILLS = Number(process.env.WF_CRASH_KILLS ?? 200);
/** Independent database files killed in parallel. */
const LANES = Math.max(1, Number(process.env.WF_CRASH_LANES ?? 2));

/** A warm child: modules loaded, waiting for `go`. */
interface Child {
  readonly process: ChildProcessWithoutNullStreams;
  stdout: string;
  stderr: string;
  readonly closed: Promise<void>;
}

function startChild(path: string, seed: number): Child {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', CRASH_CHILD, '--', path, String(seed)],
    {
      env: { ...process.env, ...ENV },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  const handle: Child = {
    process: child,
    stdout: '',
    stderr: '',
    closed: new Promise((resolve) => child.once('close', () => resolve())),
  };
  child.stdout.on('data', (chunk: Buffer) => (handle.stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (handle.stderr += chunk.toString()));
  return handle;
}

/** A small deterministic generator (mulberry32). */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface LaneReport {
  kills: number;
  acknowledged: number;
  lost: number;
  duplicated: number;
  recovered: number;
  replayMismatches: string[];
  childErrors: string[];
}

/**
 * After each kill, through a read-only storage (no lock, no writer: opening the store
 * would take the writer's lock and start its writer thread), so that events sealed into
 * segments are read too: positions 1..head without a gap, and every acknowledged event
 * stored exactly once, at the position it was acknowledged with.
 */
async function checkLog(
  path: string,
  acked: ReadonlyMap<string, bigint>,
  report: LaneReport,
): Promise<void> {
  if (!existsSync(path)) {
    // Killed before it created the file.
    if (acked.size > 0) throw new Error(`${path} is gone`);
    return;
  }
  let storage;
  try {
    storage = await openSqliteReadOnlyStorage({ path });
  } catch (error) {
    // Killed before its schema was committed: nothing can have been acknowledged.
    if (acked.size > 0) throw error;
    return;
  }
  try {
    const seen = new Map<string, bigint[]>();
    let expected = 1n;
    for await (const record of storage.readAll()) {
      if (record.position !== expected) {
        throw new Error(`position gap: ${expected} expected, ${record.position} stored`);
      }
      expected += 1n;
      if (record.eventId !== null) {
        seen.set(record.eventId, [...(seen.get(record.eventId) ?? []), record.position]);
      }
    }
    for (const [id, position] of acked) {
      const at = seen.get(id);
      if (at === undefined) report.lost += 1;
      else if (at.length !== 1) report.duplicated += 1;
      else if (at[0] !== position)
        throw new Error(`${id} acknowledged at ${position}, stored at ${at[0]}`);
    }
  } finally {
    await storage.close();
  }
}

/**
 * At the end, through the store: recovery of the last session equals its replay,
 * every snapshot row has the marker it was committed with, and every snapshot verifies.
 */
async function finalCheck(path: string, report: LaneReport): Promise<void> {
  const store = await openStore(path);
  try {
    const snapshots = createSnapshotStore(store);
    for (const session of await recoverSessions(snapshots, { then: 'close' })) {
      const replayed = await replayHash(
        store,
        session.stream,
        snapshots.projections,
        (record) => record.version <= session.state.version,
      );
      if (replayed !== session.hash) report.replayMismatches.push(session.sessionId);
      report.recovered += 1;
    }
    const markers = new Set<number>();
    const byStream = await snapshots.repository.all();
    for (const stream of byStream.keys()) {
      for await (const record of store.readStream(snapshotMarkerStream(stream))) {
        if (record.event.type === 'state.snapshot_created') {
          markers.add(
            (record.event as unknown as { data: { snapshot_id: number } }).data.snapshot_id,
          );
        }
      }
    }
    for (const infos of byStream.values()) {
      for (const info of infos) {
        if (!markers.has(info.id)) throw new Error(`snapshot ${info.id} has no marker`);
      }
    }
    const verified = await snapshots.verify();
    if (verified.bad.length > 0) throw new Error(`bad snapshots: ${JSON.stringify(verified.bad)}`);
  } finally {
    await store.close();
  }
}

function waitFor(child: Child, word: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const poll = (): void => {
      if (child.stdout.includes(word) || performance.now() - started > timeoutMs) resolve();
      else setTimeout(poll, 5);
    };
    poll();
  });
}

async function lane(index: number, dir: string, kills: number): Promise<LaneReport> {
  const path = join(dir, `lane-${index}.db`);
  const random = prng(0x5eed + index);
  const report: LaneReport = {
    kills: 0,
    acknowledged: 0,
    lost: 0,
    duplicated: 0,
    recovered: 0,
    replayMismatches: [],
    childErrors: [],
  };
  const acked = new Map<string, bigint>();
  let next = startChild(path, index * 1000);
  for (let k = 0; k < kills; k++) {
    const child = next;
    const t0 = performance.now();
    child.process.stdin.write('go\n');
    // The next child loads its modules while this one opens and records.
    next = startChild(path, index * 1000 + k + 1);
    if (random() < 0.1) {
      // While it opens, recovers the previous session or starts its own.
      await new Promise((resolve) => setTimeout(resolve, random() * 700));
    } else {
      await waitFor(child, 'session ', 60_000);
      await new Promise((resolve) => setTimeout(resolve, random() * 300));
    }
    const t1 = performance.now();
    child.process.kill('SIGKILL');
    await child.closed;
    const t2 = performance.now();
    report.kills += 1;
    if (child.stderr.length > 0) report.childErrors.push(child.stderr);
    for (const line of child.stdout.split('\n')) {
      const [word, id, a, b] = line.split(' ');
      if (word === 'ack' && id !== undefined && a !== undefined) acked.set(id, BigInt(a));
      else if (word === 'recovered') {
        report.recovered += 1;
        if (a !== b) report.replayMismatches.push(id ?? line);
      } else if (word === 'error') report.childErrors.push(line);
    }
    await checkLog(path, acked, report);
    if (process.env.WF_CRASH_DEBUG) {
      // Progress on a long run: kill point, timings, and the counts so far.
      console.log(
        `lane ${index} kill ${k}: ran ${(t1 - t0).toFixed(0)} ms, closed ${(t2 - t1).toFixed(0)} ms, checked ${(performance.now() - t2).toFixed(0)} ms; acknowledged ${acked.size}, lost ${report.lost}, duplicated ${report.duplicated}, recovered ${report.recovered}, mismatches ${report.replayMismatches.length}, child errors ${report.childErrors.length}`,
      );
    }
  }
  next.process.kill('SIGKILL');
  await next.closed;
  await finalCheck(path, report);
  report.acknowledged = acked.size;
  return report;
}

describe('crash recovery', () => {
  it(
    `loses no acknowledged event over ${KILLS} SIGKILLs of a live 60 Hz session at FULL, and recovers each session to its replay`,
    async () => {
      const dir = await tempDir();
      try {
        const per = Math.ceil(KILLS / LANES);
        const reports = await Promise.all(
          Array.from({ length: LANES }, (_, i) => lane(i, dir.dir, Math.min(per, KILLS - i * per))),
        );
        const total = reports.reduce(
          (sum, r) => ({
            kills: sum.kills + r.kills,
            acknowledged: sum.acknowledged + r.acknowledged,
            lost: sum.lost + r.lost,
            duplicated: sum.duplicated + r.duplicated,
            recovered: sum.recovered + r.recovered,
          }),
          { kills: 0, acknowledged: 0, lost: 0, duplicated: 0, recovered: 0 },
        );
        console.log(`crash test: ${JSON.stringify(total)}`);
        expect(reports.flatMap((r) => r.childErrors)).toEqual([]);
        expect(reports.flatMap((r) => r.replayMismatches)).toEqual([]);
        expect(total.kills).toBe(KILLS);
        expect(total.lost).toBe(0);
        expect(total.duplicated).toBe(0);
        // Most kills hit a running session with acknowledged events.
        expect(total.acknowledged).toBeGreaterThan(KILLS);
        expect(total.recovered).toBeGreaterThan(KILLS / 2);
      } finally {
        await dir.remove();
      }
    },
    // Each kill point costs a child's open of the store: seconds on a loaded machine.
    Math.max(600_000, (KILLS * 15_000) / LANES),
  );
});
