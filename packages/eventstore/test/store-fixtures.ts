import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  AppendBatchOptions,
  EventStorage,
  ReadAllOptions,
  ReadStreamOptions,
  StreamAppend,
} from '@wirthforge/storage';

/** Calls an {@link observed} storage received. */
export interface StorageCalls {
  readonly appendBatch: {
    appends: readonly StreamAppend[];
    options: AppendBatchOptions | undefined;
  }[];
  readonly readStream: { stream: string; options: ReadStreamOptions | undefined }[];
  readonly readAll: (ReadAllOptions | undefined)[];
}

/**
 * The same storage, recording its calls. Without `withDb` it hides the storage's `db`,
 * as a storage without relational reads would be.
 */
export function observed(
  storage: EventStorage,
  withDb = true,
): { storage: EventStorage; calls: StorageCalls } {
  const calls: StorageCalls = { appendBatch: [], readStream: [], readAll: [] };
  const wrapped: EventStorage = {
    appendBatch: (appends, options) => {
      calls.appendBatch.push({ appends, options });
      return storage.appendBatch(appends, options);
    },
    readStream: (stream, options) => {
      calls.readStream.push({ stream, options });
      return storage.readStream(stream, options);
    },
    readAll: (options) => {
      calls.readAll.push(options);
      return storage.readAll(options);
    },
    streamVersion: (stream) => storage.streamVersion(stream),
    headPosition: () => storage.headPosition(),
    close: () => storage.close(),
  };
  if (withDb) Object.assign(wrapped, { db: (storage as { db?: unknown }).db });
  return { storage: wrapped, calls };
}

/** A clock that returns the given microseconds, then advances by `stepUs` on each call. */
export function fixedClock(startUs: number, stepUs = 0): () => number {
  let now = startUs - stepUs;
  return () => (now += stepUs);
}

/** A temporary directory and its removal. */
export async function tempDir(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'wf-eventstore-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
