/**
 * Entry point of the writer thread: opens the only write connection, applies and
 * verifies the pragmas, then serves append, checkpoint and close requests in the order
 * they were sent. Appends are group-committed: the batches already waiting when one
 * arrives are applied under the same transaction, each in its own savepoint, and made
 * durable by one COMMIT (one fsync); every batch is acknowledged only after that COMMIT.
 * Also runs the checkpoint policy: PASSIVE while writes flow, TRUNCATE once idle.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

import { storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { applyWriterPragmas } from './sqlite-pragmas.js';
import { SqliteWriter } from './sqlite-writer.js';
import { FIELDS_PER_EVENT } from './sqlite-writer-protocol.js';
import type {
  AppendRequest,
  WriterRequest,
  WriterResponse,
  WriterWorkerData,
} from './sqlite-writer-protocol.js';
import type { WriterAppendResult } from './sqlite-writer.js';

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

  const postAppended = (id: number, result: WriterAppendResult): void => {
    post(
      port,
      {
        type: 'appended',
        id,
        positions: result.positions,
        nextVersions: result.nextVersions,
        lastPosition: result.lastPosition,
        writes: result.writes,
      },
      [result.positions.buffer as ArrayBuffer, result.nextVersions.buffer as ArrayBuffer],
    );
  };
  const postFailed = (id: number, error: unknown): void => {
    post(port, { type: 'failed', id, error: storageErrorToJSON(toSqliteStorageError(error)) });
  };

  /**
   * One group commit, starting with `first` and taking in the appends already queued
   * behind it, up to `maxGroupEvents` events. Returns the first non-append request met
   * while draining, to be served after the group so that order is kept.
   */
  const appendGroup = (first: AppendRequest): WriterRequest | undefined => {
    try {
      writer.beginGroup();
    } catch (error) {
      postFailed(first.id, error);
      return undefined;
    }
    const outcomes: { id: number; result?: WriterAppendResult; error?: unknown }[] = [];
    let events = 0;
    let next: WriterRequest | undefined = first;
    let deferred: WriterRequest | undefined;
    while (next !== undefined) {
      if (next.type !== 'append') {
        deferred = next;
        break;
      }
      try {
        outcomes.push({ id: next.id, result: writer.appendInGroup(next) });
      } catch (error) {
        outcomes.push({ id: next.id, error });
      }
      events += next.fields.length / FIELDS_PER_EVENT;
      if (events >= data.maxGroupEvents) break;
      next = receiveMessageOnPort(port)?.message as WriterRequest | undefined;
    }
    let commitError: unknown;
    try {
      writer.commitGroup();
      lastCommit = Date.now();
      walDirty = true;
    } catch (error) {
      commitError = error;
    }
    for (const outcome of outcomes) {
      if (outcome.result !== undefined && commitError === undefined) {
        postAppended(outcome.id, outcome.result);
      } else {
        postFailed(outcome.id, outcome.error ?? commitError);
      }
    }
    return deferred;
  };

  const serve = (request: WriterRequest): void => {
    switch (request.type) {
      case 'append': {
        const deferred = appendGroup(request);
        if (deferred !== undefined) serve(deferred);
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
  };
  port.on('message', serve);
}

if (parentPort !== null) main(parentPort, workerData as WriterWorkerData);
