import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';

import { RESTART_RETRY_AFTER_S, RequestGate, lateBound } from './core-restart.js';

describe('lateBound', () => {
  it('reads every property from the current target, methods bound to it', () => {
    class Counter {
      #n: number;
      constructor(n: number) {
        this.#n = n;
      }
      get value(): number {
        return this.#n;
      }
      next(): number {
        return ++this.#n;
      }
    }
    let current = new Counter(1);
    const counter = lateBound(() => current);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- lateBound binds methods: this line shows it
    const { next } = counter;
    expect(next()).toBe(2);
    expect(counter.value).toBe(2);
    current = new Counter(10);
    expect(counter.next()).toBe(11);
    expect(counter.value).toBe(11);
    expect('next' in counter).toBe(true);
  });
});

describe('RequestGate', () => {
  async function server(gate: RequestGate, slowDone: Promise<void>) {
    const seen = { slowStarted: false, restartWaiting: false, slowAnswered: false };
    const app = Fastify();
    gate.install(app);
    app.addHook('onResponse', (request, _reply, done) => {
      if (request.url === '/slow') seen.slowAnswered = true;
      done();
    });
    app.get('/healthz', () => Promise.resolve({ ok: true }));
    app.get('/slow', async () => {
      seen.slowStarted = true;
      await slowDone;
      return { slow: true };
    });
    app.get('/restart', async (request) => {
      gate.exempt(request);
      seen.restartWaiting = true;
      await gate.idle();
      return { idle: true, slowAnswered: seen.slowAnswered };
    });
    await app.listen({ host: '127.0.0.1', port: 0 });
    const address = app.server.address() as { port: number };
    return { app, seen, url: `http://127.0.0.1:${address.port}` };
  }

  async function until(condition: () => boolean): Promise<void> {
    while (!condition()) await new Promise((resolve) => setImmediate(resolve));
  }

  it('answers 503 with Retry-After while held, /healthz always, and serves again once resumed', async () => {
    const gate = new RequestGate();
    const { app, url } = await server(gate, Promise.resolve());
    try {
      gate.hold('restore');
      const held = await fetch(`${url}/slow`);
      expect(held.status).toBe(503);
      expect(held.headers.get('retry-after')).toBe(String(RESTART_RETRY_AFTER_S));
      expect(await held.json()).toMatchObject({
        error: { code: 'not_ready', message: expect.stringContaining('restore') as string },
      });
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      gate.resume();
      expect((await fetch(`${url}/slow`)).status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('is idle once the requests in flight are answered, not counting the exempt ones', async () => {
    const gate = new RequestGate();
    let release: () => void = () => undefined;
    const slowDone = new Promise<void>((resolve) => (release = resolve));
    const { app, seen, url } = await server(gate, slowDone);
    try {
      const slow = fetch(`${url}/slow`).then((r) => r.json());
      await until(() => seen.slowStarted);
      let answered = false;
      const restart = fetch(`${url}/restart`).then((r) => {
        answered = true;
        return r.json();
      });
      await until(() => seen.restartWaiting);
      expect(answered).toBe(false);
      release();
      expect(await slow).toEqual({ slow: true });
      // Idle only once the slow request was answered.
      expect(await restart).toEqual({ idle: true, slowAnswered: true });
      // Nothing in flight: idle at once.
      await gate.idle();
    } finally {
      await app.close();
    }
  });
});
