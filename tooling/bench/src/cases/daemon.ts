import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { encodeEvent } from '@wirthforge/events';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import type { DaemonClient } from '@wirthforge/daemon';
import { perSecond, type BenchCase, ratioMetric } from '../bench-case.js';
import { removeDatabase } from '../file-size.js';
import { openDurableStorage } from './eventstore.js';

/** Batches the WebSocket and HTTP clients keep in flight. */
const WS_IN_FLIGHT = 32;
const HTTP_IN_FLIGHT = 8;
/** Frames of the paced latency run (at most; fewer with fewer batches). */
const LATENCY_FRAMES = 300;
/** Events ingested before `daemon.rss_mb` is read; `WF_BENCH_DAEMON_EVENTS=10000000` for the figure. */
export const DEFAULT_RSS_EVENTS = 200_000;

/** A `wfstated` child process on a free port in `dataDir` (WAL + FULL, its defaults). */
interface DaemonProcess {
  readonly child: ChildProcess;
  readonly client: DaemonClient;
  stop(): Promise<void>;
}

async function spawnDaemon(dataDir: string): Promise<DaemonProcess> {
  const daemon = await import('@wirthforge/daemon');
  const main = join(
    dirname(createRequire(import.meta.url).resolve('@wirthforge/daemon')),
    'main.js',
  );
  // As the bin's shebang starts it: with the daemon's own V8 flags.
  const child = spawn(
    process.execPath,
    [
      ...daemon.DAEMON_NODE_FLAGS,
      main,
      '--data-dir',
      dataDir,
      '--port',
      '0',
      '--log-level',
      'warn',
      '--sync',
      'full',
    ],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const info = join(dataDir, daemon.DAEMON_INFO_FILE);
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`wfstated exited: ${stderr}`);
    if (existsSync(info)) {
      const address = daemon.readDaemonAddress(dataDir);
      if (address.pid === child.pid) {
        const client = new daemon.DaemonClient(address);
        return {
          child,
          client,
          async stop() {
            child.kill('SIGTERM');
            await exited;
          },
        };
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`wfstated did not start: ${stderr}`);
}

/** Resident set size of a process, in MB (`VmRSS` of /proc). */
function rssMb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (match?.[1] === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) / 1024;
}

/** CPU time a process has used so far (user + system, all its threads), in ms (`/proc/<pid>/stat`). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`no CPU times for process ${pid}`);
  // Linux reports them in clock ticks of 1/100 s (USER_HZ).
  return ticks * 10;
}

/** The dataset's batches as events of `sessionId` (the daemon writes system.start and system.end itself). */
function forSession(
  batches: readonly (readonly SimEvent[])[],
  from: string,
  sessionId: string,
): SimEvent[][] {
  return batches
    .map((batch) =>
      batch
        .filter((e) => e.type !== 'system.start' && e.type !== 'system.end')
        .map((e) => ({
          ...e,
          session_id: sessionId,
          ...(e.event_id === undefined ? {} : { event_id: e.event_id.replace(from, sessionId) }),
        })),
    )
    .filter((batch) => batch.length > 0);
}

/** Sends batches with at most `inFlight` unanswered; returns when all are durable. */
async function pump(
  batches: readonly (readonly SimEvent[])[],
  inFlight: number,
  send: (batch: readonly SimEvent[]) => Promise<{ positions: readonly number[] }>,
): Promise<number> {
  let events = 0;
  const pending = new Set<Promise<void>>();
  for (const batch of batches) {
    const p: Promise<void> = send(batch).then((result) => {
      if (result.positions.length !== batch.length)
        throw new Error(`${result.positions.length} positions for ${batch.length} events`);
      events += batch.length;
      pending.delete(p);
    });
    pending.add(p);
    if (pending.size >= inFlight) await Promise.race(pending);
  }
  await Promise.all(pending);
  return events;
}

