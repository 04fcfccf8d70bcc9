import { isUnknownEvent, type EventData, type WirthforgeEvent } from '@wirthforge/events';
import { addToSum, emptySum, sumValue, type CompensatedSum } from './compensated-sum.js';
import type { EventMeta, Projection, ProjectionEvent } from './projection.js';
import type { SessionStatus } from './session-summary-projection.js';

/** The name of an experience level. */
export type LevelName = EventData<'experience.level_unlock'>['level_name'];

/** The five experience levels of WIRTHFORGE, level 1 first. */
export const LEVEL_NAMES: readonly LevelName[] = [
  'Lightning',
  'Stream',
  'Interference',
  'Resonance',
  'Orchestration',
];

/** An experience level, 1 to 5. */
export type Level = 1 | 2 | 3 | 4 | 5;

/**
 * Experience points each kind of achievement is worth. A user's points are the sum of
 * these over their events plus one point per {@link ENERGY_PER_EXPERIENCE_POINT} EU of
 * total energy.
 */
export const EXPERIENCE_POINTS = Object.freeze({
  /** A `user.prompt`. */
  prompt: 1,
  /** An `ai.response_complete` whose `completion_reason` is `finished`. */
  responseFinished: 1,
  /** A `pattern.interference`. */
  interference: 2,
  /** A `pattern.resonance`. */
  resonance: 5,
  /** An `ensemble.coordination` that reached consensus. */
  consensus: 5,
  /** A `system.end` with `clean_shutdown`. */
  cleanSession: 10,
  /** An `experience.level_unlock` of a level not unlocked before, per level number. */
  levelUnlockPerLevel: 50,
});

/** Energy (EU) worth one experience point. */
export const ENERGY_PER_EXPERIENCE_POINT = 100;

/** A level the user unlocked, as its first `experience.level_unlock` says. */
export interface UnlockedLevel {
  level: Level;
  level_name: LevelName;
  unlocked_at: string;
  session_id: string;
  trigger_condition: string;
}

/** One session of the user, as user progress counts it. */
export interface UserSessionEntry {
  session_id: string;
  status: Exclude<SessionStatus, 'not_started'>;
  /** Timestamp of `system.start`, or of the session's first event until there is one. */
  started_at: string;
  ended_at: string | null;
  clean_shutdown: boolean | null;
  /** Energy of the session's `energy.update` events (the value of `energy_sum`). */
  total_energy: number;
  energy_sum: CompensatedSum;
  tokens: number;
  prompts: number;
  /** Whether a `system.start` of the session was seen. */
  started: boolean;
}

/**
 * A user's progress, folded from the events of all their sessions in position order. A
 * plain, storable value.
 */
export interface UserProgress {
  /** `user_id` of the latest `system.start`; `null` until one. */
  user_id: string | null;
  /** Highest level unlocked; 1 (Lightning) to begin with. */
  level: Level;
  level_name: LevelName;
  /** Levels unlocked, in the order they were first unlocked. */
  unlocked_levels: UnlockedLevel[];
  /** `features_unlocked` of every level unlock, each once, in unlock order. */
  unlocked_features: string[];
  /** Sessions seen (distinct session ids). */
  total_sessions: number;
  /** One entry per session, in the order sessions were first seen. */
  sessions: UserSessionEntry[];
  /** Sum of the `energy` of every `energy.update` of every session (the value of `energy_sum`). */
  total_energy: number;
  energy_sum: CompensatedSum;
  total_tokens: number;
  total_prompts: number;
  /** Points of {@link EXPERIENCE_POINTS} plus one per {@link ENERGY_PER_EXPERIENCE_POINT} EU. */
  experience_points: number;
  /** The part of `experience_points` earned by achievements (without energy). */
  achievement_points: number;
  /**
   * Settings the user chose: the `context` of `user.action` events with action
   * `settings` or `level_select`, merged key by key, the latest value winning.
   */
  preferences: Record<string, unknown>;
  /** Index in `sessions` of the latest event's session (-1 before any). */
  current_session: number;
  /** Position of the latest event (0 before any). */
  last_position: number;
}

function initialProgress(): UserProgress {
  return {
    user_id: null,
    level: 1,
    level_name: 'Lightning',
    unlocked_levels: [],
    unlocked_features: [],
    total_sessions: 0,
    sessions: [],
    total_energy: 0,
    energy_sum: emptySum(),
    total_tokens: 0,
    total_prompts: 0,
    experience_points: 0,
    achievement_points: 0,
    preferences: {},
    current_session: -1,
    last_position: 0,
  };
}

/** The name of a level number. */
export function levelName(level: Level): LevelName {
  return LEVEL_NAMES[level - 1] as LevelName;
}

function sessionOf(progress: UserProgress, sessionId: string, timestamp: string): UserSessionEntry {
  const sessions = progress.sessions;
  const current = sessions[progress.current_session];
  if (current !== undefined && current.session_id === sessionId) return current;
  for (let i = sessions.length - 1; i >= 0; i--) {
    const entry = sessions[i] as UserSessionEntry;
    if (entry.session_id === sessionId) {
      progress.current_session = i;
      return entry;
    }
  }
  const entry: UserSessionEntry = {
    session_id: sessionId,
    status: 'active',
    started_at: timestamp,
    ended_at: null,
    clean_shutdown: null,
    total_energy: 0,
    energy_sum: emptySum(),
    tokens: 0,
    prompts: 0,
    started: false,
  };
  progress.current_session = sessions.length;
  sessions.push(entry);
  progress.total_sessions = sessions.length;
  return entry;
}

