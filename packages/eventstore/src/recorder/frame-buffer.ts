import type { RowWrite } from '@wirthforge/storage';
import type { AppendableEvent } from '../prepare-append.js';

/** Where an event of `append()` ended up, and how to tell its caller. Internal. */
export interface FrameWaiter {
  resolve(value: { readonly stream: string; readonly position: bigint }): void;
  reject(reason: unknown): void;
  /** Index of the event's stream in its commit, once encoded. */
  group: number;
  /** Index of the event's record in that stream's records, once encoded. */
  index: number;
}

/**
 * The events of one frame: parallel arrays allocated once, at the recorder's
 * `maxFrameEvents`, and reused frame after frame. `record()` writes two references
 * into them and bumps `length`; the boundary seals the buffer (the next frame records
 * into another one of the recorder's ring); the commit task runs the rest of the
 * pipeline on each event (enrichment, validation, routing: the event as stored and its
 * stream replace what `record()` wrote), encodes it, clears it and gives it back. Only a frame beyond its capacity (critical events are never refused)
 * makes the arrays grow, and the clear shrinks them back. Internal to the recorder.
 */
export class FrameBuffer {
  /** The recorded events (as given, then after enrichment), `length` of them in use. */
  readonly events: (AppendableEvent | undefined)[];
  /** The stream each event goes to, once routed (`undefined`: not yet, or rejected). */
  readonly streams: (string | undefined)[];
  /** The `append()` caller waiting for each event, if any. */
  readonly waiters: (FrameWaiter | undefined)[];
  /** Audit rows for the frame's commit (rejections in audit mode). */
  readonly writes: RowWrite[] = [];
  readonly capacity: number;
  length = 0;
  /** `performance.now()` of the frame's first event (of the boundary, for a frame without). */
  firstRecordMs = 0;
  /** Sequence number of the frame's commit, once sealed. */
  seq = 0;
  /** An event of the recorder's own to commit first, and its stream. */
  notice: AppendableEvent | undefined;
  noticeStream = '';
  /** Times the frame outgrew its capacity. */
  overflows = 0;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.events = new Array<AppendableEvent | undefined>(capacity).fill(undefined);
    this.streams = new Array<string | undefined>(capacity).fill(undefined);
    this.waiters = new Array<FrameWaiter | undefined>(capacity).fill(undefined);
  }

  /** Whether the frame has anything to commit. */
  get empty(): boolean {
    return this.length === 0 && this.writes.length === 0 && this.notice === undefined;
  }

  push(event: AppendableEvent, waiter: FrameWaiter | undefined): void {
    const i = this.length;
    if (i === 0) this.firstRecordMs = performance.now();
    if (i < this.events.length) {
      this.events[i] = event;
      // `clear()` left it undefined: a plain `record()` does not touch the array.
      if (waiter !== undefined) this.waiters[i] = waiter;
    } else {
      if (i === this.capacity) this.overflows++;
      this.events.push(event);
      this.streams.push(undefined);
      this.waiters.push(waiter);
    }
    this.length = i + 1;
  }

  /** Drops the references of the frame (the caller's events become theirs again). */
  clear(): void {
    for (let i = 0; i < this.length; i++) {
      this.events[i] = undefined;
      this.streams[i] = undefined;
      this.waiters[i] = undefined;
    }
    if (this.events.length > this.capacity) {
      this.events.length = this.capacity;
      this.streams.length = this.capacity;
      this.waiters.length = this.capacity;
    }
    this.length = 0;
    this.writes.length = 0;
    this.notice = undefined;
    this.seq = 0;
  }
}
