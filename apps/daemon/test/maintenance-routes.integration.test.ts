/**
 * The routes `wfstate` writes through while the daemon runs: appends at exact stream
 * versions, manual snapshots and their retention.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { api, sessionEvents, startSession, startTestDaemon } from './daemon-harness.js';

let daemon: Awaited<ReturnType<typeof startTestDaemon>>;

beforeAll(async () => {
  daemon = await startTestDaemon();
});
afterAll(async () => {
  await daemon.cleanup();
});

const STREAM = 'import-check';

function heartbeat(i: number): Record<string, unknown> {
  return {
    session_id: '20250817T194800Z_001',
    timestamp: `2025-08-17T19:48:${String(i).padStart(2, '0')}.000000Z`,
    type: 'health.heartbeat',
    data: { system_health: 'healthy', fps: 60, memory_usage_mb: 100 },
  };
}

describe('POST /v1/admin/append', () => {
  it('appends at the expected version, and refuses a stale one with 409 and nothing stored', async () => {
    const first = await api<{ positions: number[]; nextExpectedVersion: number }>(
      daemon,
      'POST',
      '/v1/admin/append',
      { body: { stream: STREAM, expectedVersion: 0, events: [heartbeat(1), heartbeat(2)] } },
    );
    expect(first.status).toBe(200);
    expect(first.body.positions).toHaveLength(2);
    expect(first.body.nextExpectedVersion).toBe(2);

    const stale = await api<{ error: { code: string } }>(daemon, 'POST', '/v1/admin/append', {
      body: { stream: STREAM, expectedVersion: 0, events: [heartbeat(3)] },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('conflict');
    expect(await daemon.store.streamVersion(STREAM)).toBe(2n);
  });

  it('refuses an invalid event (400, naming it) and a request without the token (401)', async () => {
    const bad = await api<{ error: { code: string; issues: { index: number }[] } }>(
      daemon,
      'POST',
      '/v1/admin/append',
      {
        body: {
          stream: STREAM,
          expectedVersion: 'any',
          events: [heartbeat(4), { ...heartbeat(5), data: { fps: 'fast' } }],
        },
      },
    );
    expect(bad.status).toBe(400);
    expect(bad.body.error.issues[0]?.index).toBe(1);
    const anonymous = await api(daemon, 'POST', '/v1/admin/append', {
      token: null,
      body: { stream: STREAM, expectedVersion: 'any', events: [heartbeat(6)] },
    });
    expect(anonymous.status).toBe(401);
    expect(await daemon.store.streamVersion(STREAM)).toBe(2n);
  });
});

describe('POST /v1/admin/snapshots', () => {
  it("snapshots a session with the daemon's snapshot store, and prunes", async () => {
    const session = await startSession(daemon);
    const ingested = await api(daemon, 'POST', `/v1/sessions/${session}/events`, {
      body: { events: sessionEvents(session, 2) },
    });
    expect(ingested.status).toBe(200);
    const stream = `session-${session}`;
    const created = await api<{ snapshots: { id: number; stream: string; kind: string }[] }>(
      daemon,
      'POST',
      '/v1/admin/snapshots',
      { body: { streams: [stream], kind: 'full' } },
    );
    expect(created.status).toBe(200);
    expect(created.body.snapshots).toEqual([expect.objectContaining({ stream, kind: 'full' })]);
    const listed = await daemon.snapshots.snapshots.repository.list(stream);
    expect(listed.map((s) => s.id)).toContain(created.body.snapshots[0]!.id);

    const missing = await api(daemon, 'POST', '/v1/admin/snapshots', {
      body: { streams: ['session-20990101T000000Z_001'] },
    });
    expect(missing.status).toBe(404);

    const pruned = await api<{ deleted: number[]; kept: number }>(
      daemon,
      'POST',
      '/v1/admin/snapshots/prune',
      { body: { stream } },
    );
    expect(pruned.status).toBe(200);
    expect(pruned.body.deleted).toEqual([]);
    expect(pruned.body.kept).toBeGreaterThanOrEqual(1);
  });
});
