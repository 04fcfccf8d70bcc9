import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { checkSqliteFileIntegrity, openSqliteReadOnlyStorage } from '@wirthforge/storage-sqlite';

const require = createRequire(import.meta.url);

/** The built packages a child program imports (through environment variables). */
export const MODULES = {
  WF_EVENTS: require.resolve('@wirthforge/events'),
  WF_EVENTSTORE: require.resolve('@wirthforge/eventstore'),
  WF_SQLITE: require.resolve('@wirthforge/storage-sqlite'),
  WF_SNAPSHOTS: require.resolve('@wirthforge/snapshots'),
} as const;

/** `wfstated` and `wfstate`, as built. */
export const DAEMON_MAIN = join(dirname(require.resolve('@wirthforge/daemon')), 'main.js');
export const CLI_MAIN = join(
  dirname(require.resolve('@wirthforge/cli/package.json')),
  'dist',
  'main.js',
);

/** A small deterministic generator (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A fresh temporary directory and its removal. */
export function tempDir(prefix: string): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), `wf-faults-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A command run to its end: status and output. */
export function sh(
  command: string,
  args: readonly string[],
): { status: number | null; stdout: string; stderr: string } {
  const out = spawnSync(command, args, { encoding: 'utf8' });
  return {
    status: out.error === undefined ? out.status : -1,
    stdout: out.stdout ?? '',
    stderr: out.error === undefined ? (out.stderr ?? '') : String(out.error),
  };
}

/** Runs a command and throws with its output when it fails. */
export function mustSh(command: string, args: readonly string[]): string {
  const out = sh(command, args);
  if (out.status !== 0) throw new Error(`${command} ${args.join(' ')}: ${out.stderr.trim()}`);
  return out.stdout;
}

/** Whether a command is on PATH. */
export function hasCommand(name: string): boolean {
  return sh('sh', ['-c', `command -v ${name}`]).status === 0;
}

/** Installs a Debian package when its command is missing; false when that is impossible. */
export function ensureDebianPackage(
  command: string,
  pkg: string,
  log: (line: string) => void,
): boolean {
  if (hasCommand(command)) return true;
  log(`${command} is missing: apt-get install -y ${pkg}`);
  sh('apt-get', ['install', '-y', '--no-install-recommends', pkg]);
  return hasCommand(command);
}

/** A child process with its output collected. */
export interface Child {
  readonly process: ChildProcess;
  stdout: string;
  stderr: string;
  readonly closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Spawns `command` and collects its output. */
export function startChild(
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Child {
  const child = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const handle: Child = {
    process: child,
    stdout: '',
    stderr: '',
    closed: new Promise((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    ),
  };
  child.stdout?.on('data', (chunk: Buffer) => (handle.stdout += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (handle.stderr += chunk.toString()));
  return handle;
}

/** Kills with SIGKILL (if still running) and waits for the end. */
export async function killChild(child: Child): Promise<void> {
  if (child.process.exitCode === null && child.process.signalCode === null) {
    child.process.kill('SIGKILL');
  }
  await child.closed;
}

/** Resolves once `word` appears in the child's stdout (true) or after `timeoutMs` (false). */
export async function waitForOutput(
  child: Child,
  word: string,
  timeoutMs: number,
): Promise<boolean> {
  const started = performance.now();
  while (!child.stdout.includes(word)) {
    if (performance.now() - started > timeoutMs || child.process.exitCode !== null) return false;
    await sleep(5);
  }
  return true;
}

/** What the check of a log found. */
export interface LogCheck {
  readonly head: bigint;
  readonly lost: number;
  readonly duplicated: number;
  readonly problems: string[];
}

/**
 * Reads the whole log through a read-only storage (segments and hot rows): positions
 * 1..head without a gap, each acknowledged event id stored exactly once, at the position
 * it was acknowledged with.
 */
export async function checkLog(
  path: string,
  acked: ReadonlyMap<string, bigint>,
): Promise<LogCheck> {
  const problems: string[] = [];
  if (!existsSync(path)) {
    return {
      head: 0n,
      lost: acked.size,
      duplicated: 0,
      problems: acked.size > 0 ? [`${path} is gone`] : [],
    };
  }
  let storage;
  try {
    storage = await openSqliteReadOnlyStorage({ path });
  } catch (error) {
    // Killed before the schema was committed: nothing can have been acknowledged.
    if (acked.size === 0) return { head: 0n, lost: 0, duplicated: 0, problems };
    throw error;
  }
  const seen = new Map<string, bigint[]>();
  let expected = 1n;
  try {
    for await (const record of storage.readAll()) {
      if (record.position !== expected && problems.length < 5) {
        problems.push(`position gap in ${path}: ${expected} expected, ${record.position} read`);
      }
      expected = record.position + 1n;
      if (record.eventId !== null) {
        const at = seen.get(record.eventId);
        if (at === undefined) seen.set(record.eventId, [record.position]);
        else at.push(record.position);
      }
    }
  } finally {
    await storage.close();
  }
  let lost = 0;
  let duplicated = 0;
  for (const [id, position] of acked) {
    const at = seen.get(id);
    if (at === undefined) lost += 1;
    else if (at.length !== 1) duplicated += 1;
    else if (at[0] !== position && problems.length < 5) {
      problems.push(`${id} acknowledged at ${position}, stored at ${String(at[0])}`);
    }
  }
  return { head: expected - 1n, lost, duplicated, problems };
}

/** The full integrity check of a file (SQLite's, checksums, gaps, segments); problems as text. */
export async function integrityProblems(path: string): Promise<string[]> {
  const report = await checkSqliteFileIntegrity(path, { quick: false });
  return report.ok
    ? []
    : report.problems.map((p) =>
        JSON.stringify(p, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
      );
}

/** `wfstated` in `dataDir` on a free port, logging warnings only. */
export function spawnDaemon(
  dataDir: string,
  extra: readonly string[] = [],
  env: NodeJS.ProcessEnv = {},
): Child {
  return startChild(
    process.execPath,
    [DAEMON_MAIN, '--data-dir', dataDir, '--port', '0', '--log-level', 'warn', ...extra],
    { XDG_CONFIG_HOME: dataDir, ...env },
  );
}

/** Where a started daemon listens, with its token. */
export interface DaemonAddress {
  readonly url: string;
  readonly token: string;
}

/** Waits for `/readyz` of the daemon `child` in `dataDir`. */
export async function waitDaemonReady(
  dataDir: string,
  child: Child,
  timeoutMs = 60_000,
  /** The daemon runs under a wrapper (`faketime`) whose pid is not the daemon's. */
  wrapped = false,
): Promise<DaemonAddress> {
  const info = join(dataDir, 'daemon.json');
  const started = performance.now();
  while (performance.now() - started < timeoutMs) {
    if (child.process.exitCode !== null)
      throw new Error(`daemon exited ${child.process.exitCode}: ${child.stderr}`);
    if (existsSync(info)) {
      try {
        const { url, pid } = JSON.parse(readFileSync(info, 'utf8')) as { url: string; pid: number };
        if (pid === child.process.pid || (wrapped && pid !== undefined)) {
          const token = readFileSync(join(dataDir, 'daemon.token'), 'utf8').trim();
          const ready = await fetch(`${url}/readyz`, {
            headers: { authorization: `Bearer ${token}` },
          });
          if (ready.status === 200) return { url, token };
        }
      } catch {
        // written while read, or not listening yet
      }
    }
    await sleep(25);
  }
  throw new Error(`daemon not ready after ${timeoutMs} ms: ${child.stderr}`);
}

/** A JSON answer of the daemon. */
export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A request to the daemon with its token (unless `token` says otherwise) and a JSON or raw body. */
export async function api(
  base: DaemonAddress,
  method: string,
  path: string,
  options: {
    body?: unknown;
    raw?: string | Uint8Array;
    token?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<ApiAnswer> {
  const headers: Record<string, string> = { ...options.headers };
  const token = options.token === undefined ? base.token : options.token;
  if (token !== null) headers.authorization = `Bearer ${token}`;
  let body: string | Uint8Array | undefined = options.raw;
  if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(`${base.url}${path}`, {
    method,
    headers,
    ...(body === undefined ? {} : { body }),
  });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: the text itself
  }
  return { status: response.status, body: parsed };
}

/** The `error.code` of a daemon answer, if it has one. */
export function errorCode(answer: ApiAnswer): string | undefined {
  const body = answer.body as { error?: { code?: unknown } } | null;
  return typeof body?.error?.code === 'string' ? body.error.code : undefined;
}
