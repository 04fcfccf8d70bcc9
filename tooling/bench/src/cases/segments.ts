import { deflateRawSync, inflateRawSync } from 'node:zlib';

import { decodeValue, encodeEvent, encodeValue } from '@wirthforge/events';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import type * as SegmentsModule from '@wirthforge/segments';
import type { StoredEventRecord } from '@wirthforge/storage';
import { perSecond, type BenchCase, type Measurement, ratioMetric } from '../bench-case.js';
import { sessionStream } from '../bench-dataset.js';

/** Events per segment for the throughput figures: 30 s of a 60 Hz session. */
export const SEGMENT_EVENTS = 1800;
/** Timed passes over the run's events per round, after one untimed pass. */
const PASSES = 3;
/** Segment sizes the size case reports. */
export const SEGMENT_SIZES: readonly number[] = [600, 1800, 3600];

/** One stream's events as storage returns them: positions and versions from 1. */
export function storedRecords(events: Iterable<SimEvent>, stream: string): StoredEventRecord[] {
  const records: StoredEventRecord[] = [];
  for (const event of events) {
    const encoded = encodeEvent(event);
    const n = BigInt(records.length + 1);
    records.push({
      position: n,
      stream,
      version: n,
      type: encoded.type,
      schemaVersion: encoded.schemaVersion,
      timestampUs: encoded.timestampUs,
      frameId: encoded.frameId ?? null,
      eventId: encoded.eventId ?? null,
      payload: encoded.payload,
    });
  }
  return records;
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The baseline: a block of rows as MessagePack (`[position, version, type,
 * schemaVersion, timestampUs, frameId, eventId, payload]`, the payload as binary, as
 * msgpackr writes a Uint8Array), deflated (zlib, level 6). What storing blocks of rows
 * compressed gives without any column coding.
 */
export function encodeBaselineBlock(records: readonly StoredEventRecord[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const n = records.length;
  parts.push(Uint8Array.from([0xdd, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]));
  for (const r of records) {
    const head = encodeValue([
      Number(r.position),
      Number(r.version),
      r.type,
      r.schemaVersion,
      r.timestampUs,
      r.frameId,
      r.eventId,
    ]).slice();
    head[0] = 0x98; // 8 items: the payload follows as bin 32
    const length = r.payload.length;
    parts.push(
      head,
      Uint8Array.from([
        0xc6,
        length >>> 24,
        (length >>> 16) & 0xff,
        (length >>> 8) & 0xff,
        length & 0xff,
      ]),
      r.payload,
    );
  }
  return deflateRawSync(Buffer.concat(parts), { level: 6 });
}

/** Decodes a block of {@link encodeBaselineBlock} into stored records. */
export function decodeBaselineBlock(block: Uint8Array, stream: string): StoredEventRecord[] {
  const rows = decodeValue(inflateRawSync(block)) as [
    number,
    number,
    string,
    number,
    number,
    number | null,
    string | null,
    Uint8Array,
  ][];
  return rows.map((row) => ({
    position: BigInt(row[0]),
    stream,
    version: BigInt(row[1]),
    type: row[2],
    schemaVersion: row[3],
    timestampUs: row[4],
    frameId: row[5],
    eventId: row[6],
    payload: row[7],
  }));
}

function sameRecords(a: readonly StoredEventRecord[], b: readonly StoredEventRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as StoredEventRecord;
    const y = b[i] as StoredEventRecord;
    if (
      x.position !== y.position ||
      x.version !== y.version ||
      x.type !== y.type ||
      x.schemaVersion !== y.schemaVersion ||
      x.timestampUs !== y.timestampUs ||
      x.frameId !== y.frameId ||
      x.eventId !== y.eventId ||
      Buffer.compare(x.payload, y.payload) !== 0
    ) {
      return false;
    }
  }
  return true;
}

async function loadSegments(): Promise<typeof SegmentsModule> {
  // Loaded here, so that a segments package that is not built fails these cases only.
  return import('@wirthforge/segments');
}

/**
 * `segment.encode_events_per_s` and `segment.decode_events_per_s`: the run's events as
 * one stream, coded in segments of {@link SEGMENT_EVENTS} events, then decoded back to
 * stored records (checked equal, payload bytes included), each the mean of
 * {@link PASSES} passes after an untimed one; the baseline, deflated MessagePack blocks
 * of the same events, in the same round, the same way.
 */
export const segmentsCase: BenchCase = {
  name: 'segments',
  description:
    'segment codec: encode and decode a stream in segments, against deflated msgpack blocks',
  derived: [
    ratioMetric(
      'segment.encode_vs_baseline',
      'segment.encode_events_per_s',
      'segment.baseline_encode_events_per_s',
    ),
    ratioMetric(
      'segment.decode_vs_baseline',
      'segment.decode_events_per_s',
      'segment.baseline_decode_events_per_s',
    ),
    ratioMetric(
      'segment.decode_vs_storage_read',
      'segment.decode_events_per_s',
      'storage.read_events_per_s',
    ),
  ],
  async run(ctx) {
    const { encodeSegment, decodeSegment } = await loadSegments();
    const { stream } = ctx.dataset;
    const records = storedRecords(ctx.dataset.batches.flat(), stream);
    const ranges = chunks(records, SEGMENT_EVENTS);

    // One untimed pass of each codec first (compilation), then `passes` timed ones.
    const passes = ctx.options.quick ? 1 : PASSES;
    const timed = <T>(work: () => T): [T, number] => {
      let result = work();
      const start = performance.now();
      for (let pass = 0; pass < passes; pass++) result = work();
      return [result, (performance.now() - start) / passes];
    };
    const [segments, encodeMs] = timed(() => ranges.map((range) => encodeSegment(range)));
    const [decoded, decodeMs] = timed(() =>
      segments.map((segment) => decodeSegment(segment).events),
    );
    const [blocks, baselineEncodeMs] = timed(() =>
      ranges.map((range) => encodeBaselineBlock(range)),
    );
    const [baselineDecoded, baselineDecodeMs] = timed(() =>
      blocks.map((block) => decodeBaselineBlock(block, stream)),
    );

    for (let i = 0; i < ranges.length; i++) {
      const range = ranges[i] as StoredEventRecord[];
      if (!sameRecords(decoded[i] as StoredEventRecord[], range)) {
        throw new Error(`segment ${i} decoded to other events than it was given`);
      }
      if (!sameRecords(baselineDecoded[i] as StoredEventRecord[], range)) {
        throw new Error(`baseline block ${i} decoded to other events than it was given`);
      }
    }
    const count = records.length;
    const note = `${count.toLocaleString('en-US')} events in ${ranges.length} segments of up to ${SEGMENT_EVENTS}, mean of ${passes} pass(es) after a warm-up pass`;
    return [
      {
        name: 'segment.encode_events_per_s',
        value: perSecond(count, encodeMs),
        unit: 'events/s',
        better: 'higher',
        note,
      },
      {
        name: 'segment.decode_events_per_s',
        value: perSecond(count, decodeMs),
        unit: 'events/s',
        better: 'higher',
        note,
      },
      {
        name: 'segment.baseline_encode_events_per_s',
        value: perSecond(count, baselineEncodeMs),
        unit: 'events/s',
        better: 'higher',
        note: 'MessagePack rows in blocks of the same size, deflated (zlib level 6)',
      },
      {
        name: 'segment.baseline_decode_events_per_s',
        value: perSecond(count, baselineDecodeMs),
        unit: 'events/s',
        better: 'higher',
      },
    ];
  },
};

/**
 * `segment.bytes_per_event` and `segment.mb_per_hour`: a simulated 60 Hz session of
 * `sizeMinutes` (one hour by default: energy to three decimals, fps around 60, frame
 * budget in milliseconds) coded in segments of {@link SEGMENT_EVENTS} events, every
 * byte of every segment counted; the same at each of {@link SEGMENT_SIZES}; and the
 * baseline, deflated MessagePack blocks of the same sizes. Compared with what the
 * `storage-size` case measures on disk (`storage.bytes_per_event`) when it ran too.
 */
export const segmentsSizeCase: BenchCase = {
  name: 'segments-size',
  description: 'segment codec: bytes per event of a simulated 60 Hz session, by segment size',
  once: true,
  derived: [
    ratioMetric(
      'segment.size_vs_storage_size',
      'segment.bytes_per_event',
      'storage.bytes_per_event',
      'lower',
    ),
    ratioMetric(
      'segment.size_vs_baseline',
      'segment.bytes_per_event',
      'segment.baseline_bytes_per_event',
      'lower',
    ),
  ],
  async run(ctx) {
    const { encodeSegment, decodeSegment } = await loadSegments();
    const { sizeMinutes, seed } = ctx.options;
    const session = simulateSession({ seed, durationSeconds: sizeMinutes * 60 });
    const stream = sessionStream(session.sessionId);
    const records = storedRecords(
      (function* () {
        for (const frame of session) yield* frame.events;
      })(),
      stream,
    );
    const count = records.length;
    const measurements: Measurement[] = [];
    for (const size of SEGMENT_SIZES) {
      ctx.log(`segments-size: ${count} events in segments of ${size}`);
      let bytes = 0;
      let baseline = 0;
      for (const range of chunks(records, size)) {
        const segment = encodeSegment(range);
        if (!sameRecords(decodeSegment(segment).events, range)) {
          throw new Error('a segment decoded to other events than it was given');
        }
        bytes += segment.length;
        baseline += encodeBaselineBlock(range).length;
      }
      const what = `${count.toLocaleString('en-US')} events of a ${sizeMinutes}-minute 60 Hz session`;
      const suffix = size === SEGMENT_EVENTS ? '' : `_${size}`;
      measurements.push(
        {
          name: `segment.bytes_per_event${suffix}`,
          value: bytes / count,
          unit: 'B/event',
          better: 'lower',
          note: `${what} in segments of ${size} events: ${bytes.toLocaleString('en-US')} B`,
        },
        {
          name: `segment.baseline_bytes_per_event${suffix}`,
          value: baseline / count,
          unit: 'B/event',
          better: 'lower',
          note: `the same in deflated MessagePack blocks of ${size} rows: ${baseline.toLocaleString('en-US')} B`,
        },
      );
      if (size === SEGMENT_EVENTS) {
        measurements.push({
          name: 'segment.mb_per_hour',
          value: (bytes * 60) / sizeMinutes / 1e6,
          unit: 'MB/h',
          better: 'lower',
          note:
            sizeMinutes === 60
              ? `segments of ${size} events of a one-hour 60 Hz session (${what}; MB = 10^6 B)`
              : `extrapolated to one hour from ${what} in segments of ${size} (MB = 10^6 B)`,
        });
      }
    }
    return measurements;
  },
};
