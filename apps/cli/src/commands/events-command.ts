import { parseIsoMicros } from '@wirthforge/events';
import type { Command } from 'commander';

import type { CommandDefinition } from '../command-definition.js';
import { examples } from '../command-definition.js';
import type { CommandEnv, CommonOptions } from '../cli-runtime.js';
import { CliError } from '../errors.js';
import { plainLine, toEventLine } from '../event-line.js';
import type { EventLine } from '../event-line.js';
import { table } from '../format-text.js';
import { toJson } from '../json-value.js';
import { openReadOnly } from '../open-store.js';
import { parseSessionArg } from '../session-arg.js';
import { redactEvent } from '../export-events.js';
import { positiveInt } from './sessions-command.js';

/** A short text of an event's data for a table cell. */
function brief(event: Record<string, unknown>): string {
  const data = event.data;
  if (typeof data !== 'object' || data === null) return '';
  const text = Object.entries(data)
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `${k}=${typeof v === 'number' ? +v.toFixed(3) : String(v)}`)
    .join(' ');
  return text.length > 70 ? `${text.slice(0, 69)}…` : text;
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function eventRows(lines: readonly EventLine[]): string {
  return table(
    ['position', 'time', 'stream', 'type', 'frame', 'data'],
    lines.map((l) => [
      String(l.position),
      text(l.event.timestamp),
      l.stream,
      text(l.event.type),
      l.event.frame_id === undefined ? '' : String(l.event.frame_id as number),
      brief(l.event),
    ]),
  );
}

function parseTime(text: string, name: string): number {
  try {
    return parseIsoMicros(text);
  } catch {
    const ms = Date.parse(text);
    if (Number.isNaN(ms)) {
      throw new CliError('usage', `${name} ${JSON.stringify(text)} is not a timestamp`, {
        hint: 'use ISO-8601, e.g. 2025-08-17T19:48:05Z',
      });
    }
    return ms * 1000;
  }
}

function parsePosition(text: string | undefined, name: string): bigint | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new CliError('usage', `${name} must be a position (an integer)`);
  return BigInt(text);
}

/** The line with private content taken out unless asked for (see `export`). */
function shown(line: EventLine, includeContent: boolean | undefined): EventLine {
  if (includeContent === true) return line;
  const { event, redacted } = redactEvent(line.event);
  return redacted.length === 0 ? line : { ...line, event };
}

interface QueryOptions extends CommonOptions {
  readonly includeContent?: boolean;
  readonly session?: string;
  readonly type?: string[];
  readonly since?: string;
  readonly until?: string;
  readonly fromPosition?: string;
  readonly toPosition?: string;
  readonly limit: string;
}

interface TailOptions extends CommonOptions {
  readonly includeContent?: boolean;
  readonly session?: string;
  readonly type?: string[];
  readonly lines: string;
  readonly follow?: boolean;
  readonly interval: string;
}

function collectList(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(',').filter((v) => v !== '')];
}

function readFilter(options: { session?: string; type?: string[] }) {
  return {
    ...(options.session === undefined
      ? {}
      : { streams: [parseSessionArg(options.session).stream] }),
    ...(options.type === undefined ? {} : { types: options.type }),
  };
}

async function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

async function tail(env: CommandEnv, options: TailOptions) {
  const lines = positiveInt(options.lines, '--lines');
  const interval = positiveInt(options.interval, '--interval');
  const open = await openReadOnly(env);
  try {
    const filter = readFilter(options);
    const head = await open.storage.headPosition();
    // The last N matching events: walk back in windows until N are found.
    let window = BigInt(Math.max(lines * 4, 256));
    let last: EventLine[] = [];
    for (;;) {
      const from = head > window ? head - window + 1n : 1n;
      last = [];
      for await (const stored of open.storage.readAll({
        fromPosition: from,
        toPosition: head,
        ...filter,
      })) {
        last.push(shown(toEventLine(stored), options.includeContent));
        if (last.length > lines) last.shift();
      }
      if (last.length >= lines || from === 1n) break;
      window *= 4n;
    }
    if (options.follow !== true) {
      return {
        json: { headPosition: head, events: last.map(plainLine) },
        text: last.length === 0 ? 'no events' : eventRows(last),
      };
    }
    // Following: one line per event as it is committed, until interrupted.
    const { io } = env;
    const print = (line: EventLine): void => {
      if (env.json) io.stdout.write(`${toJson(plainLine(line), 0)}\n`);
      else {
        io.stdout.write(
          `${line.position}  ${String(line.event.timestamp)}  ${line.stream}  ${String(line.event.type)}  ${brief(line.event)}\n`,
        );
      }
    };
    for (const line of last) print(line);
    let after = head;
    const stopped = (): boolean => io.signal?.aborted === true;
    while (!stopped()) {
      await sleep(interval, io.signal);
      if (stopped()) break;
      const now = await open.storage.headPosition();
      if (now <= after) continue;
      for await (const stored of open.storage.readAll({
        fromPosition: after + 1n,
        toPosition: now,
        ...filter,
      })) {
        print(shown(toEventLine(stored), options.includeContent));
      }
      after = now;
    }
    // Already printed line by line: nothing more on stdout.
    return { json: undefined, text: '', written: true };
  } finally {
    await open.close();
  }
}

