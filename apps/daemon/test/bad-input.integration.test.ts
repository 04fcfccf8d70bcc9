import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, openStream, startSession, startTestDaemon } from './daemon-harness.js';
import { STREAM_PROTOCOL } from '../src/access-token.js';
import { rawText } from '../src/raw-text.js';

type TestDaemon = Awaited<ReturnType<typeof startTestDaemon>>;
type Issue = { index?: number; path: string; keyword: string; message: string };
type ErrorBody = { error: { code: string; message: string; issues?: Issue[] } };

let daemon: TestDaemon;

beforeAll(async () => {
  // Privacy on (the default): every user.prompt and ai.output goes through the enrichers.
  daemon = await startTestDaemon();
});
afterAll(async () => {
  await daemon.cleanup();
});

/** Every event stored in a session, by type. */
async function storedTypes(id: string): Promise<string[]> {
  const page = await api<{ events: { event: { type: string } }[] }>(
    daemon,
    'GET',
    `/v1/sessions/${id}/events?limit=1000`,
  );
  expect(page.status).toBe(200);
  return page.body.events.map((e) => e.event.type);
}

function validEvents(id: string): Record<string, Record<string, unknown>> {
  const base = { session_id: id, timestamp: new Date().toISOString() };
  return {
    'user.prompt': {
      ...base,
      type: 'user.prompt',
      data: { prompt_id: 'p1', interface: 'text', truncated: false, text: 'hello' },
    },
    'ai.output': {
      ...base,
      type: 'ai.output',
      data: {
        prompt_id: 'p1',
        token: 'hi',
        token_index: 0,
        is_last: false,
        model_id: 'ollama/mistral:7b',
      },
    },
  };
}

