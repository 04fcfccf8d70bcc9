import {
  EVENT_TYPES,
  encodeEvent,
  eventChecker,
  isEventsError,
  isUnknownEvent,
  sessionStream,
  validateEvent,
  type EncodeOptions,
  type EventOfType,
  type EventType,
} from '@wirthforge/events';
import { isConcurrencyError, type NewEventRecord, type RowWrite } from '@wirthforge/storage';
import {
  InvalidEventError,
  StateError,
  closedError,
  invalidArgument,
  isStateError,
  type EventIssue,
} from '../errors.js';
import type { CommitResult, EventStore } from '../event-store.js';
import { sessionIdOfStream, type AppendableEvent, type PreparedAppend } from '../prepare-append.js';
import type { EventEnricher, TextHashOptions } from './event-enricher.js';
import { FrameBuffer, type FrameWaiter } from './frame-buffer.js';
import { FrameTimer } from './frame-timer.js';
import { createPromptTextHasher } from './hash-prompt-text.js';
import { createTokenTextHasher } from './hash-token-text.js';
import {
  COALESCABLE_EVENT_TYPES,
  isCriticalEventType,
  type CoalescableEventType,
} from './is-critical-event-type.js';
import { TelemetryCoalescer, type CoalescerSink } from './telemetry-coalescer.js';

/** What the recorder needs of a store: {@link EventStore.commitBatch} and `streamVersion`. */
export type RecorderStore = Pick<EventStore, 'commitBatch' | 'streamVersion'>;

/**
 * What {@link Recorder.record} did with an event, as a constant string (no object, no
 * exception on the hot path):
 *
 * - `accepted`: queued in the current frame. It says "queued", not "valid": enrichment,
 *   validation and routing run in the frame's task, right after {@link Recorder.endFrame}
 *   (within the same turn of the event loop), and an event refused there is reported
 *   then (`onReject`, {@link Recorder.lastRejection}, the stats, audit mode), never stored;
 * - `filtered`: dropped on purpose by `dropTypes` or `filter`, and counted;
 * - `rejected`: refused at once by the cheap checks of `record()` (`not_an_event`,
 *   `hook_failed` from the filter, `frame_full`, `closed`); the reason is in
 *   {@link Recorder.lastRejection}, `onReject`, and the stats.
 */
export type RecordResult = 'accepted' | 'filtered' | 'rejected';

/**
 * Why an event was rejected:
 *
 * - `not_an_event`: not an object with a string `type`;
 * - `invalid`: its type's schema refuses it (`issues` says where);
 * - `unknown_type`: a type this code does not know, not wrapped with `createUnknownEvent`;
 * - `hook_failed`: the filter, an enricher or the router threw (`error`);
 * - `bad_route`: the router gave no usable stream name (or the default router found no
 *   valid `session_id`);
 * - `stream_mismatch`: routed to a session stream of another session;
 * - `frame_full`: the frame already holds `maxFrameEvents` events (never for a critical
 *   event or an `append()`);
 * - `closed`: the recorder is closing or closed.
 */
export type RejectReason =
  | 'not_an_event'
  | 'invalid'
  | 'unknown_type'
  | 'hook_failed'
  | 'bad_route'
  | 'stream_mismatch'
  | 'frame_full'
  | 'closed';

/** Every {@link RejectReason}, in a stable order. */
export const REJECT_REASONS: readonly RejectReason[] = [
  'not_an_event',
  'invalid',
  'unknown_type',
  'hook_failed',
  'bad_route',
  'stream_mismatch',
  'frame_full',
  'closed',
];

/** One rejected event, as `onReject` and {@link Recorder.lastRejection} tell it. */
export interface RecorderRejection {
  readonly reason: RejectReason;
  /** The event's type, when it has one. */
  readonly type: string | undefined;
  /** The stream it was routed to, when it got that far. */
  readonly stream: string | undefined;
  /** What is wrong, without the offending values (index 0: the event itself). */
  readonly issues: readonly EventIssue[];
  /** What a hook threw (`hook_failed`). */
  readonly error?: unknown;
}

/** One event as audit mode reports it to its sink. */
export interface RecorderAuditEntry {
  readonly outcome: RecordResult;
  /** The event: as it will be stored when accepted (after enrichment), else as given. */
  readonly event: unknown;
  /** Its stream, when accepted. */
  readonly stream: string | undefined;
  readonly rejection: RecorderRejection | undefined;
}

/** Audit mode. */
export interface RecorderAuditOptions {
  /**
   * Gets every event recorded, accepted, filtered or rejected: filtered ones and those
   * refused by `record()`'s own checks inside `record()`, the others with the verdict,
   * in the frame's task.
   */
  readonly sink?: (entry: RecorderAuditEntry) => void;
  /**
   * Also write one `audit.insert` row per rejected event (action `event.rejected`,
   * target its stream or type, details its reason and issues, never its content),
   * committed with the frame (the next one for a refusal inside `record()`). Default
   * `true`.
   */
  readonly rows?: boolean;
  /** `actor` of those rows. Default `'recorder'`. */
  readonly actor?: string;
}

/** The recorder's event pipeline: filter → enrich → validate → route. */
export interface RecorderPipelineOptions {
  /**
   * Check each event against its type's schema, in the frame's task (after `endFrame()`,
   * not inside `record()`). Default `true`.
   */
  readonly validate?: boolean;
  /** Audit mode: `true` for rows only, or a sink and options. Default `false`. */
  readonly audit?: boolean | RecorderAuditOptions;
  /** Types to drop (counted as filtered). Critical types cannot be dropped. */
  readonly dropTypes?: readonly string[];
  /**
   * Keep an event when it returns `true`; a dropped one is counted as filtered.
   * Critical events and `append()` events do not go through it.
   */
  readonly filter?: (event: AppendableEvent) => boolean;
  /**
   * The stream of an event. Default: its session's stream, `session-<session_id>`. An
   * event routed to a session stream must belong to that session.
   */
  readonly route?: (event: AppendableEvent) => string;
  /**
   * Privacy mode (default `true`): an `ai.output`'s `token` is stored as its hash
   * (`token_hash`) only, made when the frame is encoded (in its commit task, not in the
   * frame; the audit sink and `filter` see the token). An object sets the hashing key of
   * both built-in hashers. A `user.prompt`'s `text` is always replaced by its hash,
   * before validation in the frame's task, whatever this says.
   */
  readonly privacy?: boolean | TextHashOptions;
  /** More enrichment hooks, run in order after the built-in ones. */
  readonly enrich?: readonly EventEnricher[];
}