/** `wfstate events query|tail`. */
export const eventsCommand: CommandDefinition = {
  name: 'events',
  register(program, runtime) {
    const events: Command = program
      .command('events')
      .description('query stored events, or follow new ones')
      .addHelpText(
        'after',
        examples('wfstate events query --type energy.peak', 'wfstate events tail --follow'),
      );

    const query = runtime
      .common(events.command('query'))
      .description('events by session, type, time and position, in position order')
      .option('-s, --session <id>', "only this session's events")
      .option('-t, --type <type>', 'only this type (repeat, or a comma list)', collectList)
      .option('--since <time>', 'at or after this time (ISO-8601)')
      .option('--until <time>', 'at or before this time (ISO-8601)')
      .option('--from-position <n>', 'at or after this position')
      .option('--to-position <n>', 'at or before this position')
      .option('-n, --limit <n>', 'at most this many', '100')
      .option('--include-content', 'show prompt text and AI tokens (hidden by default)')
      .addHelpText(
        'after',
        examples(
          'wfstate events query --session 20250817T194800Z_001 --type user.prompt,ai.response_complete',
          'wfstate events query --since 2025-08-17T19:49:00Z --until 2025-08-17T19:50:00Z --limit 20',
          'wfstate events query --from-position 1000 --to-position 1100 --json',
        ),
      );
    runtime.bind<QueryOptions>(query, async (env, options) => {
      const limit = positiveInt(options.limit, '--limit');
      const since = options.since === undefined ? undefined : parseTime(options.since, '--since');
      const until = options.until === undefined ? undefined : parseTime(options.until, '--until');
      const fromPosition = parsePosition(options.fromPosition, '--from-position');
      const toPosition = parsePosition(options.toPosition, '--to-position');
      const open = await openReadOnly(env);
      try {
        const lines: EventLine[] = [];
        let scanned = 0;
        for await (const stored of open.storage.readAll({
          ...(fromPosition === undefined ? {} : { fromPosition }),
          ...(toPosition === undefined ? {} : { toPosition }),
          ...readFilter(options),
        })) {
          scanned++;
          if (since !== undefined && stored.timestampUs < since) continue;
          if (until !== undefined && stored.timestampUs > until) continue;
          lines.push(shown(toEventLine(stored), options.includeContent));
          if (lines.length >= limit) break;
        }
        return {
          json: {
            count: lines.length,
            limitReached: lines.length >= limit,
            events: lines.map(plainLine),
          },
          text:
            lines.length === 0
              ? `no events match (${scanned} scanned)`
              : `${eventRows(lines)}\n${lines.length} event(s)${lines.length >= limit ? ` (limit ${limit}; raise --limit for more)` : ''}`,
        };
      } finally {
        await open.close();
      }
    });

    const tailCommand = runtime
      .common(events.command('tail'))
      .description(
        'the latest events; with --follow, new events as they are committed (Ctrl-C stops)',
      )
      .option('-s, --session <id>', "only this session's events")
      .option('-t, --type <type>', 'only this type (repeat, or a comma list)', collectList)
      .option('-n, --lines <n>', 'how many of the latest events', '20')
      .option('-f, --follow', 'keep printing new events (with --json: one JSON document per line)')
      .option('--include-content', 'show prompt text and AI tokens (hidden by default)')
      .option('--interval <ms>', 'how often to look for new events when following', '250')
      .addHelpText(
        'after',
        examples(
          'wfstate events tail -n 50',
          'wfstate events tail --follow --type energy.peak,user.prompt',
        ),
      );
    runtime.bind<TailOptions>(tailCommand, (env, options) => tail(env, options));
  },
};