function percentile(sorted: readonly number[], p: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/**
 * `wfstated` as a child process (WAL + `synchronous=FULL`), fed the run's batches of 60:
 *
 * - `daemon.http_ingest_events_per_s`: `POST /v1/sessions/:id/events`, 8 requests in flight;
 * - `daemon.ws_ingest_events_per_s`: `/v1/stream` ingest messages, 32 in flight on one connection;
 * - `daemon.ingest_latency_ms_p99` (and p50): one batch per frame at 60 Hz over the
 *   WebSocket, from send to the durable ack;
 * - `daemon.storage_append_events_per_s`: the baseline, the same batches appended straight to
 *   `@wirthforge/storage-sqlite` (encoded, 4 in flight), in the same repetition; the ratios
 *   are per repetition.
 */
export const daemonCase: BenchCase = {
  name: 'daemon',
  description:
    'wfstated (child process, FULL): HTTP and WebSocket ingest of batches of 60, paced 60 Hz latency; storage appendBatch as baseline',
  derived: [
    ratioMetric(
      'daemon.ws_ingest_vs_storage',
      'daemon.ws_ingest_events_per_s',
      'daemon.storage_append_events_per_s',
    ),
    ratioMetric(
      'daemon.http_ingest_vs_storage',
      'daemon.http_ingest_events_per_s',
      'daemon.storage_append_events_per_s',
    ),
  ],
  async run(ctx) {
    const { dataset } = ctx;
    const dir = ctx.tempPath('daemon-data');
    const baselineFile = ctx.tempPath('daemon-baseline.sqlite');
    let daemon: DaemonProcess | undefined;
    try {
      // Baseline: the storage alone, the same events, batches of the same size.
      const baseline = forSession(dataset.batches, dataset.sessionId, dataset.sessionId);
      const storage = await openDurableStorage(baselineFile);
      let storageMs: number;
      let storageEvents: number;
      try {
        const stream = dataset.stream;
        const start = performance.now();
        storageEvents = await pump(baseline, 4, (batch) =>
          storage
            .appendBatch([
              { stream, expectedVersion: 'any', events: batch.map((e) => encodeEvent(e)) },
            ])
            .then((r) => ({
              positions: batch.map((_, i) => Number(r.lastPosition) - batch.length + 1 + i),
            })),
        );
        storageMs = performance.now() - start;
      } finally {
        await storage.close();
      }

      daemon = await spawnDaemon(dir);
      const { client } = daemon;

      const httpSession = await client.startSession();
      const httpBatches = forSession(dataset.batches, dataset.sessionId, httpSession);
      const httpStart = performance.now();
      const httpEvents = await pump(httpBatches, HTTP_IN_FLIGHT, (batch) =>
        client.ingest(httpSession, batch),
      );
      const httpMs = performance.now() - httpStart;

      const stream = await client.openStream();
      const wsSession = await client.startSession();
      const wsBatches = forSession(dataset.batches, dataset.sessionId, wsSession);
      const wsStart = performance.now();
      const wsEvents = await pump(wsBatches, WS_IN_FLIGHT, (batch) =>
        stream.ingest(wsSession, batch),
      );
      const wsMs = performance.now() - wsStart;

      // Latency: one batch per frame at 60 Hz, as the app sends them.
      const latencySession = await client.startSession();
      const frames = forSession(dataset.batches, dataset.sessionId, latencySession).slice(
        0,
        LATENCY_FRAMES,
      );
      const latencies: number[] = [];
      const acks: Promise<void>[] = [];
      const t0 = performance.now();
      for (const [i, batch] of frames.entries()) {
        const due = t0 + (i * 1000) / 60;
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        const sent = performance.now();
        acks.push(
          stream
            .ingest(latencySession, batch)
            .then(() => void latencies.push(performance.now() - sent)),
        );
      }
      await Promise.all(acks);
      await stream.close();
      latencies.sort((a, b) => a - b);

      return [
        {
          name: 'daemon.http_ingest_events_per_s',
          value: perSecond(httpEvents, httpMs),
          unit: 'events/s',
          better: 'higher',
          note: `${httpBatches.length} POSTs of up to ${dataset.batches[0]?.length ?? 0} events, ${HTTP_IN_FLIGHT} in flight, each answered once durable (FULL)`,
        },
        {
          name: 'daemon.ws_ingest_events_per_s',
          value: perSecond(wsEvents, wsMs),
          unit: 'events/s',
          better: 'higher',
          note: `${wsBatches.length} ingest messages on one WebSocket, ${WS_IN_FLIGHT} in flight, each acked once durable (FULL)`,
        },
        {
          name: 'daemon.ingest_latency_ms_p50',
          value: percentile(latencies, 50),
          unit: 'ms',
          better: 'lower',
        },
        {
          name: 'daemon.ingest_latency_ms_p99',
          value: percentile(latencies, 99),
          unit: 'ms',
          better: 'lower',
          note: `${frames.length} WebSocket batches paced at 60 Hz, send to durable ack`,
        },
        {
          name: 'daemon.storage_append_events_per_s',
          value: perSecond(storageEvents, storageMs),
          unit: 'events/s',
          better: 'higher',
          note: 'baseline: the same batches, storage-sqlite appendBatch (encoded), 4 in flight',
        },
      ];
    } finally {
      await daemon?.stop();
      rmSync(dir, { recursive: true, force: true });
      removeDatabase(baselineFile);
    }
  },
};

/** Events of the RSS case: `WF_BENCH_DAEMON_EVENTS`, or the default (20 000 in quick mode). */
export function daemonRssEventCount(
  quick: boolean,
  env: Readonly<Record<string, string | undefined>> = process.env,
): number {
  const raw = env.WF_BENCH_DAEMON_EVENTS;
  if (raw !== undefined && raw !== '') {
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < 1)
      throw new RangeError(`WF_BENCH_DAEMON_EVENTS must be a positive integer, got ${raw}`);
    return value;
  }
  return quick ? 20_000 : DEFAULT_RSS_EVENTS;
}

