import { parseIsoMicros, validateEvent } from '@wirthforge/events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SESSION_MODELS, sessionEventsArbitrary } from './session-events-arbitrary.js';

describe('sessionEventsArbitrary', () => {
  it('generates valid, ordered events of one session', () => {
    fc.assert(
      fc.property(sessionEventsArbitrary({ maxEvents: 150 }), (events) => {
        expect(events[0]?.type).toBe('system.start');
        const sessionId = events[0]?.session_id;
        let time = -Infinity;
        let frame = -Infinity;
        events.forEach((event, index) => {
          expect(validateEvent(event).issues).toEqual([]);
          expect(event.session_id).toBe(sessionId);
          const us = parseIsoMicros(event.timestamp);
          expect(us).toBeGreaterThanOrEqual(time);
          time = us;
          if (event.type === 'energy.update') {
            expect(event.frame_id).toBeGreaterThanOrEqual(frame);
            frame = event.frame_id;
            expect(DEFAULT_SESSION_MODELS).toContain(event.data.model_id);
          }
          if (event.type === 'system.start') expect(index).toBe(0);
          if (event.type === 'system.end') expect(index).toBe(events.length - 1);
        });
      }),
      { numRuns: 50 },
    );
  });

  it('follows its options', () => {
    const models = ['solo/model-1'];
    fc.assert(
      fc.property(
        sessionEventsArbitrary({
          minEvents: 5,
          maxEvents: 5,
          models,
          ending: 'clean',
          sequence: 7,
          userId: 'ada',
          startUs: 1_700_000_000_000_000,
        }),
        (events) => {
          expect(events).toHaveLength(7);
          expect(events[0]?.session_id).toBe('20231114T221320Z_007');
          expect(events[0]?.timestamp).toBe('2023-11-14T22:13:20.000000Z');
          const start = events[0];
          if (start?.type === 'system.start') expect(start.data.user_id).toBe('ada');
          const end = events.at(-1);
          expect(end?.type === 'system.end' && end.data.clean_shutdown).toBe(true);
          for (const event of events) {
            if (event.type === 'energy.update' || event.type === 'ai.output') {
              expect(event.data.model_id).toBe('solo/model-1');
            }
          }
        },
      ),
      { numRuns: 20 },
    );
    fc.assert(
      fc.property(sessionEventsArbitrary({ maxEvents: 3, ending: 'none' }), (events) => {
        expect(events.some((event) => event.type === 'system.end')).toBe(false);
      }),
      { numRuns: 10 },
    );
    expect(() => sessionEventsArbitrary({ models: [] })).toThrow(RangeError);
  });
});
