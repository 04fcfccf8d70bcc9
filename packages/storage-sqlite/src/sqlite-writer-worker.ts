/**
 * Entry point of the writer thread: opens the only write connection, applies and
 * verifies the pragmas, then serves append, checkpoint and close requests in the order
 * they were sent. Appends are group-committed: the batches already waiting when one
 * arrives are applied under the same transaction, each in its own savepoint, and made
 * durable by one COMMIT (one fsync); every batch is acknowledged only after that COMMIT.
 * Also runs the checkpoint policy: PASSIVE while writes flow, TRUNCATE once idle; and
 * seals hot rows into segments in idle turns, one bounded step at a time, only when no
 * request is waiting (an append waits for at most one seal step).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

import { storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { applyWriterPragmas } from './sqlite-pragmas.js';
import { SqliteSealer } from './sqlite-sealer.js';
import { SqliteWriter } from './sqlite-writer.js';
import { FIELDS_PER_EVENT } from './sqlite-writer-protocol.js';
import type {
  AppendRequest,
  WriterRequest,
  WriterResponse,
  WriterWorkerData,
} from './sqlite-writer-protocol.js';
import type { WriterAppendResult } from './sqlite-writer.js';

/** Quiet time after the last append before a seal step runs, in ms. */
const SEAL_IDLE_MS = 4;
/** Unsealed segments' worth of events in one stream that make sealing run without a quiet gap. */
const SEAL_BACKLOG = 4;

function post(port: MessagePort, message: WriterResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function main(port: MessagePort, data: WriterWorkerData): void {
  let connection: SqliteConnection | undefined;
  let writer: SqliteWriter;
  let sealer: SqliteSealer | undefined;
  try {
    connection = openConnection(data.path, { fileMustExist: true });
    const pragmas = applyWriterPragmas(connection, data.pragmas);
    writer = new SqliteWriter(connection);
    if (data.seal !== false) sealer = new SqliteSealer(connection, data.seal);
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

  // Sealing runs in idle turns: a step is scheduled after each request and by a timer
  // (for age-based seals); before each step, a waiting request is served first.
  let closed = false;
  let sealScheduled = false;
  let lastAppend = 0;
  const sealTick = (): void => {
    sealScheduled = false;
    if (closed || sealer === undefined) return;
    if (Date.now() - lastAppend < SEAL_IDLE_MS && !sealer.hasBacklog(SEAL_BACKLOG)) {
      scheduleSeal();
      return;
    }
    const waiting = receiveMessageOnPort(port)?.message as WriterRequest | undefined;
    if (waiting !== undefined) {
      serve(waiting);
      return;
    }
    try {
      if (sealer.sealNext() !== undefined) {
        lastCommit = Date.now();
        walDirty = true;
      }
    } catch {
      // The stream stays hot (the sealer skips it from now on); the integrity check names
      // whatever made the step fail, and appends go on.
    }
    scheduleSeal();
  };
  // While appends flow back to back, a seal waits for a gap of SEAL_IDLE_MS after the
  // last commit (a 60 Hz recorder leaves ~15 ms between frames), unless a stream's backlog
  // has grown past SEAL_BACKLOG segments: then it seals in the next turn regardless.
  const scheduleSeal = (): void => {
    if (closed || sealScheduled || sealer === undefined || !sealer.hasWork()) return;
    sealScheduled = true;
    const quietFor = Date.now() - lastAppend;
    if (quietFor >= SEAL_IDLE_MS || sealer.hasBacklog(SEAL_BACKLOG)) setImmediate(sealTick);
    else setTimeout(sealTick, SEAL_IDLE_MS - quietFor);
  };
  const sealTimer =
    sealer === undefined
      ? undefined
      : setInterval(scheduleSeal, Math.max(10, Math.min(1000, sealer.options.maxAgeMs)));
  sealTimer?.unref();
  scheduleSeal();

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
    const outcomes: {
      id: number;
      request: AppendRequest;
      result?: WriterAppendResult;
      error?: unknown;
    }[] = [];
    let events = 0;
    let next: WriterRequest | undefined = first;
    let deferred: WriterRequest | undefined;
    while (next !== undefined) {
      if (next.type !== 'append') {
        deferred = next;
        break;
      }
      try {
        outcomes.push({ id: next.id, request: next, result: writer.appendInGroup(next) });
      } catch (error) {
        outcomes.push({ id: next.id, request: next, error });
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
    if (commitError === undefined && sealer !== undefined) {
      for (const outcome of outcomes) {
        const result = outcome.result;
        const request = outcome.request;
        if (result === undefined) continue;
        for (let s = 0; s < request.streams.length; s++) {
          sealer.noteAppended(request.streams[s]!.name, result.nextVersions[s]!);
        }
      }
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
        lastAppend = Date.now();
        if (deferred !== undefined) serve(deferred);
        else scheduleSeal();
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
        closed = true;
        if (timer !== undefined) clearInterval(timer);
        if (sealTimer !== undefined) clearInterval(sealTimer);
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
