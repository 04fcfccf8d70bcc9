import { describe, expect, it } from 'vitest';
import {
  EventValidationError,
  EventsError,
  FutureVersionError,
  UnknownEventTypeError,
  isEventsError,
  type ValidationIssue,
} from './errors.js';
import { createUnknownEvent } from './unknown-event.js';

describe('EventsError', () => {
  it('carries a code, a name, a path, a cause and is not retryable', () => {
    const cause = new Error('root');
    const error = new EventsError('encode_failed', 'bad', { cause, path: '/data/x' });
    expect(error.code).toBe('encode_failed');
    expect(error.name).toBe('EventsError');
    expect(error.path).toBe('/data/x');
    expect(error.cause).toBe(cause);
    expect(error.retryable).toBe(false);
    expect(error).toBeInstanceOf(Error);
  });

  it('is recognised by its brand and code, with or without the code asked for', () => {
    const error = new EventsError('invalid_string', 'bad');
    expect(isEventsError(error)).toBe(true);
    expect(isEventsError(error, 'invalid_string')).toBe(true);
    expect(isEventsError(error, 'encode_failed')).toBe(false);
  });

  it('is recognised when thrown by another copy of the package (same global brand)', () => {
    const foreign = new Error('from another copy');
    Object.defineProperty(foreign, Symbol.for('@wirthforge/events/EventsError'), { value: true });
    Object.assign(foreign, { code: 'decode_failed' });
    expect(isEventsError(foreign, 'decode_failed')).toBe(true);
  });

  it('does not mistake look-alikes for its errors', () => {
    expect(isEventsError({ code: 'invalid_event', message: 'x' })).toBe(false);
    expect(isEventsError(new Error('x'))).toBe(false);
    expect(isEventsError(null)).toBe(false);
    expect(isEventsError('invalid_event')).toBe(false);
    const branded = { code: 'not_a_code' };
    Object.defineProperty(branded, Symbol.for('@wirthforge/events/EventsError'), { value: true });
    expect(isEventsError(branded)).toBe(false);
  });

  it('summarises the first issues of a validation error and counts the rest', () => {
    const issues: ValidationIssue[] = Array.from({ length: 7 }, (_, i) => ({
      path: `/data/f${i}`,
      keyword: 'required',
      message: 'is required',
    }));
    const error = new EventValidationError(issues);
    expect(error.code).toBe('invalid_event');
    expect(error.name).toBe('EventValidationError');
    expect(error.issues).toBe(issues);
    expect(error.message).toBe(
      'Invalid event: /data/f0 is required; /data/f1 is required; /data/f2 is required; /data/f3 is required; /data/f4 is required; and 2 more',
    );
    expect(isEventsError(error, 'invalid_event')).toBe(true);
  });

  it('names type, version and known version of a future version', () => {
    const error = new FutureVersionError('energy.update', 3, 1);
    expect(error.message).toContain('"energy.update"');
    expect(error.message).toContain('version 3');
    expect(error.message).toContain('(1)');
    if (!isEventsError(error, 'future_version')) throw new Error('not narrowed');
    expect([error.type, error.version, error.knownVersion]).toEqual(['energy.update', 3, 1]);
  });

  it('keeps the event of an unknown type on the error', () => {
    const event = createUnknownEvent({
      session_id: '20250817T194800Z_001',
      timestamp: '2025-08-17T19:48:05.123456Z',
      type: 'vision.frame',
    });
    const error = new UnknownEventTypeError(event);
    expect(error.code).toBe('unknown_type');
    expect(error.event).toBe(event);
    expect(error.path).toBe('/type');
  });
});
