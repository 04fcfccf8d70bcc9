import {
  EVENT_TYPES,
  createSessionId,
  toIsoMicros,
  type EventOfType,
  type EventType,
  type WirthforgeEvent,
} from '@wirthforge/events';
import { eventArbitrary } from '@wirthforge/events/testing';
import fc from 'fast-check';

/** How a generated session ends. */
export type SessionEnding = 'clean' | 'unclean' | 'none' | 'any';

/** Options of {@link sessionEventsArbitrary}. */
export interface SessionEventsOptions {
  /** Fewest events between `system.start` and the end. Default 0. */
  readonly minEvents?: number;
  /** Most events between `system.start` and the end. Default 200. */
  readonly maxEvents?: number;
  /** Models the session's energy, tokens and peaks come from. Default: three local models. */
  readonly models?: readonly string[];
  /** Start of the session, integer microseconds since the epoch. Default 2025-08-17T19:48:00Z. */
  readonly startUs?: number;
  /** Sequence number of the session id (0–999). Default 1. */
  readonly sequence?: number;
  /** `user_id` of `system.start`. Default `'default'`. */
  readonly userId?: string;
  /**
   * `clean`: a `system.end` with `clean_shutdown`; `unclean`: one without; `none`: no
   * `system.end` (a crash); `any` (default): one of the three.
   */
  readonly ending?: SessionEnding;
}

/** The models of a generated session unless told otherwise. */
export const DEFAULT_SESSION_MODELS: readonly string[] = [
  'ollama/llama2:7b',
  'ollama/mistral:7b',
  'local/phi-3.5',
];

const DEFAULT_START_US = 1_755_460_080_000_000;

/** Types of the events between start and end that are neither frames nor tokens. */
const OTHER_TYPES: readonly EventType[] = EVENT_TYPES.filter(
  (type) =>
    type !== 'system.start' &&
    type !== 'system.end' &&
    type !== 'energy.update' &&
    type !== 'ai.output' &&
    // Analytics output (`@wirthforge/metrics` derives it from the updates), not producer input.
    type !== 'energy.anomaly',
);

/** Event types that belong to a frame (their `frame_id` follows the session's frames). */
const FRAME_TYPES: ReadonlySet<string> = new Set([
  'energy.update',
  'energy.peak',
  'pattern.interference',
  'pattern.resonance',
]);

interface Step {
  readonly event: WirthforgeEvent;
  /** Microseconds since the previous event. */
  readonly gapUs: number;
  /** Index of the model the event is about, where it has one. */
  readonly model: number;
  /** Whether an `energy.update` opens a new frame. */
  readonly newFrame: boolean;
}

function withModel(event: WirthforgeEvent, modelId: string): WirthforgeEvent {
  switch (event.type) {
    case 'energy.update':
    case 'energy.peak':
    case 'ai.output':
    case 'ai.response_complete':
      return { ...event, data: { ...event.data, model_id: modelId } } as WirthforgeEvent;
    default:
      return event;
  }
}

/**
 * One session's events in a coherent order, for property tests of projections and
 * of anything that stores or replays sessions: `system.start` first, then
 * `energy.update` frames from several models at once (frame ids rising, a frame per
 * run of updates), `ai.output` tokens and events of every other type with their fields
 * generated from the schemas, then (depending on `ending`) `system.end`. Every event is
 * valid, has the session's id and a timestamp after the previous one.
 *
 * @example
 * ```ts
 * fc.assert(fc.property(sessionEventsArbitrary({ maxEvents: 500 }), (events) => {
 *   const energy = toEnergyState(foldEvents(energyProjection, recordEvents(events)));
 *   return validateEnergyState(energy).status === 'valid';
 * }));
 * ```
 */
export function sessionEventsArbitrary(
  options: SessionEventsOptions = {},
): fc.Arbitrary<WirthforgeEvent[]> {
  const models = options.models ?? DEFAULT_SESSION_MODELS;
  if (models.length === 0) throw new RangeError('models must not be empty');
  const startUs = options.startUs ?? DEFAULT_START_US;
  const sessionId = createSessionId(new Date(Math.floor(startUs / 1000)), options.sequence ?? 1);
  const userId = options.userId ?? 'default';
  const ending = options.ending ?? 'any';
  const modelIndex = fc.nat({ max: models.length - 1 });
  const gap = fc.integer({ min: 0, max: 20_000 });

  const frameStep = fc.record({
    event: eventArbitrary('energy.update'),
    gapUs: gap,
    model: modelIndex,
    newFrame: fc.boolean(),
  });
  const tokenStep = fc.record({
    event: eventArbitrary('ai.output'),
    gapUs: gap,
    model: modelIndex,
    newFrame: fc.constant(false),
  });
  const otherStep = fc.record({
    event: fc.oneof(
      ...OTHER_TYPES.map((type) => eventArbitrary(type) as fc.Arbitrary<WirthforgeEvent>),
    ),
    gapUs: gap,
    model: modelIndex,
    newFrame: fc.constant(false),
  });
  const steps = fc.array(
    fc.oneof(
      { arbitrary: frameStep, weight: 8 },
      { arbitrary: tokenStep, weight: 3 },
      { arbitrary: otherStep, weight: 2 },
    ),
    { minLength: options.minEvents ?? 0, maxLength: options.maxEvents ?? 200 },
  );
  const endings: fc.Arbitrary<Exclude<SessionEnding, 'any'>> =
    ending === 'any' ? fc.constantFrom('clean', 'unclean', 'none') : fc.constant(ending);

  return fc
    .tuple(eventArbitrary('system.start'), steps, endings, eventArbitrary('system.end'), gap)
    .map(([start, body, end, endEvent, endGap]) => {
      let time = startUs;
      let frame = 0;
      const events: WirthforgeEvent[] = [];
      const startEvent: EventOfType<'system.start'> = {
        session_id: sessionId,
        timestamp: toIsoMicros(time),
        type: 'system.start',
        data: { ...start.data, user_id: userId },
      };
      events.push(startEvent);
      for (const step of body as readonly Step[]) {
        time += step.gapUs;
        if (step.newFrame) frame += 1;
        const event = withModel(step.event, models[step.model] as string);
        const placed = { ...event, session_id: sessionId, timestamp: toIsoMicros(time) };
        if (FRAME_TYPES.has(event.type)) placed.frame_id = frame;
        events.push(placed);
      }
      if (end !== 'none') {
        time += endGap;
        const endData: EventOfType<'system.end'>['data'] = {
          ...endEvent.data,
          clean_shutdown: end === 'clean',
          reason: end === 'clean' ? 'user_exit' : 'crash',
        };
        events.push({
          session_id: sessionId,
          timestamp: toIsoMicros(time),
          type: 'system.end',
          data: endData,
        });
      }
      return events;
    });
}
