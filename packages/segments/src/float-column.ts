import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { decodeIntColumn, encodeIntColumn } from './int-column.js';

/** Largest decimal exponent tried: 10^e stays exact in a double up to e = 22. */
const MAX_EXPONENT = 15;
const POW10: readonly number[] = Array.from({ length: MAX_EXPONENT + 1 }, (_, e) => 10 ** e);
/** Scaled integers stay far enough below 2^53 that deltas of deltas are exact. */
const MAX_SCALED = 2 ** 50;
/** Values sampled to choose the exponent. */
const SAMPLE = 64;

const DECIMAL = 1;
const XOR = 2;
const RUNNING_SUM = 3;

/**
 * The scaled integer `s` with `s / 10^e === value` (bit for bit, -0 excluded), or
 * `undefined` when `value` is not a decimal with `e` places in the coder's range.
 */
function scaled(value: number, e: number): number | undefined {
  const power = POW10[e] as number;
  const s = Math.round(value * power);
  if (!(s <= MAX_SCALED && s >= -MAX_SCALED)) return undefined;
  if (s / power !== value || (value === 0 && 1 / value < 0)) return undefined;
  return s;
}

/** Doubles of one column, as their bits (big-endian halves) and values, in order. */
export class FloatColumnBuilder {
  readonly hi: number[] = [];
  readonly lo: number[] = [];
  readonly values: number[] = [];

  push(hi: number, lo: number, value: number): void {
    this.hi.push(hi);
    this.lo.push(lo);
    this.values.push(value);
  }

  get length(): number {
    return this.values.length;
  }

  /**
   * Codes the column. Decimals (ALP-like): one exponent `e` for the column, chosen on a
   * sample as the smallest that makes the most values round-trip; each value that does
   * becomes the integer `value * 10^e` (an integer column, itself delta-coded), the
   * others are kept as raw bits (exceptions). When most values are not decimals, every
   * value is XOR-ed with the previous one's bits and the eight bytes of the results
   * are stored plane by plane, so that the constant high bytes deflate to nothing.
   */
  private exponent(): [e: number, hits: number, sample: number] {
    const values = this.values;
    let bestE = -1;
    let bestHits = 0;
    const sample = Math.min(SAMPLE, values.length);
    for (let e = 0; e <= MAX_EXPONENT; e++) {
      let hits = 0;
      for (let i = 0; i < sample; i++) {
        if (scaled(values[i] as number, e) !== undefined) hits++;
      }
      if (hits > bestHits) {
        bestHits = hits;
        bestE = e;
      }
      if (hits === sample) break;
    }
    return [bestE, bestHits, sample];
  }

  /**
   * Codes the doubles of a column that is the running sum of another field's column of
   * the same events, as an accumulator of energy is (see {@link runningSumHolds}). Only
   * the exponent, the source field and the start are stored.
   */
  static encodeRunningSum(e: number, sourceBit: number, first: number): Uint8Array {
    const writer = new ByteWriter(16);
    writer.byte(RUNNING_SUM);
    writer.byte(e);
    writer.byte(sourceBit);
    writer.ensure(8);
    new DataView(writer.buffer.buffer).setFloat64(writer.length, first);
    writer.length += 8;
    return writer.result();
  }

