import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REDACTED } from '../src/export-session.js';
import { api, chunk, sessionEvents, startSession, startTestDaemon } from './daemon-harness.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
type Issue = { index?: number; path: string; keyword: string; message: string };
type ErrorBody = { error: { code: string; message: string; issues?: Issue[] } };

let daemon: TestDaemon;

beforeAll(async () => {
  daemon = await startTestDaemon({ bodyLimitBytes: 256 * 1024, storeContent: true });
});
afterAll(async () => {
  await daemon.cleanup();
});

describe('ingest and query over HTTP', () => {
  it('stores a simulated session and answers sessions, events, state, point-in-time state, export and user', async () => {
    const id = await startSession(daemon, { userId: 'ada' });
    const events = sessionEvents(id, 2);
    const positions: number[] = [];
    for (const batch of chunk(events, 60)) {
      const response = await api<{ positions: number[]; version: number }>(
        daemon,
        'POST',
        `/v1/sessions/${id}/events`,
        { body: { events: batch } },
      );
      expect(response.status).toBe(200);
      expect(response.body.positions).toHaveLength(batch.length);
      positions.push(...response.body.positions);
    }
    // Positions are the store's: gap-free, after the system.start at position 1.
    expect(positions).toEqual(positions.map((_, i) => i + 2));

    // Replaying a batch with the same event ids gives the original positions, stores nothing more.
    const again = await api<{ positions: number[] }>(daemon, 'POST', `/v1/sessions/${id}/events`, {
      body: { events: events.slice(0, 60) },
    });
    expect(again.body.positions).toEqual(positions.slice(0, 60));

    // Paged read: every event once, in position order, the same content as sent.
    const read: { position: number; event: { type: string; event_id?: string } }[] = [];
    let from: number | null = 1;
    while (from !== null) {
      const page: { status: number; body: { events: typeof read; next: number | null } } =
        await api(daemon, 'GET', `/v1/sessions/${id}/events?from=${from}&limit=50`);
      expect(page.status).toBe(200);
      read.push(...page.body.events);
      from = page.body.next;
    }
    expect(read.map((r) => r.position)).toEqual([1, ...positions]);
    expect(read.slice(1).map((r) => r.event.event_id)).toEqual(events.map((e) => e.event_id));

    const peaks = await api<{ events: { event: { type: string } }[] }>(
      daemon,
      'GET',
      `/v1/sessions/${id}/events?type=energy.peak,pattern.interference&limit=5000`,
    );
    const expectedTypes = events.filter(
      (e) => e.type === 'energy.peak' || e.type === 'pattern.interference',
    ).length;
    expect(peaks.body.events).toHaveLength(expectedTypes);

    const state = await api<{
      position: number;
      version: number;
      energy: { energyAccumulator: { total_energy: number; frame_count: number } };
      summary: { events: number };
    }>(daemon, 'GET', `/v1/sessions/${id}/state`);
    expect(state.status).toBe(200);
    expect(state.body.position).toBe(positions.at(-1));
    const totalEnergy = events.reduce(
      (sum, e) => sum + (e.type === 'energy.update' ? e.data.energy : 0),
      0,
    );
    expect(state.body.energy.energyAccumulator.total_energy).toBeCloseTo(totalEnergy, 6);

    // ?at= a position, a frame, a time: the fold of exactly the events up to it.
    const cut = positions[100]!;
    const at = await api<{
      position: number;
      version: number;
      energy: { energyAccumulator: { total_energy: number } };
    }>(daemon, 'GET', `/v1/sessions/${id}/state?at=${cut}`);
    expect(at.body.position).toBe(cut);
    const energyUpTo = events
      .slice(0, 101)
      .reduce((sum, e) => sum + (e.type === 'energy.update' ? e.data.energy : 0), 0);
    expect(at.body.energy.energyAccumulator.total_energy).toBeCloseTo(energyUpTo, 6);
    const frame = await api<{ energy: { energyAccumulator: { frame_count: number } } }>(
      daemon,
      'GET',
      `/v1/sessions/${id}/state?at=frame:9`,
    );
    expect(frame.body.energy.energyAccumulator.frame_count).toBe(10);
    const time = events[200]!.timestamp;
    const byTime = await api<{ position: number }>(
      daemon,
      'GET',
      `/v1/sessions/${id}/state?at=${time}`,
    );
    const lastAtTime = events.reduce((last, e, i) => (e.timestamp <= time ? i : last), -1);
    expect(byTime.body.position).toBe(positions[lastAtTime]);

    const ended = await api<{ position: number }>(daemon, 'POST', `/v1/sessions/${id}/end`, {
      body: { reason: 'user_exit' },
    });
    expect(ended.status).toBe(200);
    const session = await api<{
      status: string;
      cleanEnd: boolean;
      totalEvents: number;
      userId: string;
    }>(daemon, 'GET', `/v1/sessions/${id}`);
    expect(session.body).toMatchObject({ status: 'ended', cleanEnd: true, userId: 'ada' });
    const list = await api<{ sessions: { session: string }[] }>(
      daemon,
      'GET',
      '/v1/sessions?status=ended',
    );
    expect(list.body.sessions.map((s) => s.session)).toContain(id);
    const user = await api<{ userId: string; sessionsCount: number; totalEnergy: number }>(
      daemon,
      'GET',
      '/v1/user?id=ada',
    );
    expect(user.body.userId).toBe('ada');
    expect(user.body.sessionsCount).toBe(1);
    expect(user.body.totalEnergy).toBeCloseTo(totalEnergy, 6);

    // Export: three formats, the same records; token text redacted unless asked for.
    const json = await api<{
      session: string;
      redacted: boolean;
      events: { position: number; event: { type: string; data: Record<string, unknown> } }[];
    }>(daemon, 'GET', `/v1/sessions/${id}/export?format=json`);
    expect(json.headers.get('content-type')).toContain('application/json');
    expect(json.body.events.map((r) => r.position)).toEqual([1, ...positions, ended.body.position]);
    const tokens = json.body.events.filter((r) => r.event.type === 'ai.output');
    expect(tokens.length).toBeGreaterThan(0);
    expect(tokens.every((r) => r.event.data.token === REDACTED)).toBe(true);
    const included = await api<{
      events: { event: { type: string; data: Record<string, unknown> } }[];
    }>(daemon, 'GET', `/v1/sessions/${id}/export?format=json&content=include`);
    const firstToken = events.find((e) => e.type === 'ai.output');
    expect(included.body.events.find((r) => r.event.type === 'ai.output')?.event.data.token).toBe(
      firstToken?.type === 'ai.output' ? firstToken.data.token : undefined,
    );
    const ndjson = await api<string>(daemon, 'GET', `/v1/sessions/${id}/export?format=ndjson`);
    const lines = ndjson.body
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { position: number });
    expect(lines.map((l) => l.position)).toEqual(json.body.events.map((r) => r.position));
    const yaml = await api<string>(daemon, 'GET', `/v1/sessions/${id}/export?format=yaml`);
    expect(parseYaml(yaml.body)).toEqual(json.body);
  });

  it('reads and answers MessagePack when asked', async () => {
    const id = await startSession(daemon);
    const events = sessionEvents(id, 0.5, 11);
    const response = await fetch(`${daemon.url}/v1/sessions/${id}/events`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${daemon.token}`,
        'content-type': 'application/msgpack',
        accept: 'application/msgpack',
      },
      body: pack({ events }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('application/msgpack');
    const body = unpack(Buffer.from(await response.arrayBuffer())) as { positions: number[] };
    expect(body.positions).toHaveLength(events.length);
  });
});

describe('access token', () => {
  it('refuses requests without a token or with a wrong one, and accepts the one in DIR/daemon.token', async () => {
    const file = join(daemon.dataDir, 'daemon.token');
    expect(readFileSync(file, 'utf8').trim()).toBe(daemon.token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(daemon.dataDir).mode & 0o777).toBe(0o700);

    for (const token of [null, 'not-the-token', `${daemon.token}x`]) {
      for (const [method, path] of [
        ['GET', '/v1/sessions'],
        ['POST', '/v1/sessions'],
        ['GET', '/healthz'],
      ] as const) {
        const response = await api<ErrorBody>(daemon, method, path, { token });
        expect(response.status, `${method} ${path} with ${String(token)}`).toBe(401);
        expect(response.body.error.code).toBe('unauthorized');
      }
    }
    const wrongScheme = await api<ErrorBody>(daemon, 'GET', '/v1/sessions', {
      token: null,
      headers: { authorization: `Basic ${daemon.token}` },
    });
    expect(wrongScheme.status).toBe(401);
    expect((await api(daemon, 'GET', '/healthz')).status).toBe(200);
    expect(
      (await api(daemon, 'GET', `/v1/sessions?token=${daemon.token}`, { token: null })).status,
    ).toBe(200);
  });
});

describe('bad input gets a 4xx that says what and where, and the daemon stays up', () => {
  let id: string;
  beforeAll(async () => {
    id = await startSession(daemon);
  });
  const good = (sessionId: string): Record<string, unknown> => ({
    session_id: sessionId,
    timestamp: '2025-08-17T19:48:01.000000Z',
    type: 'health.heartbeat',
    data: { system_health: 'healthy', fps: 60 },
  });
  const post = (sessionId: string, body: unknown) =>
    api<ErrorBody>(daemon, 'POST', `/v1/sessions/${sessionId}/events`, { body });

  it('malformed JSON: 400 malformed_body with the position of the error', async () => {
    const response = await api<ErrorBody>(daemon, 'POST', `/v1/sessions/${id}/events`, {
      raw: '{"events":[{"type":',
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('malformed_body');
    expect(response.body.error.message).toMatch(/position|column|end of JSON/i);
  });

  it('a body over the limit: 413 body_too_large', async () => {
    const big = Array.from({ length: 2000 }, () => ({ ...good(id), padding: 'x'.repeat(200) }));
    const response = await post(id, { events: big });
    expect(response.status).toBe(413);
    expect(response.body.error.code).toBe('body_too_large');
    expect(response.body.error.message).toContain('limit');
  });

  it('an unknown event type: 400 unknown_type at /type of that event, nothing stored', async () => {
    const before = await api<{ version: number }>(daemon, 'GET', `/v1/sessions/${id}/state`);
    const response = await post(id, {
      events: [good(id), { ...good(id), type: 'energy.teleport' }],
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('unknown_type');
    expect(response.body.error.issues).toEqual([
      expect.objectContaining({ index: 1, path: '/type', keyword: 'unknown_type' }),
    ]);
    const after = await api<{ version: number }>(daemon, 'GET', `/v1/sessions/${id}/state`);
    expect(after.body.version).toBe(before.body.version);
  });

  it('an event of another session: 400 wrong_session at /session_id', async () => {
    const response = await post(id, { events: [good(id), good('20250817T194800Z_999')] });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('wrong_session');
    expect(response.body.error.issues?.[0]).toMatchObject({
      index: 1,
      path: '/session_id',
      keyword: 'wrong_session',
    });
  });

  it('an invalid timestamp and an invalid field: 400 invalid_event, every problem listed', async () => {
    const response = await post(id, {
      events: [
        { ...good(id), timestamp: '2025-02-30T10:00:00Z' },
        { ...good(id), data: { system_health: 'healthy', fps: -1 } },
      ],
    });
    expect(response.status).toBe(400);
    expect(response.body.error.code).toBe('invalid_event');
    expect(response.body.error.issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ index: 0, path: '/timestamp' }),
        expect.objectContaining({ index: 1, path: '/data/fps' }),
      ]),
    );
  });

  it('lifecycle events, missing events, unknown and malformed session ids', async () => {
    const lifecycle = await post(id, {
      events: [
        {
          ...good(id),
          type: 'system.end',
          data: { duration_ms: 1, clean_shutdown: true, reason: 'user_exit' },
        },
      ],
    });
    expect(lifecycle.status).toBe(400);
    expect(lifecycle.body.error.issues?.[0]).toMatchObject({
      index: 0,
      path: '/type',
      keyword: 'lifecycle_event',
    });
    const missing = await post(id, { batch: [] });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('invalid_request');
    expect(missing.body.error.issues?.map((i) => i.path)).toEqual(
      expect.arrayContaining(['/body/events']),
    );
    const unknown = await post('20250817T194800Z_998', { events: [good('20250817T194800Z_998')] });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('session_not_found');
    const malformed = await post('yesterday', { events: [good(id)] });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.issues?.[0]?.path).toBe('/params/id');
    const badAt = await api<ErrorBody>(daemon, 'GET', `/v1/sessions/${id}/state?at=soon`);
    expect(badAt.status).toBe(400);
    expect(badAt.body.error.issues?.[0]?.path).toBe('/query/at');
  });

  it('events of an ended session: 409 session_ended; ending twice too', async () => {
    const other = await startSession(daemon);
    expect((await post(other, { events: [good(other)] })).status).toBe(200);
    expect((await api(daemon, 'POST', `/v1/sessions/${other}/end`)).status).toBe(200);
    const late = await post(other, { events: [good(other)] });
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('session_ended');
    expect(
      (await api<ErrorBody>(daemon, 'POST', `/v1/sessions/${other}/end`)).body.error.code,
    ).toBe('session_ended');
  });

  it('is still up and ingesting after all of it', async () => {
    expect((await api(daemon, 'GET', '/readyz')).status).toBe(200);
    const response = await api<{ positions: number[] }>(
      daemon,
      'POST',
      `/v1/sessions/${id}/events`,
      { body: { events: [good(id)] } },
    );
    expect(response.status).toBe(200);
    expect(response.body.positions).toHaveLength(1);
  });
});
