import { collectEvents, simulateSession } from '@wirthforge/simulator';
import { describe, expect, it } from 'vitest';
import { buildDataset, chunkEvents } from './bench-dataset.js';

describe('buildDataset', () => {
  it('keeps the first batches × batchSize events of the simulated session, in order', () => {
    const dataset = buildDataset({ seed: 4, batches: 30, batchSize: 60 });
    expect(dataset.batches).toHaveLength(30);
    expect(dataset.batches.every((b) => b.length === 60)).toBe(true);
    expect(dataset.eventCount).toBe(1800);
    const reference = collectEvents({ seed: 4, durationSeconds: 40 }).slice(0, 1800);
    expect(dataset.batches.flat()).toEqual(reference);
    expect(dataset.stream).toBe(`session-${dataset.sessionId}`);
  });

  it('holds the same events again with an event id on every one', () => {
    const dataset = buildDataset({ seed: 4, batches: 30, batchSize: 60 });
    const plain = dataset.batches.flat();
    const allIds = dataset.batchesAllIds.flat();
    expect(allIds).toHaveLength(plain.length);
    expect(allIds.every((e) => typeof e.event_id === 'string')).toBe(true);
    expect(plain.some((e) => e.event_id === undefined)).toBe(true);
    expect(allIds.map(({ event_id: _, ...rest }) => rest)).toEqual(
      plain.map(({ event_id: _, ...rest }) => rest),
    );
  });

  it('is the same for the same seed', () => {
    const a = buildDataset({ seed: 9, batches: 5, batchSize: 60 });
    const b = buildDataset({ seed: 9, batches: 5, batchSize: 60 });
    expect(JSON.stringify(b)).toBe(JSON.stringify(a));
  });
});

describe('chunkEvents', () => {
  it('cuts across frames into full batches and a shorter last one', () => {
    const session = simulateSession({ seed: 2, durationSeconds: 3 });
    const all = collectEvents(session);
    const chunks = [...chunkEvents(session, 50)];
    expect(chunks.flat()).toEqual(all);
    expect(chunks.slice(0, -1).every((c) => c.length === 50)).toBe(true);
    expect(chunks.at(-1)!.length).toBe(all.length - 50 * (chunks.length - 1));
    expect(() => [...chunkEvents(session, 0)]).toThrow(RangeError);
  });
});
