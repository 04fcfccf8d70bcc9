import { existsSync, mkdirSync, statSync } from 'node:fs';
import { createSessionId, sessionStream } from '@wirthforge/events';
import { createEventStore, createRecorder, type RecorderFailure } from '@wirthforge/eventstore';
import { runRealtime, simulateSession } from '@wirthforge/simulator';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { formatSummary, type DemoReport } from './format-summary.js';
import { DEMO_USAGE, parseDemoArgs, type DemoArgs } from './parse-demo-args.js';
import { ProgressLine, type ProgressStream } from './progress-line.js';
import { readStoreSummary } from './read-store-summary.js';

/** Where the demo writes and what it may read from its environment. */
export interface DemoIo {
  readonly stdout: { write(text: string): unknown };
  /** Progress goes here, and only when it is a terminal. */
  readonly stderr: ProgressStream;
  readonly cwd: string;
  /** Stops the recording between two frames; the summary is still printed. */
  readonly signal?: AbortSignal;
  /** Start time of the session; default now. */
  readonly now?: () => Date;
}

/** Size of the database and its WAL. */
function bytesOnDisk(file: string): { db: number; wal: number; total: number } {
  const db = existsSync(file) ? statSync(file).size : 0;
  const wal = existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0;
  return { db, wal, total: db + wal };
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, rank)] ?? 0;
}

/**
 * Records a simulated session into `<data-dir>/demo.sqlite` through the 60 Hz recorder
 * (one commit per frame, paced at 60 Hz or unpaced with `--fast`; the store keeps the
 * session row in the same transactions), then reads the store back and prints what it
 * holds. Returns the process exit code; a failed commit rejects after the store is closed.
 */
export async function runDemo(argv: readonly string[], io: DemoIo): Promise<number> {
  let args: DemoArgs;
  try {
    args = parseDemoArgs(argv, io.cwd);
  } catch (error) {
    io.stdout.write(`${error instanceof Error ? error.message : String(error)}\n\n${DEMO_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(`${DEMO_USAGE}\n`);
    return 0;
  }

  mkdirSync(args.dataDir, { recursive: true });
  const existed = existsSync(args.file);
  let storage = await openSqliteStorage({ path: args.file });
  if (!existed) {
    // Measure the empty store once, so the growth below is this session's alone.
    await storage.close();
    storage = await openSqliteStorage({ path: args.file });
  }
  const before = bytesOnDisk(args.file);

  const start = io.now?.() ?? new Date();
  let sessionId = createSessionId(start, 1);
  for (let sequence = 2; (await storage.streamVersion(sessionStream(sessionId))) > 0n; sequence++) {
    sessionId = createSessionId(start, sequence);
  }
  const stream = sessionStream(sessionId);
  const session = simulateSession({
    seed: args.seed ?? start.getTime() % 1_000_000,
    sessionId,
    startTime: start,
    durationSeconds: args.seconds,
    ...(args.models !== undefined ? { models: args.models } : {}),
  });
  const store = createEventStore({ storage });
  const commitMs: number[] = [];
  const stop = new AbortController();
  io.signal?.addEventListener('abort', () => stop.abort(), { once: true });
  let failure: unknown;
  let recordedEvents = 0;
  let recordedEnergy = 0;
  // The frame loop never waits on the disk: each frame is one commit, acknowledged later.
  // Tokens are stored as hashes (the recorder's privacy default).
  const recorder = createRecorder(store, {
    clock: 'external',
    // Unpaced, frames arrive faster than any disk commits them: let them queue rather
    // than coalesce telemetry, so that every simulated event is stored.
    ...(args.fast ? { maxPendingFrames: session.frameCount + 1 } : {}),
    onAck: (ack) => commitMs.push(ack.commitMs),
    onError: (lost: RecorderFailure) => {
      failure ??= lost.error;
      stop.abort();
    },
  });
  const progress = new ProgressLine(io.stderr);

  let run;
  try {
    run = await runRealtime(
      session,
      (frame) => {
        for (const event of frame.events) {
          recorder.record(event);
          if (event.type === 'energy.update') recordedEnergy += event.data.energy;
        }
        recorder.endFrame();
        recordedEvents += frame.events.length;
        const seconds = (frame.frameId + 1) / session.fps;
        progress.update(
          `recording ${sessionId}  ${seconds.toFixed(1)}/${args.seconds} s  ` +
            `frame ${frame.frameId + 1}/${session.frameCount}  ${recordedEvents.toLocaleString('en-US')} events  ` +
            `${recordedEnergy.toFixed(1)} EU`,
          frame.frameId + 1 === session.frameCount,
        );
      },
      { speed: args.fast ? Number.POSITIVE_INFINITY : 1, signal: stop.signal },
    );
  } catch (error) {
    failure ??= error;
  } finally {
    await recorder.close().catch((error: unknown) => {
      failure ??= error;
    });
    progress.clear();
  }
  if (failure !== undefined || run === undefined) {
    await store.close();
    throw failure;
  }

  const summary = await readStoreSummary(storage, storage.db, stream);
  await store.close();
  const after = bytesOnDisk(args.file);
  const sorted = [...commitMs].sort((a, b) => a - b);
  const sessionSeconds = run.frames / session.fps;
  const grown = Math.max(0, after.total - before.total);
  const report: DemoReport = {
    file: args.file,
    recording: {
      sessionId,
      stream,
      paced: !args.fast,
      frames: run.frames,
      events: run.events,
      sessionSeconds,
      wallSeconds: run.elapsedMs / 1000,
      lateFrames: run.lateFrames,
      aborted: run.aborted,
      committedFrames: commitMs.length,
      commitMs: {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted.at(-1) ?? 0,
      },
    },
    store: summary,
    disk: {
      ...after,
      before: before.total,
      sessionBytes: grown,
      bytesPerEvent: summary.stream.events > 0 ? grown / summary.stream.events : 0,
      mbPerHour: sessionSeconds > 0 ? ((grown / sessionSeconds) * 3600) / 1e6 : 0,
    },
  };
  io.stdout.write(
    args.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatSummary(report)}\n`,
  );
  return 0;
}
