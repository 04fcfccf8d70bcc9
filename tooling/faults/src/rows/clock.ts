import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toIsoMicros, type WirthforgeEvent } from '@wirthforge/events';
import { createEventStore } from '@wirthforge/eventstore';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { type FaultRow } from '../fault-row.js';
import {
  CLI_MAIN,
  DAEMON_MAIN,
  api,
  checkLog,
  ensureDebianPackage,
  killChild,
  sh,
  spawnDaemon,
  startChild,
  tempDir,
  waitDaemonReady,
} from '../fault-harness.js';
import { sessionEvents } from './crash-daemon.js';

const HOUR_US = 3_600_000_000;

/**
 * The store's clock (an injected `clock`) jumps back an hour and forward a day between
 * and during sessions, and producers' timestamps go back too: positions keep the order
 * of appends, session ids stay unique, a session's duration is never negative, reads
 * return events in position order with the timestamps as recorded. Then a daemon is
 * restarted under `faketime` a day in the past and a year ahead: it starts, recovers,
 * ingests, and `wfstate verify --deep` stays clean.
 */
export const clockRow: FaultRow = {
  id: 'clock',
  fault: 'clock jumps back and forward (injected clock; faketime at restart)',
  async run(ctx, result) {
    const tmp = tempDir('clock');
    try {
      let now = Date.UTC(2026, 10, 27, 12) * 1000;
      const jumps = [-HOUR_US, 24 * HOUR_US, -2 * HOUR_US, -1_000_000, 0, -24 * HOUR_US];
      const path = join(tmp.dir, 'state.db');
      const store = createEventStore({
        storage: await openSqliteStorage({ path }),
        clock: () => now,
      });
      const appendedOrder: string[] = [];
      const ids = new Set<string>();
      const acked = new Map<string, bigint>();
      for (const [i, jump] of jumps.entries()) {
        const session = await store.startSession({
          userId: 'ada',
          mode: 'offline',
          version: '1.0.0',
        });
        if (ids.has(session.id))
          result.problems.push(`session id ${session.id} given twice after a clock jump`);
        ids.add(session.id);
        // The producer's timestamps jump with the clock, inside the session.
        const events = sessionEvents(session.id, 1, i + 1).slice(0, 20) as WirthforgeEvent[];
        const half = events.length >> 1;
        const stamped = events.map((e, j) => ({
          ...e,
          timestamp: toIsoMicros(now + (j < half ? j : j + jump / 1000)),
        }));
        const r = await store.appendToStream(session.stream, stamped);
        stamped.forEach((e, j) => {
          appendedOrder.push(e.event_id!);
          acked.set(e.event_id!, r.positions[j]!);
        });
        now += jump;
        await store.endSession(session.id, { reason: 'user_exit' });
        result.runs += 1;
      }
      const readOrder: string[] = [];
      for await (const record of store.readAll()) {
        const event = record.event as {
          event_id?: string;
          type: string;
          data?: { duration_ms?: number };
        };
        const id = event.event_id;
        if (id !== undefined && acked.has(id)) readOrder.push(id);
        if (event.type === 'system.end') {
          const duration = event.data?.duration_ms ?? 0;
          if (duration < 0)
            result.problems.push(
              `system.end at ${record.position} has a negative duration ${duration}`,
            );
        }
      }
      if (readOrder.join() !== appendedOrder.join())
        result.problems.push('read order differs from the order of appends');
      await store.close();
      result.acknowledged = acked.size;
      const check = await checkLog(path, acked);
      result.lost += check.lost;
      result.duplicated += check.duplicated;
      result.problems.push(...check.problems);
      result.notes.push(
        `injected clock: ${jumps.length} sessions with jumps of ${jumps.map((j) => `${j / HOUR_US} h`).join(', ')}: ids unique, durations never negative, reads in append order`,
      );

      if (!ensureDebianPackage('faketime', 'faketime', ctx.log)) {
        result.notes.push(
          'faketime restart NOT RUN: faketime is not installed and apt-get could not install it',
        );
        ctx.log('!!! clock: faketime missing, the restart part did not run');
        result.problems.push('faketime missing: the restart part did not run');
        return;
      }
      const dataDir = join(tmp.dir, 'daemon');
      sh('mkdir', ['-p', dataDir]);
      const daemonAcked = new Map<string, bigint>();
      const offsets = ['+0d', '-1d', '+365d', '-3d'];
      let lastPosition = 0n;
      for (const offset of offsets) {
        const child =
          offset === '+0d'
            ? spawnDaemon(dataDir, ['--sync', 'full'])
            : startChild(
                'faketime',
                [
                  '-f',
                  offset,
                  process.execPath,
                  DAEMON_MAIN,
                  '--data-dir',
                  dataDir,
                  '--port',
                  '0',
                  '--log-level',
                  'warn',
                  '--sync',
                  'full',
                ],
                { XDG_CONFIG_HOME: dataDir },
              );
        try {
          const base = await waitDaemonReady(dataDir, child, 60_000, offset !== '+0d');
          const health = await api(base, 'GET', '/healthz');
          const start = await api(base, 'POST', '/v1/sessions', { body: { userId: 'ada' } });
          const session = (
            start.body as { session?: string; position?: number; startedAt?: string }
          ).session;
          if (start.status !== 201 || session === undefined)
            throw new Error(
              `start session under faketime ${offset}: ${start.status} ${JSON.stringify(start.body)}`,
            );
          const position = BigInt((start.body as { position: number }).position);
          if (position <= lastPosition)
            result.problems.push(
              `faketime ${offset}: session start at position ${position}, not after ${lastPosition}`,
            );
          const events = sessionEvents(session, 1, 3).slice(0, 60);
          const r = await api(base, 'POST', `/v1/sessions/${session}/events`, { body: { events } });
          if (r.status !== 200)
            result.problems.push(
              `faketime ${offset}: ingest ${r.status} ${JSON.stringify(r.body).slice(0, 200)}`,
            );
          else {
            const positions = (r.body as { positions: number[] }).positions;
            events.forEach((e, j) => daemonAcked.set(e.event_id!, BigInt(positions[j]!)));
            lastPosition = BigInt(positions[positions.length - 1]!);
          }
          result.notes.push(
            `daemon under faketime ${offset}: started (${JSON.stringify(health.body).slice(0, 60)}), session ${session} (startedAt ${String((start.body as { startedAt?: string }).startedAt)})`,
          );
          result.runs += 1;
          // Half the restarts are kills, so the next start recovers under another clock.
          const daemonPid = (
            JSON.parse(readFileSync(join(dataDir, 'daemon.json'), 'utf8')) as { pid: number }
          ).pid;
          process.kill(daemonPid, offset === '+365d' ? 'SIGKILL' : 'SIGTERM');
          await child.closed;
        } finally {
          await killChild(child);
        }
      }
      result.acknowledged += daemonAcked.size;
      const daemonCheck = await checkLog(join(dataDir, 'state.db'), daemonAcked);
      result.lost += daemonCheck.lost;
      result.duplicated += daemonCheck.duplicated;
      result.problems.push(...daemonCheck.problems);
      const verify = sh(process.execPath, [
        CLI_MAIN,
        'verify',
        '--deep',
        '--json',
        '--data-dir',
        dataDir,
      ]);
      if (verify.status !== 0)
        result.problems.push(
          `verify --deep after the faketime restarts: exit ${String(verify.status)}: ${verify.stdout.slice(0, 400)}`,
        );
    } finally {
      tmp.remove();
    }
  },
};
