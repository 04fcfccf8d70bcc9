import { isUnknownEvent, sessionStream, validateEvent, type EventOfType } from '@wirthforge/events';
import { createMemoryStorage } from '@wirthforge/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { LLAMA, MISTRAL, SESSION_ID, SessionEvents } from '../../test/event-builders.js';
import {
  controlledStorage,
  nextTask,
  storedEvents,
  typeOf,
  type ControlledStorage,
} from '../../test/recorder-fixtures.js';
import { energyProjection } from '../energy-projection.js';
import { createEventStore } from '../event-store.js';
import { foldEvents } from '../fold-events.js';
import type { AppendableEvent } from '../prepare-append.js';
import { sumValue } from '../compensated-sum.js';
import { isCriticalEventType, type CoalescableEventType } from './is-critical-event-type.js';
import { createRecorder, type Recorder, type RecorderOptions } from './recorder.js';
import type { CoalescedMarker } from './telemetry-coalescer.js';

const STREAM = sessionStream(SESSION_ID);
const PHI = 'ollama/phi:2b';
const MODELS = [LLAMA, MISTRAL, PHI];

/**
 * A busy session, frame by frame: three models' energy every frame, tokens, heartbeats,
 * peaks, and a critical event of another kind every few frames, each critical event
 * with an id of its own.
 */
function* busySession(frames: number): Generator<AppendableEvent[]> {
  const events = new SessionEvents();
  let critical = 0;
  const id = (): string => `critical-${++critical}`;
  const withId = <E extends AppendableEvent>(event: E): E => ({ ...event, event_id: id() });
  yield [withId(events.start())];
  for (let f = 1; f <= frames; f++) {
    const frame: AppendableEvent[] = MODELS.map((model, m) =>
      events.update(f, ((f * 7 + m * 3) % 13) / 3 + 0.1, model, {
        accumulator: f,
        fps: 55 + ((f + m) % 6),
        frame_budget_used: ((f * (m + 1)) % 160) / 10,
        token_count: f,
      }),
    );
    if (f % 3 === 0) {
      const token = events.token(`p${Math.floor(f / 60)}`, f, f % 60 === 0);
      frame.push({ ...token, data: { ...token.data, token: `word${f}` } });
    }
    if (f % 10 === 0) {
      frame.push(
        events.event('health.heartbeat', { system_health: 'healthy', fps: 60, memory_usage_mb: f }),
      );
    }
    if (f % 11 === 0) frame.push(events.peak(f, 9));
    switch (f % 35) {
      case 5:
        frame.push(withId(events.prompt(`p${f}`)));
        break;
      case 10:
        frame.push(withId(events.complete(`p${f}`)));
        break;
      case 15:
        frame.push(
          withId(
            events.event('error', {
              error_code: 'E1',
              error_message: 'model timeout',
              component: 'model',
              severity: 'medium',
              recoverable: true,
            }),
          ),
        );
        break;
      case 20:
        frame.push(withId(events.event('model.loaded', { model_id: PHI, load_time_ms: 12 })));
        break;
      case 25:
        frame.push(
          withId(
            events.event('experience.level_unlock', {
              level: 2,
              level_name: 'Stream',
              trigger_condition: 'energy',
            }),
          ),
        );
        break;
      case 30:
        frame.push(
          withId(
            events.event('state.snapshot_created', {
              snapshot_id: f,
              snapshot_type: 'periodic',
              state_size_bytes: 100,
            }),
          ),
        );
        break;
      case 33:
        frame.push(withId(events.event('user.action', { action: 'settings' })));
        break;
      default:
    }
    yield frame;
  }
  yield [withId(events.end())];
}

const open: Recorder[] = [];
afterEach(async () => {
  for (const recorder of open.splice(0)) await recorder.close().catch(() => undefined);
});

function setup(
  controlled: ControlledStorage,
  options: RecorderOptions,
): { recorder: Recorder; store: ReturnType<typeof createEventStore> } {
  const store = createEventStore({ storage: controlled.storage });
  const recorder = createRecorder(store, { clock: 'external', maxPendingFrames: 4, ...options });
  open.push(recorder);
  return { recorder, store };
}

