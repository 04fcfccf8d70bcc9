import { AssertionError, deepStrictEqual } from 'node:assert';
import { canonicalEncode } from '../canonical-encode.js';
import { foldEventsInPlace, isRecordedEvent, type FoldInput } from '../fold-events.js';
import { isStateError } from '../errors.js';
import type { Projection, RecordedEvent } from '../projection.js';
import { stateHash } from '../state-hash.js';

/** What `then` checks the state against: the whole expected state, or a predicate. */
export type ProjectionExpectation<S> = S | ((state: S) => boolean | void);

/** The last step of a {@link projectionSpec}. */
export interface ProjectionSpecThen<S> {
  /**
   * Folds the `given` events, then the `when` events, and checks the state: deep and
   * strict equality with `expected` (-0 is not 0, prototypes count), or `predicate`
   * returning anything but `false` without throwing. Also checks that the projection
   * does not change the events it is given, and that folding everything in one go,
   * in two parts with a clone in between, and a second time, gives states with the
   * same {@link stateHash}. Throws an `AssertionError` on a mismatch (test runners show
   * its diff); returns the state.
   */
  then(expected: ProjectionExpectation<S>): S;
}

/** The `when` step of a {@link projectionSpec}. */
export interface ProjectionSpecWhen<S> {
  /** The events under test, folded after the `given` ones. */
  when(events: Iterable<FoldInput>): ProjectionSpecThen<S>;
}

/** The first step of a {@link projectionSpec}. */
export interface ProjectionSpecGiven<S> extends ProjectionSpecWhen<S> {
  /** Events that happened before: they set the scene. */
  given(events: Iterable<FoldInput>): ProjectionSpecWhen<S>;
}

/**
 * Numbers bare events from 1n across `given` and `when` together, as one stream would;
 * records keep their own position and version.
 */
function numbered(inputs: readonly FoldInput[], offset: number): RecordedEvent[] {
  return inputs.map((input, index) => {
    if (isRecordedEvent(input)) return input;
    const position = BigInt(offset + index + 1);
    return { event: input, position, version: position };
  });
}

function fingerprint(inputs: readonly FoldInput[]): Uint8Array[] {
  return inputs.map((input) => canonicalEncode(isRecordedEvent(input) ? input.event : input));
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The state's hash, or `undefined` for a state the canonical encoding refuses. */
function hashOf(state: unknown): string | undefined {
  try {
    return stateHash(state);
  } catch (error) {
    if (isStateError(error, 'unencodable_state')) return undefined;
    throw error;
  }
}

function run<S>(
  projection: Projection<S>,
  given: readonly FoldInput[],
  when: readonly FoldInput[],
  expected: ProjectionExpectation<S>,
): S {
  const givenRecords = numbered(given, 0);
  const whenRecords = numbered(when, given.length);
  const before = fingerprint([...given, ...when]);

  let state = foldEventsInPlace(projection, projection.initialState(), givenRecords);
  const midway = projection.clone(state);
  state = foldEventsInPlace(projection, state, whenRecords);

  const after = fingerprint([...given, ...when]);
  const changed = before.findIndex((bytes, index) => !sameBytes(bytes, after[index] as Uint8Array));
  if (changed >= 0) {
    throw new AssertionError({
      message: `projection "${projection.name}" changed the event it was given at index ${changed}`,
    });
  }

  const hash = hashOf(state);
  if (hash !== undefined) {
    const resumed = foldEventsInPlace(projection, midway, whenRecords);
    const replayed = foldEventsInPlace(projection, projection.initialState(), [
      ...givenRecords,
      ...whenRecords,
    ]);
    const checks: [string, S][] = [
      ['folding from a clone of the state after the given events', resumed],
      ['folding every event a second time', replayed],
    ];
    for (const [how, other] of checks) {
      const otherHash = hashOf(other);
      if (otherHash !== hash) {
        throw new AssertionError({
          message: `projection "${projection.name}" is not deterministic: ${how} gave another state`,
          actual: other,
          expected: state,
          operator: 'stateHash',
        });
      }
    }
  }

  if (typeof expected === 'function') {
    const verdict = (expected as (state: S) => boolean | void)(state);
    if (verdict === false) {
      throw new AssertionError({
        message: `projection "${projection.name}": the state does not satisfy the predicate`,
        actual: state,
        operator: 'then',
      });
    }
  } else {
    deepStrictEqual(state, expected, `projection "${projection.name}": unexpected state`);
  }
  return state;
}

/**
 * Given/when/then for projections: the events that happened, the events under test,
 * and the state expected. Works in any test runner (it throws `node:assert`'s
 * `AssertionError`, whose diff Vitest and Jest show).
 *
 * Bare events are numbered from position 1n across `given` and `when` together;
 * records keep their own positions.
 *
 * @example
 * ```ts
 * it('counts a prompt', () => {
 *   projectionSpec(sessionSummaryProjection)
 *     .given([start])
 *     .when([prompt])
 *     .then((summary) => summary.prompts === 1);
 * });
 * ```
 */
export function projectionSpec<S>(projection: Projection<S>): ProjectionSpecGiven<S> {
  const whenStep =
    (given: readonly FoldInput[]) =>
    (events: Iterable<FoldInput>): ProjectionSpecThen<S> => {
      const when = [...events];
      return { then: (expected) => run(projection, given, when, expected) };
    };
  return {
    given: (events) => ({ when: whenStep([...events]) }),
    when: whenStep([]),
  };
}
