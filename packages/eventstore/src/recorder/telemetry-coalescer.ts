/**
 * Coalescing of high-rate telemetry while the writer is behind: the recorder's bounded
 * answer to backpressure. Internal to the recorder.
 */
import {
  decodeEvent,
  encodeEvent,
  isUnknownEvent,
  type EncodeOptions,
  type EventData,
  type EventOfType,
} from '@wirthforge/events';
import type { NewEventRecord } from '@wirthforge/storage';
import { addToSum, sumValue, type CompensatedSum } from '../compensated-sum.js';
import type { AppendableEvent } from '../prepare-append.js';
import type { CoalescableEventType } from './is-critical-event-type.js';

/**
 * What an aggregate event carries besides its type's own fields, as the envelope
 * property `coalesced`: how many recorded events it stands for, and where the run
 * began. The schema's envelope admits extra properties, so an aggregate is a valid
 * event of its type and reads back with this marker.
 */
export interface CoalescedMarker {
  /** Recorded events the aggregate replaces (2 or more). */
  readonly count: number;
  /** Timestamp of the first of them (the aggregate has the last one's). */
  readonly first_timestamp: string;
  /** `frame_id` of the first of them, when they have one. */
  readonly first_frame_id?: number;
}

/** One stream's place to put records: where the coalescer's output goes. */
export interface CoalescerSink {
  /**
   * A record to commit. `sources` is the number of recorded events it stands for: 1 for
   * an event kept as it was (a run of one), more for an aggregate.
   */
  push(record: NewEventRecord, sources: number): void;
}

/** A run of `energy.update` of one model: summed. */
interface EnergyRun {
  readonly modelId: string;
  count: number;
  readonly energy: CompensatedSum;
  accumulator: number;
  fpsSum: number;
  fpsCount: number;
  fpsMin: number;
  fpsMax: number;
  budgetMax: number;
  diversity: number | undefined;
  tokenCount: number | undefined;
  firstFrameId: number;
  lastFrameId: number;
  firstTimestamp: string;
  lastTimestamp: string;
  sessionId: string;
  /** The first event, encoded as it was: what a run of one writes. */
  first: NewEventRecord | undefined;
}

/** A run of `ai.output` (one model, one prompt) or `health.heartbeat`: the latest kept. */
interface LatestRun {
  readonly type: 'ai.output' | 'health.heartbeat';
  readonly modelId: string;
  readonly promptId: string;
  count: number;
  firstTimestamp: string;
  firstFrameId: number | undefined;
  /** The latest event, encoded. */
  latest: NewEventRecord | undefined;
}

/** The open runs of one stream. */
interface StreamRuns {
  readonly encodeOptions: EncodeOptions;
  readonly sessionId: string | undefined;
  readonly energy: EnergyRun[];
  readonly latest: LatestRun[];
  open: number;
}

/** Entries kept per stream for reuse between drains; beyond it they are dropped. */
const MAX_KEPT_RUNS = 64;

/**
 * Folds coalescable telemetry into per-stream, per-source runs and writes each run as
 * one event when the stream's order demands it (an event that is not coalesced comes
 * next) or when the batch is sent:
 *
 * - `energy.update`, per model: `energy` summed (compensated, so the total is kept to
 *   the last bits), the last `accumulator`, `diversity_index` and `token_count`, the mean
 *   `fps`, the largest `frame_budget_used`, the last `frame_id` and timestamp;
 * - `ai.output`, per model and prompt, and `health.heartbeat`: the latest event. An
 *   `ai.output` with `is_last` is never coalesced (it ends its operation).
 *
 * A run of two or more becomes an aggregate event marked with {@link CoalescedMarker};
 * a run of one is written as the event it was.
 */
export class TelemetryCoalescer {
  readonly #types: ReadonlySet<CoalescableEventType>;
  readonly #streams = new Map<string, StreamRuns>();

  constructor(types: ReadonlySet<CoalescableEventType>) {
    this.#types = types;
  }

