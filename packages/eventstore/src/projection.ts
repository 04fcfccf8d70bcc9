import type { UnknownEvent, WirthforgeEvent } from '@wirthforge/events';
import { invalidArgument } from './errors.js';

/**
 * What a projection folds: an event of a known type, or an event of a type this code
 * does not know, kept intact by `@wirthforge/events` (a projection usually ignores it,
 * but it still moves the stream forward).
 */
export type ProjectionEvent = WirthforgeEvent | UnknownEvent;

/**
 * Where an event sits in the store. Positions are global, gap free and start at 1n;
 * versions count the events of one stream, also from 1n.
 *
 * A projection must read `meta` during the call only: folds of bare events reuse one
 * meta object for every event.
 */
export interface EventMeta {
  /** Global position of the event. */
  readonly position: bigint;
  /** Version of the event in its stream. */
  readonly version: bigint;
  /** Name of the stream, e.g. `session-20250817T194800Z_001`, when the caller knows it. */
  readonly stream?: string;
}

/**
 * An event with its place in the store, as a stream reader yields it. It is its own
 * {@link EventMeta}, so folding it allocates nothing.
 */
export interface RecordedEvent<E extends ProjectionEvent = ProjectionEvent> extends EventMeta {
  /** The event. */
  readonly event: E;
}

/**
 * A state folded from events: `state = evolveInPlace(state, event, meta)`, one event
 * after the other, in position order.
 *
 * **Ownership, not copies.** `evolveInPlace` receives a state its caller owns and may
 * change it in place; it returns the state to continue with (the same object, or a new
 * value for projections whose state is immutable, such as a number). Live recording and
 * replay run this one function, so they cannot drift apart; the folds of this package
 * clone a state they were given before evolving it ({@link foldEvents}), and
 * {@link evolve} is the pure single-step form. Why not a pure `evolve` at the core: at
 * 60 Hz, and for a replay of a million events per second, copying the state's objects
 * for every event would cost more than the fold itself.
 *
 * A state must be a plain, storable value (null, booleans, finite numbers, strings,
 * arrays and plain objects): that is what {@link stateHash} hashes, snapshots store and
 * {@link Projection.clone} copies.
 *
 * Rules for `evolveInPlace`: deterministic (no clock, no randomness, no I/O; the same
 * events give the same state, byte for byte); never changes the event or `meta`; keeps
 * no reference into the event that it could later change through; ignores events it
 * does not handle (unknown types included) rather than throwing.
 */
export interface Projection<S> {
  /** A stable name, e.g. `'energy'`: what snapshots and caches of this state are filed under. */
  readonly name: string;
  /** The state before any event. A fresh value on every call. */
  initialState(): S;
  /** Applies one event to a state the caller owns; returns the state to continue with. */
  evolveInPlace(state: S, event: ProjectionEvent, meta: EventMeta): S;
  /** A deep copy of a state, sharing nothing with it. */
  clone(state: S): S;
}

/** What {@link defineProjection} needs: a {@link Projection}, `clone` optional. */
export interface ProjectionDefinition<S> {
  /** See {@link Projection.name}. */
  readonly name: string;
  /** See {@link Projection.initialState}. */
  readonly initialState: () => S;
  /** See {@link Projection.evolveInPlace}. */
  readonly evolveInPlace: (state: S, event: ProjectionEvent, meta: EventMeta) => S;
  /** See {@link Projection.clone}. Default: `structuredClone`. */
  readonly clone?: (state: S) => S;
}

/**
 * Builds a {@link Projection}: checks the name, fills in `clone` with `structuredClone`
 * (exact for storable values: keeps -0) and freezes the result.
 *
 * @example
 * ```ts
 * const promptCount = defineProjection<number>({
 *   name: 'prompt-count',
 *   initialState: () => 0,
 *   evolveInPlace: (count, event) => (event.type === 'user.prompt' ? count + 1 : count),
 * });
 * foldEvents(promptCount, events); // 3
 * ```
 */
export function defineProjection<S>(definition: ProjectionDefinition<S>): Projection<S> {
  const { name, initialState, evolveInPlace, clone } = definition;
  if (typeof name !== 'string' || name.length === 0) {
    throw invalidArgument('projection.name', 'must be a non-empty string');
  }
  if (typeof initialState !== 'function' || typeof evolveInPlace !== 'function') {
    throw invalidArgument(
      `projection "${name}"`,
      'initialState and evolveInPlace must be functions',
    );
  }
  if (clone !== undefined && typeof clone !== 'function') {
    throw invalidArgument(`projection "${name}".clone`, 'must be a function when given');
  }
  return Object.freeze({
    name,
    initialState,
    evolveInPlace,
    clone: clone ?? ((state: S): S => structuredClone(state)),
  });
}

/**
 * The pure form of one step: the state after `event`, leaving `state` as it was (the
 * projection evolves a clone). For tests and one-off use; folds evolve in place.
 *
 * @example
 * ```ts
 * const next = evolve(sessionSummaryProjection, summary, event, { position: 8n, version: 8n });
 * ```
 */
export function evolve<S>(
  projection: Projection<S>,
  state: S,
  event: ProjectionEvent,
  meta: EventMeta,
): S {
  return projection.evolveInPlace(projection.clone(state), event, meta);
}
