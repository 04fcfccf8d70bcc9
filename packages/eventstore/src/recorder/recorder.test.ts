import {
  parseIsoMicros,
  sessionStream,
  toIsoMicros,
  userStream,
  type EventOfType,
} from '@wirthforge/events';
import { ConcurrencyError, StorageError, createMemoryStorage } from '@wirthforge/storage';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LLAMA, MISTRAL, SESSION_ID, SessionEvents } from '../../test/event-builders.js';
import {
  controlledStorage,
  nextTask,
  storedEvents,
  type ControlledStorage,
} from '../../test/recorder-fixtures.js';
import { isInvalidEventError, isStateError } from '../errors.js';
import { createEventStore, type EventStore } from '../event-store.js';
import type { AppendableEvent } from '../prepare-append.js';
import {
  createRecorder,
  frameBuffersOf,
  type FrameAck,
  type Recorder,
  type RecorderFailure,
  type RecorderOptions,
  type RecorderStats,
} from './recorder.js';

const STREAM = sessionStream(SESSION_ID);

interface Setup {
  readonly store: EventStore;
  readonly controlled: ControlledStorage;
  readonly recorder: Recorder;
  readonly acks: FrameAck[];
  readonly failures: RecorderFailure[];
}

const open: Recorder[] = [];

function setup(options: RecorderOptions = {}): Setup {
  const controlled = controlledStorage(createMemoryStorage());
  const store = createEventStore({ storage: controlled.storage });
  const acks: FrameAck[] = [];
  const failures: RecorderFailure[] = [];
  const recorder = createRecorder(store, {
    clock: 'external',
    onAck: (ack) => acks.push(ack),
    onError: (failure) => failures.push(failure),
    ...options,
  });
  open.push(recorder);
  return { store, controlled, recorder, acks, failures };
}

afterEach(async () => {
  for (const recorder of open.splice(0)) await recorder.close().catch(() => undefined);
});

/** A frame of `models` energy updates. */
function frame(
  events: SessionEvents,
  frameId: number,
  models = [LLAMA, MISTRAL],
): AppendableEvent[] {
  return models.map((model, i) => events.update(frameId, 1 + i + frameId / 100, model));
}

function expectBalanced(stats: RecorderStats): void {
  expect(stats.recorded).toBe(stats.accepted + stats.rejected + stats.filtered);
  expect(stats.accepted).toBe(stats.committed + stats.coalesced + stats.failed + stats.pending);
}