  /** Whether this coalescer takes events of `type` at all. */
  handles(type: string): boolean {
    return this.#types.has(type as CoalescableEventType);
  }

  /**
   * Folds `event` into its run and returns `true`, or returns `false` when it is not
   * coalescable (the caller writes it, after {@link drain}ing the stream). Throws what
   * the codec throws for an event it cannot encode, before the event counts anywhere.
   */
  add(
    stream: string,
    sessionId: string | undefined,
    encodeOptions: EncodeOptions,
    event: AppendableEvent,
  ): boolean {
    if (isUnknownEvent(event) || !this.#types.has(event.type as CoalescableEventType)) {
      return false;
    }
    switch (event.type) {
      case 'energy.update':
        this.#addEnergy(this.#runsOf(stream, sessionId, encodeOptions), event);
        return true;
      case 'ai.output':
        if (event.data.is_last) return false;
        this.#addLatest(
          this.#runsOf(stream, sessionId, encodeOptions),
          event,
          event.data.model_id,
          event.data.prompt_id,
        );
        return true;
      case 'health.heartbeat':
        this.#addLatest(this.#runsOf(stream, sessionId, encodeOptions), event, '', '');
        return true;
      default:
        return false;
    }
  }

  /** Writes the open runs of `stream` to `sink` (energy first, in first-seen order). */
  drain(stream: string, sink: CoalescerSink): void {
    const runs = this.#streams.get(stream);
    if (runs === undefined || runs.open === 0) return;
    for (const run of runs.energy) {
      if (run.count === 0) continue;
      const sources = run.count;
      const record = sources === 1 ? run.first! : this.#energyAggregate(runs, run);
      run.count = 0;
      run.first = undefined;
      sink.push(record, sources);
    }
    for (const run of runs.latest) {
      if (run.count === 0) continue;
      const sources = run.count;
      const record = sources === 1 ? run.latest! : this.#latestAggregate(runs, run);
      run.count = 0;
      run.latest = undefined;
      sink.push(record, sources);
    }
    runs.open = 0;
    if (runs.energy.length + runs.latest.length > MAX_KEPT_RUNS) this.#streams.delete(stream);
  }

  /** Streams with open runs, in the order they were first used. */
  openStreams(): string[] {
    const open: string[] = [];
    for (const [stream, runs] of this.#streams) if (runs.open > 0) open.push(stream);
    return open;
  }

  #runsOf(stream: string, sessionId: string | undefined, encodeOptions: EncodeOptions): StreamRuns {
    let runs = this.#streams.get(stream);
    if (runs === undefined) {
      runs = { encodeOptions, sessionId, energy: [], latest: [], open: 0 };
      this.#streams.set(stream, runs);
    }
    return runs;
  }

  #addEnergy(runs: StreamRuns, event: EventOfType<'energy.update'>): void {
    const data: EventData<'energy.update'> = event.data;
    let run: EnergyRun | undefined;
    for (const candidate of runs.energy) {
      if (candidate.modelId === data.model_id) {
        run = candidate;
        break;
      }
    }
    if (run === undefined || run.count === 0) {
      // Encoded first: an event the codec refuses must not count in the sums.
      const first = encodeEvent(event, runs.encodeOptions);
      if (run === undefined) {
        run = {
          modelId: data.model_id,
          count: 0,
          energy: { sum: 0, compensation: 0 },
          accumulator: 0,
          fpsSum: 0,
          fpsCount: 0,
          fpsMin: 0,
          fpsMax: 0,
          budgetMax: -1,
          diversity: undefined,
          tokenCount: undefined,
          firstFrameId: 0,
          lastFrameId: 0,
          firstTimestamp: '',
          lastTimestamp: '',
          sessionId: '',
          first,
        };
        runs.energy.push(run);
      }
      run.first = first;
      run.energy.sum = 0;
      run.energy.compensation = 0;
      run.fpsSum = 0;
      run.fpsCount = 0;
      run.budgetMax = -1;
      run.diversity = undefined;
      run.tokenCount = undefined;
      run.firstFrameId = event.frame_id;
      run.firstTimestamp = event.timestamp;
      runs.open++;
    }
    run.count++;
    addToSum(run.energy, data.energy);
    run.accumulator = data.accumulator;
    if (data.fps !== undefined) {
      if (run.fpsCount === 0 || data.fps < run.fpsMin) run.fpsMin = data.fps;
      if (run.fpsCount === 0 || data.fps > run.fpsMax) run.fpsMax = data.fps;
      run.fpsSum += data.fps;
      run.fpsCount++;
    }
    if (data.frame_budget_used !== undefined && data.frame_budget_used > run.budgetMax) {
      run.budgetMax = data.frame_budget_used;
    }
    if (data.diversity_index !== undefined) run.diversity = data.diversity_index;
    if (data.token_count !== undefined) run.tokenCount = data.token_count;
    run.lastFrameId = event.frame_id;
    run.lastTimestamp = event.timestamp;
    run.sessionId = event.session_id;
  }

  #energyAggregate(runs: StreamRuns, run: EnergyRun): NewEventRecord {
    const data: EventData<'energy.update'> = {
      energy: sumValue(run.energy),
      accumulator: run.accumulator,
      model_id: run.modelId,
      // The mean of values within [min, max] may round an ulp outside it.
      ...(run.fpsCount === 0
        ? {}
        : { fps: Math.min(run.fpsMax, Math.max(run.fpsMin, run.fpsSum / run.fpsCount)) }),
      ...(run.budgetMax < 0 ? {} : { frame_budget_used: run.budgetMax }),
      ...(run.diversity === undefined ? {} : { diversity_index: run.diversity }),
      ...(run.tokenCount === undefined ? {} : { token_count: run.tokenCount }),
    };
    const marker: CoalescedMarker = {
      count: run.count,
      first_timestamp: run.firstTimestamp,
      first_frame_id: run.firstFrameId,
    };
    const aggregate: EventOfType<'energy.update'> & { coalesced: CoalescedMarker } = {
      session_id: run.sessionId,
      timestamp: run.lastTimestamp,
      type: 'energy.update',
      frame_id: run.lastFrameId,
      data,
      coalesced: marker,
    };
    return encodeEvent(aggregate, runs.encodeOptions);
  }

  #addLatest(
    runs: StreamRuns,
    event: EventOfType<'ai.output'> | EventOfType<'health.heartbeat'>,
    modelId: string,
    promptId: string,
  ): void {
    let run: LatestRun | undefined;
    for (const candidate of runs.latest) {
      if (
        candidate.type === event.type &&
        candidate.modelId === modelId &&
        candidate.promptId === promptId
      ) {
        run = candidate;
        break;
      }
    }
    // Encoded at once: the aggregate keeps no reference to the caller's object.
    const latest = encodeEvent(event, runs.encodeOptions);
    if (run === undefined) {
      run = {
        type: event.type,
        modelId,
        promptId,
        count: 0,
        firstTimestamp: '',
        firstFrameId: undefined,
        latest,
      };
      runs.latest.push(run);
    }
    if (run.count === 0) {
      run.firstTimestamp = event.timestamp;
      run.firstFrameId = event.frame_id;
      runs.open++;
    }
    run.count++;
    run.latest = latest;
  }

  #latestAggregate(runs: StreamRuns, run: LatestRun): NewEventRecord {
    const latest = run.latest!;
    // The aggregate is not the event its id names: it goes without one.
    const { event_id: _id, ...event } = decodeEvent(
      latest,
      runs.sessionId === undefined ? {} : { sessionId: runs.sessionId },
    ) as Record<string, unknown>;
    const marker: CoalescedMarker =
      run.firstFrameId === undefined
        ? { count: run.count, first_timestamp: run.firstTimestamp }
        : {
            count: run.count,
            first_timestamp: run.firstTimestamp,
            first_frame_id: run.firstFrameId,
          };
    return encodeEvent(
      { ...event, coalesced: marker } as unknown as AppendableEvent,
      runs.encodeOptions,
    );
  }
}
