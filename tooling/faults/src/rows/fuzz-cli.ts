import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { CliRuntime, EXIT_CODES, buildProgram, runCli } from '@wirthforge/cli/dist/index.js';
import type { CliIo } from '@wirthforge/cli/dist/index.js';
import { openArchive } from '@wirthforge/archive';
import { createEventStore } from '@wirthforge/eventstore';
import { openSqliteReadOnlyStorage, openSqliteStorage } from '@wirthforge/storage-sqlite';
import { type FaultRow, type RowResult } from '../fault-row.js';
import {
  ACCEPTED,
  REJECTED,
  fuzzSurface,
  inputsFor,
  preview,
  reportTally,
  scratchDir,
  type Verdict,
} from '../fuzz/fuzz-loop.js';
import { sessionEvents } from './crash-daemon.js';

/**
 * Commands left out: they delete for good what the loss check counts (`purge`,
 * `restore` of another file, `retention apply`), or reach a hub over the network
 * (`sync push`, `sync pull`; `sync status` runs with `--offline`).
 */
const EXCLUDED = new Set(['purge', 'restore', 'retention', 'sync push', 'sync pull']);
/** Options never generated: `--hub` names a server to connect to. */
const EXCLUDED_OPTIONS = new Set(['--hub', '--hub-schema']);

/** What this row reads of a commander command. */
interface Command {
  readonly commands: readonly Command[];
  name(): string;
  readonly registeredArguments: readonly unknown[];
  readonly options: readonly {
    readonly long?: string;
    readonly short?: string;
    readonly required: boolean;
    readonly optional: boolean;
  }[];
}

/** One command of the program, as commander describes it. */
interface CommandShape {
  readonly path: readonly string[];
  readonly arguments: number;
  readonly options: readonly { readonly flag: string; readonly takesValue: boolean }[];
}

/**
 * Every command of `wfstate`, taken from the program itself (so a new command is fuzzed
 * too), or those `include` keeps (by their path, `retention apply`), with options but
 * those `dropOption` names.
 */
function commandShapes(
  include: (path: string) => boolean = (path) =>
    !EXCLUDED.has(path.split(' ')[0]!) && !EXCLUDED.has(path),
  dropOption: ReadonlySet<string> = EXCLUDED_OPTIONS,
): CommandShape[] {
  const quiet = { write: (): boolean => true };
  const program = buildProgram(
    new CliRuntime({ stdout: quiet, stderr: quiet, env: {}, cwd: '/nonexistent' }),
  );
  const out: CommandShape[] = [];
  const walk = (command: Command, path: string[]): void => {
    for (const sub of command.commands) {
      const here = [...path, sub.name()];
      if (include(here.join(' '))) {
        out.push({
          path: here,
          arguments: sub.registeredArguments.length,
          options: sub.options
            .filter((o) => !dropOption.has(o.long ?? '') && !dropOption.has(o.short ?? ''))
            .flatMap((o) => [
              ...(o.long === undefined
                ? []
                : [{ flag: o.long, takesValue: o.required || o.optional }]),
              ...(o.short === undefined
                ? []
                : [{ flag: o.short, takesValue: o.required || o.optional }]),
            ]),
        });
      }
      walk(sub, here);
    }
  };
  walk(program, []);
  return out;
}

