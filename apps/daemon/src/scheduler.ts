import type { Logger } from 'pino';

/** One periodic maintenance job (WAL checkpoint, optimize, integrity check; later snapshots, sealing, archival, retention). */
export interface ScheduledJob {
  /** Short kebab-case name, used in logs and in job events. */
  readonly name: string;
  /** Period between the end of one run and the start of the next, in ms. */
  readonly intervalMs: number;
  /** Delay of the first run, in ms (default: `intervalMs`). */
  readonly firstRunMs?: number;
  /**
   * One run. It must not stall ingest: do the work on another thread (the storage's
   * writer or maintenance thread) or in small steps. `signal` aborts at stop. What it
   * returns is logged with the run.
   */
  run(signal: AbortSignal): Promise<Record<string, unknown> | void>;
}

/** What a job run reports to listeners (metrics, later). */
export interface JobRun {
  readonly name: string;
  readonly ok: boolean;
  readonly durationMs: number;
  readonly result?: Record<string, unknown>;
  readonly error?: unknown;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  readonly logger: Logger;
  /** Called after every run. */
  readonly onRun?: (run: JobRun) => void;
}

/**
 * Runs maintenance jobs, each on its own timer, never two runs of one job at once, and
 * never on the request path. A failed run is logged and retried at the next period.
 *
 * @example
 * ```ts
 * const scheduler = new Scheduler({ logger });
 * scheduler.add({ name: 'wal-checkpoint', intervalMs: 30_000, run: () => storage.checkpoint('passive') });
 * scheduler.start();
 * await scheduler.stop(); // waits for a run in progress
 * ```
 */
export class Scheduler {
  readonly #logger: Logger;
  readonly #onRun: ((run: JobRun) => void) | undefined;
  readonly #jobs: ScheduledJob[] = [];
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #abort = new AbortController();
  #started = false;

  constructor(options: SchedulerOptions) {
    this.#logger = options.logger;
    this.#onRun = options.onRun;
  }

  /** Adds a job (before or after `start`). Names must be unique. */
  add(job: ScheduledJob): void {
    if (this.#jobs.some((j) => j.name === job.name))
      throw new RangeError(`job ${job.name} already scheduled`);
    if (!(job.intervalMs > 0)) throw new RangeError(`job ${job.name}: intervalMs must be positive`);
    this.#jobs.push(job);
    if (this.#started) this.#schedule(job, job.firstRunMs ?? job.intervalMs);
  }

  /** The names of the scheduled jobs. */
  get jobs(): readonly string[] {
    return this.#jobs.map((j) => j.name);
  }

  /** Starts every job's timer. */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const job of this.#jobs) this.#schedule(job, job.firstRunMs ?? job.intervalMs);
  }

  /** Runs one job now (unless it is running: then waits for that run). */
  runNow(name: string): Promise<void> {
    const job = this.#jobs.find((j) => j.name === name);
    if (job === undefined) return Promise.reject(new RangeError(`no job ${name}`));
    return this.#running.get(name) ?? this.#run(job);
  }

  /** Stops the timers, aborts and waits for the runs in progress. */
  async stop(): Promise<void> {
    this.#started = false;
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    this.#abort.abort();
    await Promise.all(this.#running.values());
  }

  #schedule(job: ScheduledJob, delayMs: number): void {
    const timer = setTimeout(() => {
      this.#timers.delete(job.name);
      void this.#run(job).then(() => {
        if (this.#started) this.#schedule(job, job.intervalMs);
      });
    }, delayMs);
    timer.unref();
    this.#timers.set(job.name, timer);
  }

  #run(job: ScheduledJob): Promise<void> {
    const start = performance.now();
    const running = (async () => {
      let run: JobRun;
      try {
        const result = (await job.run(this.#abort.signal)) ?? undefined;
        const durationMs = performance.now() - start;
        run = { name: job.name, ok: true, durationMs, ...(result === undefined ? {} : { result }) };
        this.#logger.info(
          { job: job.name, durationMs: round(durationMs), ...result },
          `job ${job.name} done`,
        );
      } catch (error) {
        const durationMs = performance.now() - start;
        run = { name: job.name, ok: false, durationMs, error };
        this.#logger.error(
          { job: job.name, durationMs: round(durationMs), err: error },
          `job ${job.name} failed`,
        );
      }
      this.#onRun?.(run);
    })().finally(() => this.#running.delete(job.name));
    this.#running.set(job.name, running);
    return running;
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
