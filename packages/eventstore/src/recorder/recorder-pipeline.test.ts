import { createHash, createHmac } from 'node:crypto';
import { isUnknownEvent, sessionStream, userStream, type EventOfType } from '@wirthforge/events';
import { AuditRepository, createMemoryStorage, type MemoryStorage } from '@wirthforge/storage';
import { afterEach, describe, expect, it } from 'vitest';
import { MISTRAL, SESSION_ID, SessionEvents } from '../../test/event-builders.js';
import { nextTask, storedEvents } from '../../test/recorder-fixtures.js';
import { createEventStore, type EventStore } from '../event-store.js';
import type { AppendableEvent } from '../prepare-append.js';
import {
  createRecorder,
  type Recorder,
  type RecorderAuditEntry,
  type RecorderOptions,
  type RecorderRejection,
} from './recorder.js';

const STREAM = sessionStream(SESSION_ID);
const OTHER_SESSION = '20250817T194800Z_002';

const open: Recorder[] = [];
afterEach(async () => {
  for (const recorder of open.splice(0)) await recorder.close().catch(() => undefined);
});

function setup(options: RecorderOptions = {}): {
  recorder: Recorder;
  store: EventStore;
  storage: MemoryStorage;
  rejections: RecorderRejection[];
} {
  const storage = createMemoryStorage();
  const store = createEventStore({ storage });
  const rejections: RecorderRejection[] = [];
  const recorder = createRecorder(store, {
    clock: 'external',
    onReject: (rejection) => rejections.push(rejection),
    ...options,
  });
  open.push(recorder);
  return { recorder, store, storage, rejections };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

function promptWithText(events: SessionEvents, text: string): AppendableEvent {
  const prompt = events.prompt('p1');
  return { ...prompt, data: { ...prompt.data, text } } as unknown as AppendableEvent;
}

describe('validation', () => {
  it('refuses a prompt or token whose data is missing or malformed as invalid, naming the path', async () => {
    const { recorder, rejections } = setup({ pipeline: { privacy: true } });
    const events = new SessionEvents();
    const token = events.token('p1', 0);
    const prompt = events.prompt('p1');
    const bad = [
      { ...token, data: undefined },
      { ...token, data: 'hi' },
      { ...token, data: { ...token.data, token: 42 } },
      { ...prompt, data: undefined },
      { ...prompt, data: [] },
      { ...prompt, data: { ...prompt.data, truncated: 'no' } },
    ] as unknown as AppendableEvent[];
    for (const event of bad) expect(recorder.record(event)).toBe('accepted');
    recorder.endFrame();
    await nextTask();
    expect(rejections.map((r) => [r.reason, r.type, r.issues[0]?.path])).toEqual([
      ['invalid', 'ai.output', '/data'],
      ['invalid', 'ai.output', '/data'],
      ['invalid', 'ai.output', '/data/token'],
      ['invalid', 'user.prompt', '/data'],
      ['invalid', 'user.prompt', '/data'],
      ['invalid', 'user.prompt', '/data/truncated'],
    ]);
  });

  it('rejects what the schemas refuse, with a typed reason, and stores the rest', async () => {
    const { recorder, store, rejections } = setup();
    const events = new SessionEvents();
    const negative = events.update(1, -1);
    const results = [
      recorder.record(events.start()),
      recorder.record(negative),
      recorder.record({ ...events.start(), type: 'future.kind' } as unknown as AppendableEvent),
      recorder.record(events.unknown('future.kind')),
      recorder.record(null as unknown as AppendableEvent),
      recorder.record({ type: 7 } as unknown as AppendableEvent),
    ];
    // `record()` says "queued": only what is not an event at all is refused at once.
    expect(results).toEqual([
      'accepted',
      'accepted',
      'accepted',
      'accepted',
      'rejected',
      'rejected',
    ]);
    expect(rejections.map((r) => [r.reason, r.type])).toEqual([
      ['not_an_event', undefined],
      ['not_an_event', undefined],
    ]);
    expect(recorder.stats()).toMatchObject({ recorded: 6, accepted: 4, rejected: 2, pending: 4 });

    // The verdict comes with the frame's task, right after its end.
    recorder.endFrame();
    await nextTask();
    expect(rejections.map((r) => [r.reason, r.type])).toEqual([
      ['not_an_event', undefined],
      ['not_an_event', undefined],
      ['invalid', 'energy.update'],
      ['unknown_type', 'future.kind'],
    ]);
    expect(rejections[2]!.issues).toEqual([
      expect.objectContaining({ index: 0, path: '/data/energy', keyword: 'minimum' }),
    ]);
    expect(recorder.lastRejection).toBe(rejections[3]);
    expect(recorder.stats()).toMatchObject({ recorded: 6, accepted: 2, rejected: 4 });
    await recorder.flush();
    const stored = await store.readStream(STREAM).toArray();
    expect(stored).toHaveLength(2);
    expect(recorder.stats()).toMatchObject({ accepted: 2, committed: 2, pending: 0 });
    expect(recorder.stats().rejectedByReason).toMatchObject({
      invalid: 1,
      unknown_type: 1,
      not_an_event: 2,
    });
  });

  it('keeps an invalid event of a frame out of storage and commits the rest of the frame', async () => {
    const { recorder, storage, rejections } = setup();
    const events = new SessionEvents();
    const start = events.start();
    const good = [events.update(1, 1), events.update(1, 2, MISTRAL)];
    const bad = events.update(1, -5, 'ollama/phi:2b');
    // A critical event is rejected too when invalid: it never reaches storage.
    const badPrompt = { ...events.prompt('p1'), data: { prompt_id: 'p1' } };
    for (const event of [start, good[0]!, bad, badPrompt as unknown as AppendableEvent, good[1]!]) {
      expect(recorder.record(event)).toBe('accepted');
    }
    recorder.endFrame();
    await recorder.flush();

    expect(rejections.map((r) => [r.reason, r.type])).toEqual([
      ['invalid', 'energy.update'],
      ['invalid', 'user.prompt'],
    ]);
    const stored = (await storedEvents(storage)).map((s) => s.event);
    expect(stored).toEqual([start, ...good]);
    expect(recorder.stats()).toMatchObject({
      recorded: 5,
      accepted: 3,
      committed: 3,
      rejected: 2,
      pending: 0,
      failed: 0,
      commits: 1,
    });
    expect(recorder.stats().rejectedByReason.invalid).toBe(2);
  });

  it('can be turned off: what the codec can store is stored', async () => {
    const { recorder, store } = setup({ pipeline: { validate: false } });
    const events = new SessionEvents();
    expect(recorder.record(events.update(1, -1))).toBe('accepted');
    await recorder.flush();
    const [stored] = await store.readStream(STREAM).toArray();
    expect((stored!.event as EventOfType<'energy.update'>).data.energy).toBe(-1);
  });
});

describe('audit mode', () => {
  it('tells the sink every event, and writes a row for each rejection', async () => {
    const entries: RecorderAuditEntry[] = [];
    const { recorder, storage } = setup({
      pipeline: {
        audit: { sink: (entry) => entries.push(entry), actor: 'wf-app' },
        dropTypes: ['energy.peak'],
      },
    });
    const events = new SessionEvents();
    const secret = 'my secret prompt';
    const badPrompt = { ...(promptWithText(events, secret) as object), data: { text: secret } };
    recorder.record(events.start());
    recorder.record(events.peak(1, 9));
    recorder.record(badPrompt as unknown as AppendableEvent);
    recorder.record(promptWithText(events, secret));
    await recorder.flush();

    // Filtered at once, in `record()`; accepted or rejected with the frame's task.
    expect(entries.map((e) => [e.outcome, e.stream])).toEqual([
      ['filtered', undefined],
      ['accepted', STREAM],
      ['rejected', undefined],
      ['accepted', STREAM],
    ]);
    // The sink sees the event as it is stored: the prompt's text already hashed.
    expect((entries[3]!.event as EventOfType<'user.prompt'>).data.hash).toBe(sha256(secret));
    expect(entries[2]!.rejection?.reason).toBe('invalid');
    expect(entries[2]!.rejection?.issues.length).toBeGreaterThan(0);

    const rows = await new AuditRepository(storage.db).list();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      actor: 'wf-app',
      action: 'event.rejected',
      target: 'user.prompt',
      details: { reason: 'invalid', type: 'user.prompt' },
    });
    // A rejection is described, never copied: the text is in no row and no event.
    expect(JSON.stringify(rows)).not.toContain(secret);
    const stored = await storedEvents(storage);
    expect(JSON.stringify(stored.map((s) => s.event))).not.toContain(secret);
    expect(stored.map((s) => s.event.type)).toEqual(['system.start', 'user.prompt']);
  });

  it('writes no rows when asked not to, and none without audit mode', async () => {
    for (const audit of [{ rows: false }, false]) {
      const { recorder, storage } = setup({ pipeline: { audit } });
      recorder.record({} as AppendableEvent);
      recorder.record(new SessionEvents().start());
      await recorder.flush();
      expect(await new AuditRepository(storage.db).list()).toEqual([]);
    }
  });
});

