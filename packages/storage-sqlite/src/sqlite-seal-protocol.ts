/** Messages between the writer thread and its sealing thread (see `sqlite-seal-worker.ts`). */
import type { StorageErrorJSON } from '@wirthforge/storage';

import type { PreparedSeal, SealTask } from './sqlite-sealer.js';

/** What the sealing thread starts with. */
export interface SealWorkerData {
  readonly path: string;
  readonly busyTimeoutMs: number;
}

/** A task read and encoded: the writer writes it. */
export interface SealPreparedMessage {
  readonly type: 'prepared';
  readonly prepared: PreparedSeal;
}

/** A task that could not be prepared (a missing or damaged hot row, an I/O error). */
export interface SealFailedMessage {
  readonly type: 'seal-failed';
  readonly task: SealTask;
  readonly error: StorageErrorJSON;
}

/** Messages from the sealing thread. */
export type SealWorkerResponse = SealPreparedMessage | SealFailedMessage;
