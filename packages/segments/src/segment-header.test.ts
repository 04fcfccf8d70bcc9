import type { StoredEventRecord } from '@wirthforge/storage';
import { deflateSync } from 'fflate';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { storedRangeArbitrary } from '../test/segment-arbitraries.js';
import { decodeSegment } from './decode-segment.js';
import { encodeSegment } from './encode-segment.js';
import { isSegmentError, type SegmentErrorCode } from './errors.js';
import {
  FIXED_HEADER_BYTES,
  readSegmentHeader,
  SEGMENT_CODEC_VERSION,
  writeSegment,
} from './segment-header.js';
import { segmentRow, verifySegmentRow } from './segment-row.js';

function events(
  count: number,
  firstPosition = 10n,
  stream = 'session-20250817T194800Z_001',
): StoredEventRecord[] {
  return Array.from({ length: count }, (_, i) => ({
    position: firstPosition + BigInt(3 * i),
    stream,
    version: 5n + BigInt(i),
    type: i % 7 === 3 ? 'ai.output' : 'energy.update',
    schemaVersion: 1,
    timestampUs: 1_755_460_080_000_000 + 16_667 * i - (i === 2 ? 50_000 : 0),
    frameId: i % 7 === 3 ? null : i,
    eventId: i % 5 === 0 ? `evt_${i}` : null,
    payload: Uint8Array.from([
      0x93,
      0x01,
      0x01,
      0xcb,
      0x40,
      0x10,
      0xcc,
      0xcc,
      0xcc,
      0xcc,
      0xcc,
      i & 0xff,
    ]),
  }));
}

