import { EventsError } from './errors.js';
import { isWellFormed } from './is-well-formed.js';
import { isSessionId } from './session-id.js';

/** Name of the stream of events about the system as a whole, not one session or user. */
export const SYSTEM_STREAM = 'system';

const SESSION_PREFIX = 'session-';
const USER_PREFIX = 'user-';

/** What a stream name says, as returned by {@link parseStreamName}. */
export type StreamName =
  | { readonly kind: 'session'; readonly sessionId: string }
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'system' };

/**
 * The stream of one session: `session-<sessionId>`.
 *
 * @example
 * ```ts
 * sessionStream('20250817T194800Z_001'); // 'session-20250817T194800Z_001'
 * ```
 */
export function sessionStream(sessionId: string): string {
  if (!isSessionId(sessionId)) {
    throw new EventsError('invalid_session_id', 'Expected a session id YYYYMMDDTHHMMSSZ_NNN');
  }
  return SESSION_PREFIX + sessionId;
}

/**
 * The stream of one user: `user-<userId>`. A user id is any non-empty, well-formed
 * string (the default local user is `default`).
 *
 * @example
 * ```ts
 * userStream('default'); // 'user-default'
 * ```
 */
export function userStream(userId: string): string {
  if (!isUserId(userId)) {
    throw new EventsError(
      'invalid_stream_name',
      'A user id must be a non-empty, well-formed string',
    );
  }
  return USER_PREFIX + userId;
}

/** Like {@link parseStreamName}, but returns `undefined` instead of throwing. */
export function tryParseStreamName(name: string): StreamName | undefined {
  if (typeof name !== 'string') return undefined;
  if (name === SYSTEM_STREAM) return { kind: 'system' };
  if (name.startsWith(SESSION_PREFIX)) {
    const sessionId = name.slice(SESSION_PREFIX.length);
    return isSessionId(sessionId) ? { kind: 'session', sessionId } : undefined;
  }
  if (name.startsWith(USER_PREFIX)) {
    const userId = name.slice(USER_PREFIX.length);
    return isUserId(userId) ? { kind: 'user', userId } : undefined;
  }
  return undefined;
}

/**
 * Reads a stream name made by {@link sessionStream}, {@link userStream} or
 * {@link SYSTEM_STREAM}. Throws `invalid_stream_name` for anything else.
 *
 * @example
 * ```ts
 * parseStreamName('session-20250817T194800Z_001'); // { kind: 'session', sessionId: '20250817T194800Z_001' }
 * parseStreamName('user-default');                 // { kind: 'user', userId: 'default' }
 * parseStreamName('system');                       // { kind: 'system' }
 * ```
 */
export function parseStreamName(name: string): StreamName {
  const parsed = tryParseStreamName(name);
  if (parsed === undefined) {
    throw new EventsError(
      'invalid_stream_name',
      'Expected session-<YYYYMMDDTHHMMSSZ_NNN>, user-<id> or system',
    );
  }
  return parsed;
}

function isUserId(userId: unknown): userId is string {
  return typeof userId === 'string' && userId.length > 0 && isWellFormed(userId);
}
