import {
  isUnknownEvent,
  tryParseIsoMicros,
  type EventData,
  type EventType,
  type WirthforgeEvent,
} from '@wirthforge/events';
import { addToSum, emptySum, sumValue, type CompensatedSum } from './compensated-sum.js';
import type { EventMeta, Projection, ProjectionEvent } from './projection.js';

/**
 * Where a session stands: `not_started` before any event, `active` from its first
 * event, `ended` after `system.end` (or a recovery that closed it).
 */
export type SessionStatus = 'not_started' | 'active' | 'ended';

/** Why a session ended: the `reason` of `system.end`, or `recovered` when a recovery closed it. */
export type SessionEndReason = EventData<'system.end'>['reason'] | 'recovered';

/** The summary of one session, folded from its stream. A plain, storable value. */
export interface SessionSummary {
  /** Session id of the first event (or of `system.start`); `null` before any event. */
  session_id: string | null;
  /** `user_id` of `system.start`; `null` until then. */
  user_id: string | null;
  status: SessionStatus;
  /** Timestamp of `system.start`, or of the first event until there is one. */
  started_at: string | null;
  /** Timestamp of the event that ended the session; `null` while it runs. */
  ended_at: string | null;
  /** Timestamp of the latest event. */
  last_event_at: string | null;
  /**
   * Milliseconds from `started_at` to `ended_at`, set when the session ends; never
   * negative (a clock that went back gives 0). While the session runs, compute it from
   * `started_at` and `last_event_at` if needed.
   */
  duration_ms: number | null;
  /** Sum of the `energy` of every `energy.update` (the value of `energy_sum`). */
  total_energy: number;
  /** The compensated sum behind `total_energy`. */
  energy_sum: CompensatedSum;
  /** Every event, known type or not. */
  total_events: number;
  /** Events by known type; types never seen are absent. */
  events_by_type: Partial<Record<EventType, number>>;
  /** Events of types this code does not know. */
  unknown_events: number;
  /** `clean_shutdown` of `system.end` (`false` after a recovery); `null` while unknown. */
  clean_shutdown: boolean | null;
  end_reason: SessionEndReason | null;
  /** `session.recovered` events: how often the session was rebuilt after an unclean stop. */
  recoveries: number;
  /** Models that were loaded, switched to, or produced energy or tokens, in first-seen order. */
  models_used: string[];
  /** `ai.output` events. */
  tokens: number;
  /** `user.prompt` events. */
  prompts: number;
  /** `ai.response_complete` events. */
  responses: number;
  /** `energy.peak` events. */
  peaks: number;
  /** Highest `energy` of an `energy.peak`; `null` before the first. */
  max_peak_energy: number | null;
  /** Position of the latest event (0 before any). */
  last_position: number;
}

function initialSummary(): SessionSummary {
  return {
    session_id: null,
    user_id: null,
    status: 'not_started',
    started_at: null,
    ended_at: null,
    last_event_at: null,
    duration_ms: null,
    total_energy: 0,
    energy_sum: emptySum(),
    total_events: 0,
    events_by_type: {},
    unknown_events: 0,
    clean_shutdown: null,
    end_reason: null,
    recoveries: 0,
    models_used: [],
    tokens: 0,
    prompts: 0,
    responses: 0,
    peaks: 0,
    max_peak_energy: null,
    last_position: 0,
  };
}

/** Milliseconds from one timestamp to another, at least 0. */
export function durationBetween(from: string, to: string): number {
  const start = tryParseIsoMicros(from);
  const end = tryParseIsoMicros(to);
  if (start === undefined || end === undefined) return 0;
  return Math.max(0, end - start) / 1000;
}

function useModel(summary: SessionSummary, modelId: string): void {
  const models = summary.models_used;
  // The last model is the likeliest: updates of one model come in runs.
  if (models[models.length - 1] === modelId || models.includes(modelId)) return;
  models.push(modelId);
}

function end(summary: SessionSummary, timestamp: string, reason: SessionEndReason): void {
  summary.status = 'ended';
  summary.ended_at = timestamp;
  summary.end_reason = reason;
  summary.duration_ms = durationBetween(summary.started_at ?? timestamp, timestamp);
}

function evolveKnown(summary: SessionSummary, event: WirthforgeEvent): void {
  const counts = summary.events_by_type;
  counts[event.type] = (counts[event.type] ?? 0) + 1;
  switch (event.type) {
    case 'energy.update':
      addToSum(summary.energy_sum, event.data.energy);
      summary.total_energy = sumValue(summary.energy_sum);
      useModel(summary, event.data.model_id);
      break;
    case 'ai.output':
      summary.tokens += 1;
      useModel(summary, event.data.model_id);
      break;
    case 'user.prompt':
      summary.prompts += 1;
      break;
    case 'ai.response_complete':
      summary.responses += 1;
      useModel(summary, event.data.model_id);
      break;
    case 'energy.peak':
      summary.peaks += 1;
      if (summary.max_peak_energy === null || event.data.energy > summary.max_peak_energy) {
        summary.max_peak_energy = event.data.energy;
      }
      useModel(summary, event.data.model_id);
      break;
    case 'model.loaded':
      useModel(summary, event.data.model_id);
      break;
    case 'model.switched':
      useModel(summary, event.data.to_model_id);
      break;
    case 'system.start':
      summary.session_id = event.session_id;
      summary.user_id = event.data.user_id;
      if (event.data.model_id !== undefined) useModel(summary, event.data.model_id);
      if (summary.events_by_type['system.start'] === 1) summary.started_at = event.timestamp;
      // A start after an end reopens the session.
      summary.status = 'active';
      summary.ended_at = null;
      summary.duration_ms = null;
      summary.end_reason = null;
      summary.clean_shutdown = null;
      break;
    case 'system.end':
      summary.clean_shutdown = event.data.clean_shutdown;
      end(summary, event.timestamp, event.data.reason);
      break;
    case 'session.recovered':
      summary.recoveries += 1;
      summary.clean_shutdown = false;
      if (event.data.outcome === 'closed') end(summary, event.timestamp, 'recovered');
      else if (event.data.outcome === 'resumed') {
        summary.status = 'active';
        summary.ended_at = null;
        summary.duration_ms = null;
        summary.end_reason = null;
      }
      break;
    default:
      break;
  }
}

function evolveSummary(
  summary: SessionSummary,
  event: ProjectionEvent,
  meta: EventMeta,
): SessionSummary {
  const unknown = isUnknownEvent(event);
  const envelope = unknown ? event.event : event;
  if (summary.status === 'not_started') {
    summary.status = 'active';
    summary.session_id = envelope.session_id;
    summary.started_at = envelope.timestamp;
  }
  summary.last_event_at = envelope.timestamp;
  summary.total_events += 1;
  summary.last_position = Number(meta.position);
  if (unknown) summary.unknown_events += 1;
  else evolveKnown(summary, event);
  return summary;
}

/**
 * The summary of one session, folded from the session's stream: start and end,
 * duration, status, total energy, events by type, clean shutdown, models used, tokens,
 * prompts, responses, peaks, recoveries. Its `total_energy` is the energy projection's
 * total of the same events, to the bit.
 *
 * @example
 * ```ts
 * const summary = foldEvents(sessionSummaryProjection, sessionRecords);
 * summary.status; // 'ended'
 * summary.events_by_type['energy.update']; // 21600
 * ```
 */
export const sessionSummaryProjection: Projection<SessionSummary> = Object.freeze({
  name: 'session-summary',
  initialState: initialSummary,
  evolveInPlace: evolveSummary,
  clone: (summary: SessionSummary): SessionSummary => structuredClone(summary),
});