function markerOf(event: unknown): CoalescedMarker | undefined {
  return (event as { coalesced?: CoalescedMarker }).coalesced;
}

/** Every check of a flood: nothing critical lost or repeated, telemetry accounted for. */
async function expectAccountedFor(
  controlled: ControlledStorage,
  recorder: Recorder,
  recorded: readonly AppendableEvent[],
  coalesce: readonly CoalescableEventType[],
): Promise<void> {
  const stored = await storedEvents(controlled.storage);
  const events = stored.map((s) => s.event);
  const stats = recorder.stats();

  // Every stored event, aggregates and notices included, is valid.
  for (const event of events) expect(validateEvent(event).status).toBe('valid');
  // Privacy mode: no token text stored, in a frame, a backlog or an aggregate.
  const outputs = events.filter(
    (event): event is EventOfType<'ai.output'> => typeOf(event) === 'ai.output',
  );
  expect(outputs.length).toBeGreaterThan(0);
  expect(outputs.every((o) => o.data.token === undefined && o.data.token_hash !== undefined)).toBe(
    true,
  );

  // Every critical event exactly once, in the order recorded.
  const criticalIds = (list: readonly AppendableEvent[]): string[] =>
    list
      .filter((event) => isCriticalEventType(typeOf(event)))
      .map((event) => (event as { event_id?: string }).event_id ?? 'no id');
  const recordedCritical = criticalIds(recorded);
  expect(recordedCritical.length).toBeGreaterThan(20);
  expect(criticalIds(events)).toEqual(recordedCritical);

  // Every telemetry event is stored as itself or counted in exactly one aggregate.
  for (const type of ['energy.update', 'ai.output', 'health.heartbeat']) {
    const ofType = events.filter((event) => typeOf(event) === type);
    const asIs = ofType.filter((event) => markerOf(event) === undefined).length;
    const inAggregates = ofType.reduce((n, event) => n + (markerOf(event)?.count ?? 0), 0);
    const wasRecorded = recorded.filter((event) => typeOf(event) === type).length;
    expect(asIs + inAggregates, type).toBe(wasRecorded);
    if (!coalesce.includes(type as CoalescableEventType)) expect(inAggregates, type).toBe(0);
  }
  const markers = events.map(markerOf).filter((m) => m !== undefined);
  expect(stats.coalesced).toBe(markers.reduce((n, m) => n + m.count, 0));
  expect(stats.aggregates).toBe(markers.length);
  expect(markers.every((m) => m.count >= 2)).toBe(true);

  // Energy is conserved: the stored sum (aggregates included) is the recorded sum.
  const energyOf = (list: readonly AppendableEvent[]): number =>
    list.reduce(
      (sum, event) =>
        sum +
        (typeOf(event) === 'energy.update'
          ? (event as EventOfType<'energy.update'>).data.energy
          : 0),
      0,
    );
  expect(energyOf(events)).toBeCloseTo(energyOf(recorded), 9);
  const state = foldEvents(energyProjection, events);
  const folded = foldEvents(energyProjection, recorded);
  expect(sumValue(state.total_energy)).toBeCloseTo(sumValue(folded.total_energy), 9);

  // One warning when backpressure started, one note when it ended, per episode.
  const notices = events.filter(
    (event): event is EventOfType<'health.performance'> =>
      typeOf(event) === 'health.performance' &&
      (event as EventOfType<'health.performance'>).data.metric === 'queue_backlog',
  );
  expect(stats.backpressureEpisodes).toBeGreaterThan(0);
  expect(notices.map((n) => n.data.severity)).toEqual(
    Array.from({ length: stats.backpressureEpisodes }, () => ['warning', 'info']).flat(),
  );
  expect(stats.notices).toBe(notices.length);

  // The counters add up, and nothing is pending.
  expect(stats.recorded).toBe(stats.accepted + stats.rejected + stats.filtered);
  expect(stats.accepted).toBe(recorded.length);
  expect(stats).toMatchObject({ pending: 0, failed: 0, backpressure: false, pendingFrames: 0 });
  expect(stats.committed + stats.coalesced).toBe(recorded.length);
  expect(events.length).toBe(stats.committed + stats.aggregates + stats.notices);
}

