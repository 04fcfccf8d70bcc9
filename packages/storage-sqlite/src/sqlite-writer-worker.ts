/**
 * Entry point of the writer thread: opens the only write connection, applies and
 * verifies the pragmas, then serves append, checkpoint and close requests in the order
 * they were sent. Appends are group-committed: the batches already waiting when one
 * arrives are applied under the same transaction, each in its own savepoint, and made
 * durable by one COMMIT (one fsync); every batch is acknowledged only after that COMMIT.
 * Also runs the checkpoint policy: PASSIVE while writes flow (in the turn right after a
 * commit, where it holds up no append of a paced client), TRUNCATE once idle; and
 * sealing: a sealing thread of its own (started when the first segment is due, after the
 * writer said it is ready) reads and encodes hot rows into a segment while the writer goes
 * on committing, and the writer
 * writes the prepared segment in a savepoint of the next append's group (no fsync of its
 * own, a few ms at most), or on its own once appends are quiet.
 */
import { Worker, parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';

import { storageErrorFromJSON, storageErrorToJSON } from '@wirthforge/storage';

import { toSqliteStorageError } from './errors.js';
import { openConnection } from './sqlite-connection.js';
import type { SqliteConnection } from './sqlite-connection.js';
import { HeadMarkerWriter } from './sqlite-head-marker.js';
import { applyWriterPragmas } from './sqlite-pragmas.js';
import type { SealWorkerData, SealWorkerResponse } from './sqlite-seal-protocol.js';
import { SqliteSealer } from './sqlite-sealer.js';
import type { PreparedSeal, SealTask } from './sqlite-sealer.js';
import { SqliteWriter } from './sqlite-writer.js';
import { AppendRate } from './append-rate.js';
import { FIELDS_PER_EVENT } from './sqlite-writer-protocol.js';
import type {
  AppendRequest,
  OpenRequest,
  WriterRequest,
  WriterResponse,
  WriterWorkerData,
} from './sqlite-writer-protocol.js';
import type { WriterAppendResult } from './sqlite-writer.js';
import { workerExecArgv } from './worker-exec-argv.js';

const SEAL_WORKER_URL = new URL('../dist/sqlite-seal-worker.bundle.js', import.meta.url);
/**
 * Quiet time after the last append (ms) before a prepared segment is written in a
 * transaction of its own; while appends flow, it is written in the next append's group.
 */
const SEAL_QUIET_MS = 50;
/** Times the sealing thread may fail before the writer seals on its own thread. */
const MAX_SEAL_WORKER_FAILURES = 3;
/** Quiet time after the last append (ms) before sealing starts its next segment. */
const SEAL_IDLE_MS = 4;
/**
 * Unsealed segments' worth of events (over all streams) past which sealing runs whatever
 * the load: the bound of the hot table under a sustained load (8 × 3600 = 28,800 events
 * by default, about 3 MB of hot rows).
 */
const SEAL_BACKLOG_SEGMENTS = 8;
/**
 * Unsealed segments' worth of events past which the writer stops waiting for the sealing
 * thread (at a low priority, it can fall behind a saturating load on a busy machine) and
 * seals one segment itself in each group commit while appends flow: a backpressure that
 * keeps the hot table near 16 × 3600 = 57,600 events by default.
 */
const SEAL_HARD_BACKLOG_SEGMENTS = 16;
/** Checkpoint intervals a due PASSIVE checkpoint may wait for a turn after a commit. */
const CHECKPOINT_MAX_DELAY_INTERVALS = 3;
/** Window (ms) over which the writer's append rate is measured. */
const SEAL_BUSY_WINDOW_MS = 250;
/**
 * Events appended within {@link SEAL_BUSY_WINDOW_MS} that make the writer busy (4,000
 * events/s): while busy, and the backlog is under its bound, sealing neither starts a
 * segment nor writes a prepared one, so that a saturating load (an import, a backlog
 * replayed after a stall) keeps the CPU and the write transaction to itself. A 60 Hz
 * recorder appends tens to hundreds of events per second and never counts as busy.
 */
const SEAL_BUSY_EVENTS = 1000;
/** How soon (ms) a busy writer looks again whether sealing may start. */
const SEAL_BUSY_RECHECK_MS = 50;

function post(port: MessagePort, message: WriterResponse, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function main(port: MessagePort, data: WriterWorkerData): void {
  let connection: SqliteConnection | undefined;
  let writer: SqliteWriter;
  let sealer: SqliteSealer | undefined;
  let marker: HeadMarkerWriter;
  try {
    connection = openConnection(data.path, { fileMustExist: true });
    const pragmas = applyWriterPragmas(connection, data.pragmas);
    writer = new SqliteWriter(connection);
    if (data.seal !== false) sealer = new SqliteSealer(connection, data.seal);
    // Written after every commit: after an unclean stop it says which head was committed.
    marker = new HeadMarkerWriter(data.path, connection);
    marker.write(writer.headPosition);
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
  /** Since when (ms) a PASSIVE checkpoint is due, waiting for a turn after a commit. */
  let checkpointDueSince: number | undefined;
  const passiveCheckpoint = (): void => {
    checkpointDueSince = undefined;
    try {
      writer.checkpoint('passive');
    } catch {
      // A failing checkpoint leaves the WAL longer; the next commit reports real I/O errors.
    }
  };
  const policy = (): void => {
    if (!walDirty) return;
    const now = Date.now();
    if (now - lastCommit >= data.idleCheckpointMs) {
      checkpointDueSince = undefined;
      try {
        // Never wait on readers here: a busy truncate simply runs again next tick.
        if (!writer.checkpoint('truncate', 0).busy) walDirty = false;
      } catch {
        // As above.
      }
      return;
    }
    // While writes flow, the checkpoint runs in the turn right after a commit (see
    // afterCommit): a 60 Hz client has most of a frame before its next append then, where
    // a checkpoint run at a random time would hold up the append that arrives under it.
    // Writes too dense for such a turn get it here, late.
    if (checkpointDueSince === undefined) checkpointDueSince = now;
    else if (now - checkpointDueSince >= CHECKPOINT_MAX_DELAY_INTERVALS * data.checkpointIntervalMs)
      passiveCheckpoint();
  };
  const timer =
    data.checkpointIntervalMs > 0 ? setInterval(policy, data.checkpointIntervalMs) : undefined;
  timer?.unref();

  // Sealing: the sealing thread reads and encodes the next range of hot rows while the
  // writer goes on committing; the prepared segment is then written in a savepoint of
  // the next append's group (a range delete and two inserts: no fsync of its own), or
  // in a transaction of its own once appends have been quiet for SEAL_QUIET_MS.
  let closed = false;
  let sealWorker: Worker | undefined;
  let sealWorkerFailures = 0;
  /** The task the sealing thread is preparing. */
  let sealTask: SealTask | undefined;
  /** A prepared segment waiting to be written. */
  let ready: PreparedSeal | undefined;
  let quietTimer: ReturnType<typeof setTimeout> | undefined;
  let startTimer: ReturnType<typeof setTimeout> | undefined;
  let inlineScheduled = false;
  let lastAppend = 0;
  const appendRate = new AppendRate(SEAL_BUSY_WINDOW_MS);
  const backlogBound = (sealer?.options.minEvents ?? 0) * SEAL_BACKLOG_SEGMENTS;
  /** Whether the hot backlog has reached its bound: sealing then runs whatever the load. */
  const overBound = (): boolean => sealer !== undefined && sealer.hotEvents() >= backlogBound;
  const hardBound = (sealer?.options.minEvents ?? 0) * SEAL_HARD_BACKLOG_SEGMENTS;
  /** Whether the writer seals in its own groups (see {@link SEAL_HARD_BACKLOG_SEGMENTS}). */
  const overHardBound = (): boolean => sealer !== undefined && sealer.hotEvents() >= hardBound;
  /** Whether appends are flowing at a saturating rate (see {@link SEAL_BUSY_EVENTS}). */
  const busy = (): boolean => appendRate.eventsInWindow(Date.now()) >= SEAL_BUSY_EVENTS;

  const startSealWorker = (): Worker | undefined => {
    if (sealWorker !== undefined) return sealWorker;
    if (sealWorkerFailures >= MAX_SEAL_WORKER_FAILURES) return undefined;
    const workerData: SealWorkerData = {
      path: data.path,
      busyTimeoutMs: data.pragmas.busyTimeoutMs,
    };
    let worker: Worker;
    try {
      worker = new Worker(SEAL_WORKER_URL, { workerData, execArgv: workerExecArgv() });
    } catch {
      sealWorkerFailures++;
      return undefined;
    }
    worker.unref();
    worker.on('message', onSealMessage);
    // An error ends the thread: handled on exit.
    worker.on('error', () => undefined);
    worker.on('exit', () => {
      if (sealWorker !== worker) return;
      sealWorker = undefined;
      if (closed) return;
      sealWorkerFailures++;
      if (sealTask !== undefined) {
        sealer?.giveBack(sealTask);
        sealTask = undefined;
      }
      scheduleSeal();
    });
    sealWorker = worker;
    return worker;
  };

  const onSealMessage = (message: SealWorkerResponse): void => {
    sealTask = undefined;
    if (closed || sealer === undefined) return;
    if (message.type === 'prepared') {
      ready = message.prepared;
      scheduleQuietApply();
    } else {
      // The stream stays hot (the sealer skips it from now on); the integrity check names
      // whatever made the step fail, and appends go on.
      sealer.giveBack(message.task, storageErrorFromJSON(message.error));
      scheduleSeal();
    }
  };

  /**
   * Sends the next due task to the sealing thread (one at a time), once appends have
   * been quiet for {@link SEAL_IDLE_MS} (a 60 Hz recorder leaves ~15 ms between frames)
   * and are not flowing at a saturating rate, or once the hot backlog has reached its
   * bound ({@link SEAL_BACKLOG_SEGMENTS} segments): a burst of appends does not share
   * the CPU with sealing until its backlog is that long.
   */
  const scheduleSeal = (): void => {
    if (closed || sealer === undefined) return;
    if (ready !== undefined) {
      scheduleQuietApply();
      return;
    }
    const forced = overBound();
    if (sealTask !== undefined || startTimer !== undefined || !sealer.hasWork(Date.now(), forced))
      return;
    const quietFor = Date.now() - lastAppend;
    // Past the hard bound, the groups seal while appends flow; the thread once they pause.
    const wait = forced
      ? quietFor < SEAL_IDLE_MS && overHardBound()
      : quietFor < SEAL_IDLE_MS || busy();
    if (wait) {
      startTimer = setTimeout(
        () => {
          startTimer = undefined;
          scheduleSeal();
        },
        quietFor < SEAL_IDLE_MS ? SEAL_IDLE_MS - quietFor : SEAL_BUSY_RECHECK_MS,
      );
      return;
    }
    const worker = startSealWorker();
    if (worker === undefined) {
      scheduleInlineSeal();
      return;
    }
    const task = sealer.takeTask(Date.now(), forced);
    if (task === undefined) return;
    sealTask = task;
    worker.postMessage(task);
  };

  const scheduleQuietApply = (): void => {
    if (closed || quietTimer !== undefined || ready === undefined) return;
    quietTimer = setTimeout(quietApply, Math.max(0, lastAppend + SEAL_QUIET_MS - Date.now()));
  };

  /** Writes the prepared segment in a transaction of its own, appends having been quiet. */
  const quietApply = (): void => {
    quietTimer = undefined;
    if (closed || ready === undefined || sealer === undefined) return;
    if (Date.now() - lastAppend < SEAL_QUIET_MS) {
      scheduleQuietApply();
      return;
    }
    const waiting = receiveMessageOnPort(port)?.message as WriterRequest | undefined;
    if (waiting !== undefined) {
      // An append writes the segment in its group.
      serve(waiting);
      return;
    }
    const prepared = ready;
    ready = undefined;
    try {
      db.exec('BEGIN IMMEDIATE');
      sealer.applyPrepared(prepared);
      db.exec('COMMIT');
      sealer.committed(prepared);
      lastCommit = Date.now();
      walDirty = true;
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      sealer.giveBack(prepared, error);
    }
    scheduleSeal();
  };

  /**
   * The turn right after an append's commit, when nothing else is waiting: a 60 Hz
   * client's next append is most of a frame away, so a due PASSIVE checkpoint runs here,
   * where it holds up no append (run from the timer, at a random point of the frame, it
   * held up the append that arrived under it).
   */
  let afterCommitScheduled = false;
  const afterCommit = (): void => {
    afterCommitScheduled = false;
    if (closed || checkpointDueSince === undefined) return;
    const waiting = receiveMessageOnPort(port)?.message as WriterRequest | undefined;
    if (waiting !== undefined) {
      serve(waiting);
      return;
    }
    passiveCheckpoint();
  };
  const scheduleAfterCommit = (): void => {
    if (afterCommitScheduled || closed) return;
    afterCommitScheduled = true;
    setImmediate(afterCommit);
  };

  /**
   * Without a sealing thread (it failed to run {@link MAX_SEAL_WORKER_FAILURES} times),
   * the writer seals on its own thread in idle turns, one step at a time, once appends
   * have been quiet for {@link SEAL_IDLE_MS} and are not flowing at a saturating rate
   * (or the backlog has reached {@link SEAL_BACKLOG_SEGMENTS} segments).
   */
  const scheduleInlineSeal = (): void => {
    if (closed || inlineScheduled || sealer === undefined) return;
    if (!sealer.hasWork(Date.now(), overBound())) return;
    inlineScheduled = true;
    setTimeout(inlineSeal, Math.max(0, lastAppend + SEAL_IDLE_MS - Date.now()));
  };
  const inlineSeal = (): void => {
    inlineScheduled = false;
    if (closed || sealer === undefined) return;
    const forced = overBound();
    if (!forced && (Date.now() - lastAppend < SEAL_IDLE_MS || busy())) {
      inlineScheduled = true;
      setTimeout(inlineSeal, SEAL_BUSY_RECHECK_MS);
      return;
    }
    const waiting = receiveMessageOnPort(port)?.message as WriterRequest | undefined;
    if (waiting !== undefined) {
      serve(waiting);
      return;
    }
    try {
      if (sealer.sealNext(Date.now(), forced) !== undefined) {
        lastCommit = Date.now();
        walDirty = true;
      }
    } catch {
      // The stream stays hot (the sealer skips it from now on).
    }
    scheduleInlineSeal();
  };

  const sealTimer =
    sealer === undefined
      ? undefined
      : setInterval(scheduleSeal, Math.max(10, Math.min(1000, sealer.options.maxAgeMs)));
  sealTimer?.unref();
  // Not before `ready` is out: creating the sealing thread takes the writer a few ms.
  setImmediate(scheduleSeal);

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
    appendRate.note(Date.now(), events);
    // A prepared segment joins the group in a savepoint of its own: no fsync of its own,
    // and a failure of it rolls back only its savepoint. Under a saturating load it waits
    // for a quiet turn instead, unless the hot backlog has reached its bound.
    let sealed: PreparedSeal | undefined;
    if (
      ready !== undefined &&
      sealer !== undefined &&
      db.inTransaction &&
      (!busy() || overBound())
    ) {
      const prepared = ready;
      ready = undefined;
      try {
        sealer.applyPrepared(prepared);
        sealed = prepared;
      } catch (error) {
        sealer.giveBack(prepared, error);
      }
    } else if (
      ready === undefined &&
      sealTask === undefined &&
      sealer !== undefined &&
      db.inTransaction &&
      overHardBound()
    ) {
      // Far past the bound with the sealing thread behind: seal one segment here, read and
      // encoded on this connection, in the group's savepoint like a prepared one.
      const task = sealer.takeTask(Date.now(), true);
      if (task !== undefined) {
        try {
          const prepared = sealer.prepare(task);
          sealer.applyPrepared(prepared);
          sealed = prepared;
        } catch (error) {
          sealer.giveBack(task, error);
        }
      }
    }
    let commitError: unknown;
    try {
      writer.commitGroup();
      lastCommit = Date.now();
      walDirty = true;
      marker.write(writer.headPosition);
    } catch (error) {
      commitError = error;
    }
    if (sealed !== undefined && sealer !== undefined) {
      // Rolled back with the group: its hot rows are as they were, write it again later.
      if (commitError === undefined) sealer.committed(sealed);
      else ready = sealed;
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
        if (deferred !== undefined) {
          serve(deferred);
        } else {
          scheduleSeal();
          scheduleAfterCommit();
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
        closed = true;
        if (timer !== undefined) clearInterval(timer);
        if (sealTimer !== undefined) clearInterval(sealTimer);
        if (quietTimer !== undefined) clearTimeout(quietTimer);
        if (startTimer !== undefined) clearTimeout(startTimer);
        if (sealWorker !== undefined) {
          // Its read connection closes before the last checkpoint.
          const worker = sealWorker;
          sealWorker = undefined;
          void worker.terminate().then(
            () => finishClose(request.id),
            () => finishClose(request.id),
          );
          return;
        }
        finishClose(request.id);
        return;
      }
    }
  };
  const finishClose = (id: number): void => {
    let emptied = false;
    try {
      emptied = !writer.checkpoint('truncate', 0).busy;
    } catch {
      // Closing the last connection checkpoints anyway.
    }
    try {
      db.close();
      // Everything is in the database file now: no WAL left whose loss the marker must tell.
      marker.close(emptied);
      post(port, { type: 'closed', id });
    } catch (error) {
      marker.close(false);
      post(port, {
        type: 'failed',
        id,
        error: storageErrorToJSON(toSqliteStorageError(error, 'close')),
      });
    }
    port.close();
  };
  port.on('message', serve);
}

if (parentPort !== null) {
  const port = parentPort;
  // The storage starts this thread before it migrates the schema (loading the modules
  // above overlaps the migration) and says `open` once the schema is current.
  port.once('message', (message: OpenRequest) => {
    if (message.type === 'open') main(port, workerData as WriterWorkerData);
    else port.close();
  });
}
