import { describe, expect, it } from 'vitest';

import { isStorageError } from './errors.js';
import type { NewEventRecord, StreamAppend } from './event-storage.js';
import { streamKindOf } from './event-storage.js';
import {
  MAX_BATCH_PAYLOAD_BYTES,
  MAX_EVENT_ID_LENGTH,
  MAX_PAYLOAD_BYTES,
  MAX_STREAM_NAME_LENGTH,
  expectedVersionMatches,
  resolveReadAllOptions,
  resolveReadStreamOptions,
  validateAppendBatch,
  validateReadAllOptions,
  validateReadStreamOptions,
} from './validate-append-batch.js';

const event = (overrides: Partial<NewEventRecord> = {}): NewEventRecord => ({
  type: 'energy.update',
  schemaVersion: 1,
  timestampUs: 1_000,
  payload: Uint8Array.of(1),
  ...overrides,
});
const append = (overrides: Partial<StreamAppend> = {}): StreamAppend => ({
  stream: 'session-1',
  expectedVersion: 'any',
  events: [event()],
  ...overrides,
});

function rejection(fn: () => void): string {
  try {
    fn();
  } catch (error) {
    expect(isStorageError(error, 'invalid_argument')).toBe(true);
    return (error as Error).message;
  }
  throw new Error('expected invalid_argument');
}

describe('validateAppendBatch', () => {
  it('accepts a well-formed batch, an empty one and writes-only', () => {
    expect(() => validateAppendBatch([append(), append({ stream: 'user-1' })])).not.toThrow();
    expect(() => validateAppendBatch([])).not.toThrow();
    expect(() =>
      validateAppendBatch([], { writes: [{ kind: 'metadata.set', key: 'k', value: '' }] }),
    ).not.toThrow();
    expect(() =>
      validateAppendBatch([
        append({ events: [event({ frameId: 0, eventId: 'x', payload: new Uint8Array(0) })] }),
      ]),
    ).not.toThrow();
  });

  it.each([
    ['not an array', 'x', 'appends: expected an array'],
    ['null append', [null], 'appends[0]: expected a stream append object'],
    [
      'long stream name',
      [append({ stream: 's'.repeat(MAX_STREAM_NAME_LENGTH + 1) })],
      'appends[0].stream',
    ],
    [
      'duplicate stream',
      [append(), append()],
      'appends[1].stream: stream "session-1" appears more than once',
    ],
    ['bad kind', [{ ...append(), kind: 'robot' }], 'appends[0].kind'],
    ['float version', [{ ...append(), expectedVersion: 1.5 }], 'appends[0].expectedVersion'],
    [
      'negative version',
      [append({ expectedVersion: -2n })],
      'appends[0].expectedVersion: negative version -2',
    ],
    [
      'null event',
      [{ ...append(), events: [event(), null] }],
      'appends[0].events[1]: expected an event',
    ],
    [
      'type not a string',
      [append({ events: [{ ...event(), type: 7 as unknown as string }] })],
      'appends[0].events[0].type',
    ],
    [
      'long type',
      [append({ events: [event({ type: 't'.repeat(200) })] })],
      'appends[0].events[0].type',
    ],
    [
      'schema version 0',
      [append({ events: [event({ schemaVersion: 0 })] })],
      'appends[0].events[0].schemaVersion',
    ],
    [
      'NaN timestamp',
      [append({ events: [event({ timestampUs: Number.NaN })] })],
      'appends[0].events[0].timestampUs',
    ],
    [
      'unsafe timestamp',
      [append({ events: [event({ timestampUs: 2 ** 60 })] })],
      'appends[0].events[0].timestampUs',
    ],
    [
      'fractional frame',
      [append({ events: [event({ frameId: 0.5 })] })],
      'appends[0].events[0].frameId',
    ],
    [
      'long event id',
      [append({ events: [event({ eventId: 'e'.repeat(MAX_EVENT_ID_LENGTH + 1) })] })],
      'appends[0].events[0].eventId',
    ],
    [
      'ArrayBuffer payload',
      [append({ events: [{ ...event(), payload: new ArrayBuffer(2) as unknown as Uint8Array }] })],
      'appends[0].events[0].payload: expected a Uint8Array',
    ],
    [
      'oversized payload',
      [append({ events: [event(), event({ payload: new Uint8Array(MAX_PAYLOAD_BYTES + 1) })] })],
      `appends[0].events[1].payload: ${MAX_PAYLOAD_BYTES + 1} bytes, more than the ${MAX_PAYLOAD_BYTES} allowed`,
    ],
  ])('rejects %s', (_title, appends, message) => {
    expect(rejection(() => validateAppendBatch(appends))).toContain(message);
  });

  it('rejects a batch whose payloads together exceed the batch limit', () => {
    const payload = new Uint8Array(MAX_PAYLOAD_BYTES);
    const events = Array.from({ length: MAX_BATCH_PAYLOAD_BYTES / MAX_PAYLOAD_BYTES }, () =>
      event({ payload }),
    );
    expect(() => validateAppendBatch([append({ events })])).not.toThrow();
    expect(
      rejection(() =>
        validateAppendBatch([append({ events }), append({ stream: 's2', events: [event()] })]),
      ),
    ).toContain(`appends[1].events[0]: batch payloads exceed ${MAX_BATCH_PAYLOAD_BYTES} bytes`);
  });

  it('rejects malformed writes, naming the write and field', () => {
    expect(rejection(() => validateAppendBatch([], { writes: 'x' as never }))).toContain(
      'options.writes',
    );
    expect(
      rejection(() =>
        validateAppendBatch([], {
          writes: [
            { kind: 'metadata.set', key: 'a', value: 'b' },
            {
              kind: 'session.end',
              sessionId: 's',
              status: 'paused',
              endedUs: 1,
              cleanEnd: true,
            } as never,
          ],
        }),
      ),
    ).toContain('writes[1].status');
  });
});