describe('record()', () => {
  it('returns a status at once and writes nothing before the frame ends', async () => {
    const { recorder, controlled } = setup();
    const events = new SessionEvents();
    const results = [events.start(), ...frame(events, 1)].map((event) => recorder.record(event));
    expect(results).toEqual(['accepted', 'accepted', 'accepted']);
    for (let i = 0; i < 5; i++) await nextTask();
    expect(controlled.calls).toHaveLength(0);
    expect(recorder.stats()).toMatchObject({ recorded: 3, accepted: 3, pending: 3, frames: 0 });

    const sealed = frameBuffersOf(recorder)!.current;
    recorder.endFrame();
    // Encoded and handed over in a task of its own: not in the frame, nor in its microtasks.
    for (let i = 0; i < 10; i++) await Promise.resolve();
    expect(sealed.length).toBe(3);
    expect(controlled.calls).toHaveLength(0);
    await nextTask();
    expect(sealed.length).toBe(0);
    await recorder.flush();
    expect(controlled.calls).toHaveLength(1);
    expect(controlled.calls[0]!.appends[0]!.events).toHaveLength(3);
    expect(recorder.stats()).toMatchObject({ committed: 3, pending: 0, frames: 1, commits: 1 });
  });

  it('records into a ring of buffers allocated once and reused frame after frame', async () => {
    const { recorder } = setup({ maxFrameEvents: 8 });
    const events = new SessionEvents();
    const seen = new Set<unknown[]>();
    recorder.record(events.start());
    for (let f = 1; f <= 20; f++) {
      const { current } = frameBuffersOf(recorder)!;
      seen.add(current.events);
      const arrays = [current.events, current.streams, current.waiters];
      for (const event of frame(events, f)) recorder.record(event);
      expect(current.length).toBe(f === 1 ? 3 : 2);
      recorder.endFrame();
      // Sealed: the next frame records into another buffer of the ring.
      expect(frameBuffersOf(recorder)!.current).not.toBe(current);
      await recorder.flush();
      // Encoded and given back: cleared, the caller's events no longer referenced.
      expect(current.length).toBe(0);
      expect(current.events.every((event) => event === undefined)).toBe(true);
      expect([current.events, current.streams, current.waiters]).toEqual(arrays);
      for (const [i, array] of [current.events, current.streams, current.waiters].entries()) {
        expect(array).toBe(arrays[i]);
        expect(array).toHaveLength(8);
      }
    }
    expect(seen.size).toBe(2);
    expect(frameBuffersOf(recorder)!.allocated).toBe(2);
    expect(recorder.stats()).toMatchObject({ committed: 41, frames: 20, frameOverflows: 0 });
  });

  it('never holds more buffers than maxPendingFrames + 1, however many frames wait', async () => {
    const { recorder, controlled } = setup({ maxPendingFrames: 4 });
    controlled.hold();
    const events = new SessionEvents();
    recorder.record(events.start());
    for (let f = 1; f <= 50; f++) {
      for (const event of frame(events, f)) recorder.record(event);
      recorder.endFrame();
    }
    expect(frameBuffersOf(recorder)!.allocated).toBe(5);
    controlled.open();
    await recorder.flush();
    expect(frameBuffersOf(recorder)!.allocated).toBe(5);
    expect(recorder.stats()).toMatchObject({ pending: 0, failed: 0 });
  });

  it('makes one commit per frame, chaining exact expected versions', async () => {
    const { recorder, store, controlled, acks } = setup();
    const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const events = new SessionEvents(session.id, parseIsoMicros(session.startedAt) + 1000);
    const sizes = [2, 5, 1, 3];
    const recorded: AppendableEvent[] = [];
    sizes.forEach((size, f) => {
      const models = Array.from({ length: size }, (_, i) => `ollama/model-${i}:1b`);
      for (const event of frame(events, f + 1, models)) {
        recorded.push(event);
        recorder.record(event);
      }
      recorder.endFrame(); // no await between frames: commits chain from local versions
    });
    await recorder.flush();

    // The version is read once; then each frame's comes from the previous result.
    expect(controlled.versionReads).toEqual([session.stream]);
    const frames = controlled.calls.slice(1); // the first call is startSession's
    expect(frames.map((call) => call.appends.length)).toEqual([1, 1, 1, 1]);
    expect(frames.map((call) => call.appends[0]!.expectedVersion)).toEqual([1n, 3n, 8n, 9n]);
    expect(frames.map((call) => call.appends[0]!.events.length)).toEqual(sizes);
    expect(acks.map((ack) => [ack.commit, ack.frames, ack.events])).toEqual([
      [1, 1, 2],
      [2, 1, 5],
      [3, 1, 1],
      [4, 1, 3],
    ]);
    expect(acks.every((ack) => ack.latencyMs >= ack.commitMs && ack.commitMs >= 0)).toBe(true);
    expect(acks.at(-1)!.lastPosition).toBe(12n);
    expect(await store.streamVersion(session.stream)).toBe(12n);

    const stored = await store.readStream(session.stream, { from: 2n }).toArray();
    expect(stored.map((r) => r.event)).toEqual(recorded);
    expect(recorder.stats().lastAckLatencyMs).toBe(acks.at(-1)!.latencyMs);
  });

  it('commits the streams of one frame in one batch, one append per stream', async () => {
    const route = (event: AppendableEvent): string =>
      'type' in event && event.type === 'experience.level_unlock' ? userStream('ada') : STREAM;
    const { recorder, controlled, store } = setup({ pipeline: { route } });
    const events = new SessionEvents();
    const unlock = events.event('experience.level_unlock', {
      level: 2,
      level_name: 'Stream',
      trigger_condition: 'energy',
    });
    for (const event of [events.start(), ...frame(events, 1), unlock, ...frame(events, 2)]) {
      recorder.record(event);
    }
    recorder.endFrame();
    await recorder.flush();
    expect(controlled.calls).toHaveLength(1);
    const appends = controlled.calls[0]!.appends;
    expect(appends.map((a) => [a.stream, a.events.length, a.expectedVersion])).toEqual([
      [STREAM, 5, 0n],
      [userStream('ada'), 1, 0n],
    ]);
    const [user] = await store.readStream(userStream('ada')).toArray();
    expect(user!.event).toEqual(unlock); // its session id travels in the payload
  });
});

