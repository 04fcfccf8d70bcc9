import { join } from 'node:path';
import { DaemonClient, type StreamConnection } from '@wirthforge/daemon';
import { simulateSession, type SimEvent } from '@wirthforge/simulator';
import { type FaultRow } from '../fault-row.js';
import {
  api,
  checkLog,
  integrityProblems,
  killChild,
  prng,
  sleep,
  spawnDaemon,
  tempDir,
  waitDaemonReady,
} from '../fault-harness.js';

/** Simulated events of a session (without system.start/end, which the daemon writes), with ids. */
export function sessionEvents(sessionId: string, seconds: number, seed: number): SimEvent[] {
  const events: SimEvent[] = [];
  for (const frame of simulateSession({
    seed,
    sessionId,
    durationSeconds: seconds,
    startTime: Date.now(),
    eventIds: true,
    models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
  })) {
    for (const event of frame.events) {
      if (event.type !== 'system.start' && event.type !== 'system.end') events.push(event);
    }
  }
  return events;
}

/**
 * SIGKILL of `wfstated` (FULL) while HTTP and WebSocket clients ingest batches of a
 * frame; after each restart the killed session must be recovered, every acknowledged
 * event present once at its position, no position gap, the full integrity check clean.
 */
export const crashDaemonRow: FaultRow = {
  id: 'crash.daemon',
  fault: 'SIGKILL of wfstated during HTTP and WebSocket ingest (FULL), then restart',
  async run(ctx, result) {
    const kills = Number(process.env.WF_FAULTS_DAEMON_KILLS ?? (ctx.long ? 200 : 30));
    const random = prng(0xdae);
    const tmp = tempDir('daemon');
    const path = join(tmp.dir, 'state.db');
    const acked = new Map<string, bigint>();
    let previous: string | undefined;
    try {
      for (let k = 0; k < kills; k++) {
        const t0 = performance.now();
        const child = spawnDaemon(tmp.dir, ['--sync', 'full']);
        let base;
        try {
          base = await waitDaemonReady(tmp.dir, child);
        } catch (error) {
          await killChild(child);
          throw error;
        }
        result.recoverMs = Math.max(result.recoverMs, Math.round(performance.now() - t0));
        if (previous !== undefined) {
          const row = await api(base, 'GET', `/v1/sessions/${previous}`);
          const status = (row.body as { status?: string }).status;
          if (status !== 'recovered' && status !== 'ended') {
            result.problems.push(
              `kill ${k}: session ${previous} is ${String(status)} after restart`,
            );
          }
        }
        const client = new DaemonClient(base);
        const session = await client.startSession({ userId: 'ada' });
        previous = session;
        const events = sessionEvents(session, 30, k + 1);
        const batches: SimEvent[][] = [];
        for (let i = 0; i < events.length; i += 40) batches.push(events.slice(i, i + 40));
        let stream: StreamConnection | undefined;
        try {
          stream = await client.openStream();
        } catch {
          stream = undefined;
        }
        let stop = false;
        const record = (batch: SimEvent[]) => (r: { positions: readonly (number | bigint)[] }) => {
          batch.forEach((event, j) => {
            const position = r.positions[j];
            if (event.event_id !== undefined && position !== undefined)
              acked.set(event.event_id, BigInt(position));
          });
        };
        // Two ingest paths at once: HTTP takes the even batches, the WebSocket the odd ones.
        const pump = async (parity: number): Promise<void> => {
          for (let i = parity; i < batches.length && !stop; i += 2) {
            const batch = batches[i]!;
            try {
              if (parity === 1 && stream !== undefined)
                record(batch)(await stream.ingest(session, batch));
              else record(batch)(await client.ingest(session, batch));
            } catch {
              return; // the kill: unanswered, so not acknowledged
            }
          }
        };
        const pumps = [pump(0), pump(1)];
        await sleep(50 + random() * 600);
        await killChild(child);
        stop = true;
        await Promise.all(pumps);
        void stream?.close().catch(() => undefined);
        result.runs += 1;
        const check = await checkLog(path, acked);
        result.problems.push(...check.problems.map((p) => `kill ${k}: ${p}`));
        if (check.lost + check.duplicated > 0) {
          result.problems.push(`kill ${k}: ${check.lost} lost, ${check.duplicated} duplicated`);
        }
        result.problems.push(
          ...(await integrityProblems(path)).slice(0, 3).map((p) => `kill ${k}: integrity ${p}`),
        );
        if ((k + 1) % 10 === 0)
          ctx.log(`crash.daemon: ${k + 1}/${kills} kills, ${acked.size} acknowledged`);
      }
      const final = await checkLog(path, acked);
      result.acknowledged = acked.size;
      result.lost = final.lost;
      result.duplicated = final.duplicated;
      result.notes.push(
        `${kills} kills of wfstated --sync full with an HTTP and a WebSocket client ingesting 40-event batches; slowest restart to /readyz (recovery included) in the recovery column`,
      );
    } finally {
      tmp.remove();
    }
  },
};
