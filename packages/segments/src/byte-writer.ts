/**
 * A growable byte buffer with the writes the column coders need: bytes, unsigned
 * varints (LEB128, 7 bits a byte) of any safe integer, and big-endian words.
 */
export class ByteWriter {
  buffer: Uint8Array;
  length = 0;

  constructor(capacity = 256) {
    this.buffer = new Uint8Array(capacity);
  }

  ensure(bytes: number): void {
    const needed = this.length + bytes;
    if (needed <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
  }

  byte(value: number): void {
    if (this.length === this.buffer.length) this.ensure(1);
    this.buffer[this.length++] = value;
  }

  bytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** Unsigned varint of a non-negative safe integer. */
  varint(value: number): void {
    this.ensure(8);
    const buffer = this.buffer;
    let v = value;
    while (v >= 0x80000000) {
      buffer[this.length++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v >= 0x80) {
      buffer[this.length++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    buffer[this.length++] = v;
  }

  /** A view of what was written (shares the buffer). */
  result(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  /** A copy of what was written, trimmed to its length. */
  copy(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }
}

/** Zigzag of a safe integer: 0, -1, 1, -2, ... as 0, 1, 2, 3, ... */
export function zigzag(value: number): number {
  return value < 0 ? -2 * value - 1 : 2 * value;
}

/** Inverse of {@link zigzag}. */
export function unzigzag(value: number): number {
  return value % 2 === 1 ? -(value + 1) / 2 : value / 2;
}
