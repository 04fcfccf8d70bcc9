/**
 * Real data for the CLI's tests: sessions simulated at 60 Hz and recorded through the
 * event store's recorder into a SQLite data directory, as the application records them.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { createSessionId } from '@wirthforge/events';
import { createEventStore, createRecorder } from '@wirthforge/eventstore';
import { simulateSession } from '@wirthforge/simulator';
import { openArchive } from '@wirthforge/archive';
import {
  openConnection,
  openSqliteReadOnlyStorage,
  openSqliteStorage,
} from '@wirthforge/storage-sqlite';
import { inject } from 'vitest';

import type { CliIo } from '../src/cli-io.js';
import { runCli } from '../src/run-cli.js';

/** A string that appears only in the private session's AI tokens. */
export const MARKER = 'ZEBRA-MARKER-4c1d';

/** The built CLI. */
export const MAIN = fileURLToPath(new URL('../dist/main.js', import.meta.url));

/** Ids of the fixture sessions. */
export const PUBLIC_SESSION = createSessionId(new Date('2025-08-17T19:48:00Z'), 1);
export const PRIVATE_SESSION = createSessionId(new Date('2025-08-17T20:10:00Z'), 1);

/** Records one simulated session through the recorder. */
async function recordSession(
  store: ReturnType<typeof createEventStore>,
  options: {
    sessionId: string;
    start: Date;
    seconds: number;
    seed: number;
    keepTokens: boolean;
    marker?: string;
  },
): Promise<void> {
  const session = simulateSession({
    seed: options.seed,
    sessionId: options.sessionId,
    startTime: options.start,
    durationSeconds: options.seconds,
    models: ['ollama/llama3.2:3b', 'ollama/mistral:7b'],
  });
  const recorder = createRecorder(store, {
    clock: 'external',
    maxPendingFrames: session.frameCount + 1,
    ...(options.keepTokens ? { pipeline: { privacy: false } } : {}),
  });
  let tokens = 0;
  for (const frame of session) {
    for (const event of frame.events) {
      if (options.marker !== undefined && event.type === 'ai.output' && 'token' in event.data) {
        tokens++;
        recorder.record({
          ...event,
          data: { ...event.data, token: `${options.marker}-${tokens}` },
        });
      } else {
        recorder.record(event);
      }
    }
    recorder.endFrame();
  }
  await recorder.close();
}

/**
 * A data directory with two ended sessions: one recorded with the recorder's privacy
 * default (tokens stored as hashes), one with tokens kept, each token holding {@link MARKER}.
 */
export async function recordFixture(dir: string): Promise<void> {
  const storage = await openSqliteStorage({ path: join(dir, 'state.db'), synchronous: 'normal' });
  const store = createEventStore({ storage });
  try {
    await recordSession(store, {
      sessionId: PUBLIC_SESSION,
      start: new Date('2025-08-17T19:48:00Z'),
      seconds: 8,
      seed: 31,
      keepTokens: false,
    });
    await recordSession(store, {
      sessionId: PRIVATE_SESSION,
      start: new Date('2025-08-17T20:10:00Z'),
      seconds: 6,
      seed: 12,
      keepTokens: true,
      marker: MARKER,
    });
  } finally {
    await store.close();
  }
}

