import { userStream, type EventOfType } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { createMemoryStorage } from '@wirthforge/storage';
import { describe, expect, it } from 'vitest';
import { AnalyticsQueries, trendsOf, type RollupPoint } from './analytics-queries.js';

function unlock(level: 1 | 2, at: string): EventOfType<'experience.level_unlock'> {
  return {
    session_id: '20250817T194800Z_001',
    timestamp: at,
    type: 'experience.level_unlock',
    data: {
      level,
      level_name: level === 1 ? 'Lightning' : 'Stream',
      trigger_condition: 'energy',
    },
  };
}

describe('AnalyticsQueries', () => {
  it('lists the levels a user reached, in order, from their stream', async () => {
    const storage = createMemoryStorage();
    const store = createEventStore({ storage });
    await store.appendToStream(userStream('ada'), [
      unlock(1, '2025-08-17T19:48:05.000001Z'),
      unlock(2, '2025-08-18T08:00:00.250000Z'),
    ]);
    const steps = await new AnalyticsQueries(storage.db).levelProgression(store, 'ada');
    expect(steps).toEqual([
      {
        level: 1,
        levelName: 'Lightning',
        timestampUs: 1_755_460_085_000_001,
        sessionId: '20250817T194800Z_001',
      },
      {
        level: 2,
        levelName: 'Stream',
        timestampUs: 1_755_504_000_250_000,
        sessionId: '20250817T194800Z_001',
      },
    ]);
    expect(await new AnalyticsQueries(storage.db).levelProgression(store, 'bob')).toEqual([]);
    await store.close();
  });

  it('refuses a query without a user or session, or with a reversed range', async () => {
    const queries = new AnalyticsQueries(createMemoryStorage().db);
    await expect(queries.rollups({ fromUs: 0, toUs: 1 })).rejects.toThrow(/userId or a sessionId/);
    await expect(queries.rollups({ userId: 'ada', fromUs: 2, toUs: 1 })).rejects.toThrow(
      /fromUs <= toUs/,
    );
  });
});

describe('trendsOf', () => {
  it('averages and slopes the last points', () => {
    const points = [10, 20, 30, 40].map((energySum, i): RollupPoint => ({
      bucketStartUs: i * 60_000_000,
      energySum,
      energyMin: 0,
      energyMax: 0,
      energyMean: 0,
      updates: 1,
      tokens: 2 * i,
      meanFps: 60,
      budgetUse: 0.5,
      drops: 0,
      sessions: 1,
    }));
    const { energy, tokenRate } = trendsOf(points, 3);
    expect(energy.mean).toBe(30);
    expect(energy.slopePerStep).toBe(10);
    expect(tokenRate.mean).toBe(4);
  });
});
