import { parseIsoMicros } from '@wirthforge/events';
import { collectEvents, simulateSession } from '@wirthforge/simulator';
import { describe, expect, it } from 'vitest';
import { SessionProjection } from './session-projection.js';

describe('SessionProjection', () => {
  it('counts events, energy and tokens, and closes the session at system.end', () => {
    const session = simulateSession({ seed: 3, durationSeconds: 20 });
    const projection = new SessionProjection(session.sessionId, `session-${session.sessionId}`);
    const frames = [...session];
    projection.apply(frames[0]!.events);
    expect(projection.toUpsert()).toMatchObject({
      kind: 'session.upsert',
      status: 'active',
      startedUs: session.startTimeUs,
      endedUs: null,
      cleanEnd: null,
      userId: 'default',
    });
    for (const frame of frames.slice(1)) projection.apply(frame.events);
    const events = collectEvents(session);
    const end = events.at(-1)!;
    const row = projection.toUpsert();
    expect(row.status).toBe('ended');
    expect(row.cleanEnd).toBe(true);
    expect(row.endedUs).toBe(parseIsoMicros(end.timestamp));
    expect(row.totalEvents).toBe(events.length);
    expect(row.totalTokens).toBe(events.filter((e) => e.type === 'ai.output').length);
    expect(end.type === 'system.end' && end.data.total_energy).toBe(row.totalEnergy);
  });
});
