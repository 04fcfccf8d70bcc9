import { describe, expect, it } from 'vitest';

import { eventContentDigest } from './event-content-digest.js';
import type { EventContentInput } from './event-content-digest.js';

const base: EventContentInput = {
  stream: 'session-20250817T194800Z_001',
  type: 'user.prompt',
  schemaVersion: 1,
  timestampUs: 1_755_460_080_000_123,
  frameId: 42,
  payload: Uint8Array.of(0x81, 0xa1, 0x70, 0x01),
};

const hex = (event: EventContentInput): string =>
  Buffer.from(eventContentDigest(event)).toString('hex');

describe('eventContentDigest', () => {
  it('is 32 bytes and the same for the same content', () => {
    expect(eventContentDigest(base)).toHaveLength(32);
    expect(hex({ ...base, payload: Uint8Array.from(base.payload) })).toBe(hex(base));
  });

  it('changes with every field it covers', () => {
    const variants: EventContentInput[] = [
      { ...base, stream: 'session-other' },
      { ...base, type: 'user.prompts' },
      { ...base, schemaVersion: 2 },
      { ...base, timestampUs: base.timestampUs + 1 },
      { ...base, frameId: 43 },
      { ...base, frameId: null },
      { ...base, frameId: 0 },
      { ...base, payload: Uint8Array.of(0x81, 0xa1, 0x70, 0x02) },
      { ...base, payload: Uint8Array.of(0x81, 0xa1, 0x70, 0x01, 0xc0) },
      // The same bytes split differently between stream and type.
      { ...base, stream: `${base.stream}u`, type: 'ser.prompt' },
    ];
    const digests = new Set([hex(base), ...variants.map(hex)]);
    expect(digests.size).toBe(variants.length + 1);
  });
});