describe('append()', () => {
  it('resolves with the position once the frame is durable', async () => {
    const { recorder, store } = setup();
    const events = new SessionEvents();
    recorder.record(events.start());
    const prompt = recorder.append(events.prompt('p1'));
    let settled = false;
    void prompt.then(() => (settled = true));
    for (let i = 0; i < 3; i++) await nextTask();
    expect(settled).toBe(false); // waits for its frame's boundary
    recorder.endFrame();
    await expect(prompt).resolves.toEqual({ stream: STREAM, position: 2n });
    const [, stored] = await store.readStream(STREAM).toArray();
    expect(stored!.event.type).toBe('user.prompt');
  });

  it('rejects an invalid event with its issues, and after close', async () => {
    const { recorder } = setup();
    const events = new SessionEvents();
    const bad = { ...events.prompt('p1'), data: { prompt_id: 'p1' } } as unknown as AppendableEvent;
    // Validated with its frame: the promise settles once the frame has ended.
    const pending = recorder.append(bad).catch((e: unknown) => e);
    recorder.endFrame();
    const error: unknown = await pending;
    expect(isInvalidEventError(error)).toBe(true);
    expect((error as { issues: { path: string }[] }).issues.map((i) => i.path)).toContain(
      '/data/interface',
    );
    await recorder.close();
    const closed: unknown = await recorder.append(events.prompt('p2')).catch((e: unknown) => e);
    expect(isStateError(closed, 'closed')).toBe(true);
  });

  it('is never filtered', async () => {
    const { recorder, store } = setup({ pipeline: { filter: () => false } });
    const events = new SessionEvents();
    expect(recorder.record(events.update(1, 1))).toBe('filtered');
    const kept = recorder.append(events.update(2, 2));
    recorder.endFrame();
    await expect(kept).resolves.toMatchObject({ position: 1n });
    expect(await store.streamVersion(STREAM)).toBe(1n);
  });
});

describe('flush() and close()', () => {
  it('flush ends the frame and resolves when everything recorded is durable', async () => {
    const { recorder, store, controlled } = setup();
    controlled.hold();
    const events = new SessionEvents();
    recorder.record(events.start());
    recorder.endFrame();
    recorder.record(events.update(1, 3));
    let flushed = false;
    const flushing = recorder.flush().then(() => (flushed = true));
    for (let i = 0; i < 5; i++) await nextTask();
    expect(flushed).toBe(false);
    // Both frames are on their way together (the writer may commit them as one group).
    expect(controlled.waiting).toBe(2);
    controlled.open();
    await flushing;
    expect(await store.streamVersion(STREAM)).toBe(2n);
    expect(recorder.stats()).toMatchObject({ committed: 2, pending: 0, pendingFrames: 0 });
  });

  it('close flushes, then refuses events, and leaves the store open', async () => {
    const { recorder, store } = setup();
    const events = new SessionEvents();
    recorder.record(events.start());
    const closing = recorder.close();
    expect(recorder.closed).toBe(true);
    expect(recorder.record(events.update(1, 1))).toBe('rejected');
    expect(recorder.lastRejection?.reason).toBe('closed');
    await closing;
    await expect(recorder.close()).resolves.toBeUndefined();
    expect(store.closed).toBe(false);
    expect(await store.streamVersion(STREAM)).toBe(1n);
    recorder.endFrame(); // a no-op once closed
    await recorder.flush();
    const stats = recorder.stats();
    expect(stats).toMatchObject({ accepted: 1, committed: 1, rejected: 1 });
    expect(stats.rejectedByReason.closed).toBe(1);
    expectBalanced(stats);
  });
});

