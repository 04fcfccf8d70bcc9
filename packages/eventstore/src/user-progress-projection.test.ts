import type { WirthforgeEvent } from '@wirthforge/events';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { SessionEvents } from '../test/event-builders.js';
import { foldEvents } from './fold-events.js';
import { recordEvents } from './record-events.js';
import { sessionSummaryProjection } from './session-summary-projection.js';
import { stateHash } from './state-hash.js';
import { projectionSpec, sessionEventsArbitrary } from './testing/index.js';
import {
  ENERGY_PER_EXPERIENCE_POINT,
  EXPERIENCE_POINTS,
  LEVEL_NAMES,
  levelName,
  userProgressProjection,
} from './user-progress-projection.js';

function unlock(s: SessionEvents, level: 1 | 2 | 3 | 4 | 5, features: string[] = []) {
  return s.event('experience.level_unlock', {
    level,
    level_name: levelName(level),
    trigger_condition: `reached level ${level}`,
    features_unlocked: features,
  });
}

describe('userProgressProjection', () => {
  it('starts at level 1, Lightning, with nothing done', () => {
    expect(userProgressProjection.initialState()).toMatchObject({
      level: 1,
      level_name: 'Lightning',
      total_sessions: 0,
      experience_points: 0,
      preferences: {},
    });
    expect(LEVEL_NAMES).toEqual([
      'Lightning',
      'Stream',
      'Interference',
      'Resonance',
      'Orchestration',
    ]);
  });

  it('unlocks levels and features, keeping the highest level', () => {
    const s = new SessionEvents();
    const third = unlock(s, 3, ['parallel_processing', 'interference_detection']);
    projectionSpec(userProgressProjection)
      .given([s.start(), unlock(s, 2, ['parallel_processing'])])
      .when([third, unlock(s, 2, ['turbo_mode']), unlock(s, 3)])
      .then((progress) => {
        expect(progress.level).toBe(3);
        expect(progress.level_name).toBe('Interference');
        expect(progress.unlocked_levels.map((u) => [u.level, u.level_name])).toEqual([
          [2, 'Stream'],
          [3, 'Interference'],
        ]);
        expect(progress.unlocked_levels[1]).toEqual({
          level: 3,
          level_name: 'Interference',
          unlocked_at: third.timestamp,
          session_id: s.sessionId,
          trigger_condition: 'reached level 3',
        });
        expect(progress.unlocked_features).toEqual([
          'parallel_processing',
          'interference_detection',
          'turbo_mode',
        ]);
        // Each level pays once.
        expect(progress.achievement_points).toBe(EXPERIENCE_POINTS.levelUnlockPerLevel * (2 + 3));
      });
  });

  it('earns experience points by the documented rule', () => {
    const s = new SessionEvents();
    const events: WirthforgeEvent[] = [
      s.start(),
      s.prompt('p1'),
      s.complete('p1'),
      s.event('ai.response_complete', {
        prompt_id: 'p2',
        model_id: 'm',
        total_tokens: 1,
        completion_reason: 'user_interrupt',
      }),
      s.interference(0),
      s.resonance(0),
      s.event('ensemble.coordination', {
        models: ['a', 'b'],
        coordination_mode: 'parallel',
        diversity_index: 0.5,
        consensus_reached: true,
      }),
      s.event('ensemble.coordination', {
        models: ['a', 'b'],
        coordination_mode: 'parallel',
        diversity_index: 0.5,
        consensus_reached: false,
      }),
      s.update(0, 150),
      s.update(1, 60),
      s.end(true),
    ];
    const progress = foldEvents(userProgressProjection, events);
    const achievements =
      EXPERIENCE_POINTS.prompt +
      EXPERIENCE_POINTS.responseFinished +
      EXPERIENCE_POINTS.interference +
      EXPERIENCE_POINTS.resonance +
      EXPERIENCE_POINTS.consensus +
      EXPERIENCE_POINTS.cleanSession;
    expect(progress.achievement_points).toBe(achievements);
    expect(progress.experience_points).toBe(
      achievements + Math.floor(210 / ENERGY_PER_EXPERIENCE_POINT),
    );
    const crashed = foldEvents(userProgressProjection, [...events.slice(0, -1), s.end(false)]);
    expect(crashed.achievement_points).toBe(achievements - EXPERIENCE_POINTS.cleanSession);
  });

  it('merges preferences from settings and level selection, copying them', () => {
    const s = new SessionEvents();
    const context = { theme: 'dark', effects: { sparks: true }, volume: 3 };
    const settings = s.event('user.action', { action: 'settings', context });
    const progress = foldEvents(userProgressProjection, [
      settings,
      s.event('user.action', { action: 'level_select', context: { level: 2, volume: 5 } }),
      s.event('user.action', { action: 'export', context: { theme: 'light' } }),
      s.event('user.action', { action: 'settings' }),
      s.event('user.action', {
        action: 'settings',
        context: JSON.parse('{"__proto__": {"polluted": true}, "font": "mono"}') as Record<
          string,
          unknown
        >,
      }),
    ]);
    expect(progress.preferences).toEqual({
      theme: 'dark',
      effects: { sparks: true },
      volume: 5,
      level: 2,
      font: 'mono',
    });
    expect(Object.getPrototypeOf(progress.preferences)).toBe(Object.prototype);
    expect(progress.preferences.effects).not.toBe(context.effects);
  });

  it('keeps each session apart and adds them up for the user', () => {
    const first = new SessionEvents('20250817T194800Z_001', 1_755_460_080_000_000);
    const second = new SessionEvents('20250818T080000Z_001', 1_755_504_000_000_000);
    const one = [
      first.start({ user_id: 'ada' }),
      first.update(0, 10),
      first.prompt('a'),
      first.end(true),
    ];
    const two = [
      second.start({ user_id: 'ada' }),
      second.update(0, 20),
      second.token('b', 0),
      second.event('session.recovered', {
        recovered_from: { position: 3, version: 2 },
        events_replayed: 1,
        reason: 'unclean_shutdown',
        outcome: 'closed',
      }),
    ];
    const progress = foldEvents(userProgressProjection, [...one, ...two]);
    expect(progress.user_id).toBe('ada');
    expect(progress.total_sessions).toBe(2);
    expect(progress.total_energy).toBe(30);
    expect(progress.total_tokens).toBe(1);
    expect(progress.total_prompts).toBe(1);
    expect(
      progress.sessions.map((session) => [
        session.session_id,
        session.status,
        session.clean_shutdown,
        session.total_energy,
      ]),
    ).toEqual([
      ['20250817T194800Z_001', 'ended', true, 10],
      ['20250818T080000Z_001', 'ended', false, 20],
    ]);
    expect(progress.sessions[0]?.started_at).toBe(one[0]?.timestamp);
    expect(progress.sessions[1]?.ended_at).toBe(two[3]?.timestamp);
  });

  it('adds up sessions into user totals on generated multi-session histories', () => {
    // Built once: deriving event arbitraries from the schemas is the costly part.
    const sessionArbitraries = [0, 1, 2, 3, 4].map((index) =>
      sessionEventsArbitrary({
        maxEvents: 80,
        sequence: index,
        userId: 'ada',
        // A day apart: sessions follow each other.
        startUs: 1_755_460_080_000_000 + index * 86_400_000_000,
      }),
    );
    const history = fc
      .integer({ min: 1, max: sessionArbitraries.length })
      .chain((count) => fc.tuple(...sessionArbitraries.slice(0, count)));
    fc.assert(
      fc.property(history, (sessions) => {
        const all = sessions.flat();
        const records = recordEvents(all);
        const progress = foldEvents(userProgressProjection, records);
        expect(progress.total_sessions).toBe(sessions.length);
        expect(progress.sessions).toHaveLength(sessions.length);
        let tokens = 0;
        let prompts = 0;
        let offset = 0;
        sessions.forEach((events, index) => {
          // Each session's own summary, folded alone, matches its entry in the user's progress.
          const summary = foldEvents(
            sessionSummaryProjection,
            records.slice(offset, offset + events.length),
          );
          offset += events.length;
          const entry = progress.sessions[index];
          expect(entry?.session_id).toBe(summary.session_id);
          expect(Object.is(entry?.total_energy, summary.total_energy)).toBe(true);
          expect(entry?.tokens).toBe(summary.tokens);
          expect(entry?.prompts).toBe(summary.prompts);
          expect(entry?.status).toBe(summary.status);
          tokens += summary.tokens;
          prompts += summary.prompts;
        });
        expect(progress.total_tokens).toBe(tokens);
        expect(progress.total_prompts).toBe(prompts);
        const sessionsTotal = progress.sessions.reduce((sum, s) => sum + s.total_energy, 0);
        const scale = Math.max(progress.total_energy, sessionsTotal, Number.MIN_VALUE);
        expect(Math.abs(progress.total_energy - sessionsTotal)).toBeLessThanOrEqual(
          8 * Number.EPSILON * scale,
        );
        // Folding the sessions one at a time, carrying the state over, changes nothing.
        let carried = userProgressProjection.initialState();
        offset = 0;
        for (const events of sessions) {
          carried = foldEvents(
            userProgressProjection,
            records.slice(offset, offset + events.length),
            carried,
          );
          offset += events.length;
        }
        expect(stateHash(carried)).toBe(stateHash(progress));
      }),
      { numRuns: 40 },
    );
  });
});