/** Values for arguments and options: good ones for the store, near misses, hostile text. */
function valueArbitrary(sessions: readonly string[]): fc.Arbitrary<string> {
  return fc.oneof(
    { arbitrary: fc.constantFrom(...sessions), weight: 4 },
    {
      arbitrary: fc.constantFrom(
        '20200101T000000Z_001',
        '20251332T250000Z_001',
        `session-${sessions[0]}`,
        sessions[0]!.slice(0, -1),
        `${sessions[0]}x`,
        'default',
        'ada',
        'nobody',
      ),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(
        '0',
        '1',
        '2',
        '10',
        '-1',
        '-0',
        '1.5',
        '1e3',
        '0x10',
        ' 7',
        'NaN',
        'Infinity',
        '-Infinity',
        '9007199254740993',
        '99999999999999999999999',
        '1e999',
        '100000000',
      ),
      weight: 3,
    },
    {
      arbitrary: fc.constantFrom(
        '2026-11-28T00:00:00Z',
        '2026-11-28T00:00:00.123456Z',
        '1969-12-31T23:59:59Z',
        '9999-12-31T23:59:59Z',
        '2026-02-30T00:00:00Z',
        'yesterday',
        'position:5',
        'version:3',
        'frame:2',
        'timestamp:2026-11-28T00:00:00Z',
      ),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(
        'energy.update',
        'ai.output',
        'system.start',
        'nope.type',
        'json',
        'ndjson',
        'yaml',
        'xml',
        'energy',
        'tokens',
        'active',
        'ended',
        'recovered',
        'open',
      ),
      weight: 2,
    },
    {
      arbitrary: fc.constantFrom(
        'out/export.json',
        'out/backup.db.gz',
        'out/plot.svg',
        'missing.db.gz',
        'data/state.db',
        'data',
        'data/archive',
        'not-json.json',
        'empty.json',
        '.',
        '..',
        'out/',
        'a\u0000b',
      ),
      weight: 3,
    },
    {
      arbitrary: fc.constantFrom(
        '-',
        '--',
        '-x',
        '--nope',
        '--json',
        '--help',
        '-V',
        '=',
        '--limit=',
      ),
      weight: 1,
    },
    { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
    {
      arbitrary: fc.string({ minLength: 5000, maxLength: 70_000, unit: 'grapheme-ascii' }),
      weight: 1,
    },
  );
}

type Argv = readonly string[];

function argvArbitrary(
  shapes: readonly CommandShape[],
  sessions: readonly string[],
): fc.Arbitrary<Argv> {
  const value = valueArbitrary(sessions);
  const structured = fc
    .tuple(
      fc.constantFrom(...shapes),
      fc.oneof(
        { arbitrary: fc.constant(0), weight: 4 },
        { arbitrary: fc.integer({ min: 1, max: 3 }), weight: 1 },
      ),
      fc.array(value, { maxLength: 4 }),
      fc.array(fc.tuple(fc.nat(), value, fc.boolean()), { maxLength: 3 }),
      fc.oneof(
        { arbitrary: fc.constant(true), weight: 6 },
        { arbitrary: fc.constant(false), weight: 1 },
      ),
      fc.nat(),
    )
    .map(([shape, extraArgs, args, options, withDataDir, shuffle]) => {
      const parts: string[][] = [];
      for (const a of args.slice(0, shape.arguments + extraArgs)) parts.push([a]);
      for (const [pick, v, attached] of options) {
        if (shape.options.length === 0) break;
        const option = shape.options[pick % shape.options.length]!;
        if (!option.takesValue) parts.push([option.flag]);
        else if (attached && option.flag.startsWith('--')) parts.push([`${option.flag}=${v}`]);
        else parts.push([option.flag, v]);
      }
      // Some order other than the one written.
      for (let i = parts.length - 1; i > 0; i--) {
        const j = (shuffle + i * 7) % (i + 1);
        [parts[i], parts[j]] = [parts[j]!, parts[i]!];
      }
      const argv = [...shape.path, ...parts.flat()];
      if (shape.path.join(' ') === 'sync status') argv.push('--offline');
      if (withDataDir) argv.push('--data-dir', 'data');
      return argv;
    });
  const words = [...new Set(shapes.flatMap((s) => [...s.path, ...s.options.map((o) => o.flag)]))];
  const loose = fc
    .array(fc.oneof(fc.constantFrom(...words), value), { maxLength: 7 })
    .map((argv) => [...argv, '--data-dir', 'data']);
  return fc.oneof({ arbitrary: structured, weight: 6 }, { arbitrary: loose, weight: 1 });
}

/** Every option of `wfstate` that takes a value (its next word is that value, not an option). */
let valueFlags: ReadonlySet<string> = new Set();

/** Whether `argv` passes `--json` as an option (not as the value of another option, nor after `--`). */
function asksForJson(argv: Argv): boolean {
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    if (word === '--') return false;
    if (word === '--json') return true;
    if (valueFlags.has(word)) i += 1;
  }
  return false;
}