describe('filtering', () => {
  it('drops the types and the events it is told to, counted, never a critical one', async () => {
    const { recorder, store } = setup({
      pipeline: {
        dropTypes: ['health.heartbeat'],
        filter: (event) =>
          isUnknownEvent(event) || event.type !== 'energy.update' || event.data.energy > 1,
      },
    });
    const events = new SessionEvents();
    const heartbeat = events.event('health.heartbeat', { system_health: 'healthy', fps: 60 });
    const results = [
      events.start(),
      heartbeat,
      events.update(1, 0.5),
      events.update(1, 2),
      events.prompt('p1'),
    ].map((event) => recorder.record(event));
    expect(results).toEqual(['accepted', 'filtered', 'filtered', 'accepted', 'accepted']);
    await recorder.flush();
    expect(recorder.stats()).toMatchObject({ filtered: 2, committed: 3, recorded: 5 });
    expect((await store.readStream(STREAM).toArray()).map((r) => r.event.type)).toEqual([
      'system.start',
      'energy.update',
      'user.prompt',
    ]);
  });

  it('never asks the filter about critical events', () => {
    const asked: string[] = [];
    const { recorder } = setup({
      pipeline: {
        filter: (event) => {
          asked.push('type' in event ? event.type : 'unknown');
          return false;
        },
      },
    });
    const events = new SessionEvents();
    expect(recorder.record(events.start())).toBe('accepted');
    expect(recorder.record(events.prompt('p1'))).toBe('accepted');
    expect(recorder.record(events.update(1, 1))).toBe('filtered');
    expect(asked).toEqual(['energy.update']);
  });

  it('rejects an event whose filter throws', () => {
    const { recorder } = setup({
      pipeline: {
        filter: () => {
          throw new Error('filter bug');
        },
      },
    });
    expect(recorder.record(new SessionEvents().update(1, 1))).toBe('rejected');
    expect(recorder.lastRejection).toMatchObject({ reason: 'hook_failed', type: 'energy.update' });
    expect((recorder.lastRejection?.error as Error).message).toBe('filter bug');
  });
});

