/**
 * A push or a pull killed (SIGKILL) in the middle: the next run resumes from the
 * checkpoint, and every event ends up exactly once on the other side, at its version.
 * The runs are child processes of the built package (`pnpm --filter @wirthforge/sync build`).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import type { EventStorage } from '@wirthforge/storage';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { pull, push } from '../src/index.js';
import type { SyncHub } from '../src/index.js';
import {
  PG_AVAILABLE,
  PG_URL,
  createDevice,
  dropSchema,
  freshSchemaName,
  openDeviceAt,
  openTestHub,
  recordSession,
  type TestDevice,
} from './fixtures.js';

const CHILD = fileURLToPath(new URL('./sync-child.mjs', import.meta.url));
const schemas: string[] = [];
const open: { close(): Promise<void> }[] = [];
const devices: TestDevice[] = [];
afterEach(async () => {
  for (const o of open.splice(0)) await o.close();
  for (const d of devices.splice(0)) await d.remove();
});
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema);
});

/** Runs a push or pull in a child and kills it once `pages` pages are committed. */
function runAndKill(
  dir: string,
  schema: string,
  direction: 'push' | 'pull',
  pages: number,
): Promise<{ killed: boolean; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, dir, PG_URL, schema, direction, '97'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let seen = 0;
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      seen = output.split('\n').filter((l) => l.startsWith('page ')).length;
      if (!killed && seen >= pages) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', () => resolve({ killed, output }));
  });
}

/** Each stream's events as `version|type|payload digest`, and every event id, from a storage. */
async function contents(
  storage: EventStorage,
  streams: readonly string[],
): Promise<{ byStream: Map<string, string[]>; count: number }> {
  const byStream = new Map<string, string[]>();
  let count = 0;
  for await (const r of storage.readAll()) {
    if (!streams.includes(r.stream)) continue;
    count++;
    const list = byStream.get(r.stream) ?? [];
    list.push(`${r.version}|${r.type}|${createHash('sha256').update(r.payload).digest('hex')}`);
    byStream.set(r.stream, list);
  }
  return { byStream, count };
}

describe.runIf(PG_AVAILABLE)('sync killed in the middle', () => {
  it('a push killed mid-way resumes with no event lost or duplicated on the hub', async () => {
    const schema = freshSchemaName('wf_sync_kill');
    schemas.push(schema);
    const hub: SyncHub = await openTestHub(schema);
    open.push(hub);
    let a = await createDevice('a');
    const s1 = await recordSession(a.store, {
      start: new Date('2025-08-19T09:00:00Z'),
      seconds: 4,
      seed: 31,
    });
    const s2 = await recordSession(a.store, {
      start: new Date('2025-08-19T09:10:00Z'),
      seconds: 4,
      seed: 32,
    });
    const streams = [s1.stream, s2.stream];
    const local = await contents(a.storage, streams);
    await a.close();

    const run = await runAndKill(a.dir, schema, 'push', 3);
    expect(run.killed, run.output).toBe(true);
    expect(run.output).not.toContain('done');
    const partial = await contents(hub.storage, streams);
    expect(partial.count).toBeGreaterThan(0);
    expect(partial.count).toBeLessThan(local.count);

    a = await openDeviceAt(a.dir);
    devices.push(a);
    const resumed = await push(a, hub);
    expect(resumed.events).toBeGreaterThan(0);
    const onHub = await contents(hub.storage, streams);
    expect(onHub.count).toBe(local.count);
    expect(onHub.byStream).toEqual(local.byStream);
    expect(await hub.storage.headPosition()).toBe(BigInt(local.count));
    expect((await push(a, hub)).events).toBe(0);
  }, 120_000);

  it('a pull killed mid-way resumes with no event lost or duplicated on the device', async () => {
    const schema = freshSchemaName('wf_sync_kill');
    schemas.push(schema);
    const hub: SyncHub = await openTestHub(schema);
    open.push(hub);
    const a = await createDevice('a');
    devices.push(a);
    const s1 = await recordSession(a.store, {
      start: new Date('2025-08-19T10:00:00Z'),
      seconds: 4,
      seed: 41,
    });
    const s2 = await recordSession(a.store, {
      start: new Date('2025-08-19T10:10:00Z'),
      seconds: 4,
      seed: 42,
    });
    const streams = [s1.stream, s2.stream];
    await push(a, hub);
    const onHub = await contents(hub.storage, streams);

    let b = await createDevice('b');
    await b.close();
    const run = await runAndKill(b.dir, schema, 'pull', 2);
    expect(run.killed, run.output).toBe(true);
    b = await openDeviceAt(b.dir);
    devices.push(b);
    const partial = await contents(b.storage, streams);
    expect(partial.count).toBeGreaterThan(0);
    expect(partial.count).toBeLessThan(onHub.count);

    const resumed = await pull(b, hub);
    expect(resumed.events).toBe(onHub.count - partial.count);
    const here = await contents(b.storage, streams);
    expect(here.byStream).toEqual(onHub.byStream);
    expect(here.count).toBe(onHub.count);
    expect((await pull(b, hub)).events).toBe(0);
  }, 120_000);
});
