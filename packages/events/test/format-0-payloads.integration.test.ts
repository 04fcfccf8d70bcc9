import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decodeEvent, encodeEvent, isUnknownEvent, type EventRecord } from '../src/index.js';

interface StoredRecord extends Omit<EventRecord, 'payload'> {
  /** The payload bytes, in hex. */
  readonly payload: string;
}

interface Fixture {
  readonly sessionId: string;
  readonly records: readonly { readonly record: StoredRecord; readonly event: unknown }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/format-0-payloads.json', import.meta.url), 'utf8'),
) as Fixture;

const toRecord = (stored: StoredRecord): EventRecord => ({
  ...stored,
  payload: Uint8Array.from(Buffer.from(stored.payload, 'hex')),
});

describe('payloads stored in format 0 (a map)', () => {
  it('are all maps', () => {
    for (const { record } of fixture.records) expect(record.payload.slice(0, 1)).toBe('8');
  });

  it.each(fixture.records.map(({ record, event }) => [record.type, record, event] as const))(
    'still decode: %s',
    (_, stored, expected) => {
      const decoded = decodeEvent(toRecord(stored), { sessionId: fixture.sessionId });
      if (isUnknownEvent(decoded)) {
        expect(decoded.event).toStrictEqual(expected);
        expect(decoded.schemaVersion).toBe(stored.schemaVersion);
      } else {
        expect(decoded).toStrictEqual(expected);
      }
    },
  );

  it('decode to what the current encoder writes for the same events, now positional for known types', () => {
    for (const { record: stored } of fixture.records) {
      const decoded = decodeEvent(toRecord(stored), { sessionId: fixture.sessionId });
      const sessionId = (isUnknownEvent(decoded) ? decoded.event : decoded).session_id;
      const { payload, ...columns } = encodeEvent(decoded, {
        schemaVersion: stored.schemaVersion,
        includeSessionId: sessionId !== fixture.sessionId,
      });
      const { payload: _, ...storedColumns } = stored;
      expect(columns).toMatchObject(storedColumns);
      expect(payload[0]! >> 4).toBe(isUnknownEvent(decoded) ? 0x8 : 0x9);
      expect(decodeEvent({ ...columns, payload }, { sessionId: fixture.sessionId })).toStrictEqual(
        decoded,
      );
    }
  });
});