describe('routing', () => {
  it('sends events where the router says, and refuses what cannot go there', async () => {
    const route = (event: AppendableEvent): string => {
      if (!('type' in event)) return STREAM;
      if (event.type === 'user.action') return userStream('ada');
      if (event.type === 'ai.output') return sessionStream(OTHER_SESSION);
      if (event.type === 'energy.peak') return '';
      if (event.type === 'pattern.resonance') throw new Error('router bug');
      return STREAM;
    };
    const { recorder, store } = setup({ pipeline: { route } });
    const events = new SessionEvents();
    const action = events.event('user.action', { action: 'settings' });
    const results = [
      events.start(),
      action,
      events.token('p1', 0),
      events.peak(1, 9),
      events.resonance(1),
    ].map((event) => recorder.record(event));
    // Routed with the frame's task: the refusals come once the frame has ended.
    expect(results).toEqual(['accepted', 'accepted', 'accepted', 'accepted', 'accepted']);
    await recorder.flush();
    expect(recorder.stats().rejectedByReason).toMatchObject({
      stream_mismatch: 1,
      bad_route: 1,
      hook_failed: 1,
    });
    expect(recorder.stats()).toMatchObject({ accepted: 2, committed: 2, rejected: 3 });
    const [stored] = await store.readStream(userStream('ada')).toArray();
    expect(stored!.event).toEqual(action);
  });

  it('refuses an event without a session id when the default route needs one', async () => {
    const { recorder, rejections } = setup({ pipeline: { validate: false } });
    const update = new SessionEvents().update(1, 1);
    expect(recorder.record({ ...update, session_id: 'nope' })).toBe('accepted');
    expect(rejections).toEqual([]);
    await recorder.flush();
    expect(recorder.lastRejection?.reason).toBe('bad_route');
    expect(rejections).toEqual([recorder.lastRejection]);
    expect(recorder.stats()).toMatchObject({ accepted: 0, rejected: 1, committed: 0 });
  });
});

