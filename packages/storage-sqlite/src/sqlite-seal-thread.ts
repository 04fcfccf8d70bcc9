/**
 * The sealing thread's work (its entry point is `sqlite-seal-worker.ts`): on a read-only
 * connection of its own, it reads the hot rows of each {@link SealTask} the writer sends,
 * checks their checksums and encodes them into a segment, and sends the
 * {@link PreparedSeal} back. The writer then only has to write it (a segment row, the
 * sealed ids, one range delete) in a savepoint of its next transaction, so reading and
 * encoding thousands of events never holds the writer up.
 */
import type { MessagePort } from 'node:worker_threads';

import { storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';
import { SEAL_CACHE_KIB, applyReaderPragmas } from './sqlite-pragmas.js';
import { SELECT_HOT_RANGE_SQL, prepareSeal } from './sqlite-sealer.js';
import type { SealTask } from './sqlite-sealer.js';
import type { SealWorkerData, SealWorkerResponse } from './sqlite-seal-protocol.js';

/** Serves the writer's seal tasks on `port` until it closes. */
export function runSealThread(port: MessagePort, data: SealWorkerData): void {
  const connection = openConnection(data.path, { readonly: true, fileMustExist: true });
  // A small page cache: each hot range is read once (see SEAL_CACHE_KIB).
  applyReaderPragmas(connection, data.busyTimeoutMs, SEAL_CACHE_KIB);
  const selectRange = connection.prepare(SELECT_HOT_RANGE_SQL).raw(true);
  port.on('message', (task: SealTask) => {
    let response: SealWorkerResponse;
    const transfer: ArrayBuffer[] = [];
    try {
      const prepared = prepareSeal(selectRange, task);
      response = { type: 'prepared', prepared };
      transfer.push(prepared.row.data.buffer as ArrayBuffer);
    } catch (error) {
      response = {
        type: 'seal-failed',
        task,
        error: storageErrorToJSON(toSqliteStorageError(error, `seal of stream ${task.stream}`)),
      };
    }
    port.postMessage(response, transfer);
  });
  port.on('close', () => connection.close());
}