/** Options of {@link createRecorder}. */
export interface RecorderOptions {
  /** Frames per second of the internal clock. Default 60. */
  readonly frameRateHz?: number;
  /**
   * `'internal'` (default): the recorder's own drift-corrected timer ends a frame every
   * `1000 / frameRateHz` ms. `'external'`: the caller's frame loop calls
   * {@link Recorder.endFrame}.
   */
  readonly clock?: 'internal' | 'external';
  /**
   * Frames that may wait for the writer (queued or being committed) before telemetry is
   * coalesced. Default 30 (half a second at 60 Hz).
   */
  readonly maxPendingFrames?: number;
  /**
   * Events one frame holds; beyond it, events that are not critical are rejected with
   * `frame_full`. The frame's arrays are allocated at this size once. Default 1024.
   */
  readonly maxFrameEvents?: number;
  /** Telemetry types coalesced under backpressure. Default `['energy.update']`. */
  readonly coalesce?: readonly CoalescableEventType[];
  /** Validation, audit, filtering, routing and enrichment. */
  readonly pipeline?: RecorderPipelineOptions;
  /** Called with each acknowledged commit. */
  readonly onAck?: (ack: FrameAck) => void;
  /** Called when events are lost: a commit the store refused, or an event the codec refused. */
  readonly onError?: (failure: RecorderFailure) => void;
  /**
   * Called with each rejected event: inside `record()` for its own cheap checks, else in
   * the frame's task, once the event has been enriched, validated and routed.
   */
  readonly onReject?: (rejection: RecorderRejection) => void;
}

/** One acknowledged commit: a frame, or a backlog of frames under backpressure. */
export interface FrameAck {
  /** Sequence number of the commit (1 for the first). */
  readonly commit: number;
  /** Frames in it: 1, or more for a backlog. */
  readonly frames: number;
  /** Recorded events it stored as they were. */
  readonly events: number;
  /** Recorded events it stored as part of aggregates. */
  readonly coalesced: number;
  /** Aggregate events it stored. */
  readonly aggregates: number;
  /** Milliseconds from the first `record()` of its first frame to the acknowledgement. */
  readonly latencyMs: number;
  /** Milliseconds from handing it to the store to the acknowledgement. */
  readonly commitMs: number;
  /**
   * Main-thread milliseconds spent on it in its commit task (after the frame, not inside
   * it): enrichment, validation, routing and encoding; for a backlog, writing its last
   * aggregates.
   */
  readonly encodeMs: number;
  /** The store's head after it. */
  readonly lastPosition: bigint;
}

/** Events the recorder accepted and could not store. */
export interface RecorderFailure {
  /** `commit`: the store refused the commit; `encode`: the codec refused one event. */
  readonly kind: 'commit' | 'encode';
  /** What the store or the codec threw. */
  readonly error: unknown;
  /** Sequence number of the commit, for `commit`. */
  readonly commit: number | undefined;
  /** Recorded events lost. */
  readonly events: number;
  /** The streams concerned. */
  readonly streams: readonly string[];
}

/**
 * The recorder's counters. Two sums always hold: `recorded = accepted + rejected +
 * filtered`, and `accepted = committed + coalesced + failed + pending`.
 */
export interface RecorderStats {
  /** Calls of `record()` and `append()`. */
  readonly recorded: number;
  /**
   * Events queued and not rejected: an event `record()` accepted that the frame's task
   * refuses moves from here to `rejected`.
   */
  readonly accepted: number;
  /** Events refused by the pipeline. */
  readonly rejected: number;
  readonly rejectedByReason: Readonly<Record<RejectReason, number>>;
  /** Events dropped by `dropTypes` or `filter`. */
  readonly filtered: number;
  /** Accepted events durable as they were. */
  readonly committed: number;
  /** Accepted events durable as part of an aggregate event. */
  readonly coalesced: number;
  /** Aggregate events durable. */
  readonly aggregates: number;
  /** `health.performance` `queue_backlog` events the recorder wrote itself, durable. */
  readonly notices: number;
  /** Accepted events lost: their commit failed, or the codec refused them. */
  readonly failed: number;
  /** Accepted events not yet durable (nor failed, nor rejected by the frame's task). */
  readonly pending: number;
  /** Frame boundaries that had something to commit. */
  readonly frames: number;
  /** Commits acknowledged. */
  readonly commits: number;
  /** Commits the store refused. */
  readonly failedCommits: number;
  /** Commits waiting for the writer or being committed (a backlog counts as one). */
  readonly pendingFrames: number;
  /** Frames merged into the backlog not yet handed to the store. */
  readonly backlogFrames: number;
  /** Whether telemetry is being coalesced now. */
  readonly backpressure: boolean;
  /** Times backpressure started. */
  readonly backpressureEpisodes: number;
  /** Latency (first record → durable) of the latest acknowledged commit. */
  readonly lastAckLatencyMs: number | undefined;
  /** Highest such latency so far. */
  readonly maxAckLatencyMs: number;
  /** Internal clock: boundaries skipped because the timer fired a whole period late. */
  readonly skippedBoundaries: number;
  /** Frames that held more than `maxFrameEvents` (critical events beyond it). */
  readonly frameOverflows: number;
  /** Exceptions thrown by `onAck`, `onError`, `onReject` or the audit sink (ignored). */
  readonly callbackErrors: number;
}

/** Where an event of {@link Recorder.append} was stored. */
export interface AppendedEvent {
  readonly stream: string;
  readonly position: bigint;
}

/**
 * Records a producer's events at frame rate: `record()` inside the frame (synchronous,
 * constant time, no I/O, no promise, no allocation of its own), one commit per frame
 * handed to the store after the frame without waiting for it, acknowledgements counted
 * as they come back. Create it with {@link createRecorder}.
 */
export interface Recorder {
  /**
   * Queues an event in the current frame. Never throws for a bad event and never
   * waits: returns `'accepted'` (queued; validated with the frame), `'filtered'` or
   * `'rejected'` (see {@link RecordResult}).
   * The recorder keeps a reference to the event until its frame is encoded, in a task
   * right after the frame's end (or at the end, under backpressure): do not change an
   * event once it is recorded.
   */
  record(event: AppendableEvent): RecordResult;

  /**
   * Records a critical event and resolves once it is durable, with its position. Never
   * filtered or coalesced. Rejects with an `InvalidEventError` for an event the
   * pipeline refuses (once its frame has ended), with the store's error when its commit fails, and with a
   * `StateError` `closed` after {@link close}. It still commits with its frame: with the
   * external clock, the promise waits for the next {@link endFrame}.
   */
  append(event: AppendableEvent): Promise<AppendedEvent>;

  /**
   * Ends the current frame: it is sealed, then encoded and handed to the store as one
   * commit in a task of its own (or merged into the backlog under backpressure).
   * Returns at once, never waits for the store. With the
   * external clock the caller's frame loop calls it; with the internal clock it forces
   * an early boundary.
   */
  endFrame(): void;

  /**
   * Ends the current frame and resolves when everything recorded before the call is
   * durable. Rejects with `StateError` `commit_failed` when some of it was lost (the
   * details went to `onError` and the stats).
   */
  flush(): Promise<void>;

  /**
   * Refuses new events, stops the internal clock, then flushes. Idempotent. Does not
   * close the store. Rejects like {@link flush}, after stopping.
   */
  close(): Promise<void>;

  /** A snapshot of the counters. */
  stats(): RecorderStats;

  /** The latest rejection, if any. */
  readonly lastRejection: RecorderRejection | undefined;