/** Output that is a stack trace, or a part of one. */
const STACK = /^\s+at .+(:\d+:\d+\)?|\(native\))$/m;
const DOCUMENTED = new Set<number>(Object.values(EXIT_CODES));

/** A stdin that is no terminal and never answers (confirmations are refused, not awaited). */
const silentStdin = {
  isTTY: false,
  on: (): unknown => undefined,
  off: (): unknown => undefined,
  pause: (): unknown => undefined,
  resume: (): unknown => undefined,
};

/**
 * A run's verdict: a documented exit status, a message on failure (never an untyped
 * "unexpected" failure, never a stack trace), a JSON error under `--json`.
 */
function judge(argv: Argv, code: number, stdout: string, stderr: string): Verdict {
  if (!DOCUMENTED.has(code))
    return { kind: 'violation', detail: `exit status ${code} is not documented` };
  if (stderr.includes('this is unexpected'))
    return { kind: 'crash', detail: `untyped failure: ${stderr.slice(0, 300)}` };
  if (STACK.test(stderr) || STACK.test(stdout))
    return { kind: 'crash', detail: `a stack trace: ${(stderr || stdout).slice(0, 300)}` };
  if (code === EXIT_CODES.ok) return ACCEPTED;
  if (stderr.trim() === '')
    return { kind: 'violation', detail: `exit ${code} without a message on stderr` };
  if (asksForJson(argv) && code !== EXIT_CODES.usage) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(stdout);
    } catch {
      parsed = undefined;
    }
    const error = (parsed as { ok?: unknown; error?: { code?: unknown } } | undefined)?.error;
    if (typeof error?.code !== 'string')
      return {
        kind: 'violation',
        detail: `exit ${code} under --json without a JSON error: ${preview(stdout, 200)}`,
      };
  }
  return REJECTED;
}

/** Every event of the store (live and archived), as `position:event_id`. */
async function storedEvents(path: string): Promise<Map<string, number>> {
  const archive = openArchive({ databasePath: path });
  const storage = await openSqliteReadOnlyStorage({ path, coldSegments: archive.coldSegments });
  const out = new Map<string, number>();
  try {
    for await (const r of storage.readAll()) {
      const key = `${r.position}:${r.eventId ?? ''}`;
      out.set(key, (out.get(key) ?? 0) + 1);
    }
  } finally {
    await storage.close();
    archive.close();
  }
  return out;
}

/** Checks that every event of `baseline` is still stored once; counts the rest as lost or doubled. */
async function checkNothingLost(
  path: string,
  baseline: ReadonlyMap<string, number>,
  result: RowResult,
  when: string,
): Promise<void> {
  const now = await storedEvents(path);
  let lost = 0;
  let doubled = 0;
  for (const key of baseline.keys()) {
    const n = now.get(key) ?? 0;
    if (n === 0) lost += 1;
    if (n > 1) doubled += n - 1;
  }
  if (lost + doubled > 0) {
    result.lost = Math.max(result.lost, lost);
    result.duplicated = Math.max(result.duplicated, doubled);
    result.problems.push(`${when}: ${lost} acknowledged events missing, ${doubled} doubled`);
  }
}

/**
 * `wfstate` itself, in-process through `runCli` (commander's parsing, every option's
 * validation, each command's handler), with generated argument vectors against a
 * small store of three sessions: commands, subcommands and options of the program taken
 * from commander, with good and bad values (session ids, numbers, times, paths, hostile
 * text up to 70 000 characters) in any order, plus loose vectors of words and values.
 * Each run must end with a documented exit status; a failure must print what went wrong
 * (never an untyped "unexpected" failure, never a stack trace), and the store must keep
 * every event it had (checked every 500 inputs and at the end).
 */
