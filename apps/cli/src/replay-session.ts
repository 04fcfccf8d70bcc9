/**
 * One pass over a session's events folding the energy state and the session summary,
 * optionally stopping at a point in time (a position, a frame or a timestamp).
 */
import { parseIsoMicros } from '@wirthforge/events';
import { energyProjection, sessionSummaryProjection } from '@wirthforge/eventstore';
import type {
  EnergyProjectionState,
  EventStore,
  SessionSummary,
  StoreRecord,
} from '@wirthforge/eventstore';

import { CliError } from './errors.js';

/** Where a replay stops: after this position, frame or time (inclusive). */
export type ReplayPoint =
  | { readonly kind: 'position'; readonly position: bigint }
  | { readonly kind: 'frame'; readonly frame: number }
  | { readonly kind: 'time'; readonly timeUs: number; readonly text: string };

/** What a replay folded. */
export interface ReplayResult {
  readonly energy: EnergyProjectionState;
  readonly summary: SessionSummary;
  /** Events folded. */
  readonly events: number;
  /** Position and version of the last event folded (0n when none). */
  readonly lastPosition: bigint;
  readonly lastVersion: bigint;
}

/**
 * Parses `--at`: an integer is a position, `frame:N` a frame id, anything else an
 * ISO-8601 timestamp.
 */
export function parseReplayPoint(text: string): ReplayPoint {
  if (/^\d+$/.test(text)) return { kind: 'position', position: BigInt(text) };
  const frame = /^frame:(\d+)$/.exec(text);
  if (frame !== null) return { kind: 'frame', frame: Number(frame[1]) };
  const position = /^position:(\d+)$/.exec(text);
  if (position !== null) return { kind: 'position', position: BigInt(position[1]!) };
  const time = text.startsWith('time:') ? text.slice(5) : text;
  const ms = Date.parse(time);
  if (Number.isNaN(ms)) {
    throw new CliError(
      'usage',
      `--at ${JSON.stringify(text)} is not a position, frame:N or a timestamp`,
      { hint: 'e.g. --at 1234 (position), --at frame:600, --at 2025-08-17T19:48:05Z' },
    );
  }
  let us: number;
  try {
    us = parseIsoMicros(time);
  } catch {
    us = ms * 1000;
  }
  return { kind: 'time', timeUs: us, text: time };
}

function frameOf(record: StoreRecord): number | undefined {
  const id = (record.event as { frame_id?: unknown }).frame_id;
  return typeof id === 'number' ? id : undefined;
}

function timeOf(record: StoreRecord): number {
  return parseIsoMicros((record.event as { timestamp: string }).timestamp);
}

/** Whether `record` comes after `point` (the replay stops before it). */
export function isAfter(record: StoreRecord, point: ReplayPoint): boolean {
  switch (point.kind) {
    case 'position':
      return record.position > point.position;
    case 'frame': {
      const frame = frameOf(record);
      return frame !== undefined && frame > point.frame;
    }
    case 'time':
      return timeOf(record) > point.timeUs;
  }
}

/** Replays a session's stream up to `point` (all of it when absent). */
export async function replaySession(
  store: EventStore,
  stream: string,
  options: {
    readonly at?: ReplayPoint;
    /** Read no further than this stream version. */
    readonly toVersion?: bigint;
    readonly onEvent?: (count: number) => void;
  } = {},
): Promise<ReplayResult> {
  let energy = energyProjection.initialState();
  let summary = sessionSummaryProjection.initialState();
  let events = 0;
  let lastPosition = 0n;
  let lastVersion = 0n;
  const range = options.toVersion === undefined ? {} : { to: options.toVersion };
  for await (const record of store.readStream(stream, range)) {
    if (options.at !== undefined && isAfter(record, options.at)) break;
    energy = energyProjection.evolveInPlace(energy, record.event, record);
    summary = sessionSummaryProjection.evolveInPlace(summary, record.event, record);
    events++;
    lastPosition = record.position;
    lastVersion = record.version;
    if (options.onEvent !== undefined && (events & 1023) === 0) options.onEvent(events);
  }
  return { energy, summary, events, lastPosition, lastVersion };
}
