/**
 * How many events the writer appended in the last `windowMs` milliseconds, kept in a few
 * fixed buckets (no per-append allocation). The writer thread uses it to tell a stream
 * of frames (a 60 Hz recorder: tens to hundreds of events per second, long idle gaps)
 * from a saturating load (an import, a backlog, a benchmark: thousands of events per
 * second), under which sealing waits rather than taking time from the appends.
 *
 * @example
 * ```ts
 * const rate = new AppendRate(250);
 * rate.note(Date.now(), 60);
 * rate.eventsInWindow(Date.now()); // 60
 * ```
 */
export class AppendRate {
  private readonly bucketMs: number;
  private readonly counts: Float64Array;
  /** Index (time / bucketMs) of the bucket each slot holds. */
  private readonly slots: Float64Array;

  constructor(
    readonly windowMs: number,
    buckets = 5,
  ) {
    if (!(windowMs > 0) || !Number.isFinite(windowMs)) {
      throw new RangeError(`AppendRate: windowMs must be a positive number, got ${windowMs}`);
    }
    if (!Number.isInteger(buckets) || buckets < 1) {
      throw new RangeError(`AppendRate: buckets must be a positive integer, got ${buckets}`);
    }
    this.bucketMs = windowMs / buckets;
    this.counts = new Float64Array(buckets);
    this.slots = new Float64Array(buckets).fill(-Infinity);
  }

  /** Records `events` appended at `nowMs`. */
  note(nowMs: number, events: number): void {
    const index = Math.floor(nowMs / this.bucketMs);
    const slot = index % this.counts.length;
    if (this.slots[slot] !== index) {
      this.slots[slot] = index;
      this.counts[slot] = 0;
    }
    this.counts[slot] = this.counts[slot]! + events;
  }

  /** Events recorded in the window ending at `nowMs` (to the bucket's granularity). */
  eventsInWindow(nowMs: number): number {
    const newest = Math.floor(nowMs / this.bucketMs);
    const oldest = newest - this.counts.length + 1;
    let sum = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const index = this.slots[i]!;
      if (index >= oldest && index <= newest) sum += this.counts[i]!;
    }
    return sum;
  }
}