  encode(): Uint8Array {
    const { values, hi, lo } = this;
    const count = values.length;
    const writer = new ByteWriter(16 + count * 2);
    const [bestE, bestHits, sample] = this.exponent();
    if (bestE >= 0 && bestHits * 2 > sample) {
      const ints: number[] = [];
      const exceptions: number[] = [];
      for (let i = 0; i < count; i++) {
        const s = scaled(values[i] as number, bestE);
        if (s === undefined) exceptions.push(i);
        else ints.push(s);
      }
      if (exceptions.length * 2 < count) {
        writer.byte(DECIMAL);
        writer.byte(bestE);
        const column = encodeIntColumn(ints);
        writer.varint(column.length);
        writer.bytes(column);
        writer.varint(exceptions.length);
        let previous = 0;
        for (const index of exceptions) {
          writer.varint(index - previous);
          previous = index;
        }
        writer.ensure(exceptions.length * 8);
        for (const index of exceptions) writeBits(writer, hi[index] as number, lo[index] as number);
        return writer.result();
      }
    }
    writer.byte(XOR);
    writer.ensure(count * 8);
    const start = writer.length;
    const buffer = writer.buffer;
    let previousHi = 0;
    let previousLo = 0;
    for (let i = 0; i < count; i++) {
      const h = hi[i] as number;
      const l = lo[i] as number;
      const xh = (h ^ previousHi) >>> 0;
      const xl = (l ^ previousLo) >>> 0;
      buffer[start + i] = xh >>> 24;
      buffer[start + count + i] = (xh >>> 16) & 0xff;
      buffer[start + 2 * count + i] = (xh >>> 8) & 0xff;
      buffer[start + 3 * count + i] = xh & 0xff;
      buffer[start + 4 * count + i] = xl >>> 24;
      buffer[start + 5 * count + i] = (xl >>> 16) & 0xff;
      buffer[start + 6 * count + i] = (xl >>> 8) & 0xff;
      buffer[start + 7 * count + i] = xl & 0xff;
      previousHi = h;
      previousLo = l;
    }
    writer.length += count * 8;
    return writer.result();
  }
}

function writeBits(writer: ByteWriter, hi: number, lo: number): void {
  const buffer = writer.buffer;
  let p = writer.length;
  buffer[p++] = hi >>> 24;
  buffer[p++] = (hi >>> 16) & 0xff;
  buffer[p++] = (hi >>> 8) & 0xff;
  buffer[p++] = hi & 0xff;
  buffer[p++] = lo >>> 24;
  buffer[p++] = (lo >>> 16) & 0xff;
  buffer[p++] = (lo >>> 8) & 0xff;
  buffer[p++] = lo & 0xff;
  writer.length = p;
}

/** Finds the values (in order, all numbers) of the field a running sum adds up. */
export type RunningSumSource = (bit: number) => Float64Array | undefined;

/** Whether the doubles of a column are a running sum: its coding byte. */
export function isRunningSum(bytes: Uint8Array): boolean {
  return bytes[0] === RUNNING_SUM;
}

/**
 * Whether `sums` is the running sum of `terms` in decimals of `e` places, computed as
 * the decoder does: `s = first`, then for each `i`, `s += round(terms[i] * 10^e)` and
 * value `i` is `s / 10^e`, bit for bit (-0 excluded). Returns `first`, or `undefined`.
 */
export function runningSumStart(
  sums: ArrayLike<number>,
  terms: ArrayLike<number>,
  e: number,
): number | undefined {
  const power = POW10[e] as number;
  const count = sums.length;
  if (count === 0 || terms.length !== count) return undefined;
  const start = Math.round((sums[0] as number) * power) - Math.round((terms[0] as number) * power);
  if (!Number.isSafeInteger(start)) return undefined;
  let sum = start;
  for (let i = 0; i < count; i++) {
    sum += Math.round((terms[i] as number) * power);
    const value = sums[i] as number;
    if (!(sum <= MAX_SCALED && sum >= -MAX_SCALED) || sum / power !== value) return undefined;
    if (value === 0 && 1 / value < 0) return undefined;
  }
  return start;
}

/**
 * Rebuilds the doubles of a running-sum column: for each of the column's `kinds`
 * (value order), the sum goes on; the values of kind `floatKind` are written.
 */
