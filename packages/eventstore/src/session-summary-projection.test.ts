import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LLAMA, MISTRAL, SessionEvents } from '../test/event-builders.js';
import { energyProjection } from './energy-projection.js';
import { foldEvents } from './fold-events.js';
import { recordEvents } from './record-events.js';
import { sessionSummaryProjection, type SessionSummary } from './session-summary-projection.js';
import { projectionSpec, sessionEventsArbitrary } from './testing/index.js';

describe('sessionSummaryProjection', () => {
  it('has not started before any event', () => {
    expect(sessionSummaryProjection.initialState()).toMatchObject({
      status: 'not_started',
      session_id: null,
      total_events: 0,
    });
  });

  it('summarises a whole session', () => {
    const s = new SessionEvents();
    const start = s.start({ user_id: 'ada', model_id: LLAMA });
    const middle = [
      s.event('model.loaded', { model_id: MISTRAL, load_time_ms: 10 }),
      s.update(0, 1.25),
      s.update(0, 2, MISTRAL),
      s.prompt('p1'),
      s.token('p1', 0),
      s.token('p1', 1, true),
      s.complete('p1'),
      s.peak(1, 7),
      s.peak(2, 5),
      s.unknown(),
    ];
    s.tick(2_000_000);
    const end = s.end(true);
    const expected: SessionSummary = {
      session_id: s.sessionId,
      user_id: 'ada',
      status: 'ended',
      started_at: start.timestamp,
      ended_at: end.timestamp,
      last_event_at: end.timestamp,
      // 11 events 1 ms apart, then 2 s more.
      duration_ms: 2011,
      total_energy: 3.25,
      energy_sum: { sum: 3.25, compensation: 0 },
      total_events: 12,
      events_by_type: {
        'system.start': 1,
        'model.loaded': 1,
        'energy.update': 2,
        'user.prompt': 1,
        'ai.output': 2,
        'ai.response_complete': 1,
        'energy.peak': 2,
        'system.end': 1,
      },
      unknown_events: 1,
      clean_shutdown: true,
      end_reason: 'user_exit',
      recoveries: 0,
      models_used: [LLAMA, MISTRAL],
      tokens: 2,
      prompts: 1,
      responses: 1,
      peaks: 2,
      max_peak_energy: 7,
      last_position: 12,
    };
    projectionSpec(sessionSummaryProjection)
      .given([start, ...middle])
      .when([end])
      .then(expected);
  });

  it('is active from its first event, even without system.start', () => {
    const s = new SessionEvents();
    const first = s.update(0, 1);
    projectionSpec(sessionSummaryProjection)
      .when([first])
      .then((summary) => {
        expect(summary).toMatchObject({
          status: 'active',
          session_id: s.sessionId,
          started_at: first.timestamp,
          duration_ms: null,
          user_id: null,
        });
      });
  });

  it('never reports a negative duration', () => {
    const later = new SessionEvents(undefined, 1_755_460_090_000_000);
    const earlier = new SessionEvents(undefined, 1_755_460_080_000_000);
    const summary = foldEvents(sessionSummaryProjection, [later.start(), earlier.end(true)]);
    expect(summary.duration_ms).toBe(0);
  });

  it('marks a crashed session recovered, and closed or resumed as the recovery says', () => {
    const s = new SessionEvents();
    const recovered = (outcome?: 'resumed' | 'closed') =>
      s.event('session.recovered', {
        recovered_from: { position: 0, version: 0 },
        events_replayed: 40,
        reason: 'unclean_shutdown',
        ...(outcome === undefined ? {} : { outcome }),
      });
    const base = [s.start(), s.update(0, 1)];
    const closedEvent = recovered('closed');
    const closed = foldEvents(sessionSummaryProjection, [...base, closedEvent]);
    expect(closed).toMatchObject({
      status: 'ended',
      clean_shutdown: false,
      end_reason: 'recovered',
      ended_at: closedEvent.timestamp,
      recoveries: 1,
    });
    const resumed = foldEvents(
      sessionSummaryProjection,
      [s.end(false), recovered('resumed')],
      closed,
    );
    expect(resumed).toMatchObject({
      status: 'active',
      clean_shutdown: false,
      ended_at: null,
      end_reason: null,
      recoveries: 2,
    });
    const noOutcome = foldEvents(sessionSummaryProjection, [...base, recovered()]);
    expect(noOutcome).toMatchObject({ status: 'active', clean_shutdown: false, recoveries: 1 });
  });

  it('reopens a session that starts again after its end', () => {
    const s = new SessionEvents();
    const first = s.start();
    const summary = foldEvents(sessionSummaryProjection, [first, s.end(false), s.start()]);
    expect(summary).toMatchObject({
      status: 'active',
      started_at: first.timestamp,
      ended_at: null,
      clean_shutdown: null,
      end_reason: null,
      duration_ms: null,
    });
  });

  it('agrees with the energy projection on total energy, to the bit, on generated sessions', () => {
    fc.assert(
      fc.property(sessionEventsArbitrary({ maxEvents: 300 }), (events) => {
        const records = recordEvents(events);
        const summary = foldEvents(sessionSummaryProjection, records);
        const energy = foldEvents(energyProjection, records);
        expect(
          Object.is(
            summary.total_energy,
            energy.total_energy.sum + energy.total_energy.compensation,
          ),
        ).toBe(true);
        const counted = Object.values(summary.events_by_type).reduce((a, b) => a + b, 0);
        expect(counted + summary.unknown_events).toBe(events.length);
        expect(summary.total_events).toBe(events.length);
        let status = 'active';
        for (const event of events) {
          if (event.type === 'system.start') status = 'active';
          if (event.type === 'system.end') status = 'ended';
          if (event.type === 'session.recovered' && event.data.outcome !== undefined) {
            status = event.data.outcome === 'closed' ? 'ended' : 'active';
          }
        }
        expect(summary.status).toBe(status);
        expect(summary.tokens).toBe(events.filter((e) => e.type === 'ai.output').length);
        expect(new Set(summary.models_used).size).toBe(summary.models_used.length);
      }),
      { numRuns: 60 },
    );
  });
});
