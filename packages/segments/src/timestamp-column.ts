import { SegmentError } from './errors.js';
import { decodeIntColumn, encodeIntColumn } from './int-column.js';

/**
 * Timestamps of a segment. Events of a frame-based producer are stamped at their
 * frame's start on a fixed grid plus a small offset, so when most events carry a frame
 * id, each frame-bound event's timestamp is predicted from the segment's frame grid
 * (`t0 + round(intercept + frameId · period)`, fitted by least squares and stored), and
 * every other event's from the event before it; only the differences from the
 * predictions are stored (an integer column). Otherwise the timestamps are an integer
 * column of their own (delta-of-delta for a steady clock).
 */
export type TimestampData = [
  model: [t0: number, intercept: number, period: number] | null,
  values: Uint8Array,
];

/** Fewest frame-bound events (with at least two frame ids) worth a grid. */
const MIN_FRAME_EVENTS = 8;

function bits(value: number): number {
  const z = value < 0 ? -2 * value - 1 : 2 * value;
  return z < 0x80000000 ? 32 - Math.clz32(z) : 53;
}

/**
 * The differences from the predictions, or `undefined` when adding them back (as the
 * decoder does) would not give every timestamp exactly (predictions beyond 2^53).
 */
function residuals(
  timestamps: Float64Array,
  framePresence: Uint8Array,
  frameIds: readonly number[],
  model: readonly [number, number, number],
): Float64Array | undefined {
  const [t0, intercept, period] = model;
  const out = new Float64Array(timestamps.length);
  let f = 0;
  let previous = t0;
  for (let i = 0; i < timestamps.length; i++) {
    const t = timestamps[i] as number;
    const predicted =
      framePresence[i] === 1
        ? t0 + Math.round(intercept + (frameIds[f++] as number) * period)
        : previous;
    const rest = t - predicted;
    if (!Number.isSafeInteger(rest) || rest + predicted !== t) return undefined;
    out[i] = rest;
    previous = t;
  }
  return out;
}

/** Codes the timestamps, with a frame grid when that is smaller (see {@link TimestampData}). */
export function encodeTimestamps(
  timestamps: Float64Array,
  framePresence: Uint8Array,
  frameIds: readonly number[],
): TimestampData {
  const plain = encodeIntColumn(timestamps);
  const model = fitGrid(timestamps, framePresence, frameIds);
  if (model === undefined) return [null, plain];
  const rest = residuals(timestamps, framePresence, frameIds, model);
  if (rest === undefined) return [null, plain];
  // Bits of the differences against bits of the plain column's delta-of-delta.
  let gridBits = 0;
  let clockBits = 0;
  for (let i = 0; i < rest.length; i++) {
    gridBits += bits(rest[i] as number);
    if (i >= 2) {
      clockBits += bits(
        (timestamps[i] as number) -
          2 * (timestamps[i - 1] as number) +
          (timestamps[i - 2] as number),
      );
    }
  }
  if (gridBits >= clockBits) return [null, plain];
  return [[...model], encodeIntColumn(rest)];
}

function fitGrid(
  timestamps: Float64Array,
  framePresence: Uint8Array,
  frameIds: readonly number[],
): [number, number, number] | undefined {
  const n = frameIds.length;
  if (n < MIN_FRAME_EVENTS) return undefined;
  const t0 = timestamps[0] as number;
  let sumF = 0;
  let sumT = 0;
  let f = 0;
  for (let i = 0; i < timestamps.length; i++) {
    if (framePresence[i] !== 1) continue;
    sumF += frameIds[f++] as number;
    sumT += (timestamps[i] as number) - t0;
  }
  const meanF = sumF / n;
  const meanT = sumT / n;
  let sxx = 0;
  let sxy = 0;
  f = 0;
  for (let i = 0; i < timestamps.length; i++) {
    if (framePresence[i] !== 1) continue;
    const x = (frameIds[f++] as number) - meanF;
    sxx += x * x;
    sxy += x * ((timestamps[i] as number) - t0 - meanT);
  }
  if (!(sxx > 0)) return undefined;
  const period = sxy / sxx;
  const intercept = meanT - period * meanF;
  if (!Number.isFinite(period) || !Number.isFinite(intercept)) return undefined;
  return [t0, intercept, period];
}

/** Decodes timestamps coded by {@link encodeTimestamps}. */
export function decodeTimestamps(
  data: unknown,
  count: number,
  framePresence: Uint8Array,
  frameIds: Float64Array,
): Float64Array {
  if (!Array.isArray(data) || data.length !== 2 || !(data[1] instanceof Uint8Array)) {
    throw new SegmentError('corrupt', 'Segment body is corrupt: timestamps are missing');
  }
  const [model, bytes] = data as [unknown, Uint8Array];
  const values = decodeIntColumn(bytes, count, 'timestamps');
  if (model === null) return values;
  if (
    !Array.isArray(model) ||
    model.length !== 3 ||
    !model.every((x) => typeof x === 'number' && Number.isFinite(x))
  ) {
    throw new SegmentError(
      'corrupt',
      'Segment body is corrupt: the timestamp grid is not three numbers',
    );
  }
  const [t0, intercept, period] = model as [number, number, number];
  let f = 0;
  let previous = t0;
  for (let i = 0; i < count; i++) {
    const predicted =
      framePresence[i] === 1
        ? t0 + Math.round(intercept + (frameIds[f++] as number) * period)
        : previous;
    const t = (values[i] as number) + predicted;
    values[i] = t;
    previous = t;
  }
  return values;
}
