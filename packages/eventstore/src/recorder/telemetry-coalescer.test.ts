import { decodeEvent, validateEvent, type EventOfType } from '@wirthforge/events';
import type { NewEventRecord } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';
import { LLAMA, MISTRAL, SESSION_ID, SessionEvents } from '../../test/event-builders.js';
import { TelemetryCoalescer, type CoalescedMarker } from './telemetry-coalescer.js';
import type { CoalescableEventType } from './is-critical-event-type.js';

const STREAM = `session-${SESSION_ID}`;
const IN_SESSION = { includeSessionId: false };

function coalescer(types: CoalescableEventType[] = ['energy.update']): TelemetryCoalescer {
  return new TelemetryCoalescer(new Set(types));
}

function drained(c: TelemetryCoalescer, stream = STREAM): { event: unknown; sources: number }[] {
  const out: { record: NewEventRecord; sources: number }[] = [];
  c.drain(stream, { push: (record, sources) => out.push({ record, sources }) });
  return out.map(({ record, sources }) => ({
    event: decodeEvent(record, { sessionId: SESSION_ID }),
    sources,
  }));
}

describe('TelemetryCoalescer', () => {
  it('sums a run of energy updates per model into one valid aggregate each', () => {
    const c = coalescer();
    const events = new SessionEvents();
    const updates: EventOfType<'energy.update'>[] = [];
    for (let f = 1; f <= 100; f++) {
      updates.push(
        events.update(f, 0.1 * f, LLAMA, {
          accumulator: f,
          fps: f % 2 === 0 ? 60 : 58,
          frame_budget_used: (f % 17) / 2,
          diversity_index: f / 100,
          token_count: f * 2,
        }),
        events.update(f, 1 / 3, MISTRAL),
      );
    }
    for (const update of updates) expect(c.add(STREAM, SESSION_ID, IN_SESSION, update)).toBe(true);
    expect(c.openStreams()).toEqual([STREAM]);

    const [llama, mistral] = drained(c);
    expect(llama!.sources).toBe(100);
    expect(mistral!.sources).toBe(100);
    for (const { event } of [llama!, mistral!]) expect(validateEvent(event).status).toBe('valid');
    const l = llama!.event as EventOfType<'energy.update'> & { coalesced: CoalescedMarker };
    expect(l.data).toEqual({
      energy: expect.closeTo(505, 12) as number,
      accumulator: 100,
      model_id: LLAMA,
      fps: 59,
      frame_budget_used: 8,
      diversity_index: 1,
      token_count: 200,
    });
    expect(l.frame_id).toBe(100);
    expect(l.timestamp).toBe(updates[198]!.timestamp);
    expect(l.coalesced).toEqual({
      count: 100,
      first_timestamp: updates[0]!.timestamp,
      first_frame_id: 1,
    });
    // A compensated sum: the correctly rounded sum of the 100 terms, which a plain
    // running sum misses.
    const m = mistral!.event as EventOfType<'energy.update'>;
    expect(m.data.energy).toBe(100 * (1 / 3));
    let plain = 0;
    for (let i = 0; i < 100; i++) plain += 1 / 3;
    expect(plain).not.toBe(m.data.energy);
    expect(m.data).not.toHaveProperty('fps');
    expect(c.openStreams()).toEqual([]);
    expect(drained(c)).toEqual([]);
  });

  it('writes a run of one as the event it was, id and extra fields included', () => {
    const c = coalescer();
    const update = { ...new SessionEvents().update(3, 2), event_id: 'e-1', origin: 'gpu' };
    c.add(STREAM, SESSION_ID, IN_SESSION, update);
    expect(drained(c)).toEqual([{ event: update, sources: 1 }]);
  });

  it('starts a new run after a drain', () => {
    const c = coalescer();
    const events = new SessionEvents();
    c.add(STREAM, SESSION_ID, IN_SESSION, events.update(1, 1));
    c.add(STREAM, SESSION_ID, IN_SESSION, events.update(2, 2));
    expect(drained(c).map((d) => d.sources)).toEqual([2]);
    c.add(STREAM, SESSION_ID, IN_SESSION, events.update(3, 5));
    c.add(STREAM, SESSION_ID, IN_SESSION, events.update(4, 7));
    const [run] = drained(c);
    expect((run!.event as EventOfType<'energy.update'>).data.energy).toBe(12);
    expect((run!.event as { coalesced: CoalescedMarker }).coalesced.first_frame_id).toBe(3);
  });

  it('keeps the latest token per model and prompt, the latest heartbeat, never a last token', () => {
    const c = coalescer(['energy.update', 'ai.output', 'health.heartbeat']);
    const events = new SessionEvents();
    const tokens = [0, 1, 2].map((i) => ({ ...events.token('p1', i), event_id: `t${i}` }));
    const other = events.token('p2', 0, false, MISTRAL);
    const beats = [1, 2].map((n) =>
      events.event('health.heartbeat', { system_health: 'healthy', fps: 60, memory_usage_mb: n }),
    );
    for (const event of [...tokens, other, ...beats]) {
      expect(c.add(STREAM, SESSION_ID, IN_SESSION, event)).toBe(true);
    }
    expect(c.add(STREAM, SESSION_ID, IN_SESSION, events.token('p1', 3, true))).toBe(false);
    expect(c.add(STREAM, SESSION_ID, IN_SESSION, events.prompt('p3'))).toBe(false);

    const out = drained(c);
    expect(out.map((d) => d.sources)).toEqual([3, 1, 2]);
    for (const { event } of out) expect(validateEvent(event).status).toBe('valid');
    const { event_id: _id, ...lastToken } = tokens[2]!;
    expect(out[0]!.event).toEqual({
      ...lastToken,
      coalesced: { count: 3, first_timestamp: tokens[0]!.timestamp },
    });
    expect(out[1]!.event).toEqual(other);
    expect((out[2]!.event as EventOfType<'health.heartbeat'>).data.memory_usage_mb).toBe(2);
  });

  it('leaves types it was not given to the caller', () => {
    const c = coalescer(['energy.update']);
    const events = new SessionEvents();
    expect(c.handles('ai.output')).toBe(false);
    expect(c.add(STREAM, SESSION_ID, IN_SESSION, events.token('p1', 0))).toBe(false);
    expect(c.add(STREAM, SESSION_ID, IN_SESSION, events.unknown('energy.update'))).toBe(false);
  });

  it('keeps streams apart, with the session id in the payload of other streams', () => {
    const c = coalescer();
    const events = new SessionEvents();
    c.add(STREAM, SESSION_ID, IN_SESSION, events.update(1, 1));
    c.add('system', undefined, { includeSessionId: true }, events.update(1, 2));
    c.add('system', undefined, { includeSessionId: true }, events.update(2, 3));
    expect(c.openStreams()).toEqual([STREAM, 'system']);
    const out: NewEventRecord[] = [];
    c.drain('system', { push: (record) => out.push(record) });
    const system = decodeEvent(out[0]!) as EventOfType<'energy.update'>;
    expect(system.session_id).toBe(SESSION_ID);
    expect(system.data.energy).toBe(5);
    expect(c.openStreams()).toEqual([STREAM]);
  });
});