export function decodeRunningSum(
  bytes: Uint8Array,
  kinds: Uint8Array,
  floatKind: number,
  floatCount: number,
  what: string,
  source: RunningSumSource,
): Uint8Array {
  const reader = new ByteReader(bytes, what);
  reader.byte();
  const e = reader.byte();
  if (e > MAX_EXPONENT) throw reader.fail(`has a decimal exponent ${e} beyond ${MAX_EXPONENT}`);
  const bit = reader.byte();
  const startBytes = reader.take(8);
  reader.end();
  const start = new DataView(startBytes.buffer, startBytes.byteOffset, 8).getFloat64(0);
  const terms = source(bit);
  if (terms === undefined || terms.length !== kinds.length) {
    throw reader.fail(`is a running sum of field ${bit}, which holds no such values`);
  }
  const power = POW10[e] as number;
  const out = new Uint8Array(floatCount * 8);
  const view = new DataView(out.buffer);
  let sum = start;
  let k = 0;
  for (let i = 0; i < kinds.length; i++) {
    sum += Math.round((terms[i] as number) * power);
    if (kinds[i] === floatKind) view.setFloat64(8 * k++, sum / power);
  }
  return out;
}

/**
 * Decodes `count` doubles coded by {@link FloatColumnBuilder.encode} into their
 * MessagePack float 64 bytes: eight big-endian bytes each, value `i` at `8 * i`.
 */
export function decodeFloatColumn(bytes: Uint8Array, count: number, what: string): Uint8Array {
  const reader = new ByteReader(bytes, what);
  const out = new Uint8Array(count * 8);
  const coding = reader.byte();
  if (coding === RUNNING_SUM) throw reader.fail('is a running sum without its source');
  if (coding === XOR) {
    const planes = reader.take(count * 8);
    reader.end();
    let h = 0;
    let l = 0;
    for (let i = 0; i < count; i++) {
      h ^=
        ((planes[i] as number) << 24) |
        ((planes[count + i] as number) << 16) |
        ((planes[2 * count + i] as number) << 8) |
        (planes[3 * count + i] as number);
      l ^=
        ((planes[4 * count + i] as number) << 24) |
        ((planes[5 * count + i] as number) << 16) |
        ((planes[6 * count + i] as number) << 8) |
        (planes[7 * count + i] as number);
      const p = i * 8;
      out[p] = h >>> 24;
      out[p + 1] = h >>> 16;
      out[p + 2] = h >>> 8;
      out[p + 3] = h;
      out[p + 4] = l >>> 24;
      out[p + 5] = l >>> 16;
      out[p + 6] = l >>> 8;
      out[p + 7] = l;
    }
    return out;
  }
  if (coding !== DECIMAL) throw reader.fail(`has an unknown coding ${coding}`);
  const e = reader.byte();
  if (e > MAX_EXPONENT) throw reader.fail(`has a decimal exponent ${e} beyond ${MAX_EXPONENT}`);
  const power = POW10[e] as number;
  const columnLength = reader.varint();
  const column = reader.take(columnLength);
  const exceptionCount = reader.varint();
  if (exceptionCount > count) throw reader.fail('has more exceptions than values');
  const exceptionIndex = new Int32Array(exceptionCount + 1);
  let previous = 0;
  for (let i = 0; i < exceptionCount; i++) {
    previous += reader.varint();
    if (previous >= count || (i > 0 && previous <= (exceptionIndex[i - 1] as number))) {
      throw reader.fail('has an exception out of order or range');
    }
    exceptionIndex[i] = previous;
  }
  exceptionIndex[exceptionCount] = count;
  const exceptionBits = reader.take(exceptionCount * 8);
  reader.end();
  const ints = decodeIntColumn(column, count - exceptionCount, what);
  const view = new DataView(out.buffer);
  let next = 0;
  let nextException = exceptionIndex[0] as number;
  let k = 0;
  for (let i = 0; i < count; i++) {
    if (i === nextException) {
      out.set(exceptionBits.subarray(next * 8, next * 8 + 8), i * 8);
      next++;
      nextException = exceptionIndex[next] as number;
    } else {
      view.setFloat64(i * 8, (ints[k++] as number) / power);
    }
  }
  return out;
}
