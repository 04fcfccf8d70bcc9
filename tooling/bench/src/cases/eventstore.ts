import type { Event } from '@event-driven-io/emmett';
import type * as EventStoreModule from '@wirthforge/eventstore';
import type { EventStore } from '@wirthforge/eventstore';
import type { SimEvent } from '@wirthforge/simulator';
import type { SqliteStorage } from '@wirthforge/storage-sqlite';
import { perSecond, type BenchCase, ratioMetric } from '../bench-case.js';
import { removeDatabase } from '../file-size.js';
import { openEmmettStore } from './emmett-sqlite.js';

/**
 * Opens `@wirthforge/storage-sqlite` at its default durability and checks that it is
 * WAL + `synchronous=FULL`. Loaded on use, so that a package that is not built fails
 * the cases that need it (under FAILED) while the baselines still run.
 */
export async function openDurableStorage(
  file: string,
  options: { readonly sealAtOnce?: boolean } = {},
): Promise<SqliteStorage> {
  const { openSqliteStorage } = await import('@wirthforge/storage-sqlite');
  const storage = await openSqliteStorage({
    path: file,
    // Every hot row sealed as soon as the sealing thread gets to it.
    ...(options.sealAtOnce === true ? { seal: { minEvents: 3600, maxAgeMs: 0 } } : {}),
  });
  const { journalMode, synchronous } = storage.pragmas;
  if (journalMode !== 'wal' || synchronous !== 'full') {
    await storage.close();
    throw new Error(`storage expected WAL and synchronous=FULL, got ${journalMode}/${synchronous}`);
  }
  return storage;
}

/** The event store package, loaded on use (see {@link openDurableStorage}). */
export function loadEventStore(): Promise<typeof EventStoreModule> {
  return import('@wirthforge/eventstore');
}

/**
 * The fold both event stores replay with: energy in total and per model, tokens, frames
 * and events counted, the state changed in place (so neither side pays for copies).
 * Simpler than the energy projection on purpose: the same work on both sides.
 */
interface SimpleState {
  events: number;
  energy: number;
  tokens: number;
  frames: number;
  lastFrame: number;
  byModel: Record<string, number>;
}

function simpleInitialState(): SimpleState {
  return { events: 0, energy: 0, tokens: 0, frames: 0, lastFrame: -1, byModel: {} };
}

function simpleEvolve(state: SimpleState, type: string, data: unknown): SimpleState {
  state.events++;
  if (type === 'energy.update') {
    const { energy, model_id: model } = data as { energy: number; model_id: string };
    state.energy += energy;
    state.byModel[model] = (state.byModel[model] ?? 0) + energy;
  } else if (type === 'ai.output') {
    state.tokens++;
  }
  return state;
}

function countFrame(state: SimpleState, frameId: unknown): void {
  if (typeof frameId === 'number' && frameId !== state.lastFrame) {
    state.lastFrame = frameId;
    state.frames++;
  }
}

type EmmettEvent = Event<string, Record<string, unknown>, Record<string, unknown>>;

function toEmmettEvent(event: SimEvent): EmmettEvent {
  return {
    type: event.type,
    data: event.data as unknown as Record<string, unknown>,
    metadata: {
      timestamp: event.timestamp,
      ...(event.frame_id !== undefined ? { frame_id: event.frame_id } : {}),
      ...(event.event_id !== undefined ? { event_id: event.event_id } : {}),
    },
  };
}

function sameState(a: SimpleState, b: SimpleState): boolean {
  return (
    a.events === b.events &&
    a.energy === b.energy &&
    a.tokens === b.tokens &&
    a.frames === b.frames &&
    JSON.stringify(a.byModel) === JSON.stringify(b.byModel)
  );
}

/**
 * `@wirthforge/eventstore` over storage-sqlite (WAL + FULL):
 *
 * - `eventstore.append_events_per_s`: the run's batches written through the recorder,
 *   one batch = one frame = one `commitBatch` (validation, routing, encoding, the inline
 *   session and user projections), every frame recorded and ended at once, without
 *   pacing, so frames wait in the recorder while one commits; `maxPendingFrames` above
 *   the frame count, so nothing is coalesced; timed until `flush()` resolves;
 * - `eventstore.read_events_per_s`: `readAll`, every event decoded, on a reopened store;
 * - `eventstore.replay_events_per_s`: `aggregateStream` with the energy projection
 *   (read, decode, fold), the state cache off;
 * - `eventstore.read_sealed_events_per_s` and `eventstore.replay_sealed_events_per_s`:
 *   `readAll` and the energy replay again on the store reopened once every event is
 *   sealed into segments (the other read path: decoded segments, not hot rows; the
 *   first read decodes them);
 * - `eventstore.replay_simple_events_per_s` and `emmett.aggregate_events_per_s`: the
 *   same simple fold (energy per model, tokens, frames) through our `aggregateStream`
 *   and Emmett's, over the same events (written to Emmett untimed first);
 *   the two states must agree.
 */