describe('invalid events of the types the recorder enriches (user.prompt, ai.output)', () => {
  for (const type of ['ai.output', 'user.prompt'] as const) {
    const cases: [string, (valid: Record<string, unknown>) => unknown, string][] = [
      ['only a type', () => ({ type }), '/data'],
      ['data missing', ({ data: _data, ...rest }) => rest, '/data'],
      ['data null', (valid) => ({ ...valid, data: null }), '/data'],
      ['data a string', (valid) => ({ ...valid, data: 'hi' }), '/data'],
      ['data an array', (valid) => ({ ...valid, data: [1, 2] }), '/data'],
      ['data a number', (valid) => ({ ...valid, data: 7 }), '/data'],
      [
        'a nested field of the wrong type',
        (valid) => ({
          ...valid,
          data: {
            ...(valid.data as object),
            ...(type === 'ai.output' ? { token: 42 } : { text: { words: 1 } }),
          },
        }),
        type === 'ai.output' ? '/data/token' : '/data/text',
      ],
      [
        'another nested field of the wrong type',
        (valid) => ({ ...valid, data: { ...(valid.data as object), prompt_id: 5 } }),
        '/data/prompt_id',
      ],
    ];
    for (const [name, make, path] of cases) {
      it(`${type}, ${name}: 400 invalid_event naming ${path}, nothing of the batch stored`, async () => {
        const id = await startSession(daemon);
        const valid = validEvents(id);
        const events = [valid['user.prompt'], make(valid[type]!), valid['ai.output']];
        const response = await api<ErrorBody>(daemon, 'POST', `/v1/sessions/${id}/events`, {
          body: { events },
        });
        expect(response.status).toBe(400);
        expect(response.body.error.code).toBe('invalid_event');
        const issues = response.body.error.issues ?? [];
        expect(issues.length).toBeGreaterThan(0);
        // Every issue is of the bad event, and one names the path.
        expect(issues.every((i) => i.index === 1)).toBe(true);
        expect(issues.map((i) => i.path)).toContain(path);
        expect(response.body.error.message).toMatch(/event 1 at \//);
        expect(await storedTypes(id)).toEqual(['system.start']);
        // The same batch without the bad event is stored, the enrichers applied.
        const ok = await api<{ positions: number[] }>(daemon, 'POST', `/v1/sessions/${id}/events`, {
          body: { events: [events[0], events[2]] },
        });
        expect(ok.status).toBe(200);
        expect(await storedTypes(id)).toEqual(['system.start', 'user.prompt', 'ai.output']);
      });
    }
  }

  it('answers the shrunk fuzz case {"events":[{"type":"ai.output"},{}]} with issues for both events', async () => {
    const id = await startSession(daemon);
    const response = await api<ErrorBody>(daemon, 'POST', `/v1/sessions/${id}/events`, {
      raw: '{"events":[{"type":"ai.output"},{}]}',
    });
    expect(response.status).toBe(400);
    const issues = response.body.error.issues ?? [];
    expect(new Set(issues.map((i) => i.index))).toEqual(new Set([0, 1]));
    expect(issues).toContainEqual(expect.objectContaining({ index: 0, path: '/data' }));
    const health = await api(daemon, 'GET', '/healthz');
    expect(health.status).toBe(200);
  });
});

describe('bodies and frames that are not UTF-8', () => {
  it('refuses a JSON body with invalid UTF-8 with 400 malformed_body naming the byte offset', async () => {
    const id = await startSession(daemon);
    const valid = validEvents(id);
    const text = JSON.stringify({ events: [valid['ai.output']] });
    const at = text.indexOf('"hi"') + 1;
    const cases: [string, number[]][] = [
      ['a lone 0xff', [0xff]],
      ['a continuation byte without a lead', [0x80]],
      ['an overlong slash', [0xc0, 0xaf]],
      ['a surrogate', [0xed, 0xa0, 0x80]],
    ];
    for (const [, bad] of cases) {
      const raw = Buffer.concat([
        Buffer.from(text.slice(0, at)),
        Buffer.from(bad),
        Buffer.from(text.slice(at)),
      ]);
      const response = await api<ErrorBody>(daemon, 'POST', `/v1/sessions/${id}/events`, { raw });
      expect(response.status).toBe(400);
      expect(response.body.error.code).toBe('malformed_body');
      expect(response.body.error.message).toContain(`offset ${at}`);
      expect(response.body.error.issues).toEqual([
        expect.objectContaining({ path: '/body', keyword: 'utf8' }),
      ]);
    }
    expect(await storedTypes(id)).toEqual(['system.start']);
    // The same body, well formed (multi-byte characters included), is stored.
    const good = Buffer.from(text.replace('"hi"', '"h\u00e9\u20ac\u{1f44b}"'), 'utf8');
    const ok = await api(daemon, 'POST', `/v1/sessions/${id}/events`, { raw: good });
    expect(ok.status).toBe(200);
  });

  it('closes a WebSocket that sends a text frame with invalid UTF-8 (1007), stores nothing, stays up', async () => {
    const id = await startSession(daemon);
    const valid = validEvents(id);
    const text = JSON.stringify({ op: 'ingest', id: 1, session: id, events: [valid['ai.output']] });
    const at = text.indexOf('"hi"') + 1;
    const socket = new WebSocket(`${daemon.url.replace(/^http/, 'ws')}/v1/stream`, [
      STREAM_PROTOCOL,
      `bearer.${daemon.token}`,
    ]);
    const acks: string[] = [];
    socket.on('message', (data) => acks.push(rawText(data)));
    const closed = new Promise<number>((resolve) => socket.on('close', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    // `ws` does not check what it sends: the frame goes out as text with the bad byte.
    socket.send(
      Buffer.concat([
        Buffer.from(text.slice(0, at)),
        Buffer.from([0xff]),
        Buffer.from(text.slice(at)),
      ]),
      { binary: false },
    );
    expect(await closed).toBe(1007);
    expect(acks).toEqual([]);
    expect(await storedTypes(id)).toEqual(['system.start']);
    // Other clients are unaffected: a new connection ingests.
    const client = await openStream(daemon);
    client.send({ op: 'ingest', id: 2, session: id, events: [valid['ai.output']] });
    const ack = await client.next((m) => m.op === 'ack' && m.id === 2);
    expect(ack.positions).toHaveLength(1);
    client.close();
  });
});

describe('WebSocket messages whose answer would echo a hostile value', () => {
  // Found by the fault suite's generated frames: JSON.parse reads a value nested 200 000
  // levels deep, JSON.stringify of the answer that echoed it overflowed the stack, and
  // the rejection of the ingest's promise took the daemon down.
  it('refuses an id that is not a string or a number (/id), and an op nested deep (/op), staying up', async () => {
    const id = await startSession(daemon);
    const valid = validEvents(id);
    const client = await openStream(daemon);
    const deep = `${'['.repeat(200_000)}1${']'.repeat(200_000)}`;
    client.socket.send(
      `{"op":"ingest","id":${deep},"session":"${id}","events":[${JSON.stringify(valid['ai.output'])}]}`,
    );
    const refused = await client.next((m) => m.op === 'error');
    expect(refused.id).toBeUndefined();
    expect(refused.error).toMatchObject({
      code: 'invalid_request',
      issues: [{ path: '/id', keyword: 'type' }],
    });
    client.socket.send(`{"op":${deep}}`);
    const unknownOp = await client.next(
      (m) =>
        m.op === 'error' &&
        /unknown op object/.test(String((m.error as { message: string }).message)),
    );
    expect(unknownOp.error).toMatchObject({ code: 'invalid_request', issues: [{ path: '/op' }] });
    expect(await storedTypes(id)).toEqual(['system.start']);
    client.send({ op: 'ingest', id: 'after', session: id, events: [valid['ai.output']] });
    const ack = await client.next((m) => m.op === 'ack' && m.id === 'after');
    expect(ack.positions).toHaveLength(1);
    client.close();
  });
});