describe('failures', () => {
  it('reports a frame the store refuses, counts it as failed and goes on', async () => {
    const { recorder, controlled, failures, store } = setup();
    const events = new SessionEvents();
    recorder.record(events.start());
    recorder.endFrame();
    await recorder.flush();

    const ioError = new StorageError('io', 'disk I/O error');
    controlled.failNext(ioError);
    for (const event of frame(events, 1)) recorder.record(event);
    const awaited = recorder.append(events.prompt('p1'));
    recorder.endFrame();
    for (const event of frame(events, 2)) recorder.record(event);
    const flushed: unknown = await recorder.flush().catch((e: unknown) => e);

    expect(isStateError(flushed, 'commit_failed')).toBe(true);
    await expect(awaited).rejects.toBe(ioError);
    expect(failures).toEqual([
      { kind: 'commit', error: ioError, commit: 2, events: 3, streams: [STREAM] },
    ]);
    expect(recorder.stats()).toMatchObject({ failed: 3, failedCommits: 1, committed: 3 });
    expectBalanced(recorder.stats());
    // The frame after it was committed (its version read again).
    const stored = await store.readStream(STREAM).toArray();
    expect(stored.map((r) => r.event.type)).toEqual([
      'system.start',
      'energy.update',
      'energy.update',
    ]);
    await expect(recorder.flush()).resolves.toBeUndefined(); // a failure is reported once
  });

  it('keeps at most eight commits in flight, and resends in order the ones behind a failed one', async () => {
    const { recorder, controlled, failures, store } = setup();
    const events = new SessionEvents();
    recorder.record(events.start());
    recorder.endFrame();
    await recorder.flush();

    controlled.hold();
    const ioError = new StorageError('io', 'disk I/O error');
    controlled.failNext(ioError);
    for (let f = 1; f <= 10; f++) {
      recorder.record(events.update(f, f));
      recorder.endFrame();
    }
    for (let i = 0; i < 5; i++) await nextTask();
    expect(controlled.waiting).toBe(8);
    controlled.open();
    const flushed: unknown = await recorder.flush().catch((e: unknown) => e);

    // Only the frame that failed is lost; the seven sent behind it on its predicted
    // version were refused for that reason alone and sent again, after it, in order.
    expect(isStateError(flushed, 'commit_failed')).toBe(true);
    expect(failures).toEqual([
      { kind: 'commit', error: ioError, commit: 2, events: 1, streams: [STREAM] },
    ]);
    expect(recorder.stats()).toMatchObject({ failed: 1, failedCommits: 1, committed: 10 });
    expectBalanced(recorder.stats());
    const stored = await store.readStream(STREAM).toArray();
    expect(
      stored.map((r) => (r.event as EventOfType<'energy.update'>).data.energy ?? 'start'),
    ).toEqual(['start', 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(stored.map((r) => r.version)).toEqual(
      Array.from({ length: 10 }, (_, i) => BigInt(i + 1)),
    );
  });

  it('re-reads the version after a conflict with another writer', async () => {
    const { recorder, store, failures, controlled } = setup();
    const events = new SessionEvents();
    recorder.record(events.start());
    recorder.endFrame();
    await recorder.flush();
    await store.appendToStream(STREAM, [events.update(1, 1)]); // behind the recorder's back
    recorder.record(events.update(2, 2));
    recorder.endFrame();
    recorder.record(events.update(3, 3));
    await expect(recorder.flush()).rejects.toThrow(/1 recorded events could not be committed/);
    expect(failures).toHaveLength(1);
    expect(failures[0]!.error).toBeInstanceOf(ConcurrencyError);
    expect(failures[0]!.error).toMatchObject({ expected: 1n, actual: 2n });
    expect(controlled.calls.at(-1)!.appends[0]!.expectedVersion).toBe(2n);
    const stored = await store.readStream(STREAM).toArray();
    expect(
      stored.map((r) => (r.event as EventOfType<'energy.update'>).data.energy ?? 'start'),
    ).toEqual(['start', 1, 3]);
  });

  it('rejects an event the codec refuses at the boundary as failed, not silently', async () => {
    const { recorder, failures, store } = setup({ pipeline: { validate: false } });
    const events = new SessionEvents();
    const lone = {
      ...events.prompt('p1'),
      data: { ...events.prompt('p2').data, intent: '\ud800' },
    };
    expect(recorder.record(events.start())).toBe('accepted');
    expect(recorder.record(lone)).toBe('accepted');
    await expect(recorder.flush()).rejects.toThrow(/could not be committed/);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ kind: 'encode', events: 1, streams: [STREAM] });
    expect(recorder.stats()).toMatchObject({ failed: 1, committed: 1 });
    expect(await store.streamVersion(STREAM)).toBe(1n);
  });

  it('keeps going when a callback throws, and counts it', async () => {
    const { recorder } = setup({
      onAck: () => {
        throw new Error('boom');
      },
      onReject: () => {
        throw new Error('boom');
      },
    });
    const events = new SessionEvents();
    recorder.record(events.start());
    expect(recorder.record({} as AppendableEvent)).toBe('rejected');
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ committed: 1, callbackErrors: 2 });
  });
});

