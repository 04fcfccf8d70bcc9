import { describe, expect, it } from 'vitest';
import { SessionEvents } from '../test/event-builders.js';
import { isStateError } from './errors.js';
import { foldEvents, foldEventsInPlace, isRecordedEvent } from './fold-events.js';
import { defineProjection, evolve, type EventMeta, type ProjectionEvent } from './projection.js';
import { recordEvents } from './record-events.js';

interface Trace {
  types: string[];
  positions: string[];
}

/** Records what it saw, in place. */
const trace = defineProjection<Trace>({
  name: 'trace',
  initialState: () => ({ types: [], positions: [] }),
  evolveInPlace: (state, event, meta) => {
    state.types.push(event.type);
    state.positions.push(`${meta.position}/${meta.version}`);
    return state;
  },
});

const promptCount = defineProjection<number>({
  name: 'prompt-count',
  initialState: () => 0,
  evolveInPlace: (count, event) => (event.type === 'user.prompt' ? count + 1 : count),
});

function session(): ProjectionEvent[] {
  const s = new SessionEvents();
  return [s.start(), s.prompt('p1'), s.update(0, 1), s.prompt('p2'), s.unknown()];
}

async function* asyncOf<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const item of items) {
    await Promise.resolve();
    yield item;
  }
}

describe('foldEvents', () => {
  it('folds bare events in order, numbering them from 1n', () => {
    const state = foldEvents(trace, session());
    expect(state).toEqual({
      types: ['system.start', 'user.prompt', 'energy.update', 'user.prompt', 'future.thing'],
      positions: ['1/1', '2/2', '3/3', '4/4', '5/5'],
    });
  });

  it('passes records with their own positions and versions', () => {
    const records = recordEvents(session(), { position: 41n, version: 7n });
    expect(foldEvents(trace, records).positions).toEqual([
      '41/7',
      '42/8',
      '43/9',
      '44/10',
      '45/11',
    ]);
  });

  it('supports states that are replaced rather than changed', () => {
    expect(foldEvents(promptCount, session())).toBe(2);
    expect(foldEvents(promptCount, session(), 10)).toBe(12);
  });

  it('never changes the initial state it is given', () => {
    const initial = foldEvents(trace, session().slice(0, 2));
    const copy = structuredClone(initial);
    const later = foldEvents(trace, session(), initial);
    expect(initial).toEqual(copy);
    expect(later.types).toHaveLength(7);
  });

  it('folds async iterables of events and of pages alike', async () => {
    const events = session();
    const records = recordEvents(events);
    const expected = foldEvents(trace, records);
    await expect(foldEvents(trace, asyncOf(records))).resolves.toEqual(expected);
    const pages = [records.slice(0, 2), records.slice(2, 3), [], records.slice(3)];
    await expect(foldEvents(trace, asyncOf(pages))).resolves.toEqual(expected);
    await expect(foldEvents(trace, asyncOf(events))).resolves.toEqual(expected);
  });

  it('reports a failing projection with the position and type of the event', async () => {
    const failing = defineProjection<number>({
      name: 'picky',
      initialState: () => 0,
      evolveInPlace: (count, event) => {
        if (event.type === 'energy.update') throw new RangeError('no energy here');
        return count + 1;
      },
    });
    const records = recordEvents(session(), { position: 100n });
    let caught: unknown;
    try {
      foldEvents(failing, records);
    } catch (error) {
      caught = error;
    }
    expect(isStateError(caught, 'projection_failed')).toBe(true);
    expect((caught as Error).message).toBe(
      'projection "picky" failed at position 102 (energy.update): no energy here',
    );
    expect((caught as Error).cause).toBeInstanceOf(RangeError);

    await expect(foldEvents(failing, asyncOf([records]))).rejects.toThrow(
      'projection "picky" failed at position 102 (energy.update): no energy here',
    );
    // Bare events are named by the position the fold gave them.
    expect(() => foldEvents(failing, session())).toThrow('at position 3 (energy.update)');
  });

  it('does not wrap a failure twice when projections nest', () => {
    const inner = defineProjection<number>({
      name: 'inner',
      initialState: () => 0,
      evolveInPlace: () => {
        throw new Error('boom');
      },
    });
    const outer = defineProjection<number>({
      name: 'outer',
      initialState: () => 0,
      evolveInPlace: (count, event) => foldEvents(inner, [event]) + count,
    });
    expect(() => foldEvents(outer, session())).toThrow(
      /^projection "inner" failed at position 1 \(system\.start\): boom$/,
    );
  });
});

describe('foldEventsInPlace', () => {
  it('evolves the state it is handed, the same object', () => {
    const state = trace.initialState();
    const result = foldEventsInPlace(trace, state, session());
    expect(result).toBe(state);
    expect(state.types).toHaveLength(5);
  });

  it('gives the same state whether folded at once or frame by frame', () => {
    const records = recordEvents(session());
    let live = trace.initialState();
    for (const record of records) live = foldEventsInPlace(trace, live, [record]);
    expect(live).toEqual(foldEvents(trace, records));
  });
});

describe('evolve', () => {
  it('is the pure form of one step', () => {
    const before = foldEvents(trace, session().slice(0, 1));
    const copy = structuredClone(before);
    const meta: EventMeta = { position: 9n, version: 2n };
    const after = evolve(trace, before, new SessionEvents().prompt('p'), meta);
    expect(before).toEqual(copy);
    expect(after.positions).toEqual(['1/1', '9/2']);
  });
});

describe('defineProjection', () => {
  it('refuses a projection without a name or functions', () => {
    const base = { initialState: () => 0, evolveInPlace: (n: number) => n };
    expect(() => defineProjection({ ...base, name: '' })).toThrow(/projection\.name/);
    expect(() =>
      defineProjection({
        name: 'x',
        initialState: 0 as unknown as () => number,
        evolveInPlace: base.evolveInPlace,
      }),
    ).toThrow(/must be functions/);
    expect(() =>
      defineProjection({ ...base, name: 'x', clone: 'deep' as unknown as (n: number) => number }),
    ).toThrow(/clone/);
  });

  it('clones with structuredClone by default, keeping -0', () => {
    const p = defineProjection<{ v: number[] }>({
      name: 'v',
      initialState: () => ({ v: [-0, 1] }),
      evolveInPlace: (s) => s,
    });
    const state = p.initialState();
    const copy = p.clone(state);
    expect(copy).not.toBe(state);
    expect(copy.v).not.toBe(state.v);
    expect(Object.is(copy.v[0], -0)).toBe(true);
    expect(Object.isFrozen(p)).toBe(true);
  });
});

describe('isRecordedEvent', () => {
  it('tells records from events, unknown events included', () => {
    const s = new SessionEvents();
    const unknown = s.unknown();
    expect(isRecordedEvent({ event: s.start(), position: 1n, version: 1n })).toBe(true);
    expect(isRecordedEvent(s.start())).toBe(false);
    expect(isRecordedEvent(unknown)).toBe(false);
    // An event whose extra fields happen to be named like a record's is still an event.
    expect(isRecordedEvent({ ...s.prompt('p'), position: 1, version: 1, event: {} })).toBe(false);
    expect(isRecordedEvent(null)).toBe(false);
  });
});
