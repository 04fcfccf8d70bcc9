import type { SimEvent, SimFrame } from './sim-event.js';
import { simulateSession, type SimulateSessionOptions } from './simulate-session.js';

/**
 * Every event of a simulated session, flattened in order. Accepts either the options
 * of {@link simulateSession} or frames already produced (any iterable of frames).
 *
 * @example
 * ```ts
 * const events = collectEvents({ seed: 1, durationSeconds: 5 });
 * events[0]?.type; // 'system.start'
 * ```
 */
export function collectEvents(source: SimulateSessionOptions | Iterable<SimFrame>): SimEvent[] {
  const frames = isIterable(source) ? source : simulateSession(source);
  const events: SimEvent[] = [];
  for (const frame of frames) {
    for (const event of frame.events) events.push(event);
  }
  return events;
}

function isIterable(value: object): value is Iterable<SimFrame> {
  return Symbol.iterator in value;
}