function earn(progress: UserProgress, points: number): void {
  progress.achievement_points += points;
  updateExperience(progress);
}

function updateExperience(progress: UserProgress): void {
  progress.experience_points =
    progress.achievement_points +
    Math.floor(Math.max(0, progress.total_energy) / ENERGY_PER_EXPERIENCE_POINT);
}

function levelUnlock(
  progress: UserProgress,
  event: Extract<WirthforgeEvent, { type: 'experience.level_unlock' }>,
): void {
  const data = event.data;
  const level = data.level as Level;
  if (!progress.unlocked_levels.some((unlocked) => unlocked.level === level)) {
    progress.unlocked_levels.push({
      level,
      level_name: levelName(level),
      unlocked_at: event.timestamp,
      session_id: event.session_id,
      trigger_condition: data.trigger_condition,
    });
    earn(progress, EXPERIENCE_POINTS.levelUnlockPerLevel * level);
  }
  if (level > progress.level) {
    progress.level = level;
    progress.level_name = levelName(level);
  }
  for (const feature of data.features_unlocked ?? []) {
    if (!progress.unlocked_features.includes(feature)) progress.unlocked_features.push(feature);
  }
}

function mergePreferences(progress: UserProgress, context: Record<string, unknown>): void {
  const preferences = progress.preferences;
  for (const key of Object.keys(context)) {
    // Not a storable property name; assigning it would replace the prototype.
    if (key === '__proto__') continue;
    const value = context[key];
    // A copy: the state must not share objects with an event its producer may reuse.
    if (value !== undefined) preferences[key] = structuredClone(value);
  }
}

function evolveKnown(progress: UserProgress, session: UserSessionEntry, event: WirthforgeEvent) {
  switch (event.type) {
    case 'energy.update':
      addToSum(progress.energy_sum, event.data.energy);
      progress.total_energy = sumValue(progress.energy_sum);
      addToSum(session.energy_sum, event.data.energy);
      session.total_energy = sumValue(session.energy_sum);
      updateExperience(progress);
      break;
    case 'ai.output':
      progress.total_tokens += 1;
      session.tokens += 1;
      break;
    case 'user.prompt':
      progress.total_prompts += 1;
      session.prompts += 1;
      earn(progress, EXPERIENCE_POINTS.prompt);
      break;
    case 'ai.response_complete':
      if (event.data.completion_reason === 'finished') {
        earn(progress, EXPERIENCE_POINTS.responseFinished);
      }
      break;
    case 'pattern.interference':
      earn(progress, EXPERIENCE_POINTS.interference);
      break;
    case 'pattern.resonance':
      earn(progress, EXPERIENCE_POINTS.resonance);
      break;
    case 'ensemble.coordination':
      if (event.data.consensus_reached === true) earn(progress, EXPERIENCE_POINTS.consensus);
      break;
    case 'experience.level_unlock':
      levelUnlock(progress, event);
      break;
    case 'user.action':
      if (
        (event.data.action === 'settings' || event.data.action === 'level_select') &&
        event.data.context !== undefined
      ) {
        mergePreferences(progress, event.data.context);
      }
      break;
    case 'system.start':
      progress.user_id = event.data.user_id;
      if (!session.started) {
        session.started = true;
        session.started_at = event.timestamp;
      }
      session.status = 'active';
      session.ended_at = null;
      session.clean_shutdown = null;
      break;
    case 'system.end':
      session.status = 'ended';
      session.ended_at = event.timestamp;
      session.clean_shutdown = event.data.clean_shutdown;
      if (event.data.clean_shutdown) earn(progress, EXPERIENCE_POINTS.cleanSession);
      break;
    case 'session.recovered':
      session.clean_shutdown = false;
      if (event.data.outcome === 'closed') {
        session.status = 'ended';
        session.ended_at = event.timestamp;
      } else if (event.data.outcome === 'resumed') {
        session.status = 'active';
        session.ended_at = null;
      }
      break;
    default:
      break;
  }
}

function evolveProgress(
  progress: UserProgress,
  event: ProjectionEvent,
  meta: EventMeta,
): UserProgress {
  const unknown = isUnknownEvent(event);
  const envelope = unknown ? event.event : event;
  const session = sessionOf(progress, envelope.session_id, envelope.timestamp);
  progress.last_position = Number(meta.position);
  if (!unknown) evolveKnown(progress, session, event);
  return progress;
}

/**
 * A user's progress across sessions: level (1 Lightning, 2 Stream, 3 Interference,
 * 4 Resonance, 5 Orchestration) and unlocked levels and features from
 * `experience.level_unlock`, sessions (each with its own totals), total energy, tokens
 * and prompts, experience points ({@link EXPERIENCE_POINTS}) and preferences. Fold the
 * user's events of every session in position order; each session's totals stay apart
 * in `sessions` and the user's totals are their sums.
 *
 * @example
 * ```ts
 * const progress = foldEvents(userProgressProjection, userRecords);
 * `${progress.level_name} (level ${progress.level}), ${progress.experience_points} XP`;
 * ```
 */
export const userProgressProjection: Projection<UserProgress> = Object.freeze({
  name: 'user-progress',
  initialState: initialProgress,
  evolveInPlace: evolveProgress,
  clone: (progress: UserProgress): UserProgress => structuredClone(progress),
});