  /** Whether {@link close} was called. */
  readonly closed: boolean;
}

/**
 * Commits on their way to the store at once. More than one lets the writer commit them
 * as a group (one fsync) while the next frame is encoded; the store keeps up to eight.
 * Eight rather than four: a writer that falls behind (a flood, a loaded machine) then
 * commits up to eight frames per fsync, at less CPU per event.
 */
const COMMITS_IN_FLIGHT = 8;

const DEFAULTS = {
  frameRateHz: 60,
  maxPendingFrames: 30,
  maxFrameEvents: 1024,
} as const;

/** Stream names the route cache remembers before it starts over. */
const MAX_STREAM_INFOS = 1024;

/** Settled once: the commit task is a reaction to it. */
const RESOLVED: Promise<void> = Promise.resolve();

const WITH_SESSION_ID: EncodeOptions = Object.freeze({ includeSessionId: true });
const WITHOUT_SESSION_ID: EncodeOptions = Object.freeze({ includeSessionId: false });

interface StreamInfo {
  /** The session of a session stream. */
  readonly sessionId: string | undefined;
  readonly encodeOptions: EncodeOptions;
}

interface StreamGroup {
  readonly stream: string;
  readonly sessionId: string | undefined;
  readonly encodeOptions: EncodeOptions;
  readonly records: NewEventRecord[];
}

/** One commit on its way: a frame, or the backlog of several. */
class PendingCommit implements CoalescerSink {
  readonly groups: StreamGroup[] = [];
  readonly writes: RowWrite[] = [];
  readonly waiters: FrameWaiter[] = [];
  /** Recorded events in it as they were. */
  events = 0;
  /** Recorded events in its aggregates. */
  coalesced = 0;
  aggregates = 0;
  notices = 0;
  frames = 0;
  firstRecordMs = Number.POSITIVE_INFINITY;
  sentMs = 0;
  /** Each stream's version this commit predicts it leaves (expected + its records). */
  readonly predicted = new Map<string, bigint>();
  /** Sent again after a commit before it failed: a second failure is its own. */
  resent = false;
  /** Main-thread milliseconds spent encoding it, in its commit task. */
  encodeMs = 0;
  #current: StreamGroup | undefined;

  constructor(
    readonly seq: number,
    /** Under backpressure: the runs of telemetry not written yet. */
    readonly coalescer: TelemetryCoalescer | undefined,
  ) {}

  get empty(): boolean {
    return this.groups.length === 0 && this.writes.length === 0;
  }

