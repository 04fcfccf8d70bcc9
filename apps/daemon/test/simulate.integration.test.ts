import { describe, expect, it } from 'vitest';
import { SIMULATED_MODELS } from '../src/simulated-feed.js';
import { openStream, startTestDaemon } from './daemon-harness.js';

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
      const report = await daemon.stop('test');
      expect(report.endedSessions).toContain(sessionId);
    } finally {
      await daemon.cleanup();
    }
  });
});
