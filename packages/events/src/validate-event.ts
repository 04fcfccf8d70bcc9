import type { TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { EnergyStateSchema, type EnergyState } from './energy-state-schema.js';
import {
  EnergyStateValidationError,
  EventValidationError,
  UnknownEventTypeError,
  type ValidationIssue,
} from './errors.js';
import {
  EventEnvelopeSchema,
  eventSchemas,
  isKnownEventType,
  type EventEnvelope,
  type EventType,
  type WirthforgeEvent,
} from './event-schemas.js';
import { createUnknownEvent, type UnknownEvent } from './unknown-event.js';
import { collectIssues } from './validation-issues.js';

/**
 * What {@link validateEvent} found.
 *
 * - `valid`: a known event type, every field as its schema says. `event` is the input.
 * - `unknown_type`: a well-formed envelope with a type this code does not know. The
 *   event is kept, wrapped in an {@link UnknownEvent}; `issues` holds one
 *   `unknown_type` report at `/type`.
 * - `invalid`: `issues` lists every problem, each with its JSON Pointer.
 */
export type ValidationResult =
  | {
      readonly status: 'valid';
      readonly event: WirthforgeEvent;
      readonly issues: readonly [];
    }
  | {
      readonly status: 'unknown_type';
      readonly event: UnknownEvent;
      readonly issues: readonly [ValidationIssue];
    }
  | {
      readonly status: 'invalid';
      readonly issues: readonly ValidationIssue[];
    };

/** What {@link validateEnergyState} found. */
export type EnergyStateValidationResult =
  | { readonly status: 'valid'; readonly state: EnergyState; readonly issues: readonly [] }
  | { readonly status: 'invalid'; readonly issues: readonly ValidationIssue[] };

type Checker = TypeCheck<TSchema>;

// Compiled on first use, once per type: importing the package compiles nothing.
const eventCheckers = new Map<EventType, Checker>();
let envelopeChecker: Checker | undefined;
let energyStateChecker: Checker | undefined;

/**
 * The compiled TypeBox check of one event type (compiled on first use, then reused).
 * Use it where only a yes/no answer is needed.
 */
export function eventChecker(type: EventType): TypeCheck<TSchema> {
  let checker = eventCheckers.get(type);
  if (checker === undefined) {
    checker = TypeCompiler.Compile(eventSchemas[type]);
    eventCheckers.set(type, checker);
  }
  return checker;
}

function getEnvelopeChecker(): Checker {
  return (envelopeChecker ??= TypeCompiler.Compile(EventEnvelopeSchema));
}

const NO_ISSUES: readonly [] = Object.freeze<[]>([]);

function notAnObject(): ValidationIssue[] {
  return [{ path: '', keyword: 'type', message: 'must be an object' }];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates one event against the schema of its `type` and reports every problem.
 *
 * A known type is checked field by field (envelope and `data`). An unknown type whose
 * envelope is well-formed (session id, timestamp, type, and frame/event ids when
 * present) is not invalid: it comes back as `unknown_type` with the event kept. A
 * malformed envelope is invalid whatever the type.
 *
 * @example
 * ```ts
 * const result = validateEvent(JSON.parse(body));
 * switch (result.status) {
 *   case 'valid':        append(result.event); break;
 *   case 'unknown_type': append(result.event); break; // kept, reported
 *   case 'invalid':      reply(400, result.issues); // [{ path: '/data/energy', keyword: 'minimum', message: 'must be >= 0' }]
 * }
 * ```
 */
export function validateEvent(input: unknown): ValidationResult {
  if (!isObject(input)) return { status: 'invalid', issues: notAnObject() };
  const type = input.type;
  if (isKnownEventType(type)) {
    const checker = eventChecker(type);
    if (checker.Check(input)) {
      return { status: 'valid', event: input as WirthforgeEvent, issues: NO_ISSUES };
    }
    return { status: 'invalid', issues: collectIssues(checker, input) };
  }
  const envelope = getEnvelopeChecker();
  if (!envelope.Check(input)) return { status: 'invalid', issues: collectIssues(envelope, input) };
  return {
    status: 'unknown_type',
    event: createUnknownEvent(input as EventEnvelope),
    issues: [
      {
        path: '/type',
        keyword: 'unknown_type',
        message: `${JSON.stringify(type)} is not an event type this code knows; the event is kept as is`,
      },
    ],
  };
}

/**
 * Validates an event and returns it: a known event as itself, an unknown type as an
 * {@link UnknownEvent}. Throws {@link EventValidationError} (`invalid_event`, with
 * every issue) when it is invalid.
 *
 * @example
 * ```ts
 * const event = parseEvent(JSON.parse(line)); // WirthforgeEvent | UnknownEvent
 * ```
 */
export function parseEvent(input: unknown): WirthforgeEvent | UnknownEvent {
  const result = validateEvent(input);
  if (result.status === 'invalid') throw new EventValidationError(result.issues);
  return result.event;
}

/**
 * Asserts that `input` is a valid event of a known type. Throws
 * {@link EventValidationError} (`invalid_event`) listing every issue, or
 * {@link UnknownEventTypeError} (`unknown_type`, carrying the event) for a
 * well-formed event of a type this code does not know.
 *
 * @example
 * ```ts
 * assertEvent(input);
 * input.type; // narrowed to WirthforgeEvent
 * ```
 */
export function assertEvent(input: unknown): asserts input is WirthforgeEvent {
  const result = validateEvent(input);
  if (result.status === 'invalid') throw new EventValidationError(result.issues);
  if (result.status === 'unknown_type') throw new UnknownEventTypeError(result.event);
}

/** Validates an energy state and reports every problem with its JSON Pointer. */
export function validateEnergyState(input: unknown): EnergyStateValidationResult {
  const checker = (energyStateChecker ??= TypeCompiler.Compile(EnergyStateSchema));
  if (checker.Check(input))
    return { status: 'valid', state: input as EnergyState, issues: NO_ISSUES };
  if (!isObject(input)) return { status: 'invalid', issues: notAnObject() };
  return { status: 'invalid', issues: collectIssues(checker, input) };
}

/**
 * Asserts that `input` is a valid energy state; throws
 * {@link EnergyStateValidationError} (`invalid_energy_state`) listing every issue.
 */
export function assertEnergyState(input: unknown): asserts input is EnergyState {
  const result = validateEnergyState(input);
  if (result.status === 'invalid') throw new EnergyStateValidationError(result.issues);
}
