import { createUnknownEvent, decodeEvent, type WirthforgeEvent } from '@wirthforge/events';
import { describe, expect, it } from 'vitest';
import { isInvalidEventError, isStateError } from './errors.js';
import { prepareAppend, sessionIdOfStream } from './prepare-append.js';

const SESSION_ID = '20250817T194800Z_001';
const STREAM = `session-${SESSION_ID}`;

function prompt(overrides: Record<string, unknown> = {}): WirthforgeEvent {
  return {
    session_id: SESSION_ID,
    timestamp: '2025-08-17T19:48:00.5Z',
    type: 'user.prompt',
    data: { prompt_id: 'p1', interface: 'text', truncated: false },
    ...overrides,
  };
}

function failure(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('prepareAppend', () => {
  it('encodes events, leaving the session id to a session stream', () => {
    const prepared = prepareAppend(STREAM, [prompt({ event_id: 'e-1' })], { expectedVersion: 3n });
    expect(prepared.stream).toBe(STREAM);
    expect(prepared.expectedVersion).toBe(3n);
    const [record] = prepared.records;
    expect(record).toMatchObject({ type: 'user.prompt', schemaVersion: 1, eventId: 'e-1' });
    // Read back with the stream's session id, in canonical form.
    expect(decodeEvent(record!, { sessionId: SESSION_ID })).toEqual(
      prompt({ event_id: 'e-1', timestamp: '2025-08-17T19:48:00.500000Z' }),
    );
    expect(() => decodeEvent(record!)).toThrow(/session_id/);
    expect(prepareAppend(STREAM, []).records).toEqual([]);
    expect('expectedVersion' in prepareAppend(STREAM, [])).toBe(false);
  });

  it('keeps the session id in the payload of other streams', () => {
    const [record] = prepareAppend('user-ada', [prompt()]).records;
    expect(decodeEvent(record!)).toMatchObject({ session_id: SESSION_ID });
  });

  it('lists every problem of every event with its index', () => {
    const error = failure(() =>
      prepareAppend(STREAM, [
        prompt(),
        prompt({ data: { prompt_id: 3, interface: 'telepathy', truncated: false } }),
        prompt(),
        prompt({ session_id: '20250817T194800Z_002' }),
        'not an event' as unknown as WirthforgeEvent,
      ]),
    );
    expect(isInvalidEventError(error)).toBe(true);
    if (!isInvalidEventError(error)) return;
    expect(error.issues.map((issue) => [issue.index, issue.path, issue.keyword])).toEqual([
      [1, '/data/prompt_id', 'type'],
      [1, '/data/interface', 'enum'],
      [3, '/session_id', 'stream'],
      [4, '', 'type'],
    ]);
    expect(error.message).toContain('events[1]/data/prompt_id');
    expect(error.message).toContain('(and 1 more)');
  });

  it('refuses plain unknown types, accepts wrapped ones, and reports what the codec refuses', () => {
    const unknown = { ...prompt(), type: 'plugin.thing', data: {} };
    const error = failure(() => prepareAppend(STREAM, [unknown as unknown as WirthforgeEvent]));
    expect(isInvalidEventError(error) && error.issues[0]?.keyword).toBe('unknown_type');
    const wrapped = createUnknownEvent(unknown);
    expect(prepareAppend(STREAM, [wrapped]).records[0]?.type).toBe('plugin.thing');
    // Validation off: the schema is not checked, the codec still is.
    const loose = prompt({ data: { prompt_id: 3 } });
    expect(prepareAppend(STREAM, [loose], { validate: false }).records).toHaveLength(1);
    const surrogate = prompt({
      data: { prompt_id: '\ud800', interface: 'text', truncated: false },
    });
    const codec = failure(() => prepareAppend(STREAM, [surrogate], { validate: false }));
    expect(isInvalidEventError(codec) && codec.issues[0]).toMatchObject({
      index: 0,
      keyword: 'invalid_string',
      path: '/data/prompt_id',
    });
  });

  it('refuses a time before 1970, which events allow and the store cannot keep', () => {
    // Found by the fault suite's generated input: the storage refused it with an
    // invalid_argument, which the daemon answered with a 500.
    const early = prompt({ timestamp: '1969-12-31T23:59:59.999999Z' });
    const error = failure(() => prepareAppend(STREAM, [prompt(), early]));
    expect(isInvalidEventError(error) && error.issues).toEqual([
      {
        index: 1,
        path: '/timestamp',
        keyword: 'invalid_timestamp',
        message:
          '1969-12-31T23:59:59.999999Z is before 1970-01-01T00:00:00Z: the store keeps times from the Unix epoch on',
      },
    ]);
    const epoch = prompt({ timestamp: '1970-01-01T00:00:00Z' });
    expect(prepareAppend(STREAM, [epoch]).records[0]?.timestampUs).toBe(0);
  });

  it('refuses event ids and payloads larger than the storage keeps, naming them', () => {
    const longId = prompt({ event_id: 'x'.repeat(129) });
    // The envelope takes any extra property: the schema sets no size.
    const big = prompt({ padding: 'y'.repeat(1_100_000) });
    const error = failure(() =>
      prepareAppend(STREAM, [prompt({ event_id: 'x'.repeat(128) }), longId, big]),
    );
    expect(isInvalidEventError(error) && error.issues).toMatchObject([
      { index: 1, path: '/event_id', keyword: 'maxLength' },
      { index: 2, path: '', keyword: 'encode_failed' },
    ]);
  });

  it('refuses session streams whose name holds no session id', () => {
    expect(sessionIdOfStream(STREAM)).toBe(SESSION_ID);
    expect(sessionIdOfStream('user-ada')).toBeUndefined();
    expect(sessionIdOfStream('system')).toBeUndefined();
    expect(
      isStateError(
        failure(() => sessionIdOfStream('session-42')),
        'invalid_argument',
      ),
    ).toBe(true);
    expect(
      isStateError(
        failure(() => prepareAppend('', [])),
        'invalid_argument',
      ),
    ).toBe(true);
    expect(
      isStateError(
        failure(() => prepareAppend(STREAM, {} as unknown as WirthforgeEvent[])),
        'invalid_argument',
      ),
    ).toBe(true);
  });
});
