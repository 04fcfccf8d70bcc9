/**
 * The recorder's own frame clock: a boundary every `1000 / frameRateHz` ms, each due
 * time counted from the start (origin + n × period), so timer lateness does not add up
 * over a session. A boundary whose time has already passed by a whole period is
 * skipped, not fired in a burst: one late boundary commits everything recorded since
 * the previous one. Internal to the recorder.
 */
export class FrameTimer {
  readonly #periodMs: number;
  readonly #onTick: () => void;
  #handle: ReturnType<typeof setTimeout> | undefined;
  #origin = 0;
  #index = 0;
  #skipped = 0;

  constructor(periodMs: number, onTick: () => void) {
    this.#periodMs = periodMs;
    this.#onTick = onTick;
  }

  /** Boundaries that were skipped because the timer fired a whole period late or more. */
  get skipped(): number {
    return this.#skipped;
  }

  get running(): boolean {
    return this.#handle !== undefined;
  }

  start(): void {
    if (this.#handle !== undefined) return;
    this.#origin = performance.now();
    this.#index = 0;
    this.#schedule(this.#origin);
  }

  stop(): void {
    if (this.#handle === undefined) return;
    clearTimeout(this.#handle);
    this.#handle = undefined;
  }

  #schedule(now: number): void {
    // The next boundary due strictly after now (timers may fire a little early, so at
    // least the one after the last); the ones in between are skipped.
    const due = Math.floor((now - this.#origin) / this.#periodMs) + 1;
    const next = Math.max(this.#index + 1, due);
    this.#skipped += next - this.#index - 1;
    this.#index = next;
    this.#handle = setTimeout(this.#tick, Math.max(0, this.#origin + next * this.#periodMs - now));
  }

  readonly #tick = (): void => {
    try {
      this.#onTick();
    } finally {
      // stop() inside onTick clears the handle: then no new boundary.
      if (this.#handle !== undefined) this.#schedule(performance.now());
    }
  };
}
