/**
 * Entry point of the writer thread: opens the only write connection, applies and
 * verifies the pragmas, then serves append, checkpoint and close requests one at a time
 * (messages are handled in order, so batches commit in the order they were sent). Also
 * runs the checkpoint policy: PASSIVE while writes flow, TRUNCATE once idle.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

import { storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { applyWriterPragmas } from './sqlite-pragmas.js';
import { SqliteWriter } from './sqlite-writer.js';
import type { WriterRequest, WriterResponse, WriterWorkerData } from './sqlite-writer-protocol.js';

function post(port: MessagePort, message: WriterResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function main(port: MessagePort, data: WriterWorkerData): void {
  let connection: SqliteConnection | undefined;
  let writer: SqliteWriter;
  try {
    connection = openConnection(data.path, { fileMustExist: true });
    const pragmas = applyWriterPragmas(connection, data.pragmas);
    writer = new SqliteWriter(connection);
    post(port, { type: 'ready', pragmas, headPosition: writer.headPosition });
  } catch (error) {
    connection?.close();
    post(port, {
      type: 'init-failed',
      error: storageErrorToJSON(
        toSqliteStorageError(error, `cannot open ${data.path} for writing`),
      ),
    });
    port.close();
    return;
  }
  const db = connection;

  let lastCommit = 0;
  let walDirty = false;
  const policy = (): void => {
    if (!walDirty) return;
    try {
      if (Date.now() - lastCommit >= data.idleCheckpointMs) {
        // Never wait on readers here: a busy truncate simply runs again next tick.
        if (!writer.checkpoint('truncate', 0).busy) walDirty = false;
      } else {
        writer.checkpoint('passive');
      }
    } catch {
      // A failing checkpoint leaves the WAL longer; the next commit reports real I/O errors.
    }
  };
  const timer =
    data.checkpointIntervalMs > 0 ? setInterval(policy, data.checkpointIntervalMs) : undefined;
  timer?.unref();

  port.on('message', (request: WriterRequest) => {
    switch (request.type) {
      case 'append': {
        try {
          const result = writer.append(request);
          lastCommit = Date.now();
          walDirty = true;
          post(
            port,
            {
              type: 'appended',
              id: request.id,
              positions: result.positions,
              nextVersions: result.nextVersions,
              lastPosition: result.lastPosition,
              writes: result.writes,
            },
            [result.positions.buffer as ArrayBuffer, result.nextVersions.buffer as ArrayBuffer],
          );
        } catch (error) {
          post(port, {
            type: 'failed',
            id: request.id,
            error: storageErrorToJSON(toSqliteStorageError(error)),
          });
        }
        return;
      }
      case 'checkpoint': {
        try {
          const result = writer.checkpoint(request.mode);
          if (!result.busy) walDirty = false;
          post(port, { type: 'checkpointed', id: request.id, result });
        } catch (error) {
          post(port, {
            type: 'failed',
            id: request.id,
            error: storageErrorToJSON(toSqliteStorageError(error)),
          });
        }
        return;
      }
      case 'close': {
        if (timer !== undefined) clearInterval(timer);
        try {
          writer.checkpoint('truncate', 0);
        } catch {
          // Closing the last connection checkpoints anyway.
        }
        try {
          db.close();
          post(port, { type: 'closed', id: request.id });
        } catch (error) {
          post(port, {
            type: 'failed',
            id: request.id,
            error: storageErrorToJSON(toSqliteStorageError(error, 'close')),
          });
        }
        port.close();
        return;
      }
    }
  });
}

if (parentPort !== null) main(parentPort, workerData as WriterWorkerData);