describe('expected versions', () => {
  it('follows the contract for every mode', () => {
    expect(expectedVersionMatches('any', 0n)).toBe(true);
    expect(expectedVersionMatches('any', 9n)).toBe(true);
    expect(expectedVersionMatches('no_stream', 0n)).toBe(true);
    expect(expectedVersionMatches('no_stream', 1n)).toBe(false);
    expect(expectedVersionMatches('stream_exists', 0n)).toBe(false);
    expect(expectedVersionMatches('stream_exists', 1n)).toBe(true);
    expect(expectedVersionMatches(0n, 0n)).toBe(true);
    expect(expectedVersionMatches(3n, 3n)).toBe(true);
    expect(expectedVersionMatches(3n, 4n)).toBe(false);
  });
});

describe('read options', () => {
  it('validates and names the bad option', () => {
    expect(rejection(() => validateReadStreamOptions('', undefined))).toContain('stream');
    expect(rejection(() => validateReadStreamOptions('s', { from: 1 }))).toContain('options.from');
    expect(rejection(() => validateReadStreamOptions('s', { to: -1n }))).toContain('options.to');
    expect(rejection(() => validateReadStreamOptions('s', 'x'))).toContain('options');
    expect(rejection(() => validateReadAllOptions({ toPosition: -1n }))).toContain(
      'options.toPosition',
    );
    expect(rejection(() => validateReadAllOptions({ streams: 'a' }))).toContain('options.streams');
    expect(rejection(() => validateReadAllOptions({ streams: ['a', 3] }))).toContain(
      'options.streams[1]',
    );
    expect(() => validateReadAllOptions({ types: [], maxCount: 0 })).not.toThrow();
  });

  it('resolves defaults in both directions', () => {
    expect(resolveReadStreamOptions()).toEqual({
      backwards: false,
      low: 1,
      high: Number.POSITIVE_INFINITY,
      maxCount: Number.POSITIVE_INFINITY,
    });
    expect(
      resolveReadStreamOptions({ direction: 'backwards', from: 9n, to: 3n, maxCount: 2 }),
    ).toEqual({ backwards: true, low: 3, high: 9, maxCount: 2 });
    expect(resolveReadStreamOptions({ from: 0n })).toMatchObject({ low: 1 });
    expect(resolveReadAllOptions({ fromPosition: 5n, types: ['a'] })).toEqual({
      low: 5,
      high: Number.POSITIVE_INFINITY,
      maxCount: Number.POSITIVE_INFINITY,
      types: ['a'],
      streams: undefined,
    });
  });
});

describe('streamKindOf', () => {
  it('derives the kind from the name', () => {
    expect(streamKindOf('session-20250817T194800Z_001')).toBe('session');
    expect(streamKindOf('session:1')).toBe('session');
    expect(streamKindOf('user-default')).toBe('user');
    expect(streamKindOf('user:default')).toBe('user');
    expect(streamKindOf('system')).toBe('system');
    expect(streamKindOf('sessions')).toBe('system');
  });
});
