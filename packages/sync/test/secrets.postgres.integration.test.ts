/**
 * The hub's password never reaches a message, a report or the local store: the server
 * here trusts every connection, so a URL with a password connects and every output can
 * be searched for it; failures (no such database, nothing listening) are searched too.
 */
import { afterAll, describe, expect, it } from 'vitest';

import { isSyncError, openSyncHub, push, resolveSyncConfig, syncStatus } from '../src/index.js';
import {
  PG_AVAILABLE,
  PG_URL,
  createDevice,
  dropSchema,
  freshSchemaName,
  recordSession,
} from './fixtures.js';

const SECRET = 'Hub-Secret-7f3a9';
const schemas: string[] = [];
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

function withPassword(url: string, database?: string): string {
  const parsed = new URL(url);
  parsed.password = SECRET;
  if (database !== undefined) parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function failure(url: string): Promise<unknown> {
  const config = resolveSyncConfig({ url, schema: freshSchemaName(), env: {} })!;
  try {
    const hub = await openSyncHub(config);
    await hub.close();
  } catch (error) {
    return error;
  }
  throw new Error('the hub opened');
}

describe.runIf(PG_AVAILABLE)('the hub password stays out of every output', () => {
  it('is absent from reports, status and the local metadata of a sync that works', async () => {
    const schema = freshSchemaName();
    schemas.push(schema);
    const config = resolveSyncConfig({ url: withPassword(PG_URL), schema, env: {} })!;
    const hub = await openSyncHub(config);
    const device = await createDevice('secret');
    try {
      await recordSession(device.store, {
        start: new Date('2025-08-20T08:00:00Z'),
        seconds: 1,
        seed: 3,
      });
      const logged: string[] = [];
      const json = (value: unknown): string =>
        JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
      const report = await push(device, hub, { onPage: (p) => logged.push(json(p)) });
      expect(report.events).toBeGreaterThan(0);
      logged.push(json(report), json(await syncStatus(device, hub, hub)));
      const metadata = await device.db.selectFrom('metadata').selectAll().execute();
      logged.push(JSON.stringify(metadata));
      const all = logged.join('\n');
      expect(all).toContain(config.displayUrl);
      expect(all).toContain('***');
      expect(all).not.toContain(SECRET);
    } finally {
      await hub.close();
      await device.remove();
    }
  });

  it('is absent from the error of a database that does not exist', async () => {
    const error = await failure(withPassword(PG_URL, 'wf_no_such_database_x'));
    expect(isSyncError(error), String(error)).toBe(true);
    expect((error as Error).message).toContain('***');
    expect((error as Error).message).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
  });

  it('is absent from the error of a server that does not answer', async () => {
    const error = await failure(`postgres://ada:${SECRET}@127.0.0.1:1/test`);
    expect(isSyncError(error, 'hub_unreachable'), String(error)).toBe(true);
    expect((error as Error & { retryable: boolean }).retryable).toBe(true);
    expect((error as Error).message).not.toContain(SECRET);
    expect(String((error as Error).stack)).not.toContain(SECRET);
  });
});