describe('enrichment', () => {
  it("hashes a prompt's text and, in privacy mode (the default), every token", async () => {
    const { recorder, storage } = setup();
    const events = new SessionEvents();
    recorder.record(events.start());
    recorder.record(promptWithText(events, 'Tell me about 🦀'));
    const token = events.token('p1', 0);
    recorder.record({ ...token, data: { ...token.data, token: 'Crabs' } });
    await recorder.flush();
    const [, prompt, output] = (await storedEvents(storage)).map((s) => s.event);
    expect((prompt as EventOfType<'user.prompt'>).data).toEqual({
      prompt_id: 'p1',
      interface: 'text',
      truncated: false,
      hash: sha256('Tell me about 🦀'),
      length: 15,
    });
    expect((output as EventOfType<'ai.output'>).data).toEqual({
      prompt_id: 'p1',
      token_index: 0,
      is_last: false,
      model_id: token.data.model_id,
      token_hash: sha256('Crabs'),
    });
  });

  it('keeps tokens when privacy is off, hashes with a key when given one', async () => {
    const events = new SessionEvents();
    const token = events.token('p1', 0);
    const withText = { ...token, data: { ...token.data, token: 'Crabs' } };

    const plain = setup({ pipeline: { privacy: false } });
    plain.recorder.record(withText);
    await plain.recorder.flush();
    const [kept] = (await storedEvents(plain.storage)).map((s) => s.event);
    expect((kept as EventOfType<'ai.output'>).data.token).toBe('Crabs');

    const keyed = setup({ pipeline: { privacy: { key: 'install secret' } } });
    keyed.recorder.record(withText);
    keyed.recorder.record(promptWithText(events, 'hi'));
    await keyed.recorder.flush();
    const [output, prompt] = (await storedEvents(keyed.storage)).map((s) => s.event);
    const hmac = (text: string): string =>
      createHmac('sha256', 'install secret').update(text).digest('hex');
    expect((output as EventOfType<'ai.output'>).data.token_hash).toBe(hmac('Crabs'));
    expect((prompt as EventOfType<'user.prompt'>).data.hash).toBe(hmac('hi'));
  });

  it('runs its own hooks after the built-in ones, and rejects when one throws', async () => {
    const seen: string[] = [];
    const { recorder, store } = setup({
      pipeline: {
        enrich: [
          (event) => {
            if (isUnknownEvent(event)) return event;
            if (event.type === 'user.prompt') {
              seen.push(String((event.data as { text?: unknown }).text));
              return { ...event, data: { ...event.data, intent: 'question' } };
            }
            if (event.type === 'energy.peak') throw new Error('hook bug');
            return event;
          },
        ],
      },
    });
    const events = new SessionEvents();
    expect(recorder.record(promptWithText(events, 'why?'))).toBe('accepted');
    expect(recorder.record(events.peak(1, 9))).toBe('accepted');
    expect(seen).toEqual([]); // the hooks run with the frame's task
    await recorder.flush();
    expect(recorder.lastRejection?.reason).toBe('hook_failed');
    expect(seen).toEqual(['undefined']); // the text was gone before the hook ran
    const [prompt] = await store.readStream(STREAM).toArray();
    expect((prompt!.event as EventOfType<'user.prompt'>).data.intent).toBe('question');
  });
});
