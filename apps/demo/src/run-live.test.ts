import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLiveArgs, runLive, type LiveIo } from './run-live.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'wf-live-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function live(argv: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: LiveIo = {
    stdout: { write: (text: string) => out.push(text) },
    stderr: { write: (text: string) => err.push(text) },
    cwd: dir,
  };
  const code = await runLive(argv, io);
  return { code, out: out.join(''), err: err.join('') };
}

describe('parseLiveArgs', () => {
  it('defaults to ./.wfdata for ten seconds, and refuses bad input', () => {
    expect(parseLiveArgs([], '/x')).toEqual({
      dataDir: '/x/.wfdata',
      seconds: 10,
      keep: false,
      help: false,
    });
    expect(parseLiveArgs(['--', '--seconds', '2.5', '--keep'], '/x')).toMatchObject({
      seconds: 2.5,
      keep: true,
    });
    expect(() => parseLiveArgs(['--seconds', '0'], '/x')).toThrow(/--seconds/);
    expect(() => parseLiveArgs(['--nope'], '/x')).toThrow();
  });
});

describe('runLive (the daemon, its simulated session and the CLI, as processes)', () => {
  it('records a live session, shows it with wfstate while it runs, then stops it cleanly', async () => {
    const { code, out, err } = await live(['--seconds', '1', '--data-dir', 'data']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain(`into ${path.join(dir, 'data', 'state.db')}`);
    // The CLI looked while the daemon held the writer lock.
    expect(out).toMatch(/\$ wfstate status\n[\s\S]*daemon +running: pid \d+/);
    const sessions = [...out.matchAll(/│ (\d{8}T\d{6}Z_\d{3}) │ \S+ +│ (\w+) /g)];
    expect(sessions.map((m) => m[2])).toEqual(['active', 'ended']);
    expect(sessions[0]![1]).toBe(sessions[1]![1]);
    expect(out).toContain(`$ wfstate plot ${sessions[0]![1]} --width 72`);
    expect(out).toContain('wfstated stopped (SIGTERM, exit code 0)');
    expect(existsSync(path.join(dir, 'data', 'daemon.log'))).toBe(true);
  }, 120_000);

  it('prints its usage with --help and refuses an unknown option with exit code 2', async () => {
    expect((await live(['--help'])).out).toContain('Usage: ./wf start');
    const bad = await live(['--bogus']);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('Usage: ./wf start');
  });
});