export const fuzzCliRow: FaultRow = {
  id: 'input.cli',
  fault: 'generated wfstate argument vectors through runCli (in-process) against a small store',
  async run(ctx, result) {
    const tmp = scratchDir('cli');
    try {
      const data = join(tmp.dir, 'data');
      mkdirSync(data, { recursive: true, mode: 0o700 });
      mkdirSync(join(tmp.dir, 'out'), { recursive: true });
      writeFileSync(join(tmp.dir, 'not-json.json'), '{"events": [1, 2');
      writeFileSync(join(tmp.dir, 'empty.json'), '');
      const path = join(data, 'state.db');
      const sessions: string[] = [];
      {
        const storage = await openSqliteStorage({ path });
        const store = createEventStore({ storage });
        try {
          for (let i = 0; i < 3; i++) {
            const session = await store.startSession({
              userId: 'ada',
              mode: 'offline',
              version: '1.0.0',
            });
            await store.appendToStream(session.stream, sessionEvents(session.id, 1, 30 + i));
            if (i < 2) await store.endSession(session.id, { reason: 'user_exit' });
            sessions.push(session.id);
          }
        } finally {
          await store.close();
        }
      }
      const baseline = await storedEvents(path);
      result.acknowledged = baseline.size;
      const shapes = commandShapes();
      valueFlags = new Set(
        shapes.flatMap((shape) => shape.options.filter((o) => o.takesValue).map((o) => o.flag)),
      );
      const runs = inputsFor(ctx.long, 5_000);
      let sinceCheck = 0;
      const exitCodes = new Map<number, number>();
      const tally = await fuzzSurface({
        arbitrary: argvArbitrary(shapes, sessions),
        runs,
        seed: 0xc11,
        timeoutMs: 30_000,
        describe: (argv) => preview(argv, 400),
        attempt: async (argv): Promise<Verdict> => {
          let stdout = '';
          let stderr = '';
          const io: CliIo = {
            stdout: { write: (t: string) => (stdout += t) },
            stderr: { write: (t: string) => (stderr += t) },
            stdin: silentStdin,
            env: { HOME: tmp.dir, XDG_DATA_HOME: join(tmp.dir, 'xdg') },
            cwd: tmp.dir,
            signal: AbortSignal.timeout(1_500),
          };
          const code = await runCli(argv, io);
          exitCodes.set(code, (exitCodes.get(code) ?? 0) + 1);
          if (++sinceCheck >= 500) {
            sinceCheck = 0;
            await checkNothingLost(path, baseline, result, `after ${argv.join(' ').slice(0, 80)}`);
          }
          return judge(argv, code, stdout, stderr);
        },
        progress: (t) => ctx.log(`input.cli: ${t.inputs} inputs`),
      });
      await checkNothingLost(path, baseline, result, 'at the end');
      reportTally(result, 'cli', tally);
      result.notes.push(
        `cli: exit statuses ${[...exitCodes.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([c, n]) => `${c}: ${n}`)
          .join(
            ', ',
          )}; ${shapes.length} commands (without ${[...EXCLUDED].join(', ')}); the store's ${baseline.size} events checked every 500 inputs and at the end`,
      );
    } finally {
      tmp.remove();
    }
  },
};

/** The commands that delete, replace or rewrite the store. */
const DESTRUCTIVE = new Set([
  'purge',
  'restore',
  'retention apply',
  'repair',
  'vacuum',
  'migrate up',
  'snapshot prune',
]);

/** Whether a word of an argument vector could pass `--yes` (long, short, or grouped). */
const YES = /^(--yes(=.*)?|-[A-Za-z]*y[A-Za-z]*)$/;

/**
 * The commands `input.cli` leaves out because they delete (`purge`, `restore`,
 * `retention apply`) and those that rewrite the file (`repair`, `vacuum`, `migrate up`,
 * `snapshot prune`), with generated arguments but never `--yes`, each run on a fresh
 * copy of a throwaway data directory of three sessions, stdin no terminal (a
 * confirmation is refused, not awaited). Each run must end with a documented exit status
 * and a typed message on failure (as in `input.cli`), within the time limit, and leave
 * every event of the copy in place: nothing is removed without `--yes`.
 */
