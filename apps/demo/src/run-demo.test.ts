import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeEvent, isUnknownEvent } from '@wirthforge/events';
import { SessionRepository } from '@wirthforge/storage';
import { openSqliteStorage } from '@wirthforge/storage-sqlite';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoReport } from './format-summary.js';
import { runDemo, type DemoIo } from './run-demo.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wf-demo-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const START = new Date('2026-03-01T12:00:00.250Z');

async function demo(argv: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: DemoIo = {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { isTTY: false, write: (text: string) => err.push(text) },
    cwd: dir,
    now: () => START,
  };
  const code = await runDemo(argv, io);
  return { code, out: out.join(''), err: err.join('') };
}

/** What the database holds, read independently of the demo. */
async function readDatabase(file: string) {
  const storage = await openSqliteStorage({ path: file });
  try {
    const byType: Record<string, number> = {};
    const perStream = new Map<
      string,
      { count: number; first: number; last: number; energy: number }
    >();
    let total = 0;
    for await (const record of storage.readAll()) {
      total++;
      byType[record.type] = (byType[record.type] ?? 0) + 1;
      const entry = perStream.get(record.stream) ?? {
        count: 0,
        first: Number(record.position),
        last: 0,
        energy: 0,
      };
      entry.count++;
      entry.last = Number(record.position);
      const event = decodeEvent(record, { sessionId: record.stream.slice('session-'.length) });
      if (!isUnknownEvent(event) && event.type === 'energy.update')
        entry.energy = event.data.accumulator;
      perStream.set(record.stream, entry);
    }
    const sessions = await new SessionRepository(storage.db).list();
    const head = Number(await storage.headPosition());
    return { byType, perStream, total, sessions, head };
  } finally {
    await storage.close();
  }
}

describe('runDemo', () => {
  it('records a session and prints what the database holds', async () => {
    const { code, out } = await demo([
      '--fast',
      '--seconds',
      '2',
      '--data-dir',
      'data',
      '--json',
      '--seed',
      '5',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(out) as DemoReport;
    const file = path.join(dir, 'data', 'demo.sqlite');
    expect(report.file).toBe(file);
    expect(report.recording).toMatchObject({
      sessionId: '20260301T120000Z_001',
      frames: 120,
      aborted: false,
    });
    expect(report.recording.committedFrames).toBe(120);

    const db = await readDatabase(file);
    expect(report.store.eventsByType).toEqual(db.byType);
    expect(report.store.totalEvents).toBe(db.total);
    expect(report.recording.events).toBe(db.total);
    expect(report.store.positions).toEqual({ first: 1, last: db.head });
    const stream = db.perStream.get('session-20260301T120000Z_001')!;
    expect(report.store.stream).toEqual({
      name: 'session-20260301T120000Z_001',
      events: stream.count,
      positions: { first: stream.first, last: stream.last },
    });
    expect(db.byType['energy.update']).toBe(120);
    expect(db.byType['system.start']).toBe(1);
    expect(db.byType['system.end']).toBe(1);

    expect(report.store.sessions).toEqual(db.sessions);
    expect(db.sessions).toHaveLength(1);
    expect(db.sessions[0]).toMatchObject({
      sessionId: '20260301T120000Z_001',
      status: 'ended',
      cleanEnd: true,
      totalEvents: stream.count,
      totalEnergy: stream.energy,
      startedUs: START.getTime() * 1000,
    });

    expect(existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0).toBe(report.disk.wal);
    expect(statSync(file).size).toBe(report.disk.db);
    expect(report.disk.sessionBytes).toBeGreaterThan(0);
    expect(report.disk.bytesPerEvent).toBeCloseTo(report.disk.sessionBytes / stream.count, 9);
    expect(report.disk.mbPerHour).toBeCloseTo(((report.disk.sessionBytes / 2) * 3600) / 1e6, 9);
  });

  it('adds a second session to the same file and prints the table from the database', async () => {
    const { code, out } = await demo([
      '--fast',
      '--seconds',
      '2',
      '--data-dir',
      'data',
      '--seed',
      '6',
    ]);
    expect(code).toBe(0);
    const db = await readDatabase(path.join(dir, 'data', 'demo.sqlite'));
    expect(db.sessions.map((s) => s.sessionId).sort()).toEqual([
      '20260301T120000Z_001',
      '20260301T120000Z_002',
    ]);
    expect(out).toContain('Recorded session 20260301T120000Z_002: 2.0 s, 120 frames');
    expect(out).toContain(
      `Events by type (${db.total.toLocaleString('en-US')} events, positions 1..${db.head.toLocaleString('en-US')}`,
    );
    for (const [type, count] of Object.entries(db.byType)) {
      expect(out).toMatch(
        new RegExp(`^  ${type.replace('.', '\\.')}\\s+${count.toLocaleString('en-US')}$`, 'm'),
      );
    }
    for (const session of db.sessions) {
      expect(out).toMatch(
        new RegExp(
          `^  ${session.sessionId}\\s+ended\\s+\\S+\\s+\\S+\\s+${session.totalEvents.toLocaleString('en-US')}\\s+` +
            session.totalEnergy.toLocaleString('en-US', {
              minimumFractionDigits: 3,
              maximumFractionDigits: 3,
            }),
          'm',
        ),
      );
    }
    const file = path.join(dir, 'data', 'demo.sqlite');
    const bytes =
      statSync(file).size + (existsSync(`${file}-wal`) ? statSync(`${file}-wal`).size : 0);
    expect(out).toContain(`On disk: ${bytes.toLocaleString('en-US')} B`);
  });

  it('prints usage and exits 2 on bad arguments', async () => {
    const { code, out } = await demo(['--seconds', '-1']);
    expect(code).toBe(2);
    expect(out).toContain('Usage: pnpm demo');
  });
});
