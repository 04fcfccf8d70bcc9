import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isEventsError } from './errors.js';
import { createSessionId } from './session-id.js';
import {
  SYSTEM_STREAM,
  parseStreamName,
  sessionStream,
  tryParseStreamName,
  userStream,
} from './stream-name.js';

function errorOf(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

describe('stream names', () => {
  it('names the streams of a session, a user and the system', () => {
    expect(sessionStream('20250817T194800Z_001')).toBe('session-20250817T194800Z_001');
    expect(userStream('default')).toBe('user-default');
    expect(SYSTEM_STREAM).toBe('system');
  });

  it('reads each kind back', () => {
    expect(parseStreamName('session-20250817T194800Z_001')).toEqual({
      kind: 'session',
      sessionId: '20250817T194800Z_001',
    });
    expect(parseStreamName('user-default')).toEqual({ kind: 'user', userId: 'default' });
    expect(parseStreamName('user-a-b')).toEqual({ kind: 'user', userId: 'a-b' });
    expect(parseStreamName(SYSTEM_STREAM)).toEqual({ kind: 'system' });
  });

  it('round-trips any session and any user', () => {
    const sessionId = fc
      .tuple(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: 999 }))
      .map(([s, n]) => createSessionId(new Date(s * 1000), n));
    fc.assert(
      fc.property(sessionId, fc.string({ unit: 'binary', minLength: 1 }), (id, user) => {
        expect(parseStreamName(sessionStream(id))).toEqual({ kind: 'session', sessionId: id });
        expect(parseStreamName(userStream(user))).toEqual({ kind: 'user', userId: user });
      }),
    );
  });

  it('refuses a session stream for something that is not a session id', () => {
    expect(
      isEventsError(
        errorOf(() => sessionStream('abc')),
        'invalid_session_id',
      ),
    ).toBe(true);
  });

  it('refuses an empty or malformed user id', () => {
    expect(
      isEventsError(
        errorOf(() => userStream('')),
        'invalid_stream_name',
      ),
    ).toBe(true);
    expect(
      isEventsError(
        errorOf(() => userStream('a\ud800')),
        'invalid_stream_name',
      ),
    ).toBe(true);
  });

  it.each(['session-abc', 'session-', 'user-', 'System', 'systems', 'other-1', ''])(
    'refuses %j',
    (name) => {
      expect(tryParseStreamName(name)).toBeUndefined();
      expect(
        isEventsError(
          errorOf(() => parseStreamName(name)),
          'invalid_stream_name',
        ),
      ).toBe(true);
    },
  );
});