/** A fresh temporary directory. */
export function tempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `wfcli-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A copy of a template data directory. */
export function copyDir(from: string, to: string): void {
  cpSync(from, to, { recursive: true });
}

const copies: (() => void)[] = [];

/**
 * A private copy of the fixture data directory that `test/global-setup.ts` recorded once
 * for the whole run; {@link removeFixtureCopies} deletes the copies.
 */
export function fixtureDataDir(prefix = 'data'): string {
  const copy = tempDir(prefix);
  copies.push(copy.remove);
  copyDir(inject('fixtureTemplate'), copy.dir);
  return copy.dir;
}

/** Deletes every copy {@link fixtureDataDir} made in this file (call it in `afterAll`). */
export function removeFixtureCopies(): void {
  for (const remove of copies.splice(0)) remove();
}

/** What a run of the CLI printed. */
export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI in this process with captured output. */
export async function cli(
  argv: readonly string[],
  options: { cwd?: string; env?: Record<string, string | undefined>; signal?: AbortSignal } = {},
): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: { write: (t: string) => (stdout += t), isTTY: false },
    stderr: { write: (t: string) => (stderr += t), isTTY: false },
    env: options.env ?? { HOME: '/nonexistent' },
    cwd: options.cwd ?? process.cwd(),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

/** Runs the built CLI as a child process. */
export function spawnCli(
  argv: readonly string[],
  options: {
    env?: Record<string, string | undefined>;
    onStdout?: (text: string, kill: () => void) => void;
  } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...argv], {
      env: { PATH: process.env.PATH, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => {
      stdout += t;
      options.onStdout?.(stdout, () => child.kill('SIGINT'));
    });
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Every file under `dir` whose bytes contain `marker`. */
export function filesContaining(
  dir: string,
  marker: string,
  encoding: BufferEncoding = 'utf8',
): string[] {
  const needle = Buffer.from(marker, encoding);
  const found: string[] = [];
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile() && statSync(path).size > 0 && readFileSync(path).includes(needle))
      found.push(path);
  }
  return found;
}

/** Waits until the writer of `dir`'s database has sealed every event into segments. */
export async function sealEverything(dir: string): Promise<void> {
  const storage = await openSqliteStorage({
    path: join(dir, 'state.db'),
    seal: { minEvents: 500, maxAgeMs: 1 },
  });
  try {
    for (let i = 0; i < 1000; i++) {
      const hot = await storage.db
        .selectFrom('events')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .executeTakeFirstOrThrow();
      if (Number(hot.n) === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`the writer of ${dir} did not seal every event`);
  } finally {
    await storage.close();
  }
}

/** The archive partitions of a data directory (`archive/YYYY-MM.db`), by name. */
function partitionNames(dir: string): string[] {
  const archive = join(dir, 'archive');
  if (!existsSync(archive)) return [];
  return readdirSync(archive)
    .filter((f) => /^\d{4}-\d{2}\.db$/.test(f))
    .map((f) => f.slice(0, -3));
}

/**
 * Whether reading `stream` (through the storage, archived segments from their partitions)
 * gives an event whose payload holds `marker`: segments are compressed, so a scan of the
 * files' bytes cannot see inside them.
 */
export async function streamHolds(dir: string, stream: string, marker: string): Promise<boolean> {
  const needle = Buffer.from(marker);
  const archive = openArchive({ databasePath: join(dir, 'state.db') });
  const storage = await openSqliteReadOnlyStorage({
    path: join(dir, 'state.db'),
    coldSegments: archive.coldSegments,
  });
  try {
    for await (const event of storage.readStream(stream)) {
      if (Buffer.from(event.payload).includes(needle)) return true;
    }
    return false;
  } finally {
    await storage.close();
    archive.close();
  }
}

/** 48 bytes from the middle of each archived (compressed) segment of `stream`. */
export function archivedSegmentSlices(dir: string, stream: string): Buffer[] {
  const slices: Buffer[] = [];
  for (const name of partitionNames(dir)) {
    const p = openConnection(join(dir, 'archive', `${name}.db`), { readonly: true });
    try {
      for (const data of p
        .prepare('select data from segments where stream = ?')
        .pluck()
        .all(stream) as Buffer[]) {
        const middle = Math.floor(data.length / 2);
        slices.push(Buffer.from(data.subarray(middle - 24, middle + 24)));
      }
    } finally {
      p.close();
    }
  }
  return slices;
}

/** Rows of a table of `dir`'s database (read-only). */
export function rowCount(dir: string, table: 'streams' | 'users' | 'events' | 'sessions'): number {
  const c = openConnection(join(dir, 'state.db'), { readonly: true });
  try {
    return c.prepare(`select count(*) from ${table}`).pluck().get() as number;
  } finally {
    c.close();
  }
}

/** The keys of `wfstate purge --json`, with or without the daemon. */
export const PURGE_JSON_KEYS = [
  'all',
  'archive',
  'backupsRemoved',
  'bytesAfter',
  'bytesBefore',
  'positions',
  'rebuilt',
  'rows',
  'sessions',
  'streams',
  'users',
  'via',
  'walBytesAfter',
];
