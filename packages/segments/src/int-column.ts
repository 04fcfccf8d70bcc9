import { ByteReader } from './byte-reader.js';
import { ByteWriter, unzigzag, zigzag } from './byte-writer.js';

// How an integer column is coded: each value as is, as the difference from the previous
// value, or as the difference of consecutive differences (delta-of-delta), every result
// zigzag-coded; the encoder takes the coding whose results need the fewest bits. The
// results are then stored with as many bytes as the largest needs, byte plane by byte
// plane (the low bytes of every value, then the next bytes...): deflate sees each
// plane's statistics on their own, and planes of zeros cost nothing. A column whose
// values or differences leave ±2^52 (where zigzag stops being exact) is kept as float
// 64s.
const PLAIN = 0;
const DELTA = 1;
const DELTA_OF_DELTA = 2;
const FLOAT64 = 3;

const LIMIT = 2 ** 52;

/** Bits of a non-negative safe integer. */
function bitLength(value: number): number {
  return value < 0x80000000
    ? 32 - Math.clz32(value)
    : 31 + bitLength(Math.floor(value / 0x80000000));
}

/**
 * Codes `count` integers (safe integers; anything else is kept as float 64s, exactly)
 * into bytes: a coding byte, a width byte, the first one or two results as varints,
 * then the byte planes of the others.
 */
export function encodeIntColumn(values: ArrayLike<number>, count = values.length): Uint8Array {
  let plain = 0;
  let delta = 0;
  let deltaOfDelta = 0;
  let plainOk = true;
  let deltaOk = true;
  let deltaOfDeltaOk = true;
  let previous = 0;
  let previousDelta = 0;
  for (let i = 0; i < count; i++) {
    const value = values[i] as number;
    const d = value - previous;
    const dd = d - previousDelta;
    if (!(value <= LIMIT && value >= -LIMIT) || !Number.isInteger(value) || Object.is(value, -0)) {
      plainOk = deltaOk = deltaOfDeltaOk = false;
      break;
    }
    if (!(d <= LIMIT && d >= -LIMIT)) deltaOk = false;
    if (!(dd <= LIMIT && dd >= -LIMIT)) deltaOfDeltaOk = false;
    plain += bitLength(zigzag(value));
    if (deltaOk) delta += bitLength(zigzag(d));
    if (deltaOfDeltaOk) deltaOfDelta += bitLength(zigzag(dd));
    previous = value;
    previousDelta = d;
  }
  if (!plainOk) {
    const writer = new ByteWriter(1 + count * 8);
    writer.byte(FLOAT64);
    const view = new DataView(writer.buffer.buffer);
    for (let i = 0; i < count; i++) view.setFloat64(1 + i * 8, values[i] as number);
    writer.length = 1 + count * 8;
    return writer.result();
  }
  if (!deltaOk) delta = Infinity;
  if (!deltaOfDeltaOk) deltaOfDelta = Infinity;
  const coding =
    deltaOfDelta < delta && deltaOfDelta < plain ? DELTA_OF_DELTA : delta < plain ? DELTA : PLAIN;
  const zigzags = new Float64Array(count);
  previous = 0;
  previousDelta = 0;
  for (let i = 0; i < count; i++) {
    const value = values[i] as number;
    let z: number;
    if (coding === PLAIN) {
      z = zigzag(value);
    } else {
      const d = value - previous;
      z = zigzag(coding === DELTA ? d : d - previousDelta);
      previous = value;
      previousDelta = d;
    }
    zigzags[i] = z;
  }
  // The first results of a delta (one) or delta-of-delta (two) coding hold the start
  // value itself: varints ahead of the planes, so that they do not widen every value.
  const head = Math.min(coding, count);
  let largest = 0;
  for (let i = head; i < count; i++)
    if ((zigzags[i] as number) > largest) largest = zigzags[i] as number;
  const width = Math.ceil(bitLength(largest) / 8);
  const rest = count - head;
  const writer = new ByteWriter(2 + 16 + width * rest);
  writer.byte(coding);
  writer.byte(width);
  for (let i = 0; i < head; i++) writer.varint(zigzags[i] as number);
  const out = writer.buffer;
  const base = writer.length;
  if (width <= 4) {
    for (let i = 0; i < rest; i++) {
      const z = zigzags[head + i] as number;
      for (let b = 0; b < width; b++) out[base + b * rest + i] = z >>> (8 * b);
    }
  } else {
    for (let i = 0; i < rest; i++) {
      let z = zigzags[head + i] as number;
      for (let b = 0; b < width; b++) {
        out[base + b * rest + i] = z % 256;
        z = Math.floor(z / 256);
      }
    }
  }
  writer.length = base + width * rest;
  return writer.result();
}

/** Decodes `count` integers coded by {@link encodeIntColumn}; `what` names the column in errors. */
export function decodeIntColumn(bytes: Uint8Array, count: number, what: string): Float64Array {
  const reader = new ByteReader(bytes, what);
  const out = new Float64Array(count);
  const coding = reader.byte();
  if (coding === FLOAT64) {
    const raw = reader.take(count * 8);
    reader.end();
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(i * 8);
    return out;
  }
  if (coding > DELTA_OF_DELTA) throw reader.fail(`has an unknown coding ${coding}`);
  const width = reader.byte();
  if (width > 7) throw reader.fail(`has values ${width} bytes wide`);
  const head = Math.min(coding, count);
  for (let i = 0; i < head; i++) out[i] = unzigzag(reader.varint());
  const rest = count - head;
  const planes = reader.take(width * rest);
  reader.end();
  // Zigzag values first, in `out`.
  if (width <= 3) {
    for (let i = 0; i < rest; i++) {
      let z = 0;
      for (let b = 0; b < width; b++) z |= (planes[b * rest + i] as number) << (8 * b);
      out[head + i] = (z >>> 1) ^ -(z & 1);
    }
  } else {
    for (let i = 0; i < rest; i++) {
      let z = 0;
      for (let b = width - 1; b >= 0; b--) z = z * 256 + (planes[b * rest + i] as number);
      out[head + i] = unzigzag(z);
    }
  }
  if (coding === DELTA) {
    let previous = 0;
    for (let i = 0; i < count; i++) {
      previous += out[i] as number;
      out[i] = previous;
    }
  } else if (coding === DELTA_OF_DELTA) {
    let previous = 0;
    let previousDelta = 0;
    for (let i = 0; i < count; i++) {
      previousDelta += out[i] as number;
      previous += previousDelta;
      out[i] = previous;
    }
  }
  return out;
}
