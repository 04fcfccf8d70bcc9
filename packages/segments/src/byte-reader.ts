import { SegmentError } from './errors.js';

/** Reads what {@link ByteWriter} wrote; every read past the end is a `corrupt` segment. */
export class ByteReader {
  position = 0;

  constructor(
    readonly bytes: Uint8Array,
    /** Names the part of the segment being read, for error messages. */
    readonly what: string,
  ) {}

  fail(reason: string): SegmentError {
    return new SegmentError('corrupt', `Segment body is corrupt: ${this.what} ${reason}`);
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  byte(): number {
    if (this.position >= this.bytes.length) throw this.fail('ends early');
    return this.bytes[this.position++] as number;
  }

  varint(): number {
    const bytes = this.bytes;
    let position = this.position;
    let byte = bytes[position++];
    if (byte === undefined) throw this.fail('ends early');
    if (byte < 0x80) {
      this.position = position;
      return byte;
    }
    let value = byte & 0x7f;
    let shift = 7;
    for (;;) {
      byte = bytes[position++];
      if (byte === undefined) throw this.fail('ends early');
      if (shift < 28) value |= (byte & 0x7f) << shift;
      else value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) break;
      shift += 7;
      if (shift > 49) throw this.fail('holds a varint beyond 2^53');
    }
    this.position = position;
    return shift < 28 ? value >>> 0 : value;
  }

  take(count: number): Uint8Array {
    if (count > this.remaining) throw this.fail('ends early');
    const start = this.position;
    this.position += count;
    return this.bytes.subarray(start, this.position);
  }

  end(): void {
    if (this.position !== this.bytes.length) throw this.fail('has bytes left over');
  }
}