describe('backpressure', () => {
  it('coalesces telemetry while the writer is stuck, and keeps every critical event', async () => {
    const controlled = controlledStorage(createMemoryStorage());
    controlled.hold();
    const { recorder } = setup(controlled, {});
    const recorded: AppendableEvent[] = [];
    // The producer never yields, so no commit can finish while it floods.
    for (const frame of busySession(300)) {
      for (const event of frame) {
        expect(recorder.record(event)).toBe('accepted');
        recorded.push(event);
      }
      recorder.endFrame();
    }
    const during = recorder.stats();
    expect(during).toMatchObject({ backpressure: true, backpressureEpisodes: 1, frames: 302 });
    expect(during.pendingFrames).toBe(5); // 4 frames, and the backlog of the others
    expect(during.backlogFrames).toBe(298);

    controlled.open();
    await recorder.flush();
    // 4 frames, the backlog, and the frame that says the backlog is gone.
    expect(recorder.stats()).toMatchObject({ commits: 6, backpressure: false });
    await expectAccountedFor(controlled, recorder, recorded, ['energy.update']);
    // A model's run goes on until an event that is not coalesced comes: far fewer
    // aggregates than updates.
    expect(recorder.stats().aggregates).toBeLessThan(300);
    expect(recorder.stats().coalesced).toBeGreaterThan(700);
  });

  it('accounts for every event with a slow writer and a producer that yields', async () => {
    const controlled = controlledStorage(createMemoryStorage());
    controlled.hold();
    const coalesce: CoalescableEventType[] = ['energy.update', 'ai.output', 'health.heartbeat'];
    const { recorder } = setup(controlled, { maxPendingFrames: 3, coalesce });
    const recorded: AppendableEvent[] = [];
    let f = 0;
    for (const frame of busySession(400)) {
      for (const event of frame) {
        recorder.record(event);
        recorded.push(event);
      }
      recorder.endFrame();
      // The writer gets through one commit every ten frames, and in bursts now and then.
      if (++f % 10 === 0) controlled.step(f % 100 === 0 ? 5 : 1);
      await nextTask(); // a frame loop gives the event loop a turn between frames
    }
    controlled.open();
    await recorder.close();
    await expectAccountedFor(controlled, recorder, recorded, coalesce);
    expect(recorder.stats().coalesced).toBeGreaterThan(0);
    expect(recorder.stats().commits).toBeGreaterThan(10);
  });

  it('keeps the order of a stream: a run ends where an event that is not coalesced comes', async () => {
    const controlled = controlledStorage(createMemoryStorage());
    controlled.hold();
    const { recorder, store } = setup(controlled, { maxPendingFrames: 1 });
    const events = new SessionEvents();
    const script: AppendableEvent[][] = [
      [events.start()],
      [events.update(1, 1), events.update(1, 2, MISTRAL)],
      [events.update(2, 3), events.update(2, 4, MISTRAL)],
      [events.update(3, 5), events.prompt('p1'), events.update(3, 6, MISTRAL)],
      [events.update(4, 7), events.update(4, 8, MISTRAL)],
      [events.update(5, 9)],
    ];
    for (const frame of script) {
      for (const event of frame) recorder.record(event);
      recorder.endFrame();
    }
    controlled.open();
    await recorder.flush();
    const stored = await store.readStream(STREAM).toArray();
    const summary = stored.map(({ event }) => {
      const marker = markerOf(event);
      if (isUnknownEvent(event)) return 'unknown';
      if (event.type === 'energy.update') {
        return `${event.data.model_id === LLAMA ? 'L' : 'M'}${event.data.energy}${marker ? `x${marker.count}` : ''}@${event.frame_id}`;
      }
      return event.type === 'health.performance' ? `notice:${event.data.severity}` : event.type;
    });
    expect(summary).toEqual([
      'system.start',
      'notice:warning',
      'L9x3@3', // llama's frames 1 to 3: the prompt ends the run
      'M6x2@2',
      'user.prompt',
      'L16x2@5',
      'M14x2@4',
      'notice:info',
    ]);
  });
});
