import { describe, expect, it } from 'vitest';
import { SIMULATED_MODELS } from '../src/simulated-feed.js';
import { api, openStream, startTestDaemon } from './daemon-harness.js';

/** One sample of `/metrics` (no labels), 0 when absent. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? 0 : Number(line.slice(name.length + 1));
}

describe('--simulate', () => {
  it('feeds a live session of several models that a subscriber of every session sees, and ends it at stop', async () => {
    const daemon = await startTestDaemon({ simulate: true, simulateSeconds: 30 });
    try {
      const sessionId = daemon.simulation!.sessionId;
      const client = await openStream(daemon);
      client.send({ op: 'subscribe' });
      const sync = await client.next((m) => m.op === 'state.sync');
      expect(sync.session).toBeNull();
      const live = await client.next(
        (m) => m.op === 'event' && (m.event as { type: string }).type === 'energy.update',
      );
      expect((live.event as { session_id: string }).session_id).toBe(sessionId);
      await expect
        .poll(
          () =>
            new Set(
              client.messages
                .filter((m) => m.op === 'event')
                .map((m) => (m.event as { data: { model_id?: string } }).data.model_id)
                .filter(Boolean),
            ).size,
          { timeout: 15_000 },
        )
        .toBe(SIMULATED_MODELS.length);
      client.close();

      // The feed's recorder is measured: events recorded, frames, acknowledgements, and
      // its commits roll up into the analytics of its session.
      const metrics = await api<string>(daemon, 'GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(sample(metrics.body, 'wirthforge_recorder_events_recorded_total')).toBeGreaterThan(0);
      expect(
        sample(metrics.body, 'wirthforge_recorder_frame_duration_seconds_count'),
      ).toBeGreaterThan(0);
      expect(
        sample(metrics.body, 'wirthforge_recorder_durable_latency_seconds_count'),
      ).toBeGreaterThan(0);
      const rollups = await api<{ points: { updates: number }[] }>(
        daemon,
        'GET',
        `/v1/analytics/rollups?session=${sessionId}&resolution=second&to=${new Date(Date.now() + 60_000).toISOString()}`,
      );
      expect(rollups.status).toBe(200);
      expect(rollups.body.points.reduce((n, p) => n + p.updates, 0)).toBeGreaterThan(0);
      const report = await daemon.stop('test');
      expect(report.endedSessions).toContain(sessionId);
    } finally {
      await daemon.cleanup();
    }
  });
});
