import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createEventStore } from '@wirthforge/eventstore';
import { isStorageError } from '@wirthforge/storage';
import { openSqliteReadOnlyStorage, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import {
  api,
  killChild,
  spawnDaemon,
  tempDir,
  waitDaemonReady,
  type Child,
} from './fault-harness.js';
import { sessionEvents } from './rows/crash-daemon.js';

/**
 * The faults that found a defect, each reduced to its smallest case (the rows of the
 * suite find them too, among everything else they check). Each failed until its defect
 * was fixed and stays as a regression test of the built packages, as the suite runs
 * them; the focused tests are in the packages themselves (the daemon's
 * `test/bad-input.integration.test.ts`, the recorder's enrichers).
 */
describe('defects the fault suite found', () => {
  const tmp = tempDir('findings');
  const children: Child[] = [];
  afterAll(async () => {
    for (const child of children) await killChild(child);
    tmp.remove();
  });

  it('a read through the storage API refuses a hot row whose payload no longer matches its checksum', async () => {
    const path = join(tmp.dir, 'rows.db');
    const store = createEventStore({ storage: await openSqliteStorage({ path, seal: false }) });
    const session = await store.startSession({ userId: 'ada', mode: 'offline', version: '1.0.0' });
    const { positions } = await store.appendToStream(
      session.stream,
      sessionEvents(session.id, 1, 1).slice(0, 10),
    );
    await store.close();
    const target = Number(positions[5]);
    const raw = new Database(path);
    const { payload } = raw
      .prepare('select payload from events where position = ?')
      .get(target) as { payload: Buffer };
    payload[payload.length >> 1] = payload[payload.length >> 1]! ^ 0x10;
    raw.prepare('update events set payload = ? where position = ?').run(payload, target);
    raw.close();
    const storage = await openSqliteReadOnlyStorage({ path });
    let refused: unknown;
    try {
      for await (const record of storage.readAll()) void record;
    } catch (error) {
      refused = error;
    } finally {
      await storage.close();
    }
    expect(isStorageError(refused) && refused.code === 'corrupt').toBe(true);
  });

  describe('the daemon', () => {
    const dataDir = join(tmp.dir, 'daemon');
    mkdirSync(dataDir, { recursive: true });
    const started = (async () => {
      const child = spawnDaemon(dataDir, ['--log-level', 'fatal']);
      children.push(child);
      const base = await waitDaemonReady(dataDir, child);
      const session = (await api(base, 'POST', '/v1/sessions', { body: { userId: 'ada' } }))
        .body as { session: string };
      return { base, session: session.session };
    })();

    it('answers an ai.output without data with a typed 400 naming /data, not a 500', async () => {
      const { base, session } = await started;
      const answer = await api(base, 'POST', `/v1/sessions/${session}/events`, {
        body: { events: [{ type: 'ai.output' }] },
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        error: {
          code: 'invalid_event',
          issues: expect.arrayContaining([expect.objectContaining({ index: 0, path: '/data' })]),
        },
      });
    });

    it('refuses a body that is not valid UTF-8 instead of storing U+FFFD in its place', async () => {
      const { base, session } = await started;
      const event = {
        ...sessionEvents(session, 1, 2).find((e) => e.type === 'energy.update')!,
        event_id: 'AAAA',
      };
      const text = Buffer.from(JSON.stringify({ events: [event] }));
      const at = text.indexOf('AAAA');
      text[at] = 0xff;
      text[at + 1] = 0xfe;
      const answer = await api(base, 'POST', `/v1/sessions/${session}/events`, {
        raw: new Uint8Array(text),
      });
      expect(answer.status).toBe(400);
      expect(answer.body).toMatchObject({
        error: { code: 'malformed_body', message: expect.stringContaining(`offset ${at}`) },
      });
    });
  });
});
