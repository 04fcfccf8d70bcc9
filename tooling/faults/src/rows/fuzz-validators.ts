import {
  assertEvent,
  decodeEvent,
  encodeEvent,
  isEventsError,
  isUnknownEvent,
  parseIsoMicros,
  validateEvent,
  type ValidationIssue,
} from '@wirthforge/events';
import { type FaultRow } from '../fault-row.js';
import { eventArbitrary, validEventPool } from '../fuzz/event-arbitraries.js';
import {
  ACCEPTED,
  REJECTED,
  fuzzSurface,
  inputsFor,
  preview,
  reportTally,
  type Verdict,
} from '../fuzz/fuzz-loop.js';
import { allStringsWellFormed, jsonDifference } from '../fuzz/json-equal.js';

const SESSION = '20261127T120000Z_001';

/** A validation issue says where (a JSON Pointer: empty for the event itself) and what. */
export function issueSaysWhere(issue: ValidationIssue): boolean {
  return (
    typeof issue.path === 'string' &&
    (issue.path === '' || issue.path.startsWith('/')) &&
    typeof issue.message === 'string' &&
    issue.message.length > 0
  );
}

/**
 * One input through the events package the way the store takes an event: `validateEvent`,
 * then `encodeEvent` (what is stored) and `decodeEvent` (what is read back).
 */
function attempt(input: unknown, codecRefusals: Map<string, number>): Verdict {
  const result = validateEvent(input);
  if (result.status === 'invalid') {
    if (result.issues.length === 0)
      return { kind: 'violation', detail: 'invalid without an issue' };
    const vague = result.issues.find((i) => !issueSaysWhere(i));
    if (vague !== undefined)
      return { kind: 'violation', detail: `an issue that says no where: ${preview(vague)}` };
    // assertEvent must refuse it the same way, typed.
    try {
      assertEvent(input);
      return { kind: 'violation', detail: 'validateEvent said invalid, assertEvent accepted' };
    } catch (error) {
      if (!isEventsError(error, 'invalid_event'))
        return { kind: 'crash', detail: `assertEvent threw untyped ${String(error)}` };
    }
    return REJECTED;
  }
  if (result.status === 'unknown_type') {
    const issue = result.issues[0];
    if (issue.path !== '/type')
      return { kind: 'violation', detail: `unknown_type reported at ${issue.path}` };
  }
  // Accepted by the validator: what it accepted must be a JSON document (no NaN, no
  // Infinity: the validator refuses them) and must come back from the codec as given.
  let encoded: ReturnType<typeof encodeEvent>;
  try {
    encoded = encodeEvent(result.event);
  } catch (error) {
    // The codec refuses what it cannot store as given (a lone surrogate, more than 100
    // levels, a frame id past 2^53, a key named __proto__): typed, with the path. The
    // store encodes every event it appends, so such an event is refused, never stored.
    if (isEventsError(error) && typeof error.path === 'string' && error.path.startsWith('/')) {
      const message = error.message.startsWith(error.path)
        ? error.message.slice(error.path.length).trim()
        : error.message;
      const reason = message.replace(/\d+/g, 'N');
      codecRefusals.set(reason, (codecRefusals.get(reason) ?? 0) + 1);
      return REJECTED;
    }
    return { kind: 'crash', detail: `encodeEvent threw ${String(error)}` };
  }
  if (!allStringsWellFormed(input)) {
    return {
      kind: 'violation',
      detail: 'accepted and encoded an event with a lone surrogate (it cannot be stored as given)',
    };
  }
  let decoded: unknown;
  try {
    // The session id is the stream's, not the payload's: the decoder takes it back.
    decoded = decodeEvent(encoded, { sessionId: (input as { session_id: string }).session_id });
  } catch (error) {
    return { kind: 'crash', detail: `decodeEvent threw ${String(error)}` };
  }
  const back = {
    ...((isUnknownEvent(decoded) ? decoded.event : decoded) as object),
  } as Record<string, unknown>;
  // A timestamp is stored as its instant (microseconds): `…:00Z` comes back as `…:00.000000Z`.
  const given = (input as { timestamp: string }).timestamp;
  if (
    typeof back.timestamp === 'string' &&
    parseIsoMicros(back.timestamp) === parseIsoMicros(given)
  )
    back.timestamp = given;
  const difference = jsonDifference(input, back);
  if (difference !== undefined) {
    return {
      kind: 'violation',
      detail: `read back differently at ${difference}: ${preview(back, 160)}`,
    };
  }
  return ACCEPTED;
}

/**
 * The events package under generated events: valid events of every type the simulator
 * writes and mutations of them (fields missing, extra, of the wrong type, huge, deep,
 * NaN and Infinity, lone surrogates, bad timestamps and session ids, other types), and
 * values that are not events at all. No exception escapes; a refusal lists issues that
 * each name a JSON Pointer; an accepted event encodes and decodes to itself.
 */
export const fuzzValidatorsRow: FaultRow = {
  id: 'input.validators',
  fault: 'generated events through validateEvent, assertEvent, encodeEvent and decodeEvent',
  async run(ctx, result) {
    // The same session id everywhere: the codec leaves it out and the decoder puts it back.
    const pool = validEventPool(SESSION, true);
    const runs = inputsFor(ctx.long, 10_000);
    const codecRefusals = new Map<string, number>();
    const tally = await fuzzSurface({
      arbitrary: eventArbitrary(pool).map((e) => e.event),
      runs,
      seed: 0x7a11d,
      timeoutMs: 10_000,
      describe: (input) => preview(input),
      attempt: (input) => Promise.resolve(attempt(input, codecRefusals)),
      progress: (t) => ctx.log(`input.validators: ${t.inputs} inputs`),
    });
    reportTally(result, 'validators', tally);
    if (codecRefusals.size > 0) {
      result.notes.push(
        `validators: accepted by validateEvent, then refused by encodeEvent (typed, with the path): ${[
          ...codecRefusals,
        ]
          .map(([reason, n]) => `${n}× “${reason}”`)
          .join(', ')}`,
      );
    }
  },
};
