import { isUtf8 } from 'node:buffer';
import { parseIsoMicros, validateEvent } from '@wirthforge/events';
import { preview, type Verdict, ACCEPTED, REJECTED } from './fuzz-loop.js';
import { allStringsWellFormed, jsonDifference } from './json-equal.js';

/** An error body of the daemon (HTTP body, or the `error` of a WebSocket message). */
export interface DaemonErrorShape {
  readonly code?: unknown;
  readonly message?: unknown;
  readonly issues?: readonly { index?: unknown; path?: unknown; message?: unknown }[];
}

/** Codes whose problems are in the events: each issue must name the event's index and a JSON Pointer. */
const EVENT_CODES = new Set([
  'invalid_event',
  'unknown_type',
  'wrong_session',
  'lifecycle_event',
  'event_id_conflict',
]);

/** Whether `text` (a message) places the problem: an offset, line, position, byte or a limit. */
const PLACED = /\b(offset|line|column|position|byte|limit|at \/|index)\b|\/\w/i;

/**
 * Whether a refusal says what (a code and a message) and where: for event problems an
 * issue per problem with the event's index and a JSON Pointer; for the request, an
 * issue with a pointer (`/body`, `/body/events`, …) or a message that places it.
 * Returns what is missing, or `undefined`.
 */
export function refusalProblem(error: DaemonErrorShape | undefined): string | undefined {
  if (error === undefined) return 'no error body';
  if (typeof error.code !== 'string' || error.code === '') return 'no error code';
  if (typeof error.message !== 'string' || error.message === '') return 'no error message';
  if (error.code === 'internal') return `internal error: ${error.message}`;
  const issues = error.issues ?? [];
  if (EVENT_CODES.has(error.code)) {
    if (error.code === 'event_id_conflict' && PLACED.test(error.message)) return undefined;
    if (issues.length === 0) return `${error.code} without issues`;
    const bad = issues.find(
      (i) =>
        typeof i.index !== 'number' ||
        typeof i.path !== 'string' ||
        (i.path !== '' && !i.path.startsWith('/')) ||
        typeof i.message !== 'string' ||
        i.message === '',
    );
    if (bad !== undefined) return `an issue without index, path or message: ${preview(bad)}`;
    return undefined;
  }
  if (issues.some((i) => typeof i.path === 'string' && (i.path === '' || i.path.startsWith('/'))))
    return undefined;
  if (PLACED.test(error.message)) return undefined;
  return `${error.code} does not say where: ${error.message}`;
}

/** What an ingest answered: positions, or an error. */
export type IngestAnswer =
  | { readonly kind: 'ack'; readonly positions: readonly number[] }
  | {
      readonly kind: 'error';
      readonly status: number;
      readonly error: DaemonErrorShape | undefined;
    };

/** Fields the daemon rewrites on the way in (token and prompt text become hashes). */
const ENRICHED: Record<string, readonly string[]> = {
  'ai.output': ['/data/token', '/data/token_hash'],
  'user.prompt': ['/data/text', '/data/hash', '/data/length'],
};

/**
 * Judges one ingest: an acknowledged batch must be a UTF-8 JSON body whose events are
 * each valid for the events package, name the session, are not lifecycle events, and
 * read back (by `readBack(position)`) as given; a refused one must say what and where.
 */
export async function judgeIngest(
  bytes: Buffer,
  session: string,
  answer: IngestAnswer,
  readBack: (position: number) => Promise<Record<string, unknown> | undefined>,
): Promise<Verdict> {
  if (answer.kind === 'error') {
    if (answer.status >= 500 || answer.status === 0)
      return { kind: 'crash', detail: `answered ${answer.status} ${preview(answer.error)}` };
    const problem = refusalProblem(answer.error);
    return problem === undefined
      ? REJECTED
      : { kind: 'violation', detail: `refusal ${answer.status}: ${problem}` };
  }
  if (!isUtf8(bytes)) return { kind: 'violation', detail: 'acknowledged a body that is not UTF-8' };
  let body: unknown;
  try {
    body = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { kind: 'violation', detail: 'acknowledged a body that is not JSON' };
  }
  const events = (body as { events?: unknown } | null)?.events;
  if (!Array.isArray(events) || events.length === 0)
    return { kind: 'violation', detail: 'acknowledged a body without a batch of events' };
  if (answer.positions.length !== events.length)
    return {
      kind: 'violation',
      detail: `${events.length} events acknowledged with ${answer.positions.length} positions`,
    };
  for (let i = 0; i < events.length; i++) {
    const event = events[i] as Record<string, unknown>;
    const status = validateEvent(event).status;
    if (status !== 'valid')
      return { kind: 'violation', detail: `acknowledged event ${i}, which is ${status}` };
    if (event.session_id !== session)
      return { kind: 'violation', detail: `acknowledged event ${i} of another session` };
    if (event.type === 'system.start' || event.type === 'system.end')
      return { kind: 'violation', detail: `acknowledged a lifecycle event at ${i}` };
    const position = answer.positions[i]!;
    const stored = await readBack(position);
    if (stored === undefined)
      return { kind: 'violation', detail: `acknowledged position ${position} reads back nothing` };
    const given = structuredClone(event);
    const back = structuredClone(stored);
    for (const pointer of ENRICHED[String(event.type)] ?? []) {
      const key = pointer.split('/')[2]!;
      delete (given.data as Record<string, unknown>)[key];
      delete (back.data as Record<string, unknown>)[key];
    }
    // What is stored as given must be storable as given (text the daemon hashes is not).
    if (!allStringsWellFormed(given))
      return { kind: 'violation', detail: `acknowledged event ${i} with a lone surrogate` };
    if (
      typeof back.timestamp === 'string' &&
      typeof given.timestamp === 'string' &&
      parseIsoMicros(back.timestamp) === parseIsoMicros(given.timestamp)
    )
      back.timestamp = given.timestamp;
    // An event id stored before with the same content answers with its first position.
    const difference = jsonDifference(given, back);
    if (difference !== undefined)
      return {
        kind: 'violation',
        detail: `position ${position} reads back differently at ${difference}: ${preview(back, 200)}`,
      };
  }
  return ACCEPTED;
}
