import {
  decodeEvent,
  isUnknownEvent,
  tryParseStreamName,
  type UnknownEvent,
  type WirthforgeEvent,
} from '@wirthforge/events';
import type {
  AppendBatchOptions,
  AppendBatchResult,
  EventStorage,
  StoredEventRecord,
  StreamAppend,
} from '@wirthforge/storage';

/** A storage whose commits the test holds back, slows down or fails. */
export interface ControlledStorage {
  readonly storage: EventStorage;
  /** Every `appendBatch` call, in call order. */
  readonly calls: { appends: readonly StreamAppend[]; options: AppendBatchOptions | undefined }[];
  /** Streams whose version was asked for, in call order. */
  readonly versionReads: string[];
  /** Commits wait until {@link open} (or {@link step}). */
  hold(): void;
  /** Lets every waiting commit and every later one through. */
  open(): void;
  /** Lets the next `n` commits through, then holds again. */
  step(n?: number): void;
  /** Commits waiting at the gate. */
  readonly waiting: number;
  /** The next commit rejects with `error` instead of being written. */
  failNext(error: unknown): void;
}

/**
 * Wraps a storage: commits can be held at a gate and let through one by one (an
 * artificially slow writer, as slow as the test says), or failed; reads go straight
 * through. The `db` of the inner storage is passed on, so the store keeps using its
 * sessions table.
 */
export function controlledStorage(inner: EventStorage): ControlledStorage {
  const calls: ControlledStorage['calls'] = [];
  const versionReads: string[] = [];
  let held = false;
  let passes = 0;
  const gate: (() => void)[] = [];
  const failures: unknown[] = [];
  const through = (): void => {
    while (gate.length > 0 && (!held || passes > 0)) {
      if (held) passes--;
      gate.shift()!();
    }
  };
  const storage: EventStorage = {
    appendBatch: async (appends, batchOptions): Promise<AppendBatchResult> => {
      calls.push({ appends, options: batchOptions });
      if (held) {
        await new Promise<void>((resolve) => {
          gate.push(resolve);
          through();
        });
      }
      if (failures.length > 0) throw failures.shift();
      return inner.appendBatch(appends, batchOptions);
    },
    readStream: (stream, readOptions) => inner.readStream(stream, readOptions),
    readAll: (readOptions) => inner.readAll(readOptions),
    streamVersion: (stream) => {
      versionReads.push(stream);
      return inner.streamVersion(stream);
    },
    headPosition: () => inner.headPosition(),
    close: () => inner.close(),
  };
  Object.assign(storage, { db: (inner as { db?: unknown }).db });
  return {
    storage,
    calls,
    versionReads,
    hold: () => {
      held = true;
    },
    open: () => {
      held = false;
      through();
    },
    step: (n = 1) => {
      passes += n;
      through();
    },
    get waiting() {
      return gate.length;
    },
    failNext: (error) => {
      failures.push(error);
    },
  };
}

/** Every stored event of a storage, decoded, with its stream, in position order. */
export async function storedEvents(
  storage: EventStorage,
): Promise<{ record: StoredEventRecord; event: WirthforgeEvent | UnknownEvent }[]> {
  const out: { record: StoredEventRecord; event: WirthforgeEvent | UnknownEvent }[] = [];
  for await (const record of storage.readAll()) {
    const parsed = tryParseStreamName(record.stream);
    const event = decodeEvent(
      record,
      parsed?.kind === 'session' ? { sessionId: parsed.sessionId } : {},
    );
    out.push({ record, event });
  }
  return out;
}

/** The type of an event, wrapped or not. */
export function typeOf(event: WirthforgeEvent | UnknownEvent): string {
  return isUnknownEvent(event) ? event.event.type : event.type;
}

/**
 * Lets every pending task and timer of zero delay run: the microtasks first (a frame's
 * end queues its commit task from one), then one turn of `setImmediate`.
 */
export async function nextTask(): Promise<void> {
  await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}
