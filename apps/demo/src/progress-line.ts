/** Where the progress line goes: a terminal stream. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): unknown;
}

/**
 * A single status line rewritten in place (carriage return + erase), only when the
 * stream is a terminal; elsewhere it writes nothing, so logs and pipes stay clean.
 * Redraws at most every `intervalMs` so 60 updates per second cost little.
 */
export class ProgressLine {
  readonly #stream: ProgressStream;
  readonly #enabled: boolean;
  readonly #intervalMs: number;
  #lastDraw = Number.NEGATIVE_INFINITY;
  #drawn = false;

  constructor(stream: ProgressStream, intervalMs = 100) {
    this.#stream = stream;
    this.#enabled = stream.isTTY === true;
    this.#intervalMs = intervalMs;
  }

  /** Shows `text` unless the previous redraw was less than the interval ago (or `force`). */
  update(text: string, force = false): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (!force && now - this.#lastDraw < this.#intervalMs) return;
    this.#lastDraw = now;
    this.#stream.write(`\r\x1b[2K${text}`);
    this.#drawn = true;
  }

  /** Erases the line. */
  clear(): void {
    if (this.#enabled && this.#drawn) this.#stream.write('\r\x1b[2K');
    this.#drawn = false;
  }
}
