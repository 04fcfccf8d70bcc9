import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WS_CLOSE_SLOW_CONSUMER } from '../src/stream-route.js';
import {
  api,
  chunk,
  openStream,
  sessionEvents,
  startSession,
  startTestDaemon,
} from './daemon-harness.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;

let daemon: TestDaemon;
beforeAll(async () => {
  daemon = await startTestDaemon({ wsMaxBufferedBytes: 64 * 1024 });
});
afterAll(async () => {
  await daemon.cleanup();
});

describe('WebSocket /v1/stream', () => {
  it('refuses a connection without the token or with a wrong one; takes it as subprotocol, query or header', async () => {
    await expect(openStream(daemon, 'none')).rejects.toMatchObject({ statusCode: 401 });
    await expect(openStream(daemon, { wrong: 'f'.repeat(64) })).rejects.toMatchObject({
      statusCode: 401,
    });
    for (const auth of ['protocol', 'query', 'header'] as const) {
      const client = await openStream(daemon, auth);
      client.close();
    }
  });

  it('ingests batches of 60 with an ack per batch, once durable, and an error per bad batch', async () => {
    const id = await startSession(daemon);
    const client = await openStream(daemon);
    const batches = chunk(sessionEvents(id, 1, 3), 60);
    batches.forEach((events, i) => client.send({ op: 'ingest', id: i, session: id, events }));
    client.send({
      op: 'ingest',
      id: 'bad',
      session: id,
      events: [{ ...batches[0]![0], type: 'nope' }],
    });
    client.socket.send('{not json');
    const acks = await Promise.all(
      batches.map((_, i) => client.next((m) => m.op === 'ack' && m.id === i)),
    );
    const positions = acks.flatMap((a) => a.positions as number[]);
    expect(positions).toEqual(positions.map((_, i) => i + 2));
    const bad = await client.next((m) => m.op === 'error' && m.id === 'bad');
    expect(bad.error).toMatchObject({
      code: 'unknown_type',
      issues: [expect.objectContaining({ index: 0, path: '/type' })],
    });
    const malformed = await client.next(
      (m) => m.op === 'error' && (m.error as { code: string }).code === 'malformed_body',
    );
    expect(malformed.op).toBe('error');
    const stored = await api<{ version: number }>(daemon, 'GET', `/v1/sessions/${id}/state`);
    expect(stored.body.version).toBe(positions.length + 1);
    client.close();
  });

  it('sends state.sync with the current state, then every later event once, with no gap, while ingest goes on', async () => {
    const id = await startSession(daemon);
    const events = sessionEvents(id, 10, 5);
    expect(events.length).toBeGreaterThan(1200);
    const [before, during] = [events.slice(0, 600), events.slice(600)];
    const writer = await openStream(daemon);
    const send = (batch: unknown[], tag: string) => {
      writer.send({ op: 'ingest', id: tag, session: id, events: batch });
      return writer.next((m) => m.id === tag);
    };
    for (const [i, batch] of chunk(before, 60).entries()) await send(batch, `b${i}`);

    const subscriber = await openStream(daemon);
    // Ingest keeps flowing while the subscription starts.
    const writing = Promise.all(chunk(during, 60).map((batch, i) => send(batch, `d${i}`)));
    subscriber.send({ op: 'subscribe', session: id });
    const sync = await subscriber.next((m) => m.op === 'state.sync');
    await writing;
    const head = await api<{ position: number }>(daemon, 'GET', `/v1/sessions/${id}/state`);
    await subscriber.next((m) => m.op === 'event' && m.position === head.body.position);

    // The state covers exactly the events up to its position...
    const syncPosition = sync.position as number;
    const atSync = await api<{ energy: unknown; version: number }>(
      daemon,
      'GET',
      `/v1/sessions/${id}/state?at=${syncPosition}`,
    );
    expect(sync.energy).toEqual(atSync.body.energy);
    expect(sync.version).toBe(atSync.body.version);
    // ...and the live events are every later event of the session, in order, once.
    const live = subscriber.messages.filter((m) => m.op === 'event');
    const all = await api<{ events: { position: number }[] }>(
      daemon,
      'GET',
      `/v1/sessions/${id}/events?from=${syncPosition + 1}&limit=5000`,
    );
    expect(live.map((m) => m.position)).toEqual(all.body.events.map((r) => r.position));
    expect(live.length).toBe(events.length + 1 - (sync.version as number));
    expect(subscriber.messages.findIndex((m) => m.op === 'state.sync')).toBe(0);
    subscriber.close();
    writer.close();
  });

  it('filters by type', async () => {
    const id = await startSession(daemon);
    const subscriber = await openStream(daemon);
    subscriber.send({ op: 'subscribe', session: id, types: ['energy.peak', 'user.prompt'] });
    await subscriber.next((m) => m.op === 'state.sync');
    const events = sessionEvents(id, 3, 9);
    let last = 0;
    for (const batch of chunk(events, 120)) {
      const response = await api<{ lastPosition: number; positions: number[] }>(
        daemon,
        'POST',
        `/v1/sessions/${id}/events`,
        { body: { events: batch } },
      );
      last = response.body.lastPosition;
    }
    const wanted = events.filter(
      (e) => e.type === 'energy.peak' || e.type === 'user.prompt',
    ).length;
    expect(wanted).toBeGreaterThan(0);
    // A marker after the last event: an end of session is not of those types, so wait on the count.
    await expect
      .poll(() => subscriber.messages.filter((m) => m.op === 'event').length, { timeout: 10_000 })
      .toBe(wanted);
    expect(
      subscriber.messages
        .filter((m) => m.op === 'event')
        .every((m) => ['energy.peak', 'user.prompt'].includes((m.event as { type: string }).type)),
    ).toBe(true);
    expect(last).toBeGreaterThan(0);
    subscriber.close();
  });

  it('closes a subscriber that stops reading with 4008 once its bounded buffer is full; others go on', async () => {
    const id = await startSession(daemon);
    const slow = await openStream(daemon);
    slow.send({ op: 'subscribe', session: id });
    await slow.next((m) => m.op === 'state.sync');
    const healthy = await openStream(daemon);
    healthy.send({ op: 'subscribe', session: id });
    await healthy.next((m) => m.op === 'state.sync');
    // Stop reading: the kernel buffers fill, then the daemon's send buffer.
    (slow.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    // Events carry an extra field (the envelope admits them) to fill buffers quickly.
    const events = sessionEvents(id, 20, 13, false).map((e) => ({
      ...e,
      padding: 'x'.repeat(4096),
    }));
    let lastPosition = 0;
    for (const batch of chunk(events, 500)) {
      const response = await api<{ lastPosition: number }>(
        daemon,
        'POST',
        `/v1/sessions/${id}/events`,
        { body: { events: batch } },
      );
      expect(response.status).toBe(200);
      lastPosition = response.body.lastPosition;
    }
    await healthy.next((m) => m.op === 'event' && m.position === lastPosition, 30_000);
    (slow.socket as unknown as { _socket: { resume(): void } })._socket.resume();
    const closed = await slow.closed;
    expect(closed.code).toBe(WS_CLOSE_SLOW_CONSUMER);
    expect(closed.reason).toContain('slow consumer');
    expect(healthy.socket.readyState).toBe(healthy.socket.OPEN);
    healthy.close();
  }, 90_000);
});