/**
 * `daemon.rss_mb`: the resident memory of `wfstated` after `WF_BENCH_DAEMON_EVENTS`
 * events (default 200 000; 10 M is the figure) were ingested over the WebSocket in
 * batches of 60 and committed; `daemon.rss_mb_start` is the same process when ready,
 * before any event. Measured once per run.
 */
export const daemonRssCase: BenchCase = {
  name: 'daemon-rss',
  description:
    'wfstated resident memory after ingesting many events over the WebSocket (WF_BENCH_DAEMON_EVENTS, default 200 000)',
  once: true,
  async run(ctx) {
    const target = daemonRssEventCount(ctx.options.quick);
    const dir = ctx.tempPath('daemon-rss-data');
    let daemon: DaemonProcess | undefined;
    try {
      daemon = await spawnDaemon(dir);
      const pid = daemon.child.pid!;
      const startMb = rssMb(pid);
      const { client } = daemon;
      const stream = await client.openStream();
      const session = await client.startSession();
      // One long simulated session (lazily: frames are made as they are sent), at least 40 events/s.
      const sim = simulateSession({
        seed: ctx.options.seed,
        sessionId: session,
        durationSeconds: Math.ceil(target / 40) + 10,
        eventIds: false,
      });
      let sent = 0;
      let batch: SimEvent[] = [];
      const pending = new Set<Promise<void>>();
      let peakMb = startMb;
      const startCpuMs = cpuMs(pid);
      const start = performance.now();
      outer: for (const frame of sim) {
        for (const event of frame.events) {
          if (event.type === 'system.start' || event.type === 'system.end') continue;
          batch.push(event);
          if (batch.length === 60) {
            const p: Promise<void> = stream
              .ingest(session, batch)
              .then(() => void pending.delete(p));
            pending.add(p);
            sent += batch.length;
            batch = [];
            if (pending.size >= WS_IN_FLIGHT) await Promise.race(pending);
            if (sent % 60_000 === 0) peakMb = Math.max(peakMb, rssMb(pid));
            if (sent % 600_000 === 0) {
              ctx.log(
                `daemon-rss: ${sent.toLocaleString('en-US')} of ${target.toLocaleString('en-US')} events`,
              );
            }
            if (sent >= target) break outer;
          }
        }
      }
      await Promise.all(pending);
      const elapsedMs = performance.now() - start;
      const daemonCpuMs = cpuMs(pid) - startCpuMs;
      await stream.close();
      // Let the daemon settle (idle checkpoint, GC) before reading its memory.
      await new Promise((resolve) => setTimeout(resolve, 3000));
      const endMb = rssMb(pid);
      return [
        {
          name: 'daemon.rss_mb',
          value: endMb,
          unit: 'MB',
          better: 'lower',
          note: `after ${sent.toLocaleString('en-US')} events stored (WF_BENCH_DAEMON_EVENTS); peak seen while ingesting ${peakMb.toFixed(1)} MB`,
        },
        {
          name: 'daemon.rss_mb_start',
          value: startMb,
          unit: 'MB',
          better: 'lower',
          note: 'the same process when ready, before any event',
        },
        {
          name: 'daemon.rss_run_events_per_s',
          value: perSecond(sent, elapsedMs),
          unit: 'events/s',
          better: 'higher',
        },
        {
          name: 'daemon.ingest_cpu_us_per_event',
          value: (daemonCpuMs * 1000) / sent,
          unit: 'us',
          better: 'lower',
          note: 'CPU time of wfstated (every thread: WebSocket, validation, encoding, writer, sealing) per event ingested; it depends much less than the rates on what else runs on the machine',
        },
      ];
    } finally {
      await daemon?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