function errorOf(run: () => unknown): { code: SegmentErrorCode; message: string } {
  try {
    run();
  } catch (error) {
    if (isSegmentError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a SegmentError');
}

describe('segment header', () => {
  it('says what the segment holds, for any range', () => {
    fc.assert(
      fc.property(storedRangeArbitrary(12), (range) => {
        const bytes = encodeSegment(range);
        const header = readSegmentHeader(bytes);
        const first = range[0]!;
        const last = range[range.length - 1]!;
        const times = range.map((e) => e.timestampUs);
        expect(header).toMatchObject({
          codecVersion: SEGMENT_CODEC_VERSION,
          stream: first.stream,
          count: range.length,
          firstPosition: first.position,
          lastPosition: last.position,
          firstVersion: first.version,
          lastVersion: last.version,
          firstTimestampUs: first.timestampUs,
          lastTimestampUs: last.timestampUs,
          minTimestampUs: Math.min(...times),
          maxTimestampUs: Math.max(...times),
          payloadBytes: range.reduce((sum, e) => sum + e.payload.length, 0),
          byteLength: bytes.length,
        });
        expect(decodeSegment(bytes).header).toEqual(header);
      }),
      { numRuns: 25 },
    );
  });

  it('gives the values of a segments row', () => {
    const bytes = encodeSegment(events(9));
    const header = readSegmentHeader(bytes);
    expect(segmentRow(bytes, 4)).toEqual({
      stream_id: 4,
      first_position: 10,
      last_position: 34,
      first_version: 5,
      last_version: 13,
      first_us: header.minTimestampUs,
      last_us: header.maxTimestampUs,
      event_count: 9,
      codec_version: SEGMENT_CODEC_VERSION,
      checksum: header.checksum,
      data: bytes,
    });
    expect(header.minTimestampUs).toBe(1_755_460_080_000_000 + 16_667 * 2 - 50_000);
    expect(verifySegmentRow(segmentRow(bytes, 4), 'session-20250817T194800Z_001')).toEqual(header);
  });
});

describe('damaged segments are detected and named', () => {
  const original = encodeSegment(events(40));

  it('a flipped byte anywhere: checksum, or the field that no longer holds', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 255 }), (mask) => {
        for (let offset = 0; offset < original.length; offset++) {
          const bytes = original.slice();
          bytes[offset]! ^= mask;
          const { code, message } = errorOf(() => decodeSegment(bytes));
          if (offset < 4) {
            expect(code).toBe('corrupt');
            expect(message).toMatch(/Not a segment/);
          } else if (offset < 6) {
            expect(code).toBe('unsupported_codec');
            expect(message).toMatch(/codec version \d+ is not supported/);
          } else if (offset >= 12 && offset < 16) {
            expect(code).toBe('corrupt');
            expect(message).toMatch(/truncated|after its end/);
          } else if (offset === 6 || offset === 7 || offset === 92 || offset === 93) {
            expect(code).toBe('corrupt');
            expect(message).toMatch(/header length/);
          } else {
            expect(code).toBe('checksum');
            expect(message).toMatch(
              /checksum mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/,
            );
          }
          expect(() => readSegmentHeader(bytes)).toThrow();
        }
      }),
      { numRuns: 4 },
    );
  });

  it('truncation at any length', () => {
    for (let length = 0; length < original.length; length += length < 120 ? 1 : 37) {
      const { code, message } = errorOf(() => decodeSegment(original.subarray(0, length)));
      expect(code).toBe('corrupt');
      expect(message).toMatch(
        length < FIXED_HEADER_BYTES
          ? new RegExp(
              `${length} bytes, shorter than the ${FIXED_HEADER_BYTES}-byte minimum header`,
            )
          : new RegExp(`truncated: ${length} of its ${original.length} bytes`),
      );
    }
  });

  it('zeroed bytes, and a zeroed body under an intact header', () => {
    expect(errorOf(() => decodeSegment(new Uint8Array(original.length)))).toEqual({
      code: 'corrupt',
      message: 'Not a segment: the first bytes are zero (a zeroed or unwritten block?)',
    });
    const bytes = original.slice();
    bytes.fill(0, FIXED_HEADER_BYTES + 40);
    expect(errorOf(() => decodeSegment(bytes)).code).toBe('checksum');
  });

  it('foreign bytes', () => {
    const text = new TextEncoder().encode('SQLite format 3\0'.padEnd(200, 'x'));
    expect(errorOf(() => decodeSegment(text))).toEqual({
      code: 'corrupt',
      message: 'Not a segment: magic 0x53514c69 instead of 0x57465347 ("WFSG")',
    });
  });

  it("another segment's bytes in a row, or where a given segment is expected", () => {
    const other = encodeSegment(events(40, 500n));
    const row = segmentRow(original, 1);
    const { code, message } = errorOf(() => verifySegmentRow({ ...row, id: 7, data: other }));
    expect(code).toBe('mismatch');
    expect(message).toMatch(/^segment row 7: first_position is 10 but its bytes say 500/);
    const sameRange = encodeSegment(events(40, 10n, 'session-20250817T194800Z_002'));
    expect(
      errorOf(() => verifySegmentRow({ ...row, data: sameRange }, 'session-20250817T194800Z_001')),
    ).toMatchObject({
      code: 'mismatch',
      message: expect.stringMatching(
        /stream is session-20250817T194800Z_001 but its bytes say session-20250817T194800Z_002/,
      ) as unknown,
    });
    const expected = readSegmentHeader(original);
    expect(
      errorOf(() =>
        decodeSegment(other, {
          expect: { firstPosition: expected.firstPosition, checksum: expected.checksum },
        }),
      ),
    ).toMatchObject({
      code: 'mismatch',
      message: expect.stringMatching(
        /^Segment firstPosition is 500 where 10 is expected/,
      ) as unknown,
    });
  });

  it('a body that does not decode to what its header says, under a valid checksum', () => {
    const header = readSegmentHeader(original);
    const body = original.subarray(
      header.byteLength - (header.byteLength - FIXED_HEADER_BYTES - header.stream.length),
    );
    const stream = new TextEncoder().encode(header.stream);
    const fields = {
      count: header.count,
      firstPosition: Number(header.firstPosition),
      lastPosition: Number(header.lastPosition),
      firstVersion: Number(header.firstVersion),
      lastVersion: Number(header.lastVersion),
      firstTimestampUs: header.firstTimestampUs,
      lastTimestampUs: header.lastTimestampUs,
      minTimestampUs: header.minTimestampUs,
      maxTimestampUs: header.maxTimestampUs,
      payloadBytes: header.payloadBytes,
      bodyBytes: header.bodyBytes,
    };
    expect(() => decodeSegment(writeSegment(stream, fields, body))).not.toThrow();
    expect(
      errorOf(() =>
        decodeSegment(
          writeSegment(stream, { ...fields, payloadBytes: header.payloadBytes + 1 }, body),
        ),
      ),
    ).toEqual({
      code: 'corrupt',
      message: `Segment body is corrupt: payloads rebuild to ${header.payloadBytes} bytes, the header says ${header.payloadBytes + 1}`,
    });
    expect(
      errorOf(() =>
        decodeSegment(writeSegment(stream, fields, deflateSync(Uint8Array.from([0x93, 1, 2, 3])))),
      ),
    ).toMatchObject({
      code: 'corrupt',
      message: expect.stringMatching(
        /^Segment body is corrupt: it does not inflate and unpack/,
      ) as unknown,
    });
    expect(
      errorOf(() =>
        decodeSegment(
          writeSegment(
            stream,
            { ...fields, bodyBytes: 4 },
            deflateSync(Uint8Array.from([0x93, 1, 2, 3])),
          ),
        ),
      ),
    ).toEqual({
      code: 'corrupt',
      message: 'Segment body is corrupt: it is not a body',
    });
    // A body that inflates to more or fewer bytes than the header states.
    for (const bodyBytes of [header.bodyBytes - 1, header.bodyBytes + 1, 1]) {
      expect(
        errorOf(() => decodeSegment(writeSegment(stream, { ...fields, bodyBytes }, body))),
      ).toMatchObject({
        code: 'corrupt',
        message: expect.stringMatching(
          /^Segment body is corrupt: it does not inflate and unpack/,
        ) as unknown,
      });
    }
  });

  it('a newer codec version', () => {
    const bytes = original.slice();
    bytes[5] = SEGMENT_CODEC_VERSION + 1;
    expect(errorOf(() => readSegmentHeader(bytes))).toEqual({
      code: 'unsupported_codec',
      message: `Segment codec version ${SEGMENT_CODEC_VERSION + 1} is not supported (this code reads version ${SEGMENT_CODEC_VERSION})`,
    });
  });
});
