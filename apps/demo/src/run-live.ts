/**
 * The main job, end to end: `wfstated` on an embedded SQLite database in a data
 * directory, fed by its live simulated session at 60 Hz, and `wfstate` looking at it
 * while it writes; then a graceful stop. Each program runs as its own process, as a
 * user would run them; this only starts them, waits and shows their output.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, closeSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

/** Where the output goes, and the process context. */
export interface LiveIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly cwd: string;
  /** Aborted by Ctrl-C: with `--keep`, the moment to stop. */
  readonly signal?: AbortSignal;
  /** The daemon's and the CLI's entry points (default: the built apps of this workspace). */
  readonly daemonMain?: string;
  readonly cliMain?: string;
}

/** What `./wf start` was asked to do. */
export interface LiveArgs {
  readonly dataDir: string;
  readonly seconds: number;
  readonly keep: boolean;
  readonly help: boolean;
}

/** Usage text of `./wf start`. */
export const LIVE_USAGE = `Usage: ./wf start [options]

Starts wfstated on an embedded SQLite database, fed by a live simulated session at
60 Hz, looks at it with wfstate while it writes, then stops it gracefully.

  --data-dir DIR   data directory (default ./.wfdata; database DIR/state.db)
  --seconds N      how long the session runs before the CLI looks (default 10)
  --keep           keep the daemon running after that, until Ctrl-C
  -h, --help       this text`;

/** Parses `./wf start` arguments relative to `cwd`; throws a RangeError on bad input. */
export function parseLiveArgs(argv: readonly string[], cwd: string): LiveArgs {
  const { values } = parseArgs({
    args: argv[0] === '--' ? argv.slice(1) : [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      'data-dir': { type: 'string' },
      seconds: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const seconds = values.seconds === undefined ? 10 : Number(values.seconds);
  if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 24 * 3600) {
    throw new RangeError(`--seconds must be a number in (0, 86400], got ${values.seconds}`);
  }
  return {
    dataDir: path.resolve(cwd, values['data-dir'] ?? '.wfdata'),
    seconds,
    keep: values.keep,
    help: values.help,
  };
}

const APPS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/** Runs a program to its end and gives its exit code and output. */
function run(
  main: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Waits until the daemon answers `/readyz` with 200, or exits, or `timeoutMs` passes. */
async function waitReady(
  daemon: ChildProcess,
  dataDir: string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  const infoFile = path.join(dataDir, 'daemon.json');
  const tokenFile = path.join(dataDir, 'daemon.token');
  while (Date.now() < deadline) {
    if (daemon.exitCode !== null) throw new Error(`wfstated exited with code ${daemon.exitCode}`);
    if (existsSync(infoFile) && existsSync(tokenFile)) {
      try {
        const { url, pid } = JSON.parse(readFileSync(infoFile, 'utf8')) as {
          url: string;
          pid: number;
        };
        if (pid === daemon.pid) {
          const token = readFileSync(tokenFile, 'utf8').trim();
          const response = await fetch(`${url}/readyz`, {
            headers: { authorization: `Bearer ${token}` },
          });
          if (response.ok) return url;
        }
      } catch {
        // Not written completely yet, or not listening yet: try again.
      }
    }
    await sleep(100);
  }
  throw new Error(`wfstated was not ready within ${timeoutMs / 1000} s`);
}

function waitExit(child: ChildProcess): Promise<number> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

/**
 * `./wf start`: the daemon with its simulated session, the CLI's `status`,
 * `sessions list` and `plot` while it writes, then SIGTERM and the session list again
 * (the session ended cleanly). Resolves with the exit code.
 */
export async function runLive(argv: readonly string[], io: LiveIo): Promise<number> {
  let args: LiveArgs;
  try {
    args = parseLiveArgs(argv, io.cwd);
  } catch (error) {
    io.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${LIVE_USAGE}\n`);
    return 2;
  }
  if (args.help) {
    io.stdout.write(`${LIVE_USAGE}\n`);
    return 0;
  }
  const daemonMain = io.daemonMain ?? path.join(APPS, 'daemon', 'dist', 'main.js');
  const cliMain = io.cliMain ?? path.join(APPS, 'cli', 'dist', 'main.js');
  const dir = ['--data-dir', args.dataDir];
  const show = async (...command: string[]): Promise<string> => {
    io.stdout.write(`\n$ wfstate ${command.join(' ')}\n`);
    const result = await run(cliMain, [...command, ...dir]);
    io.stdout.write(result.stdout);
    io.stderr.write(result.stderr);
    if (result.code !== 0) throw new Error(`wfstate ${command[0]} exited with ${result.code}`);
    return result.stdout;
  };

  mkdirSync(args.dataDir, { recursive: true, mode: 0o700 });
  const logFile = path.join(args.dataDir, 'daemon.log');
  const log = openSync(logFile, 'a');
  const daemon = spawn(process.execPath, [daemonMain, ...dir, '--port', '0', '--simulate'], {
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  try {
    const url = await waitReady(daemon, args.dataDir, 30_000);
    io.stdout.write(
      `wfstated (pid ${daemon.pid}) is recording a live simulated session at 60 Hz into ${path.join(args.dataDir, 'state.db')}\n` +
        `  API ${url} (token in ${path.join(args.dataDir, 'daemon.token')}), log ${logFile}\n` +
        `  looking at it with wfstate in ${args.seconds} s…\n`,
    );
    await sleep(args.seconds * 1000, io.signal);

    await show('status');
    const listed = JSON.parse(
      (await run(cliMain, ['sessions', 'list', '--json', ...dir])).stdout,
    ) as { sessions: { sessionId: string; status: string; startedAt: string }[] };
    await show('sessions', 'list');
    const live = listed.sessions
      .filter((s) => s.status === 'active')
      .sort((a, b) => a.startedAt.localeCompare(b.startedAt))
      .at(-1);
    if (live !== undefined) await show('plot', live.sessionId, '--width', '72');

    if (args.keep && io.signal?.aborted !== true) {
      io.stdout.write(
        `\nwfstated keeps running; in another terminal: node ${path.relative(io.cwd, cliMain)} status --data-dir ${path.relative(io.cwd, args.dataDir) || '.'}\nCtrl-C stops it.\n`,
      );
      await new Promise<void>((resolve) => {
        if (io.signal === undefined) return;
        io.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
  } finally {
    if (daemon.exitCode === null) daemon.kill('SIGTERM');
  }
  const code = await waitExit(daemon);
  io.stdout.write(`\nwfstated stopped (SIGTERM, exit code ${code}): its sessions end cleanly.\n`);
  await show('sessions', 'list');
  return code === 0 ? 0 : 1;
}
