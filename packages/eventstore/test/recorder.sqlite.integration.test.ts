import { join } from 'node:path';
import { sessionStream, validateEvent } from '@wirthforge/events';
import { simulateSession } from '@wirthforge/simulator';
import { SessionRepository } from '@wirthforge/storage';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterEach, describe, expect, it } from 'vitest';
import {
  createEventStore,
  createRecorder,
  energyProjection,
  foldEvents,
  hashTokenText,
  sessionSummaryProjection,
  stateHash,
  type AppendableEvent,
  type EventStore,
  type FrameAck,
} from '../src/index.js';
import { nextTask } from './recorder-fixtures.js';
import { tempDir } from './store-fixtures.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('the recorder over SQLite', () => {
  it('records 10 simulated seconds frame by frame, every event durable, the summary right', async () => {
    const { dir, remove } = await tempDir();
    const path = join(dir, 'state.db');
    const stores: EventStore[] = [];
    const open = async (): Promise<EventStore> => {
      const store = createEventStore({
        storage: await openSqliteStorage({ path, checkpointIntervalMs: 0 }),
      });
      stores.push(store);
      return store;
    };
    cleanups.push(async () => {
      for (const store of stores) await store.close();
      await remove();
    });

    const store = await open();
    const session = simulateSession({
      seed: 7,
      durationSeconds: 10,
      models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
    });
    const stream = sessionStream(session.sessionId);
    const acks: FrameAck[] = [];
    const recorder = createRecorder(store, {
      clock: 'external',
      // Every frame its own commit, whatever the speed of this machine's disk.
      maxPendingFrames: session.frameCount + 1,
      onAck: (ack) => acks.push(ack),
    });
    // What the store should hold: the events, with the tokens hashed (privacy mode).
    const expected: AppendableEvent[] = [];
    let frames = 0;
    for (const frame of session) {
      for (const event of frame.events) {
        expect(recorder.record(event)).toBe('accepted');
        expected.push(hashTokenText(event));
      }
      recorder.endFrame();
      frames++;
      await nextTask(); // the frame loop lets the event loop turn
    }
    await recorder.close();

    expect(frames).toBe(600);
    expect(expected.length).toBeGreaterThan(1200);
    expect(recorder.stats()).toMatchObject({
      accepted: expected.length,
      committed: expected.length,
      coalesced: 0,
      failed: 0,
      pending: 0,
      frames: 600,
      commits: 600,
      backpressureEpisodes: 0,
    });
    expect(acks.map((ack) => ack.frames)).toEqual(Array.from({ length: 600 }, () => 1));
    expect(acks.reduce((n, ack) => n + ack.events, 0)).toBe(expected.length);

    const check = async (reader: EventStore): Promise<void> => {
      const stored = await reader.readStream(stream).toArray();
      expect(stored.map((record) => record.event)).toEqual(expected);
      expect(stored.every((record) => validateEvent(record.event).status === 'valid')).toBe(true);
      expect(stored.at(-1)!.version).toBe(BigInt(expected.length));

      const summary = foldEvents(sessionSummaryProjection, expected);
      const { state } = await reader.aggregateStream(stream, sessionSummaryProjection);
      expect(stateHash(state)).toBe(stateHash({ ...summary, last_position: state.last_position }));
      expect(state).toMatchObject({
        status: 'ended',
        clean_shutdown: true,
        total_events: expected.length,
        models_used: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
      });
      const row = await new SessionRepository(
        (reader.storage as unknown as { db: ConstructorParameters<typeof SessionRepository>[0] })
          .db,
      ).get(session.sessionId);
      expect(row).toMatchObject({
        stream,
        status: 'ended',
        cleanEnd: true,
        totalEvents: expected.length,
        totalEnergy: state.total_energy,
        totalTokens: state.tokens,
      });
      const energy = await reader.aggregateStream(stream, energyProjection);
      expect(stateHash(energy.state)).toBe(stateHash(foldEvents(energyProjection, stored)));
    };
    await check(store);
    await store.close();
    await check(await open()); // durable: the same after a reopen
  });
});
