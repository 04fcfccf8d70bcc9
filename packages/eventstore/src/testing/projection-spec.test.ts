import { AssertionError } from 'node:assert';
import { describe, expect, it } from 'vitest';
import { SessionEvents } from '../../test/event-builders.js';
import { defineProjection } from '../projection.js';
import { projectionSpec } from './projection-spec.js';

interface Count {
  prompts: number;
  last: number;
}

const counting = defineProjection<Count>({
  name: 'counting',
  initialState: () => ({ prompts: 0, last: 0 }),
  evolveInPlace: (state, event, meta) => {
    if (event.type === 'user.prompt') state.prompts += 1;
    state.last = Number(meta.position);
    return state;
  },
});

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('projectionSpec', () => {
  const s = new SessionEvents();
  const start = s.start();
  const p1 = s.prompt('p1');
  const p2 = s.prompt('p2');

  it('passes when the state is the expected one, numbering given and when together', () => {
    const state = projectionSpec(counting)
      .given([start, p1])
      .when([p2])
      .then({ prompts: 2, last: 3 });
    expect(state).toEqual({ prompts: 2, last: 3 });
    projectionSpec(counting).when([p1]).then({ prompts: 1, last: 1 });
  });

  it('keeps the positions of records', () => {
    projectionSpec(counting)
      .given([{ event: start, position: 10n, version: 1n }])
      .when([{ event: p1, position: 12n, version: 2n }])
      .then({ prompts: 1, last: 12 });
  });

  it('fails with a diff when the state differs', () => {
    const error = thrown(() =>
      projectionSpec(counting).given([start]).when([p1]).then({ prompts: 2, last: 2 }),
    );
    expect(error).toBeInstanceOf(AssertionError);
    expect((error as AssertionError).message).toContain('projection "counting": unexpected state');
    expect((error as AssertionError).actual).toEqual({ prompts: 1, last: 2 });
  });

  it('tells -0 from 0', () => {
    const signed = defineProjection<number>({
      name: 'signed',
      initialState: () => -0,
      evolveInPlace: (n) => n,
    });
    expect(thrown(() => projectionSpec(signed).when([p1]).then(0))).toBeInstanceOf(AssertionError);
    projectionSpec(signed).when([p1]).then(-0);
  });

  it('runs predicates: false fails, a throwing assertion fails, anything else passes', () => {
    projectionSpec(counting)
      .when([p1])
      .then((state) => state.prompts === 1);
    projectionSpec(counting)
      .when([p1])
      .then((state) => {
        expect(state.prompts).toBe(1);
      });
    const error = thrown(() =>
      projectionSpec(counting)
        .when([p1])
        .then((state) => state.prompts === 5),
    );
    expect((error as AssertionError).message).toContain('does not satisfy the predicate');
    expect(
      thrown(() =>
        projectionSpec(counting)
          .when([p1])
          .then((state) => {
            expect(state.prompts).toBe(5);
          }),
      ),
    ).toBeInstanceOf(Error);
  });

  it('catches a projection that changes its events', () => {
    const meddling = defineProjection<number>({
      name: 'meddling',
      initialState: () => 0,
      evolveInPlace: (n, event) => {
        if (event.type === 'user.prompt')
          (event as { data: { truncated: boolean } }).data.truncated = true;
        return n + 1;
      },
    });
    const error = thrown(() =>
      projectionSpec(meddling)
        .given([start])
        .when([s.prompt('p3')])
        .then(2),
    );
    expect((error as AssertionError).message).toBe(
      'projection "meddling" changed the event it was given at index 1',
    );
  });

  it('catches a projection that is not deterministic', () => {
    let calls = 0;
    const drifting = defineProjection<{ n: number }>({
      name: 'drifting',
      initialState: () => ({ n: 0 }),
      evolveInPlace: (state) => {
        calls += 1;
        state.n += calls;
        return state;
      },
    });
    const error = thrown(() => projectionSpec(drifting).given([start]).when([p1]).then({ n: 3 }));
    expect((error as AssertionError).message).toMatch(
      /^projection "drifting" is not deterministic/,
    );
  });

  it('catches a clone that shares state with the original', () => {
    const shallow = defineProjection<{ list: number[] }>({
      name: 'shallow',
      initialState: () => ({ list: [] }),
      evolveInPlace: (state, _event, meta) => {
        state.list.push(Number(meta.position));
        return state;
      },
      clone: (state) => ({ ...state }),
    });
    const error = thrown(() =>
      projectionSpec(shallow)
        .given([start])
        .when([p1])
        .then({ list: [1, 2] }),
    );
    expect((error as AssertionError).message).toContain(
      'folding from a clone of the state after the given events',
    );
  });
});
