/**
 * Which events the recorder may coalesce under backpressure, and which it must keep
 * whatever happens.
 */

/**
 * The high-rate telemetry types the recorder can coalesce when the writer falls
 * behind: `energy.update` (summed per model), `ai.output` and `health.heartbeat`
 * (the latest one kept, with a count). Only `energy.update` is coalesced by default.
 */
export const COALESCABLE_EVENT_TYPES = ['energy.update', 'ai.output', 'health.heartbeat'] as const;

/** One of {@link COALESCABLE_EVENT_TYPES}. */
export type CoalescableEventType = (typeof COALESCABLE_EVENT_TYPES)[number];

const CRITICAL_PREFIXES: readonly string[] = ['system.', 'user.', 'experience.', 'model.'];

const CRITICAL_TYPES: ReadonlySet<string> = new Set([
  'error',
  'state.snapshot_created',
  'session.recovered',
  'ai.response_complete',
]);

/**
 * Whether the recorder treats events of `type` as critical: `system.*`, `user.*`,
 * `experience.*`, `model.*`, `error`, `state.snapshot_created`, `session.recovered` and
 * `ai.response_complete`. A critical event is never filtered out, never coalesced and
 * never refused for a full frame; only an invalid one is rejected (and reported). The
 * prefixes cover types a later schema adds to those families.
 *
 * @example
 * ```ts
 * isCriticalEventType('user.prompt'); // true
 * isCriticalEventType('energy.update'); // false
 * ```
 */
export function isCriticalEventType(type: string): boolean {
  if (CRITICAL_TYPES.has(type)) return true;
  for (const prefix of CRITICAL_PREFIXES) {
    if (type.startsWith(prefix)) return true;
  }
  return false;
}