export const eventstoreCase: BenchCase = {
  name: 'eventstore',
  description:
    'WIRTHFORGE eventstore: recorder appends (a commitBatch per frame), readAll, aggregateStream; Emmett aggregateStream',
  derived: [
    ratioMetric(
      'eventstore.append_ratio_vs_raw',
      'eventstore.append_events_per_s',
      'raw.rows_per_s',
    ),
    ratioMetric(
      'eventstore.read_vs_emmett',
      'eventstore.read_events_per_s',
      'emmett.read_events_per_s',
    ),
    ratioMetric(
      'eventstore.replay_vs_emmett',
      'eventstore.replay_events_per_s',
      'emmett.aggregate_events_per_s',
    ),
    ratioMetric(
      'eventstore.read_sealed_vs_emmett',
      'eventstore.read_sealed_events_per_s',
      'emmett.read_events_per_s',
    ),
    ratioMetric(
      'eventstore.replay_sealed_vs_emmett',
      'eventstore.replay_sealed_events_per_s',
      'emmett.aggregate_events_per_s',
    ),
    ratioMetric(
      'eventstore.replay_simple_vs_emmett',
      'eventstore.replay_simple_events_per_s',
      'emmett.aggregate_events_per_s',
    ),
  ],
  async run(ctx) {
    const { createEventStore, createRecorder, defineProjection, energyProjection, sumValue } =
      await loadEventStore();
    const { batches, stream, eventCount } = ctx.dataset;
    const file = ctx.tempPath('eventstore.sqlite');
    const emmettFile = ctx.tempPath('eventstore-emmett.sqlite');
    const stores: EventStore[] = [];
    try {
      // Append: one frame per batch, through the recorder.
      const store = createEventStore({ storage: await openDurableStorage(file) });
      stores.push(store);
      const recorder = createRecorder(store, {
        clock: 'external',
        maxPendingFrames: batches.length + 1,
        // The same content as the baselines store: token text kept.
        pipeline: { privacy: false },
      });
      const appendStart = performance.now();
      for (const batch of batches) {
        for (const event of batch) {
          if (recorder.record(event) !== 'accepted') {
            throw new Error(
              `the recorder refused a ${event.type}: ${recorder.lastRejection?.reason}`,
            );
          }
        }
        recorder.endFrame();
      }
      await recorder.close();
      const appendMs = performance.now() - appendStart;
      const stats = recorder.stats();
      if (stats.committed !== eventCount || stats.commits !== batches.length) {
        throw new Error(
          `recorder committed ${stats.committed} of ${eventCount} events in ${stats.commits} commits`,
        );
      }
      await store.close();

      // Read and replay on the file reopened, with no state cache.
      const readStorage = await openDurableStorage(file);
      const reader = createEventStore({ storage: readStorage, cache: false });
      stores.push(reader);
      // How much of the stream is still hot rows (not yet sealed into segments) as the
      // read starts: the two read paths differ several times over in cost per event.
      const hotAtRead = Number(
        (
          await readStorage.db
            .selectFrom('events')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
      const readStart = performance.now();
      let read = 0;
      for await (const record of reader.readAll()) {
        if (record.event.type.length > 0) read++;
      }
      const readMs = performance.now() - readStart;
      if (read !== eventCount) throw new Error(`readAll gave ${read} of ${eventCount} events`);

      const replayStart = performance.now();
      const replay = await reader.aggregateStream(stream, energyProjection);
      const replayMs = performance.now() - replayStart;
      if (replay.version !== BigInt(eventCount)) {
        throw new Error(`aggregateStream folded ${replay.version} of ${eventCount} events`);
      }

      const simpleProjection = defineProjection<SimpleState>({
        name: 'bench-simple',
        initialState: simpleInitialState,
        evolveInPlace: (state, event) => {
          const envelope = event as unknown as { type: string; data: unknown; frame_id?: number };
          countFrame(state, envelope.frame_id);
          return simpleEvolve(state, envelope.type, envelope.data);
        },
      });
      const simpleStart = performance.now();
      const simple = await reader.aggregateStream(stream, simpleProjection);
      const simpleMs = performance.now() - simpleStart;
      if (
        Math.abs(simple.state.energy - sumValue(replay.state.total_energy)) >
        1e-6 * simple.state.energy
      ) {
        throw new Error('the simple fold and the energy projection disagree on the total energy');
      }

      // The same reads once every event is sealed into segments.
      await reader.close();
      const sealedStorage = await openDurableStorage(file, { sealAtOnce: true });
      const sealedReader = createEventStore({ storage: sealedStorage, cache: false });
      stores.push(sealedReader);
      const hotRows = async (): Promise<number> =>
        Number(
          (
            await sealedStorage.db
              .selectFrom('events')
              .select((eb) => eb.fn.countAll<number>().as('n'))
              .executeTakeFirstOrThrow()
          ).n,
        );
      const sealDeadline = performance.now() + 120_000;
      while ((await hotRows()) > 0) {
        if (performance.now() > sealDeadline) {
          throw new Error(`sealing left ${await hotRows()} hot rows after 120 s`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const sealedReadStart = performance.now();
      let sealedRead = 0;
      for await (const record of sealedReader.readAll()) {
        if (record.event.type.length > 0) sealedRead++;
      }
      const sealedReadMs = performance.now() - sealedReadStart;
      if (sealedRead !== eventCount) {
        throw new Error(`readAll of the sealed store gave ${sealedRead} of ${eventCount} events`);
      }
      const sealedReplayStart = performance.now();
      const sealedReplay = await sealedReader.aggregateStream(stream, energyProjection);
      const sealedReplayMs = performance.now() - sealedReplayStart;
      if (sumValue(sealedReplay.state.total_energy) !== sumValue(replay.state.total_energy)) {
        throw new Error('the replays of hot rows and of segments disagree on the total energy');
      }

      // Emmett: the same events, folded with the same function by its aggregateStream.
      const { store: emmett, connection } = await openEmmettStore(emmettFile);
      let emmettState: SimpleState;
      let emmettMs: number;
      try {
        let version = 0n;
        for (const batch of batches) {
          const result = await emmett.appendToStream(stream, batch.map(toEmmettEvent), {
            expectedStreamVersion: version,
          });
          version = result.nextExpectedStreamVersion;
        }
        const emmettStart = performance.now();
        const aggregated = await emmett.aggregateStream<SimpleState, EmmettEvent>(stream, {
          initialState: simpleInitialState,
          evolve: (state: SimpleState, event: EmmettEvent) => {
            countFrame(state, event.metadata.frame_id);
            return simpleEvolve(state, event.type, event.data);
          },
        });
        emmettMs = performance.now() - emmettStart;
        emmettState = aggregated.state;
      } finally {
        connection.close();
      }
      if (!sameState(simple.state, emmettState)) {
        throw new Error(
          `the two stores folded different states: ${JSON.stringify(simple.state)} vs ${JSON.stringify(emmettState)}`,
        );
      }

      return [
        {
          name: 'eventstore.append_events_per_s',
          value: perSecond(eventCount, appendMs),
          unit: 'events/s',
          better: 'higher',
          note: `through the recorder: ${batches.length} frames of ${batches[0]?.length ?? 0} events, one commitBatch each, recorded without pacing`,
        },
        {
          name: 'eventstore.read_events_per_s',
          value: perSecond(read, readMs),
          unit: 'events/s',
          better: 'higher',
          note: `readAll on the reopened store; ${hotAtRead} of ${eventCount} events still hot rows as it starts (the rest in segments; sealing may run during the read)`,
        },
        {
          name: 'eventstore.replay_events_per_s',
          value: perSecond(eventCount, replayMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'eventstore.read_sealed_events_per_s',
          value: perSecond(sealedRead, sealedReadMs),
          unit: 'events/s',
          better: 'higher',
          note: 'readAll on the store reopened once every event is sealed into segments (the first read decodes them)',
        },
        {
          name: 'eventstore.replay_sealed_events_per_s',
          value: perSecond(eventCount, sealedReplayMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'eventstore.replay_simple_events_per_s',
          value: perSecond(eventCount, simpleMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'emmett.aggregate_events_per_s',
          value: perSecond(emmettState.events, emmettMs),
          unit: 'events/s',
          better: 'higher',
        },
      ];
    } finally {
      for (const store of stores) if (!store.closed) await store.close();
      removeDatabase(file);
      removeDatabase(emmettFile);
    }
  },
};