describe('frame capacity', () => {
  it('refuses telemetry beyond maxFrameEvents and still takes critical events', async () => {
    const { recorder, store } = setup({ maxFrameEvents: 3 });
    const events = new SessionEvents();
    const results = [
      events.start(),
      events.update(1, 1),
      events.update(1, 2, MISTRAL),
      events.update(1, 3, 'ollama/phi:2b'),
      events.prompt('p1'),
    ].map((event) => recorder.record(event));
    expect(results).toEqual(['accepted', 'accepted', 'accepted', 'rejected', 'accepted']);
    expect(recorder.lastRejection).toMatchObject({ reason: 'frame_full', type: 'energy.update' });
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ committed: 4, frameOverflows: 1 });
    expect(frameBuffersOf(recorder)!.current.events).toHaveLength(3); // shrunk back
    expect(await store.streamVersion(STREAM)).toBe(4n);
  });
});

describe('the internal clock', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('ends a frame every 1/60 s by itself', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    const controlled = controlledStorage(createMemoryStorage());
    const store = createEventStore({ storage: controlled.storage });
    const acks: FrameAck[] = [];
    const recorder = createRecorder(store, { onAck: (ack) => acks.push(ack) });
    open.push(recorder);
    const events = new SessionEvents();
    recorder.record(events.start());
    await nextTask();
    expect(controlled.calls).toHaveLength(0);
    vi.advanceTimersByTime(17);
    await vi.waitFor(() => expect(acks).toHaveLength(1), { interval: 1 });
    for (let f = 1; f <= 30; f++) {
      recorder.record(events.update(f, f));
      vi.advanceTimersByTime(1000 / 60);
      await nextTask();
      await nextTask();
    }
    await vi.waitFor(() => expect(recorder.stats().pending).toBe(0), { interval: 1 });
    expect(recorder.stats().frames).toBe(31);
    expect(acks.every((ack) => ack.frames === 1 && ack.events === 1)).toBe(true);
    await recorder.close();
    vi.advanceTimersByTime(1000);
    expect(recorder.stats().frames).toBe(31); // stopped
  });
});

describe('createRecorder', () => {
  const store = createEventStore({ storage: createMemoryStorage() });
  it.each([
    [{ frameRateHz: 0 }, 'options.frameRateHz'],
    [{ maxPendingFrames: 0 }, 'options.maxPendingFrames'],
    [{ maxFrameEvents: 1.5 }, 'options.maxFrameEvents'],
    [{ clock: 'wall' }, 'options.clock'],
    [{ coalesce: ['user.prompt'] }, 'options.coalesce'],
    [{ pipeline: { dropTypes: ['system.end'] } }, 'options.pipeline.dropTypes'],
    [{ pipeline: { enrich: ['x'] } }, 'options.pipeline.enrich'],
  ])('refuses %j', (options, where) => {
    expect(() =>
      createRecorder(store, { clock: 'external', ...(options as RecorderOptions) }),
    ).toThrow(where);
  });

  it('refuses something that is not a store', () => {
    expect(() => createRecorder({} as EventStore)).toThrow(/expected an EventStore/);
  });
});

describe('timestamps', () => {
  it('stores what was recorded, in the canonical form', async () => {
    const { recorder, store } = setup();
    const startUs = 1_755_460_080_000_000;
    const start = new SessionEvents(SESSION_ID, startUs).start();
    recorder.record({ ...start, timestamp: '2025-08-17T19:48:00Z' });
    await recorder.flush();
    const [stored] = await store.readStream(STREAM).toArray();
    expect((stored!.event as EventOfType<'system.start'>).timestamp).toBe(toIsoMicros(startUs));
    expect((await storedEvents(store.storage)).length).toBe(1);
  });
});