  /** The group of a stream, made on first use; groups keep first-use order. */
  group(stream: string, info: StreamInfo): StreamGroup {
    const current = this.#current;
    if (current !== undefined && current.stream === stream) return current;
    for (const group of this.groups) {
      if (group.stream === stream) return (this.#current = group);
    }
    const group: StreamGroup = {
      stream,
      sessionId: info.sessionId,
      encodeOptions: info.encodeOptions,
      records: [],
    };
    this.groups.push(group);
    return (this.#current = group);
  }

  /** Coalescer output for the group last selected. */
  push(record: NewEventRecord, sources: number): void {
    this.#current!.records.push(record);
    if (sources === 1) {
      this.events++;
    } else {
      this.coalesced += sources;
      this.aggregates++;
    }
  }

  streams(): string[] {
    return this.groups.map((group) => group.stream);
  }
}

interface FlushWaiter {
  readonly target: number;
  resolve(): void;
}

const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

function positiveInteger(where: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalidArgument(where, `must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function nowUs(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

function envelopeOf(event: AppendableEvent): Record<string, unknown> {
  const envelope: object = isUnknownEvent(event) ? event.event : event;
  return envelope as Record<string, unknown>;
}

function issue(path: string, keyword: EventIssue['keyword'], message: string): EventIssue[] {
  return [{ index: 0, path, keyword, message }];
}

/** What the pipeline knows of a known event type, looked up once per event. */
interface TypeInfo {
  readonly critical: boolean;
  /** The compiled schema check, compiled on first use. */
  checker: ReturnType<typeof eventChecker> | undefined;
  /** The enrichment hooks that apply: the built-in one of the type, then the caller's. */
  readonly enrichers: readonly EventEnricher[];
}

class RecorderImpl implements Recorder {
  readonly #store: RecorderStore;
  readonly #maxPendingFrames: number;
  readonly #maxFrameEvents: number;
  readonly #validate: boolean;
  readonly #dropTypes: ReadonlySet<string> | undefined;
  readonly #filter: ((event: AppendableEvent) => boolean) | undefined;
  readonly #route: ((event: AppendableEvent) => string) | undefined;
  readonly #types = new Map<string, TypeInfo>();
  /** The caller's enrichment hooks: all that applies to a type this code does not know. */
  readonly #customEnrichers: readonly EventEnricher[];
  /** Privacy mode's token hasher, applied when an event is encoded. */
  readonly #hashTokens: EventEnricher | undefined;
  readonly #coalesceTypes: ReadonlySet<CoalescableEventType>;
  readonly #auditSink: ((entry: RecorderAuditEntry) => void) | undefined;
  readonly #auditRows: boolean;
  readonly #auditActor: string;
  readonly #onAck: ((ack: FrameAck) => void) | undefined;
  readonly #onError: ((failure: RecorderFailure) => void) | undefined;
  readonly #onReject: ((rejection: RecorderRejection) => void) | undefined;
  readonly #timer: FrameTimer | undefined;

  /** The frame being recorded. */
  #buffer: FrameBuffer;
  /** Sealed frames waiting for their commit task, oldest first. */
  readonly #sealed: FrameBuffer[] = [];
  /** Buffers ready for reuse: the ring holds at most `maxPendingFrames + 1`. */
  readonly #pool: FrameBuffer[] = [];
  #allocated = 1;
  /** Commits sent and not settled, oldest first (they settle in this order). */
  readonly #inFlight: PendingCommit[] = [];
  /**
   * Commits to send again, oldest first: they were in flight, chained on the expected
   * versions of a commit that then failed, and were refused for that reason only.
   */
  readonly #retry: PendingCommit[] = [];
  /**
   * Set when a commit fails (or leaves another version than predicted): the commits in
   * flight behind it carry versions that no longer hold. Nothing new is sent until they
   * have settled; the ones refused with a version conflict are sent again, in order.
   */
  #resync = false;
  /** A commit is reading stream versions before it is sent: nothing else is sent meanwhile. */
  #reading = false;
  /** Highest sequence number settled (not counting commits waiting to be sent again). */
  #maxSettledSeq = 0;
  #backlog: PendingCommit | undefined;
  #pumpScheduled = false;
  readonly #versions = new Map<string, bigint>();
  readonly #streamInfos = new Map<string, StreamInfo>();
  #infoStream: string | undefined;
  #info: StreamInfo | undefined;
  #routeSessionId: string | undefined;
  #routeStream = '';

  #state = OPEN;
  #closing: Promise<void> | undefined;
  #seq = 0;
  /** Sequence number of the latest commit made (sealed, sent, or the open backlog). */
  #lastSeq = 0;
  #settledSeq = 0;
  readonly #flushWaiters: FlushWaiter[] = [];

  // Where the recorder's own notices go: the latest accepted event's session and stream.
  #lastSessionId: string | undefined;
  #lastStream: string | undefined;
  #lastTimestamp: string | undefined;

  #backpressure = false;
  #episodeFrames = 0;
  #episodeCoalesced = 0;
  #episodeAggregates = 0;

  #lastRejection: RecorderRejection | undefined;
  #recorded = 0;
  #accepted = 0;
  #rejected = 0;
  readonly #rejectedByReason: Record<RejectReason, number>;
  #filtered = 0;
  #committed = 0;
  #coalesced = 0;
  #aggregates = 0;
  #notices = 0;
  #failed = 0;
  #frames = 0;
  #commits = 0;
  #failedCommits = 0;
  #backpressureEpisodes = 0;
  #lastAckLatencyMs: number | undefined;
  #maxAckLatencyMs = 0;
  #callbackErrors = 0;

  constructor(store: RecorderStore, options: RecorderOptions) {
    this.#store = store;
    const frameRateHz = options.frameRateHz ?? DEFAULTS.frameRateHz;
    if (typeof frameRateHz !== 'number' || !(frameRateHz > 0 && frameRateHz <= 1000)) {
      throw invalidArgument('options.frameRateHz', 'must be a number in (0, 1000]');
    }
    const clock = options.clock ?? 'internal';
    if (clock !== 'internal' && clock !== 'external') {
      throw invalidArgument('options.clock', "must be 'internal' or 'external'");
    }
    this.#maxPendingFrames = positiveInteger(
      'options.maxPendingFrames',
      options.maxPendingFrames ?? DEFAULTS.maxPendingFrames,
    );
    this.#maxFrameEvents = positiveInteger(
      'options.maxFrameEvents',
      options.maxFrameEvents ?? DEFAULTS.maxFrameEvents,
    );
    const coalesce = options.coalesce ?? ['energy.update'];
    for (const type of coalesce) {
      if (!(COALESCABLE_EVENT_TYPES as readonly string[]).includes(type)) {
        throw invalidArgument(
          'options.coalesce',
          `${JSON.stringify(type)} cannot be coalesced (only ${COALESCABLE_EVENT_TYPES.join(', ')})`,
        );
      }
    }
    this.#coalesceTypes = new Set(coalesce);

    const pipeline = options.pipeline ?? {};
    this.#validate = pipeline.validate ?? true;
    if (pipeline.dropTypes !== undefined && pipeline.dropTypes.length > 0) {
      for (const type of pipeline.dropTypes) {
        if (typeof type !== 'string' || isCriticalEventType(type)) {
          throw invalidArgument(
            'options.pipeline.dropTypes',
            `${JSON.stringify(type)} is critical and cannot be dropped`,
          );
        }
      }
      this.#dropTypes = new Set(pipeline.dropTypes);
    }
    this.#filter = pipeline.filter;
    this.#route = pipeline.route;
    const custom = pipeline.enrich ?? [];
    for (const hook of custom) {
      if (typeof hook !== 'function') {
        throw invalidArgument('options.pipeline.enrich', 'expected functions');
      }
    }
    this.#customEnrichers = custom;
    const privacy = pipeline.privacy ?? true;
    const hashOptions = typeof privacy === 'object' ? privacy : {};
    // A prompt's text must go before validation (its schema has no place for it); only
    // prompts go through that hook. A token's hash changes nothing validation sees, so
    // it is made where the event is encoded, in the commit task, off the frame path.
    const hashPrompt = createPromptTextHasher(hashOptions);
    if (privacy !== false) this.#hashTokens = createTokenTextHasher(hashOptions);
    for (const type of EVENT_TYPES) {
      this.#types.set(type, {
        critical: isCriticalEventType(type),
        checker: undefined,
        enrichers: type === 'user.prompt' ? [hashPrompt, ...custom] : custom,
      });
    }
    const audit = pipeline.audit ?? false;
    const auditOptions = audit === true ? {} : audit === false ? undefined : audit;
    this.#auditSink = auditOptions?.sink;
    this.#auditRows = auditOptions !== undefined && (auditOptions.rows ?? true);
    this.#auditActor = auditOptions?.actor ?? 'recorder';

    this.#onAck = options.onAck;
    this.#onError = options.onError;
    this.#onReject = options.onReject;
    this.#rejectedByReason = Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<
      RejectReason,
      number
    >;
    this.#buffer = new FrameBuffer(this.#maxFrameEvents);
    if (clock === 'internal') {
      this.#timer = new FrameTimer(1000 / frameRateHz, () => this.#boundary());
      this.#timer.start();
    }
  }

  get closed(): boolean {
    return this.#state !== OPEN;
  }

  get lastRejection(): RecorderRejection | undefined {
    return this.#lastRejection;
  }

  /** The ring of frame buffers, for tests of its reuse. */
  get buffers(): { readonly current: FrameBuffer; readonly allocated: number } {
    return { current: this.#buffer, allocated: this.#allocated };
  }

  // ---- the frame path ------------------------------------------------------------------

  record(event: AppendableEvent): RecordResult {
    return this.#take(event, undefined);
  }

  append(event: AppendableEvent): Promise<AppendedEvent> {
    let waiter!: FrameWaiter;
    const promise = new Promise<AppendedEvent>((resolve, reject) => {
      waiter = { resolve, reject, group: -1, index: -1 };
    });
    this.#take(event, waiter);
    return promise;
  }

  /**
   * The frame path: the cheap checks (closed, not an event, `dropTypes`, `filter`, frame
   * capacity), then the event is queued as it was given. Enrichment, validation and
   * routing wait for the frame's task ({@link RecorderImpl.#admit}).
   */
  #take(event: AppendableEvent, waiter: FrameWaiter | undefined): RecordResult {
    this.#recorded++;
    if (this.#state !== OPEN) {
      return this.#reject(event, waiter, 'closed', undefined, undefined, [], undefined);
    }
    if (typeof event !== 'object' || event === null) {
      return this.#reject(event, waiter, 'not_an_event', undefined, undefined, [], undefined);
    }
    const type = envelopeOf(event).type;
    if (typeof type !== 'string') {
      return this.#reject(event, waiter, 'not_an_event', undefined, undefined, [], undefined);
    }
    const buffer = this.#buffer;
    // Whether the event is critical matters only to the filters and a full frame: the
    // common frame (no filter, room left) does not look its type up.
    if (
      waiter === undefined &&
      (this.#dropTypes !== undefined ||
        this.#filter !== undefined ||
        buffer.length >= this.#maxFrameEvents) &&
      !(this.#types.get(type)?.critical ?? isCriticalEventType(type))
    ) {
      if (this.#dropTypes?.has(type) === true) return this.#drop(event);
      if (this.#filter !== undefined) {
        let keep: boolean;
        try {
          keep = this.#filter(event);
        } catch (error) {
          return this.#reject(event, waiter, 'hook_failed', type, undefined, [], error);
        }
        if (!keep) return this.#drop(event);
      }
      if (buffer.length >= this.#maxFrameEvents) {
        return this.#reject(event, waiter, 'frame_full', type, undefined, [], undefined);
      }
    }
    buffer.push(event, waiter);
    this.#accepted++;
    return 'accepted';
  }

  /**
   * The rest of the pipeline for the queued event `i` of a frame, in the frame's task:
   * enrich, validate, route. Leaves the event as it is stored in the buffer and returns
   * its stream; or reports the rejection (counted, `onReject`, the audit sink, an audit
   * row committed with this frame, the `append()` promise) and returns `undefined`.
   */
  #admit(buffer: FrameBuffer, i: number): string | undefined {
    const event = buffer.events[i]!;
    const waiter = buffer.waiters[i];
    const writes = buffer.writes;
    let envelope = envelopeOf(event);
    let type = envelope.type as string;
    let info = this.#types.get(type);

    let current = event;
    for (const hook of info?.enrichers ?? this.#customEnrichers) {
      try {
        current = hook(current);
      } catch (error) {
        return this.#refuse(event, waiter, 'hook_failed', type, undefined, [], error, writes);
      }
    }
    if (current !== event) {
      if (typeof current !== 'object' || (current as unknown) === null) {
        return this.#refuse(event, waiter, 'not_an_event', type, undefined, [], undefined, writes);
      }
      envelope = envelopeOf(current);
      if (envelope.type !== type) {
        if (typeof envelope.type !== 'string') {
          return this.#refuse(
            current,
            waiter,
            'not_an_event',
            undefined,
            undefined,
            [],
            undefined,
            writes,
          );
        }
        type = envelope.type;
        info = this.#types.get(type);
      }
    }

    if (this.#validate) {
      if (isUnknownEvent(current)) {
        const result = validateEvent(envelope);
        if (result.status === 'invalid') {
          return this.#refuse(
            current,
            waiter,
            'invalid',
            type,
            undefined,
            result.issues,
            undefined,
            writes,
          );
        }
      } else if (info !== undefined) {
        info.checker ??= eventChecker(type as EventType);
        if (!info.checker.Check(current)) {
          const { issues } = validateEvent(current);
          return this.#refuse(
            current,
            waiter,
            'invalid',
            type,
            undefined,
            issues,
            undefined,
            writes,
          );
        }
      } else {
        const { issues } = validateEvent(current);
        return this.#refuse(
          current,
          waiter,
          'unknown_type',
          type,
          undefined,
          issues,
          undefined,
          writes,
        );
      }
    }

    let stream: string;
    try {
      stream = this.#streamOf(current, envelope.session_id);
    } catch (error) {
      const reason = isStateError(error, 'invalid_argument') ? 'bad_route' : 'hook_failed';
      return this.#refuse(current, waiter, reason, type, undefined, [], error, writes);
    }
    const streamInfo = this.#infoOf(stream);
    if (streamInfo === undefined) {
      return this.#refuse(current, waiter, 'bad_route', type, stream, [], undefined, writes);
    }
    if (streamInfo.sessionId !== undefined && envelope.session_id !== streamInfo.sessionId) {
      return this.#refuse(
        current,
        waiter,
        'stream_mismatch',
        type,
        stream,
        issue('/session_id', 'stream', `must be ${streamInfo.sessionId}, the session of ${stream}`),
        undefined,
        writes,
      );
    }
    buffer.events[i] = current;
    buffer.streams[i] = stream;
    this.#lastSessionId = envelope.session_id as string;
    this.#lastStream = stream;
    this.#lastTimestamp = envelope.timestamp as string;
    if (this.#auditSink !== undefined) {
      this.#audit({ outcome: 'accepted', event: current, stream, rejection: undefined });
    }
    return stream;
  }

  /** A queued event the pipeline refuses after all: no longer counted as accepted. */
  #refuse(
    event: unknown,
    waiter: FrameWaiter | undefined,
    reason: RejectReason,
    type: string | undefined,
    stream: string | undefined,
    issues: readonly (EventIssue | Omit<EventIssue, 'index'>)[],
    error: unknown,
    writes: RowWrite[],
  ): undefined {
    this.#accepted--;
    this.#reject(event, waiter, reason, type, stream, issues, error, writes);
    return undefined;
  }

  /** The stream of an event: the router's, or its session's (cached for runs of one session). */
  #streamOf(event: AppendableEvent, sessionId: unknown): string {
    if (this.#route !== undefined) return this.#route(event);
    if (sessionId === this.#routeSessionId) return this.#routeStream;
    if (typeof sessionId !== 'string') {
      throw invalidArgument('session_id', 'the default route needs a session id');
    }
    let stream: string;
    try {
      stream = sessionStream(sessionId);
    } catch (error) {
      if (isEventsError(error)) throw invalidArgument('session_id', error.message);
      throw error;
    }
    this.#routeSessionId = sessionId;
    this.#routeStream = stream;
    return stream;
  }

  #infoOf(stream: unknown): StreamInfo | undefined {
    if (stream === this.#infoStream) return this.#info;
    if (typeof stream !== 'string' || stream.length === 0) return undefined;
    let info = this.#streamInfos.get(stream);
    if (info === undefined) {
      let sessionId: string | undefined;
      try {
        sessionId = sessionIdOfStream(stream);
      } catch {
        return undefined;
      }
      info = {
        sessionId,
        encodeOptions: sessionId === undefined ? WITH_SESSION_ID : WITHOUT_SESSION_ID,
      };
      if (this.#streamInfos.size >= MAX_STREAM_INFOS) this.#streamInfos.clear();
      this.#streamInfos.set(stream, info);
    }
    this.#infoStream = stream;
    this.#info = info;
    return info;
  }

  #drop(event: AppendableEvent): RecordResult {
    this.#filtered++;
    if (this.#auditSink !== undefined) {
      this.#audit({ outcome: 'filtered', event, stream: undefined, rejection: undefined });
    }
    return 'filtered';
  }

  #reject(
    event: unknown,
    waiter: FrameWaiter | undefined,
    reason: RejectReason,
    type: string | undefined,
    stream: string | undefined,
    issues: readonly (EventIssue | Omit<EventIssue, 'index'>)[],
    error: unknown,
    writes: RowWrite[] = this.#buffer.writes,
  ): RecordResult {
    this.#rejected++;
    this.#rejectedByReason[reason]++;
    const rejection: RecorderRejection = {
      reason,
      type,
      stream,
      issues: issues.map((found) => ({ ...found, index: 0 })),
      ...(error === undefined ? {} : { error }),
    };
    this.#lastRejection = rejection;
    if (waiter !== undefined) {
      waiter.reject(
        reason === 'closed'
          ? closedError('recorder')
          : new InvalidEventError(
              stream ?? '',
              rejection.issues.length > 0
                ? rejection.issues
                : issue('', 'type', `rejected by the recorder: ${reason}`),
              error === undefined ? {} : { cause: error },
            ),
      );
    }
    if (this.#onReject !== undefined) {
      try {
        this.#onReject(rejection);
      } catch {
        this.#callbackErrors++;
      }
    }
    if (this.#auditSink !== undefined)
      this.#audit({ outcome: 'rejected', event, stream, rejection });
    if (this.#auditRows && reason !== 'closed') {
      writes.push({
        kind: 'audit.insert',
        timestampUs: nowUs(),
        actor: this.#auditActor,
        action: 'event.rejected',
        target: stream ?? type ?? null,
        details: {
          reason,
          type: type ?? null,
          issues: rejection.issues.map(({ path, keyword, message }) => ({
            path,
            keyword,
            message,
          })),
        },
      });
    }
    return 'rejected';
  }

  #audit(entry: RecorderAuditEntry): void {
    try {
      this.#auditSink!(entry);
    } catch {
      this.#callbackErrors++;
    }
  }

  endFrame(): void {
    if (this.#state === CLOSED) return;
    this.#boundary();
  }

  // ---- frame boundaries ----------------------------------------------------------------

  #boundary(): void {
    const buffer = this.#buffer;
    if (this.#backpressure) {
      if (this.#backlog === undefined && this.#pendingCommits() === 0) {
        // The writer caught up: back to one commit per frame, and say so.
        this.#backpressure = false;
        this.#frames++;
        if (this.#lastStream !== undefined) {
          buffer.notice = this.#stopNotice();
          buffer.noticeStream = this.#lastStream;
        }
        this.#seal();
      } else if (!buffer.empty) {
        this.#frames++;
        this.#mergeAndClear(buffer);
      }
    } else if (!buffer.empty) {
      this.#frames++;
      if (this.#pendingCommits() >= this.#maxPendingFrames) {
        this.#backpressure = true;
        this.#backpressureEpisodes++;
        this.#episodeFrames = 0;
        this.#episodeCoalesced = 0;
        this.#episodeAggregates = 0;
        this.#mergeAndClear(buffer);
      } else {
        this.#seal();
      }
    }
    this.#schedulePump();
  }

  /** Frames sealed or being committed (the backlog not counted). */
  #pendingCommits(): number {
    return this.#sealed.length + this.#inFlight.length + this.#retry.length;
  }

  /**
   * Queues the current frame for its commit task and records on into a buffer of the
   * ring. Encoding waits for that task: the frame's own cost stays what `record()` did.
   */
  #seal(): void {
    const buffer = this.#buffer;
    if (buffer.length === 0) buffer.firstRecordMs = performance.now();
    buffer.seq = ++this.#seq;
    this.#lastSeq = buffer.seq;
    this.#sealed.push(buffer);
    const next = this.#pool.pop();
    if (next !== undefined) {
      this.#buffer = next;
    } else {
      this.#allocated++;
      this.#buffer = new FrameBuffer(this.#maxFrameEvents);
    }
  }

  /** Encodes a sealed frame as its own commit and gives its buffer back to the ring. */
  #encodeFrame(buffer: FrameBuffer): PendingCommit {
    const start = performance.now();
    const commit = new PendingCommit(buffer.seq, undefined);
    commit.frames = 1;
    commit.firstRecordMs = buffer.firstRecordMs;
    if (buffer.notice !== undefined) this.#addNotice(commit, buffer.notice, buffer.noticeStream);
    for (let i = 0; i < buffer.length; i++) {
      const stream = this.#admit(buffer, i);
      if (stream !== undefined) {
        this.#encodeInto(commit, buffer.events[i]!, stream, buffer.waiters[i]);
      }
    }
    for (const write of buffer.writes) commit.writes.push(write);
    buffer.clear();
    this.#pool.push(buffer);
    commit.encodeMs = performance.now() - start;
    return commit;
  }

  /** Merges the current frame into the backlog, coalescing its telemetry, and clears it. */
  #mergeAndClear(buffer: FrameBuffer): void {
    try {
      this.#merge(buffer);
    } finally {
      buffer.clear();
    }
  }

  #merge(buffer: FrameBuffer): void {
    for (let i = 0; i < buffer.length; i++) buffer.streams[i] = this.#admit(buffer, i);
    let backlog = this.#backlog;
    if (backlog === undefined) {
      backlog = new PendingCommit(++this.#seq, new TelemetryCoalescer(this.#coalesceTypes));
      this.#backlog = backlog;
      this.#lastSeq = backlog.seq;
      if (this.#episodeFrames === 0 && this.#lastStream !== undefined) {
        this.#addNotice(backlog, this.#startNotice(), this.#lastStream);
      }
    }
    backlog.frames++;
    this.#episodeFrames++;
    if (buffer.length > 0 && buffer.firstRecordMs < backlog.firstRecordMs) {
      backlog.firstRecordMs = buffer.firstRecordMs;
    }
    const coalescer = backlog.coalescer!;
    for (let i = 0; i < buffer.length; i++) {
      const stream = buffer.streams[i];
      if (stream === undefined) continue; // rejected
      const waiter = buffer.waiters[i];
      const info = this.#infoOf(stream)!;
      let event: AppendableEvent;
      try {
        event = this.#storable(buffer.events[i]!);
      } catch (error) {
        this.#encodeFailed(error, stream, waiter);
        continue;
      }
      if (waiter === undefined) {
        try {
          if (coalescer.add(stream, info.sessionId, info.encodeOptions, event)) continue;
        } catch (error) {
          this.#encodeFailed(error, stream, undefined);
          continue;
        }
      }
      // Not coalesced: the stream's open runs go first, so its order holds.
      this.#drainRuns(backlog, stream, info);
      this.#encodeInto(backlog, event, stream, waiter);
    }
    for (const write of buffer.writes) backlog.writes.push(write);
  }

  #drainRuns(commit: PendingCommit, stream: string, info: StreamInfo): void {
    const coalesced = commit.coalesced;
    const aggregates = commit.aggregates;
    commit.group(stream, info);
    try {
      commit.coalescer!.drain(stream, commit);
    } catch (error) {
      // An aggregate the codec refuses: not expected, but never silent.
      this.#encodeFailed(error, stream, undefined);
    }
    this.#episodeCoalesced += commit.coalesced - coalesced;
    this.#episodeAggregates += commit.aggregates - aggregates;
  }

  /** The backlog, complete, as the next commit. */
  #finishBacklog(backlog: PendingCommit): PendingCommit {
    const start = performance.now();
    for (const stream of backlog.coalescer!.openStreams()) {
      this.#drainRuns(backlog, stream, this.#infoOf(stream)!);
    }
    backlog.encodeMs = performance.now() - start;
    return backlog;
  }

  /** The event as it is stored: its token hashed in privacy mode (a no-op when done). */
  #storable(event: AppendableEvent): AppendableEvent {
    return this.#hashTokens === undefined ? event : this.#hashTokens(event);
  }

  #encodeInto(
    commit: PendingCommit,
    event: AppendableEvent,
    stream: string,
    waiter: FrameWaiter | undefined,
  ): void {
    const info = this.#infoOf(stream)!;
    let record: NewEventRecord;
    try {
      record = encodeEvent(this.#storable(event), info.encodeOptions);
    } catch (error) {
      this.#encodeFailed(error, stream, waiter);
      return;
    }
    const group = commit.group(stream, info);
    group.records.push(record);
    commit.events++;
    if (waiter !== undefined) {
      waiter.group = commit.groups.indexOf(group);
      waiter.index = group.records.length - 1;
      commit.waiters.push(waiter);
    }
  }

  #encodeFailed(error: unknown, stream: string, waiter: FrameWaiter | undefined): void {
    this.#failed++;
    waiter?.reject(error);
    this.#report({ kind: 'encode', error, commit: undefined, events: 1, streams: [stream] });
  }

  #addNotice(commit: PendingCommit, notice: AppendableEvent, stream: string): void {
    const info = this.#infoOf(stream)!;
    commit.group(stream, info).records.push(encodeEvent(notice, info.encodeOptions));
    commit.notices++;
  }

  #startNotice(): EventOfType<'health.performance'> {
    return {
      session_id: this.#lastSessionId!,
      timestamp: this.#lastTimestamp!,
      type: 'health.performance',
      data: {
        metric: 'queue_backlog',
        value: this.#accepted - this.#committed - this.#coalesced - this.#failed,
        threshold: this.#maxPendingFrames,
        severity: 'warning',
        mitigation: `${this.#pendingCommits()} frames wait for the writer: coalescing ${[...this.#coalesceTypes].join(', ') || 'nothing'} until it catches up`,
      },
    };
  }

  #stopNotice(): EventOfType<'health.performance'> & { backlog: Record<string, number> } {
    return {
      session_id: this.#lastSessionId!,
      timestamp: this.#lastTimestamp!,
      type: 'health.performance',
      data: {
        metric: 'queue_backlog',
        value: 0,
        threshold: this.#maxPendingFrames,
        severity: 'info',
        mitigation: `writer caught up after ${this.#episodeFrames} frames: ${this.#episodeCoalesced} events coalesced into ${this.#episodeAggregates} aggregate events`,
      },
      backlog: {
        frames: this.#episodeFrames,
        coalesced_events: this.#episodeCoalesced,
        aggregate_events: this.#episodeAggregates,
      },
    };
  }

