import { crc32 } from 'node:zlib';

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { eventChecksum } from './event-checksum.js';
import type { EventChecksumInput } from './event-checksum.js';

const sample: EventChecksumInput = {
  position: 1n,
  stream: 'session-20250817T194800Z_001',
  version: 1n,
  type: 'energy.update',
  schemaVersion: 1,
  timestampUs: 1_755_460_085_130_000,
  frameId: 42,
  eventId: 'evt-1',
  payload: Uint8Array.of(0x81, 0xa1, 0x65, 0x01),
};

/** The documented layout, built byte by byte. */
function reference(e: EventChecksumInput): number {
  const utf8 = (text: string | Uint8Array) =>
    typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text);
  const stream = utf8(e.stream);
  const type = utf8(e.type);
  const eventId = e.eventId === null ? Buffer.alloc(0) : Buffer.from(e.eventId, 'utf8');
  const header = Buffer.alloc(53);
  header.writeBigUInt64BE(BigInt(e.position), 0);
  header.writeBigUInt64BE(BigInt(e.version), 8);
  header.writeUInt32BE(e.schemaVersion, 16);
  header.writeBigUInt64BE(BigInt(e.timestampUs), 20);
  header.writeUInt8(e.frameId === null ? 0 : 1, 28);
  header.writeBigUInt64BE(BigInt(e.frameId ?? 0), 29);
  header.writeUInt32BE(stream.length, 37);
  header.writeUInt32BE(type.length, 41);
  header.writeInt32BE(e.eventId === null ? -1 : eventId.length, 45);
  header.writeUInt32BE(e.payload.byteLength, 49);
  return crc32(Buffer.concat([header, stream, type, eventId, e.payload]));
}

const event: fc.Arbitrary<EventChecksumInput> = fc.record({
  position: fc.bigInt({ min: 1n, max: 2n ** 53n }),
  stream: fc.string({ minLength: 1, maxLength: 20, unit: 'grapheme' }),
  version: fc.bigInt({ min: 1n, max: 2n ** 40n }),
  type: fc.string({ minLength: 1, maxLength: 20 }),
  schemaVersion: fc.integer({ min: 1, max: 0x7fffffff }),
  timestampUs: fc.maxSafeNat(),
  frameId: fc.option(fc.maxSafeNat(), { nil: null }),
  eventId: fc.option(fc.string({ minLength: 1, maxLength: 40 }), { nil: null }),
  payload: fc.uint8Array({ maxLength: 64 }),
});

describe('eventChecksum', () => {
  it('keeps its format: fixed vectors every dialect must reproduce', () => {
    expect(eventChecksum(sample)).toBe(404412236);
    expect(
      eventChecksum({
        position: 7,
        stream: 's',
        version: 3,
        type: 't',
        schemaVersion: 2,
        timestampUs: 0,
        frameId: null,
        eventId: null,
        payload: new Uint8Array(0),
      }),
    ).toBe(1299732231);
  });

  it('is CRC-32 of the documented byte layout', () => {
    fc.assert(
      fc.property(event, (e) => {
        expect(eventChecksum(e)).toBe(reference(e));
      }),
    );
  });

  it('gives the same value for numbers and bigints', () => {
    fc.assert(
      fc.property(event, (e) => {
        const asNumbers = { ...e, position: Number(e.position), version: Number(e.version) };
        expect(eventChecksum(asNumbers)).toBe(eventChecksum(e));
      }),
    );
  });

  it('gives the same value for names passed as UTF-8 bytes', () => {
    fc.assert(
      fc.property(event, (e) => {
        const bytes = {
          ...e,
          stream: Buffer.from(e.stream as string, 'utf8'),
          type: new TextEncoder().encode(e.type as string),
        };
        expect(eventChecksum(bytes)).toBe(eventChecksum(e));
      }),
    );
  });

  it('hashes large payloads without copying them, to the same value', () => {
    const payload = new Uint8Array(5000).map((_, i) => i % 251);
    expect(eventChecksum({ ...sample, payload })).toBe(reference({ ...sample, payload }));
  });

  it('changes when any single field changes', () => {
    const changes: Partial<EventChecksumInput>[] = [
      { position: 2n },
      { stream: 'session-20250817T194800Z_002' },
      { version: 2n },
      { type: 'energy.updatf' },
      { schemaVersion: 2 },
      { timestampUs: sample.timestampUs + 1 },
      { frameId: 43 },
      { frameId: null },
      { eventId: 'evt-2' },
      { eventId: null },
      { payload: Uint8Array.of(0x81, 0xa1, 0x65, 0x02) },
      { payload: Uint8Array.of(0x81, 0xa1, 0x65) },
    ];
    const base = eventChecksum(sample);
    for (const change of changes) {
      expect(eventChecksum({ ...sample, ...change }), JSON.stringify(Object.keys(change))).not.toBe(
        base,
      );
    }
  });

  it('does not confuse where one string ends and the next begins', () => {
    const a = eventChecksum({ ...sample, stream: 'ab', type: 'c' });
    const b = eventChecksum({ ...sample, stream: 'a', type: 'bc' });
    const c = eventChecksum({ ...sample, eventId: null, payload: Uint8Array.of(0x65) });
    const d = eventChecksum({ ...sample, eventId: 'e', payload: new Uint8Array(0) });
    expect(a).not.toBe(b);
    expect(c).not.toBe(d);
  });

  it('returns an unsigned 32-bit integer', () => {
    fc.assert(
      fc.property(event, (e) => {
        const value = eventChecksum(e);
        expect(Number.isInteger(value) && value >= 0 && value <= 0xffffffff).toBe(true);
      }),
    );
  });
});
