import { isUnknownEvent } from '@wirthforge/events';
import { StateError, isStateError } from './errors.js';
import type { EventMeta, Projection, ProjectionEvent, RecordedEvent } from './projection.js';

/**
 * One input of a fold: a {@link RecordedEvent} (an event with its position and version,
 * as read from the store) or a bare event. Bare events are numbered by the fold itself,
 * position and version 1n, 2n, … from the start of each call, so fold bare events only
 * where positions do not matter (tests, one-off summaries); pass records when the state
 * must know where it stands (chunked folds, resuming from a snapshot).
 */
export type FoldInput = ProjectionEvent | RecordedEvent;

/**
 * What an asynchronous fold reads: single inputs or whole pages of them (a page costs
 * one `await`, where one event each would cost one per event).
 */
export type AsyncFoldInput = FoldInput | readonly FoldInput[];

/**
 * Whether a fold input is a {@link RecordedEvent}. Events never carry a bigint (the codec
 * and JSON have none), so a bigint `position` and `version` tell a record apart.
 */
export function isRecordedEvent(input: unknown): input is RecordedEvent {
  if (typeof input !== 'object' || input === null || isUnknownEvent(input)) return false;
  const record = input as { position?: unknown; version?: unknown; event?: unknown };
  return (
    typeof record.position === 'bigint' &&
    typeof record.version === 'bigint' &&
    typeof record.event === 'object' &&
    record.event !== null
  );
}

/** The meta the fold gives bare events; one object per fold, renumbered for each event. */
interface CountingMeta {
  position: bigint;
  version: bigint;
}

/** Applies one input; the hot loop of every fold. */
function step<S>(projection: Projection<S>, state: S, input: FoldInput, counter: CountingMeta): S {
  // The fast form of isRecordedEvent: only a record has a bigint position.
  if (typeof (input as { position?: unknown }).position === 'bigint') {
    const record = input as RecordedEvent;
    return projection.evolveInPlace(state, record.event, record);
  }
  counter.position += 1n;
  counter.version += 1n;
  return projection.evolveInPlace(state, input as ProjectionEvent, counter);
}

function failure<S>(
  projection: Projection<S>,
  input: FoldInput | undefined,
  counter: CountingMeta,
  error: unknown,
): unknown {
  if (isStateError(error, 'projection_failed')) return error;
  let where = 'before its first event';
  if (input !== undefined) {
    const recorded = typeof (input as { position?: unknown }).position === 'bigint';
    const meta: EventMeta = recorded ? (input as RecordedEvent) : counter;
    const type = recorded ? (input as RecordedEvent).event.type : (input as ProjectionEvent).type;
    where = `at position ${meta.position} (${type})`;
  }
  const reason = error instanceof Error ? error.message : String(error);
  return new StateError(
    'projection_failed',
    `projection "${projection.name}" failed ${where}: ${reason}`,
    { cause: error },
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<AsyncFoldInput> {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { [Symbol.asyncIterator]?: unknown })[Symbol.asyncIterator] === 'function'
  );
}

function foldSync<S>(projection: Projection<S>, state: S, events: Iterable<FoldInput>): S {
  const counter: CountingMeta = { position: 0n, version: 0n };
  let input: FoldInput | undefined;
  try {
    for (input of events) state = step(projection, state, input, counter);
  } catch (error) {
    throw failure(projection, input, counter, error);
  }
  return state;
}

async function foldAsync<S>(
  projection: Projection<S>,
  state: S,
  events: AsyncIterable<AsyncFoldInput>,
): Promise<S> {
  const counter: CountingMeta = { position: 0n, version: 0n };
  let input: FoldInput | undefined;
  try {
    for await (const item of events) {
      if (Array.isArray(item)) {
        for (input of item as readonly FoldInput[]) state = step(projection, state, input, counter);
      } else {
        input = item as FoldInput;
        state = step(projection, state, input, counter);
      }
    }
  } catch (error) {
    throw failure(projection, input, counter, error);
  }
  return state;
}

/**
 * Folds events into a state: `initial` (cloned, never changed) or the projection's
 * initial state, then each event in order. The aggregate-a-stream operation of the
 * store, for replay and for tests.
 *
 * Takes an iterable (the result is the state) or an async iterable (the result is a
 * promise of it) of {@link FoldInput}s; an async iterable may yield pages of inputs. If
 * the projection throws, the fold throws a {@link StateError} `projection_failed` naming
 * the position and type of the event.
 *
 * @example
 * ```ts
 * const state = foldEvents(energyProjection, recordedEvents);
 * const later = foldEvents(energyProjection, moreRecords, state); // state is not changed
 * const fromStore = await foldEvents(sessionSummaryProjection, storeReader.pages());
 * ```
 */
export function foldEvents<S>(
  projection: Projection<S>,
  events: Iterable<FoldInput>,
  initial?: S,
): S;
export function foldEvents<S>(
  projection: Projection<S>,
  events: AsyncIterable<AsyncFoldInput>,
  initial?: S,
): Promise<S>;
export function foldEvents<S>(
  projection: Projection<S>,
  events: Iterable<FoldInput> | AsyncIterable<AsyncFoldInput>,
  initial?: S,
): S | Promise<S> {
  // `initial` is an argument the caller keeps: evolve a copy of it.
  const state = initial === undefined ? projection.initialState() : projection.clone(initial);
  return foldEventsInPlace(projection, state, events as Iterable<FoldInput>);
}

/**
 * Folds events into a state the caller owns and hands over: the projection may change
 * `state` itself, and the result replaces it. This is the live path (the writer keeps
 * one state per stream and folds each frame's events into it) and the inner loop of
 * {@link foldEvents}; both run the same `evolveInPlace`.
 *
 * After a `projection_failed` error the state is incomplete: rebuild it (from a
 * snapshot or from the start) rather than folding on.
 *
 * @example
 * ```ts
 * let energy = energyProjection.initialState();
 * recorder.onCommit((frameRecords) => {
 *   energy = foldEventsInPlace(energyProjection, energy, frameRecords);
 * });
 * ```
 */
export function foldEventsInPlace<S>(
  projection: Projection<S>,
  state: S,
  events: Iterable<FoldInput>,
): S;
export function foldEventsInPlace<S>(
  projection: Projection<S>,
  state: S,
  events: AsyncIterable<AsyncFoldInput>,
): Promise<S>;
export function foldEventsInPlace<S>(
  projection: Projection<S>,
  state: S,
  events: Iterable<FoldInput> | AsyncIterable<AsyncFoldInput>,
): S | Promise<S> {
  if (isAsyncIterable(events)) return foldAsync(projection, state, events);
  return foldSync(projection, state, events);
}