  // ---- commits -------------------------------------------------------------------------

  #schedulePump(): void {
    if (this.#pumpScheduled || !this.#canSend()) return;
    if (this.#sealed.length === 0 && this.#backlog === undefined && this.#retry.length === 0) {
      return;
    }
    // Encoding a frame and the store's work for its commit (decoding for its
    // projections, handing the batch to the writer) run in a task of their own, after
    // the producer's frame, not inside it. Even queueing that task waits for the
    // frame's end: `setImmediate` is called from a promise reaction, once the code
    // that ended the frame has returned, because after the frame loop's sleep its
    // timer bookkeeping is cold and costs several times what a reaction does.
    this.#pumpScheduled = true;
    void RESOLVED.then(this.#queuePump);
  }

  /** Queues the commit task (made once: no closure per frame). */
  readonly #queuePump = (): void => {
    setImmediate(this.#pumpTask);
  };

  /** The commit task. */
  readonly #pumpTask = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  /**
   * Whether another commit may be sent: fewer than {@link COMMITS_IN_FLIGHT} are on
   * their way, and none is waiting to be resent after a failure.
   */
  #canSend(): boolean {
    if (this.#reading) return false;
    if (this.#resync) return this.#inFlight.length === 0;
    return this.#inFlight.length < COMMITS_IN_FLIGHT;
  }

  /**
   * Sends commits while {@link #canSend}: those to send again first, then the sealed
   * frames, oldest first, else the backlog. Several are in flight at once, each with
   * the versions its predecessors predict, so that the writer can commit them as a
   * group (one fsync) while the next frame is encoded.
   */
  #pump(): void {
    if (this.#resync && this.#inFlight.length === 0) this.#resync = false;
    while (this.#canSend()) {
      let next: PendingCommit;
      const retry = this.#retry.shift();
      const sealed = retry === undefined ? this.#sealed.shift() : undefined;
      if (retry !== undefined) {
        next = retry;
      } else if (sealed !== undefined) {
        next = this.#encodeFrame(sealed);
      } else if (this.#backlog !== undefined) {
        next = this.#finishBacklog(this.#backlog);
        this.#backlog = undefined;
      } else {
        return;
      }
      if (next.empty) {
        // Nothing left to write (the codec refused every event): settled as it is.
        this.#settle(next, undefined, undefined);
        continue;
      }
      this.#inFlight.push(next);
      void this.#send(next);
    }
  }

  async #send(commit: PendingCommit): Promise<void> {
    commit.sentMs = performance.now();
    let result: CommitResult | undefined;
    let failure: unknown;
    try {
      if (commit.groups.some((group) => !this.#versions.has(group.stream))) {
        // First commit to a stream, or the first after a failure: read its version,
        // sending nothing else meanwhile (the commits after it predict from it).
        this.#reading = true;
        try {
          for (const group of commit.groups) {
            if (!this.#versions.has(group.stream)) {
              this.#versions.set(group.stream, await this.#store.streamVersion(group.stream));
            }
          }
        } finally {
          this.#reading = false;
        }
      }
      const appends: PreparedAppend[] = [];
      for (const group of commit.groups) {
        const version = this.#versions.get(group.stream)!;
        const next = version + BigInt(group.records.length);
        commit.predicted.set(group.stream, next);
        this.#versions.set(group.stream, next);
        appends.push({ stream: group.stream, expectedVersion: version, records: group.records });
      }
      // Called before any later commit's: the store commits in the order of the calls.
      const sent = this.#store.commitBatch(
        appends,
        commit.writes.length === 0 ? {} : { writes: commit.writes },
      );
      this.#pump();
      result = await sent;
    } catch (error) {
      failure = error;
    }
    this.#inFlight.splice(this.#inFlight.indexOf(commit), 1);
    if (result === undefined && this.#resync && !commit.resent && isConcurrencyError(failure)) {
      // Refused only because a commit before it failed: its versions were predicted on
      // top of that one. Send it again, in order, once the others have settled.
      commit.resent = true;
      this.#retry.push(commit);
    } else {
      if (result === undefined || !this.#asPredicted(commit, result)) this.#startResync(commit);
      this.#settle(commit, result, failure);
    }
    this.#pump();
  }

  /** Whether a commit left every stream at the version it predicted. */
  #asPredicted(commit: PendingCommit, result: CommitResult): boolean {
    return commit.groups.every(
      (group, i) => result.appends[i]?.nextExpectedVersion === commit.predicted.get(group.stream),
    );
  }

  /**
   * A commit failed, or an idempotent repeat left a stream at another version than
   * predicted: forget every predicted version, so the next commits read them again.
   */
  #startResync(commit: PendingCommit): void {
    if (commit.empty) return;
    this.#versions.clear();
    if (this.#inFlight.length > 0) this.#resync = true;
  }

  #settle(commit: PendingCommit, result: CommitResult | undefined, failure: unknown): void {
    const now = performance.now();
    if (result !== undefined) {
      if (this.#inFlight.length === 0 && this.#retry.length === 0) {
        // Nothing in flight predicts on top of it: the store's word is the version.
        commit.groups.forEach((group, i) => {
          const appended = result.appends[i];
          if (appended !== undefined) {
            this.#versions.set(group.stream, appended.nextExpectedVersion);
          }
        });
      }
      this.#commits++;
      this.#committed += commit.events;
      this.#coalesced += commit.coalesced;
      this.#aggregates += commit.aggregates;
      this.#notices += commit.notices;
      const latencyMs = now - commit.firstRecordMs;
      this.#lastAckLatencyMs = latencyMs;
      if (latencyMs > this.#maxAckLatencyMs) this.#maxAckLatencyMs = latencyMs;
      for (const waiter of commit.waiters) {
        const appended = result.appends[waiter.group]!;
        waiter.resolve({ stream: appended.stream, position: appended.positions[waiter.index]! });
      }
      if (this.#onAck !== undefined) {
        try {
          this.#onAck({
            commit: commit.seq,
            frames: commit.frames,
            events: commit.events,
            coalesced: commit.coalesced,
            aggregates: commit.aggregates,
            latencyMs,
            commitMs: now - commit.sentMs,
            encodeMs: commit.encodeMs,
            lastPosition: result.lastPosition,
          });
        } catch {
          this.#callbackErrors++;
        }
      }
    } else if (!commit.empty) {
      // The stream versions are no longer known (a conflict, or an outcome the store
      // could not confirm): the next commits read them again (see #startResync).
      this.#failedCommits++;
      const lost = commit.events + commit.coalesced;
      this.#failed += lost;
      for (const waiter of commit.waiters) waiter.reject(failure);
      this.#report({
        kind: 'commit',
        error: failure,
        commit: commit.seq,
        events: lost,
        streams: commit.streams(),
      });
    }
    // Settled up to here: every commit up to this one, unless an older one waits to be
    // sent again.
    if (commit.seq > this.#maxSettledSeq) this.#maxSettledSeq = commit.seq;
    let settled = this.#maxSettledSeq;
    for (const pending of this.#retry) settled = Math.min(settled, pending.seq - 1);
    for (const pending of this.#inFlight) settled = Math.min(settled, pending.seq - 1);
    if (settled > this.#settledSeq) this.#settledSeq = settled;
    for (let i = 0; i < this.#flushWaiters.length;) {
      const waiter = this.#flushWaiters[i]!;
      if (waiter.target <= this.#settledSeq) {
        this.#flushWaiters.splice(i, 1);
        waiter.resolve();
      } else {
        i++;
      }
    }
  }

  #report(failure: RecorderFailure): void {
    if (this.#onError === undefined) return;
    try {
      this.#onError(failure);
    } catch {
      this.#callbackErrors++;
    }
  }

  /** Resolves once every commit up to `target` is settled. */
  #settled(target: number): Promise<void> {
    if (this.#settledSeq >= target) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push({ target, resolve }));
  }

  // ---- flush and close -----------------------------------------------------------------

  async flush(): Promise<void> {
    if (this.#state === CLOSED) return;
    const failedBefore = this.#failed;
    // A second round ends a backpressure episode that nothing else would end.
    for (let round = 0; round < 2; round++) {
      this.#boundary();
      await this.#settled(this.#lastSeq);
      if (!this.#backpressure) break;
    }
    const lost = this.#failed - failedBefore;
    if (lost > 0) {
      throw new StateError(
        'commit_failed',
        `${lost} recorded events could not be committed (see the recorder's onError and stats)`,
      );
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#timer?.stop();
      this.#state = CLOSING;
      try {
        await this.flush();
      } finally {
        this.#state = CLOSED;
      }
    })();
    return this.#closing;
  }

  stats(): RecorderStats {
    return {
      recorded: this.#recorded,
      accepted: this.#accepted,
      rejected: this.#rejected,
      rejectedByReason: { ...this.#rejectedByReason },
      filtered: this.#filtered,
      committed: this.#committed,
      coalesced: this.#coalesced,
      aggregates: this.#aggregates,
      notices: this.#notices,
      failed: this.#failed,
      pending: this.#accepted - this.#committed - this.#coalesced - this.#failed,
      frames: this.#frames,
      commits: this.#commits,
      failedCommits: this.#failedCommits,
      pendingFrames: this.#pendingCommits() + (this.#backlog === undefined ? 0 : 1),
      backlogFrames: this.#backlog?.frames ?? 0,
      backpressure: this.#backpressure,
      backpressureEpisodes: this.#backpressureEpisodes,
      lastAckLatencyMs: this.#lastAckLatencyMs,
      maxAckLatencyMs: this.#maxAckLatencyMs,
      skippedBoundaries: this.#timer?.skipped ?? 0,
      frameOverflows: this.#frameOverflows(),
      callbackErrors: this.#callbackErrors,
    };
  }

  #frameOverflows(): number {
    let overflows = this.#buffer.overflows;
    for (const buffer of this.#pool) overflows += buffer.overflows;
    for (const buffer of this.#sealed) overflows += buffer.overflows;
    return overflows;
  }
}

/**
 * Creates a {@link Recorder} over a store: the 60 Hz write path of WIRTHFORGE State.
 *
 * Each frame's events become one `commitBatch` (one transaction), its streams chained
 * with exact expected versions that the recorder tracks from each result. Commits go
 * to the store one at a time; while more than `maxPendingFrames` frames wait, the
 * following frames are merged into one backlog commit in which telemetry is coalesced
 * (counted, announced with `health.performance` `queue_backlog` events) and every
 * other event is kept in order.
 *
 * @example
 * ```ts
 * const store = createEventStore({ storage: await openSqliteStorage({ path: 'state.db' }) });
 * const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
 * const recorder = createRecorder(store, { clock: 'external', onAck: (ack) => meter(ack.latencyMs) });
 *
 * function frame(): void {
 *   for (const model of models) recorder.record(energyUpdateOf(model)); // 'accepted'
 *   recorder.endFrame(); // seals the frame; it is committed in a task of its own
 * }
 *
 * const { position } = await recorder.append(levelUnlock); // durable when it resolves
 * await recorder.close(); // everything recorded is durable
 * await store.endSession(session.id, { reason: 'user_exit' });
 * ```
 */
export function createRecorder(store: RecorderStore, options: RecorderOptions = {}): Recorder {
  if (
    typeof store !== 'object' ||
    store === null ||
    typeof store.commitBatch !== 'function' ||
    typeof store.streamVersion !== 'function'
  ) {
    throw invalidArgument('store', 'expected an EventStore');
  }
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument('options', 'expected an object');
  }
  return new RecorderImpl(store, options);
}

/**
 * The ring of frame buffers of a recorder made by {@link createRecorder}: the one being
 * recorded into and how many were ever allocated. For tests of their reuse.
 */
export function frameBuffersOf(
  recorder: Recorder,
): { readonly current: FrameBuffer; readonly allocated: number } | undefined {
  return recorder instanceof RecorderImpl ? recorder.buffers : undefined;
}
