import { copyFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import type * as SnapshotsModule from '@wirthforge/snapshots';
import type { EventStore, Projection } from '@wirthforge/eventstore';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import type { BenchCase, BenchContext, Measurement } from '../bench-case.js';
import { removeDatabase } from '../file-size.js';
import { loadEventStore, openDurableStorage } from './eventstore.js';

/** Events of the session the case builds: a million, or 6 000 in quick mode. */
export function snapshotSessionEvents(quick: boolean): number {
  return quick ? 6_000 : 1_000_000;
}

/** Events per commit while the session is written (what a backlog of frames becomes). */
const WRITE_BATCH = 5_000;

function loadSnapshots(): Promise<typeof SnapshotsModule> {
  return import('@wirthforge/snapshots');
}

/** A small deterministic generator (mulberry32), for the random past frame. */
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

interface BuiltSession {
  readonly dir: string;
  readonly file: string;
  readonly stream: string;
  readonly events: number;
  readonly maxFrame: number;
  readonly snapshots: number;
  readonly measurements: readonly Measurement[];
}

let built: BuiltSession | undefined;

/**
 * Writes a two-model 60 Hz session of `count` events (no `system.end`: it crashed)
 * through the event store at FULL, with the snapshot scheduler at its defaults, then
 * snapshots its final state once more, full and as a delta (timed, with their sizes).
 */
async function buildSession(ctx: BenchContext, count: number): Promise<BuiltSession> {
  const file = ctx.tempPath('snapshots-session.sqlite');
  const dir = path.dirname(file);
  if (built?.dir === dir && built.events === count) return built;
  const { createEventStore } = await loadEventStore();
  const { createSnapshotStore, startSnapshotScheduler } = await loadSnapshots();
  const store = createEventStore({ storage: await openDurableStorage(file), validate: false });
  try {
    const snapshots = createSnapshotStore(store);
    let taken = 0;
    // The defaults (a snapshot every 10 000 events), or every 2 000 in quick mode.
    const scheduler = startSnapshotScheduler(snapshots, {
      onSnapshot: () => (taken += 1),
      ...(ctx.options.quick ? { everyEvents: 2_000 } : {}),
    });
    const frames = Math.ceil(count / 2) + 60;
    const session = simulateSession({
      seed: ctx.options.seed,
      durationSeconds: frames / 60,
      models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
    });
    const stream = `session-${session.sessionId}`;
    let batch: SimEvent[] = [];
    let written = 0;
    let maxFrame = 0;
    let version = 0n;
    const flush = async (): Promise<void> => {
      const result = await store.commitBatch([
        store.prepareAppend(stream, batch, { expectedVersion: version }),
      ]);
      version = result.appends[0]!.nextExpectedVersion;
      written += batch.length;
      batch = [];
      if (written % 100_000 < WRITE_BATCH) ctx.log(`snapshots: ${written} events written`);
    };
    outer: for (const frame of session) {
      for (const event of frame.events) {
        if (event.type === 'system.end') continue;
        batch.push(event);
        if (event.frame_id !== undefined) maxFrame = Math.max(maxFrame, event.frame_id);
        if (written + batch.length === count) break outer;
        if (batch.length === WRITE_BATCH) await flush();
      }
    }
    if (batch.length > 0) await flush();
    if (written !== count) throw new Error(`simulated ${written} of ${count} events`);
    await scheduler.stop();
    if (taken === 0) throw new Error('the scheduler took no snapshot');

    const full = performance.now();
    const fullSnapshot = await snapshots.create(stream, { kind: 'full', reason: 'manual' });
    const fullMs = performance.now() - full;
    const incremental = performance.now();
    const delta = await snapshots.create(stream, { kind: 'incremental', reason: 'manual' });
    const incrementalMs = performance.now() - incremental;
    const note = `state after a ${count}-event session: fold of the tail since the last snapshot, encode, compress, one commit at FULL`;
    built = {
      dir,
      file,
      stream,
      events: count,
      maxFrame,
      snapshots: taken,
      measurements: [
        { name: 'snapshot.create_ms_full', value: fullMs, unit: 'ms', better: 'lower', note },
        {
          name: 'snapshot.create_ms_incremental',
          value: incrementalMs,
          unit: 'ms',
          better: 'lower',
        },
        { name: 'snapshot.bytes_full', value: fullSnapshot.sizeBytes, unit: 'B', better: 'lower' },
        { name: 'snapshot.bytes_incremental', value: delta.sizeBytes, unit: 'B', better: 'lower' },
        {
          name: 'snapshot.raw_bytes_full',
          value: fullSnapshot.rawBytes,
          unit: 'B',
          better: 'lower',
        },
      ],
    };
    return built;
  } finally {
    await store.close();
  }
}

/** Folds every event of the stream with the projections, from the start: the baseline. */
async function fullReplay(
  store: EventStore,
  stream: string,
  projections: readonly Projection<unknown>[],
  untilFrame = Number.POSITIVE_INFINITY,
): Promise<Record<string, unknown>> {
  const states = projections.map((p) => p.initialState());
  for await (const record of store.readStream(stream)) {
    const frame = (record.event as { frame_id?: unknown }).frame_id;
    if (typeof frame === 'number' && frame > untilFrame) break;
    for (let i = 0; i < projections.length; i++) {
      states[i] = projections[i]!.evolveInPlace(states[i], record.event, record);
    }
  }
  const out: Record<string, unknown> = {};
  projections.forEach((p, i) => (out[p.name] = states[i]));
  return out;
}

function copyDatabase(from: string, to: string): void {
  removeDatabase(to);
  for (const suffix of ['', '-wal']) {
    if (existsSync(`${from}${suffix}`)) copyFileSync(`${from}${suffix}`, `${to}${suffix}`);
  }
}

/**
 * Snapshots of a long session (`@wirthforge/snapshots` over storage-sqlite, WAL + FULL):
 *
 * - the session: a million events (two models at 60 Hz, no clean end), written once per
 *   run in commits of 5 000 with the snapshot scheduler at its defaults (every 10 000
 *   events); its final state then snapshotted full and as a delta:
 *   `snapshot.create_ms_full`, `_incremental`, `snapshot.bytes_full`, `_incremental`;
 * - `recovery.ms_1m_events`: on a copy of the file (per repetition), open the storage
 *   and the store, then `recoverSessions` (newest valid snapshot + tail, the
 *   `session.recovered` event, the session closed, a snapshot of it); its two parts as
 *   `recovery.open_ms` and `recovery.recover_ms`, and of the latter the load of the
 *   state, `recovery.load_ms` (the store's inline projections start from their
 *   checkpoints, so the `session.recovered` commit folds only their tails), and the
 *   final snapshot, `recovery.snapshot_ms`;
 * - `replay.ms_1m_events`: the baseline, the same state folded from every event;
 *   `recovery.speedup_vs_replay` their ratio. The recovered state must hash as the replay;
 * - `pitr.ms`: `stateAt` a random past frame; `pitr.replay_ms` the same state folded
 *   from the start.
 */
export const snapshotsCase: BenchCase = {
  name: 'snapshots',
  description:
    'WIRTHFORGE snapshots: create (full, delta) after a 1M-event session, crash recovery of it, point-in-time state; full replay as baseline',
  derived: [
    {
      name: 'recovery.speedup_vs_replay',
      unit: 'x',
      better: 'higher',
      inputs: ['replay.ms_1m_events', 'recovery.ms_1m_events'],
      compute: ([replay = Number.NaN, recovery = Number.NaN]) => replay / recovery,
    },
  ],
  async run(ctx) {
    const count = snapshotSessionEvents(ctx.options.quick);
    const session = await buildSession(ctx, count);
    const { createEventStore, stateHash } = await loadEventStore();
    const { createSnapshotStore, recoverSessions } = await loadSnapshots();
    const file = ctx.tempPath('snapshots-recover.sqlite');
    copyDatabase(session.file, file);
    const measurements: Measurement[] = ctx.round === 0 ? [...session.measurements] : [];
    try {
      // Recovery: open + recover, as an application starting after a crash.
      const started = performance.now();
      const store = createEventStore({ storage: await openDurableStorage(file) });
      const openMs = performance.now() - started;
      try {
        const snapshots = createSnapshotStore(store);
        const recoverStarted = performance.now();
        const recovered = await recoverSessions(snapshots, { then: 'close' });
        const recoveryMs = performance.now() - started;
        const recoverMs = performance.now() - recoverStarted;
        const mine = recovered.find((r) => r.stream === session.stream);
        if (mine === undefined) throw new Error('the crashed session was not recovered');

        const replayStarted = performance.now();
        const replayed = await fullReplay(store, session.stream, snapshots.projections);
        const replayMs = performance.now() - replayStarted;
        if (stateHash(replayed) !== mine.hash) {
          // The replay now includes the session.recovered event and the end: compare up to it.
          const upTo = await snapshots.stateAt(session.stream, { version: mine.state.version });
          if (stateHash(upTo.states) !== mine.hash)
            throw new Error('recovered state differs from replay');
        }
        measurements.push(
          {
            name: 'recovery.ms_1m_events',
            value: recoveryMs,
            unit: 'ms',
            better: 'lower',
            note: `${count} events, ${session.snapshots} scheduled snapshots; recovery replayed ${mine.eventsReplayed} events on top of snapshot ${mine.snapshotId}`,
          },
          {
            name: 'recovery.open_ms',
            value: openMs,
            unit: 'ms',
            better: 'lower',
            note: 'of recovery.ms_1m_events: opening the storage (storage-sqlite) and the store',
          },
          {
            name: 'recovery.recover_ms',
            value: recoverMs,
            unit: 'ms',
            better: 'lower',
            note: 'of recovery.ms_1m_events: recoverSessions (load, session.recovered, snapshot)',
          },
          {
            name: 'recovery.load_ms',
            value: mine.recoveryMs,
            unit: 'ms',
            better: 'lower',
            note: 'of recovery.recover_ms: the state from the newest valid snapshot and the events after it; the rest is the session.recovered commit (inline projections started from their checkpoints) and the final snapshot',
          },
          ...(mine.snapshot === undefined
            ? []
            : [
                {
                  name: 'recovery.snapshot_ms',
                  value: mine.snapshot.durationMs,
                  unit: 'ms',
                  better: 'lower' as const,
                  note: 'of recovery.recover_ms: the final snapshot of the recovered session (its state loaded again, encoded, compressed, committed at FULL); the rest after load_ms is the session.recovered commit',
                },
              ]),
          { name: 'replay.ms_1m_events', value: replayMs, unit: 'ms', better: 'lower' },
        );

        const frame = 1 + Math.floor(prng(ctx.options.seed + ctx.round)() * (session.maxFrame - 1));
        const pitrStarted = performance.now();
        const at = await snapshots.stateAt(session.stream, { frameId: frame });
        const pitrMs = performance.now() - pitrStarted;
        const pitrReplayStarted = performance.now();
        const expected = await fullReplay(store, session.stream, snapshots.projections, frame);
        const pitrReplayMs = performance.now() - pitrReplayStarted;
        if (stateHash(expected) !== stateHash(at.states))
          throw new Error(`state at frame ${frame} differs from its replay`);
        measurements.push(
          {
            name: 'pitr.ms',
            value: pitrMs,
            unit: 'ms',
            better: 'lower',
            note: `state at a random past frame (this run: ${frame} of ${session.maxFrame}), ${at.eventsReplayed} events on top of its snapshot`,
          },
          { name: 'pitr.replay_ms', value: pitrReplayMs, unit: 'ms', better: 'lower' },
        );
      } finally {
        await store.close();
      }
    } finally {
      removeDatabase(file);
    }
    return measurements;
  },
};