export const fuzzCliDestructiveRow: FaultRow = {
  id: 'input.cli.destructive',
  fault:
    'generated argument vectors of purge, restore, retention apply, repair, vacuum, migrate up, snapshot prune (never --yes), each on a fresh copy of a store',
  async run(ctx, result) {
    const tmp = scratchDir('cli-destructive');
    try {
      const pristine = join(tmp.dir, 'pristine');
      const data = join(pristine, 'data');
      mkdirSync(data, { recursive: true, mode: 0o700 });
      mkdirSync(join(pristine, 'out'), { recursive: true });
      writeFileSync(join(pristine, 'not-json.json'), '{"events": [1, 2');
      writeFileSync(join(pristine, 'empty.json'), '');
      const sessions: string[] = [];
      {
        const storage = await openSqliteStorage({ path: join(data, 'state.db') });
        const store = createEventStore({ storage });
        try {
          for (let i = 0; i < 3; i++) {
            const session = await store.startSession({
              userId: 'ada',
              mode: 'offline',
              version: '1.0.0',
            });
            await store.appendToStream(session.stream, sessionEvents(session.id, 1, 30 + i));
            if (i < 2) await store.endSession(session.id, { reason: 'user_exit' });
            sessions.push(session.id);
          }
        } finally {
          await store.close();
        }
      }
      const baseline = await storedEvents(join(data, 'state.db'));
      const shapes = commandShapes(
        (path) => DESTRUCTIVE.has(path),
        new Set([...EXCLUDED_OPTIONS, '--yes', '-y']),
      );
      const missing = [...DESTRUCTIVE].filter((c) => !shapes.some((s) => s.path.join(' ') === c));
      if (missing.length > 0) result.problems.push(`wfstate has no ${missing.join(', ')}`);
      valueFlags = new Set(
        shapes.flatMap((shape) => shape.options.filter((o) => o.takesValue).map((o) => o.flag)),
      );
      const caseRoot = join(tmp.dir, 'case');
      const exitCodes = new Map<number, number>();
      let refused = 0;
      const tally = await fuzzSurface({
        arbitrary: argvArbitrary(shapes, sessions).map((argv) => argv.filter((w) => !YES.test(w))),
        runs: inputsFor(ctx.long, 400),
        seed: 0xd35,
        timeoutMs: 30_000,
        describe: (argv) => preview(argv, 400),
        attempt: async (argv): Promise<Verdict> => {
          rmSync(caseRoot, { recursive: true, force: true });
          cpSync(pristine, caseRoot, { recursive: true });
          let stdout = '';
          let stderr = '';
          const code = await runCli(argv, {
            stdout: { write: (t: string) => (stdout += t) },
            stderr: { write: (t: string) => (stderr += t) },
            stdin: silentStdin,
            env: { HOME: caseRoot, XDG_DATA_HOME: join(caseRoot, 'xdg') },
            cwd: caseRoot,
            signal: AbortSignal.timeout(1_500),
          });
          exitCodes.set(code, (exitCodes.get(code) ?? 0) + 1);
          if (code === EXIT_CODES.refused) refused += 1;
          const verdict = judge(argv, code, stdout, stderr);
          const before = result.problems.length;
          await checkNothingLost(
            join(caseRoot, 'data', 'state.db'),
            baseline,
            result,
            `without --yes: ${preview(argv, 120)}`,
          ).catch((error: unknown) => {
            result.problems.push(
              `without --yes: ${preview(argv, 120)}: the store cannot be read: ${String(error)}`,
            );
          });
          if (result.problems.length > before)
            return { kind: 'violation', detail: 'events removed without --yes' };
          return verdict;
        },
        progress: (t) => ctx.log(`input.cli.destructive: ${t.inputs} inputs`),
      });
      result.acknowledged = baseline.size;
      reportTally(result, 'cli.destructive', tally);
      result.notes.push(
        `cli.destructive: exit statuses ${[...exitCodes.entries()]
          .sort((a, b) => a[0] - b[0])
          .map(([c, n]) => `${c}: ${n}`)
          .join(', ')} (${refused} refused for want of --yes); ${shapes.length} commands (${shapes
          .map((s) => s.path.join(' '))
          .join(
            ', ',
          )}); every input on a fresh copy, its ${baseline.size} events checked after each`,
      );
    } finally {
      tmp.remove();
    }
  },
};
