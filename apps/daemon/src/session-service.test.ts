import { parseIsoMicros } from '@wirthforge/events';
import { describe, expect, it } from 'vitest';
import { isDaemonError } from './errors.js';
import { parseStatePoint } from './session-service.js';

describe('parseStatePoint', () => {
  it('reads a position, a frame and a time', () => {
    expect(parseStatePoint('42')).toEqual({ kind: 'position', position: 42n });
    expect(parseStatePoint('frame:600')).toEqual({ kind: 'frame', frame: 600 });
    const time = '2025-08-17T19:48:05.123456Z';
    expect(parseStatePoint(time)).toEqual({ kind: 'time', timestampUs: parseIsoMicros(time) });
    expect(parseStatePoint(`time:${time}`)).toEqual({
      kind: 'time',
      timestampUs: parseIsoMicros(time),
    });
  });
  it('refuses anything else, naming the query parameter', () => {
    for (const raw of ['', '-1', 'frame:', 'frame:x', '2025-02-30T00:00:00Z', 'soon']) {
      try {
        parseStatePoint(raw);
        throw new Error(`accepted ${raw}`);
      } catch (error) {
        expect(isDaemonError(error, 'invalid_request'), raw).toBe(true);
        expect((error as { issues: { path: string }[] }).issues[0]?.path).toBe('/query/at');
      }
    }
  });
});
